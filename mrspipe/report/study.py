"""The report's inputs with the design resolved, and every figure drawn from them."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from .._logging import logger
from . import summaries as S

__all__ = ["Tables", "make_figures"]


def _frame(table: Any) -> Any:
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
        tc, resp = _frame(timecourses), _frame(responses)
        st, qc = _frame(stats), _frame(sessions_qc)
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


def make_figures(t: Tables, *, answer: Any = None, dpi: float) -> list[tuple[str, bytes, str]]:
    """Draw every figure of the report: ``[(name, png bytes, caption), ...]``.

    ``answer`` (:class:`mrspipe.report.answer.Answer`) adds the compact answer figure first.
    """
    from .figures import to_png
    from .group_figures import plot_answer, plot_forest, plot_paired_responses
    from .qc_summary import plot_qc_summary
    from .timecourse_figures import plot_timecourses

    out = []
    if answer is not None and answer.rows:
        out.append(
            (
                "answer",
                to_png(plot_answer(answer), dpi=dpi),
                f"{answer.metabolite}: {answer.contrast_words} with 95 % confidence intervals "
                "(diamonds: estimates; dashed line: no difference).",
            )
        )
    if len(t.sessions_qc):
        fig = plot_qc_summary(t.sessions_qc, conditions=t.conditions)
        out.append(("qc_summary", to_png(fig, dpi=dpi), "Data quality per session."))
    plotted = set(t.summary["metabolite"]) if len(t.summary) else set()
    for met in [m for m in t.metabolites if m in plotted]:
        fig = plot_timecourses(
            t.summary,
            metabolite=met,
            conditions=t.conditions,
            windows=t.windows,
            infusion=t.infusion,
        )
        caption = (
            f"{met}: mean % change from baseline by condition (bands: SEM across "
            f"participants); time 0 = {t.event}."
        )
        out.append((f"timecourse_{_slug(met)}", to_png(fig, dpi=dpi), caption))
    if len(t.responses) and t.conditions:
        wide = _paired(t)
        if wide:
            fig = plot_paired_responses(
                wide, conditions=t.conditions, ylabel="response: change from baseline (%)"
            )
            out.append(
                (
                    "responses_paired",
                    to_png(fig, dpi=dpi),
                    "Response (% change, response vs baseline window) per participant and "
                    "condition; lines join a participant's sessions.",
                )
            )
    rows = _forest(t)
    if len(rows):
        fig = plot_forest(rows)
        out.append(
            (
                "forest",
                to_png(fig, dpi=dpi),
                "Contrasts and interactions with 95 % confidence intervals.",
            )
        )
    return out


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
