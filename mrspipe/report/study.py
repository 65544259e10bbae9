"""The report's inputs with the design resolved, and every figure drawn from them."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

from .._logging import logger
from . import summaries as S

__all__ = [
    "Tables",
    "FigureJob",
    "as_frame",
    "make_figures",
    "answer_figures",
    "table_figures",
    "stats_figures",
    "start_figures",
    "finish_figures",
]


def as_frame(table: Any) -> Any:
    """``table``, or an empty DataFrame for None."""
    import pandas as pd

    return pd.DataFrame() if table is None else table


@dataclasses.dataclass
class Tables:
    """Inputs of the report with the design resolved (defaults applied and recorded)."""

    timecourses: Any
    responses: Any
    stats: Any
    sessions_qc: Any
    design: dict[str, Any]
    conditions: list[str]
    metabolites: list[str]
    windows: dict[str, tuple[float, float]]
    defaulted: set[str]
    infusion: tuple[float, float] | None
    summary: Any

    @classmethod
    def build(
        cls,
        *,
        timecourses: Any,
        responses: Any,
        stats: Any,
        sessions_qc: Any,
        design: dict[str, Any],
    ) -> Tables:
        """Resolve conditions, windows, infusion period, metabolites and the mean time courses."""
        design = dict(design)  # defaults are added below: never change the caller's dict
        tc, resp = as_frame(timecourses), as_frame(responses)
        st, qc = as_frame(stats), as_frame(sessions_qc)
        source = next((t for t in (resp, tc, qc) if "condition" in t.columns and len(t)), None)
        conditions = S.study_conditions(source, design)
        if source is not None:
            absent = set(conditions) - {str(c) for c in source["condition"].dropna().unique()}
            if absent:
                logger.warning("conditions %s not found in the data", ", ".join(sorted(absent)))
        defaulted = {k for k in ("baseline", "response") if design.get(f"{k}_window_s") is None}
        windows = {
            "baseline": S.resolve_window(design.get("baseline_window_s"), (-math.inf, 0.0)),
            "response": S.resolve_window(design.get("response_window_s"), (0.0, math.inf)),
        }
        infusion = None
        if design.get("infusion_window_s") is not None:
            infusion = S.resolve_window(design["infusion_window_s"], (0.0, 0.0))
        elif design.get("infusion_duration_s") is not None:
            infusion = (0.0, float(design["infusion_duration_s"]))
        metabolites = S.study_metabolites(tc if len(tc) else None, st if len(st) else None, design)
        summary = (
            S.timecourse_summary(
                tc,
                baseline_window=windows["baseline"],
                metabolites=metabolites,
                bin_s=design.get("time_bin_s"),
            )
            if len(tc)
            else S.timecourse_summary(tc, baseline_window=windows["baseline"])
        )
        return cls(
            tc, resp, st, qc, design, conditions, metabolites, windows, defaulted, infusion, summary
        )

    @property
    def event(self) -> str:
        """The event time 0 refers to."""
        return str(self.design.get("event") or "infusion onset")


@dataclasses.dataclass(frozen=True)
class FigureJob:
    """One figure of the report: ``plot(*args, **kwargs)`` saved as a PNG named ``name``.

    ``plot`` is a module-level function, so a job can be drawn in another process.
    """

    name: str
    caption: str
    plot: Callable[..., Any]
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = dataclasses.field(default_factory=dict)


def draw_png(
    plot: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], dpi: float
) -> bytes:
    """Draw one figure and return its PNG bytes (what a worker process runs for a job)."""
    from .figures import to_png

    return to_png(plot(*args, **kwargs), dpi=dpi)


def start_figures(jobs: list[FigureJob], *, dpi: float, executor: Any = None) -> list[Any]:
    """Start drawing ``jobs``: futures on ``executor``, or the PNG bytes drawn here (None)."""
    if executor is None:
        return [draw_png(j.plot, j.args, j.kwargs, dpi) for j in jobs]
    from concurrent.futures.process import BrokenProcessPool

    started: list[Any] = []
    for j in jobs:
        try:
            started.append(executor.submit(draw_png, j.plot, j.args, j.kwargs, dpi))
        except BrokenProcessPool:  # a worker died: drawn here instead
            started.append(draw_png(j.plot, j.args, j.kwargs, dpi))
    return started


def finish_figures(
    jobs: list[FigureJob], started: list[Any], *, dpi: float
) -> list[tuple[str, bytes, str]]:
    """``[(name, png bytes, caption), ...]`` of jobs started by :func:`start_figures`.

    A figure whose worker process died (killed, out of memory) is drawn in this process.
    """
    from concurrent.futures.process import BrokenProcessPool

    out = []
    for j, png in zip(jobs, started, strict=True):
        if not isinstance(png, bytes):
            try:
                png = png.result()
            except BrokenProcessPool:
                png = draw_png(j.plot, j.args, j.kwargs, dpi)
        out.append((j.name, png, j.caption))
    return out


def make_figures(
    t: Tables, *, answer: Any = None, dpi: float, executor: Any = None
) -> list[tuple[str, bytes, str]]:
    """Draw every figure of the report: ``[(name, png bytes, caption), ...]``.

    ``answer`` (:class:`mrspipe.report.answer.Answer`) adds the compact answer figure first.
    ``executor`` (a :class:`concurrent.futures.Executor` of processes) draws the figures in
    parallel; the PNGs are the same bytes.
    """
    jobs = answer_figures(answer) + table_figures(t) + stats_figures(t)
    return finish_figures(jobs, start_figures(jobs, dpi=dpi, executor=executor), dpi=dpi)


def answer_figures(answer: Any) -> list[FigureJob]:
    """Return the compact answer figure (none without an answer): first in the report."""
    from .group_figures import plot_answer

    if answer is None or not answer.rows:
        return []
    caption = (
        f"{answer.metabolite}: {answer.contrast_words} with 95 % confidence intervals "
        "(diamonds: estimates; dashed line: no difference)."
    )
    return [FigureJob("answer", caption, plot_answer, (answer,))]


def table_figures(t: Tables) -> list[FigureJob]:
    """Return the figures drawn from the tables alone: QC, time courses, paired responses."""
    from .group_figures import plot_paired_responses
    from .qc_summary import plot_qc_summary
    from .timecourse_figures import plot_timecourses

    jobs = []
    if len(t.sessions_qc):
        jobs.append(
            FigureJob(
                "qc_summary",
                "Data quality per session.",
                plot_qc_summary,
                (t.sessions_qc,),
                {"conditions": t.conditions},
            )
        )
    plotted = set(t.summary["metabolite"]) if len(t.summary) else set()
    for met in [m for m in t.metabolites if m in plotted]:
        caption = (
            f"{met}: mean % change from baseline by condition (bands: SEM across "
            f"participants); time 0 = {t.event}."
        )
        kwargs = {
            "metabolite": met,
            "conditions": t.conditions,
            "windows": t.windows,
            "infusion": t.infusion,
        }
        summary = t.summary[t.summary["metabolite"] == met]  # what the figure reads
        jobs.append(
            FigureJob(f"timecourse_{_slug(met)}", caption, plot_timecourses, (summary,), kwargs)
        )
    if len(t.responses) and t.conditions:
        wide = _paired(t)
        if wide:
            caption = (
                "Response (% change, response vs baseline window) per participant and "
                "condition; lines join a participant's sessions."
            )
            kwargs = {
                "conditions": t.conditions,
                "ylabel": "response: change from baseline (%)",
            }
            jobs.append(
                FigureJob("responses_paired", caption, plot_paired_responses, (wide,), kwargs)
            )
    return jobs


def stats_figures(t: Tables) -> list[FigureJob]:
    """Return the forest plot of the contrasts (none without statistics): last in the report."""
    from .group_figures import plot_forest

    rows = _forest(t)
    if not len(rows):
        return []
    caption = "Contrasts and interactions with 95 % confidence intervals."
    return [FigureJob("forest", caption, plot_forest, (rows,))]


def _paired(t: Tables) -> dict[str, Any]:
    present = [str(m) for m in t.responses["metabolite"].unique()]
    chosen = [m for m in t.metabolites if m in present] or present[:3]
    return {
        m: S.paired_responses(t.responses, conditions=t.conditions, metabolite=m) for m in chosen
    }


def _forest(t: Tables) -> Any:
    rows = S.forest_rows(t.stats, metabolites=t.metabolites)
    return rows if len(rows) else S.forest_rows(t.stats)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "_-" else "-" for c in str(text))
