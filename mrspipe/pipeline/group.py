"""The group step of a study run: concatenate the session tables, statistics, report.

Every group step that fails (a GLM, the statistics, the report, a full disk while writing)
is reported as a row of ``errors.tsv``; what could not be written is absent, never left
from an earlier run (:func:`mrspipe.io.derivatives.remove_group_outputs` runs first).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from ..config import REGISTRY, StudyConfig
from ..data import GAMMA_1H_MHZ_PER_T
from ..dynamic.options import Windows
from ..errors import MRSError
from ..io import derivatives as deriv
from .design import first_sessions
from .group_inputs import SessionTables, prepare_group
from .pooling_step import pool_study_tables
from .session import SessionResult
from .steps import Steps, default_report

__all__ = ["run_group", "SessionTables", "prepare_group"]

logger = logging.getLogger("mrspipe")


_ACQUISITION_KEYS = (
    "n_points",
    "spectral_width_hz",
    "spectrometer_frequency_mhz",
    "echo_time_s",
    "repetition_time_s",
    "transients_per_frame",
    "infusion_duration_s",
    "sequence",
    "manufacturer",
    "scanner_model",
)


#: the condition label of a task design's sessions in the report (no drug condition)
_TASK_LABEL = "task"


def _report_design(
    design: dict[str, Any],
    config: StudyConfig,
    contrast: tuple[str, ...],
    results: list[SessionResult],
) -> dict[str, Any]:
    """Build the ``design`` dict of :func:`mrspipe.report.write_report` (keys it knows)."""
    from ..report.settings import format_value  # option values in words, not Python reprs

    first = next((r.summary for r in results if r.ok), {})
    report = {
        "title": config.report.title,
        "conditions": list(contrast) or [design.get("task") or _TASK_LABEL],
        "event": config.windows.event or "infusion onset",
        "baseline_window_s": design["baseline_window"],
        "response_window_s": design["response_window"],
        "baseline_window_text": design.get("baseline_window_text"),
        "response_window_text": design.get("response_window_text"),
        "metabolites": sorted(config.stats.analyse, key=lambda m: m != config.stats.primary),
        "primary": config.stats.primary,
        "basis": design["basis"],
        "preprocessing": [
            f"{k}: {format_value(v)}" for k, v in config.as_dict()["preprocess"].items()
        ],
        "fitting_model": f"linear combination, {config.fit.backend} backend, "
        f"{config.fit.baseline} baseline, "
        f"{config.fit.ppm_range[0]:g}-{config.fit.ppm_range[1]:g} ppm"
        + (", spectro-temporal" if config.fit.dynamic else ""),
        "options": config.as_dict(),
        # what each option means and its default, for the report's settings tables
        "option_docs": {s: {k: o.doc for k, o in keys.items()} for s, keys in REGISTRY.items()},
        "option_defaults": {
            s: {k: o.default for k, o in keys.items()} for s, keys in REGISTRY.items()
        },
        # what limits the analyses (no sex recorded, ...): shown as the report's description
        "warnings": list(design.get("warnings", [])),
        "failed_sessions": [
            {
                "participant_id": r.participant_id,
                "session_id": r.session_id,
                "step": r.failed_step,
                "error": r.error,
            }
            for r in results
            if not r.ok
        ],
    }
    if not contrast:
        report["design"] = "task"
    if report["warnings"]:
        report["description"] = "Warnings: " + " ".join(report["warnings"])
    report.update({k: first[k] for k in _ACQUISITION_KEYS if first.get(k) is not None})
    if "spectrometer_frequency_mhz" in first:
        report["field_strength_t"] = round(
            first["spectrometer_frequency_mhz"] / GAMMA_1H_MHZ_PER_T, 2
        )
    return report


def _fit_figures(results: list[SessionResult], limit: int | None = None) -> list[tuple[str, Path]]:
    """Up to ``limit`` per-session fit figures, as ``(caption, png path)`` for the report."""
    out = []
    for r in results:
        path = r.summary.get("fit_figure") if r.ok else None
        if path and Path(path).is_file():
            out.append((f"{r.participant_id} {r.session_id or ''}: fit of every frame", Path(path)))
    return out[:limit]


def _sessions_qc(sessions: list[Any], results: list[SessionResult]) -> Any:
    """One row per session: labels, status (ok/failed), message and the QC summary."""
    import pandas as pd

    by_key = {(r.participant_id, r.session_id): r for r in results}
    rows = []
    for s in sessions:
        r = by_key.get((s.participant_id, s.session_id))
        if r is None:
            continue
        rows.append(
            {
                "participant_id": s.participant_id,
                "session_id": s.session_id,
                "condition": s.condition,
                "sex": s.sex,
                "status": "ok" if r.ok else "failed",
                "message": "" if r.ok else f"{r.failed_step}: {r.error}",
                **r.summary,
            }
        )
    return pd.DataFrame(rows)


def _session_table(done: list[Any], results: list[SessionResult]) -> Any:
    """``participant_id, session_id, acq_time, infusion_duration_s`` of the finished sessions.

    ``acq_time`` (``sessions.tsv``) orders the crossover periods; the infusion duration ends the
    frame-level model's response window.
    """
    import pandas as pd

    summary = {(r.participant_id, r.session_id): r.summary for r in results if r.ok}
    rows = []
    for s in done:
        duration = summary.get((s.participant_id, s.session_id), {}).get("infusion_duration_s")
        rows.append(
            {
                "participant_id": s.participant_id,
                "session_id": s.session_id,
                "acq_time": s.extra.get("acq_time"),
                "infusion_duration_s": math.nan if duration is None else float(duration),
            }
        )
    return pd.DataFrame(rows)


def run_group(
    out: Path,
    study: Path,
    sessions: list[Any],
    results: list[SessionResult],
    config: StudyConfig,
    contrast: tuple[str, ...],
    windows: Windows,
    design: dict[str, Any],
    steps: Steps,
    *,
    executor: Any = None,
    session_tables: SessionTables | None = None,
) -> tuple[Path | None, list[dict[str, Any]]]:
    """Concatenate per-session tables, run the statistics and write the report.

    ``executor`` (the run's worker processes, :attr:`~.executor.Workers.executor`) draws the
    default report's figures while this process runs the statistics; ``session_tables``
    holds the session tables already read. The outputs are the same without either.
    """
    import pandas as pd

    errors: list[dict[str, Any]] = []
    ok = {(r.participant_id, r.session_id) for r in results if r.ok}
    done = [s for s in sessions if (s.participant_id, s.session_id) in ok]
    if not done:
        logger.error("no session finished: no group tables")
        return None, errors
    wanted = list(config.stats.analyse)
    tables: dict[str, Any] = {}  # each session's own estimates: the statistics
    shown_tables: dict[str, Any] = {}  # after [pooling]: the group tables and the report
    try:
        read = session_tables or SessionTables(out)
        raw = {
            name: pd.concat([read.get(s, name) for s in done], ignore_index=True)
            for name in SessionTables.NAMES
        }
        # the study-level stage: neighbour responses pooled across sessions ([pooling]). The
        # pooled per-session estimates are the group tables and the report's; the group
        # tests of means (paired, condition x sex, GLM, mixed models) use each session's own:
        # the pooled mean carries no new information on the mean, and its estimate is shared
        # by the sessions of a condition, which a test on their spread would not see
        pooled, pooling = pool_study_tables(out, done, results, raw, config)
        if len(pooling):
            design = design | {"pooling": pooling.to_dict(orient="records")}
        for name in SessionTables.NAMES:
            df = raw[name]
            absent = [m for m in wanted if m not in set(df["metabolite"])]
            if absent and name == "timecourses":
                logger.warning("metabolites %s are not in the fits; analysing the others", absent)
            tables[name] = df[df["metabolite"].isin(wanted)].reset_index(drop=True)
            shown_tables[name] = pooled[name][pooled[name]["metabolite"].isin(wanted)]
            shown_tables[name] = shown_tables[name].reset_index(drop=True)
    except (OSError, MRSError) as exc:  # unreadable session table: reported
        errors.append(_failure("tables", exc))
        return None, errors
    # with workers, the report's figures of these tables start before they are written
    parallel = executor is not None and steps.report is default_report

    def write_tables() -> None:
        try:
            for name in SessionTables.NAMES:
                deriv.write_group_table(out, name, shown_tables[name], extra={"Design": design})
            deriv.write_group_table(out, "pooling", pooling, extra={"Design": design})
        except (OSError, MRSError) as exc:  # disk full: reported, no statistics, no report
            raise _NotWritten(exc) from exc

    if not parallel:
        try:
            write_tables()
        except _NotWritten as exc:
            errors.append(_failure("tables", exc.error))
            return None, errors

    shown = shown_tables
    if not contrast:  # task design: one "condition" so the report draws its time courses
        label = design.get("task") or _TASK_LABEL
        shown = {k: v.assign(condition=label) for k, v in shown_tables.items()}
    report_tables = {
        "timecourses": shown["timecourses"],
        "responses": shown["responses"],
        "sessions_qc": _sessions_qc(sessions, results),
        "design": _report_design(design, config, contrast, results),
        "fit_figures": _fit_figures(results),
    }

    def statistics() -> tuple[Any, list[dict[str, Any]]]:
        return _statistics(
            out, study, done, results, tables, config, contrast, windows, design, steps
        )

    report: Path | None = None
    failure: Exception | None = None
    if parallel:
        # the default report starts the figures of the tables on the workers, then asks for
        # the statistics: the tables are written and the statistics computed here while the
        # workers draw
        def tables_then_statistics() -> tuple[Any, list[dict[str, Any]]]:
            write_tables()
            return statistics()

        later = _OnDemand(tables_then_statistics)
        try:
            report = Path(
                steps.report(
                    out,
                    stats=_OnDemand(lambda: later.result()[0]),
                    executor=executor,
                    **report_tables,
                )
            )
        except Exception as exc:
            failure = exc
        try:
            stats, stats_errors = later.result()  # computed now if the report did not ask
        except _NotWritten as exc:  # as without workers: the tables' error alone
            errors.append(_failure("tables", exc.error))
            return None, errors
    else:
        stats, stats_errors = statistics()
        try:
            report = Path(steps.report(out, stats=stats, **report_tables))
        except Exception as exc:
            failure = exc
    errors += stats_errors
    if failure is not None:
        errors.append(_failure("report", failure))
    return report, errors


class _NotWritten(Exception):
    """The group tables could not be written (``error``): no statistics and no report."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


class _OnDemand(Future):  # type: ignore[type-arg]
    """A future whose value ``compute()`` gives, computed by the first caller of :meth:`result`."""

    def __init__(self, compute: Callable[[], Any]) -> None:
        super().__init__()
        self._compute = compute

    def result(self, timeout: float | None = None) -> Any:
        if not self.done():
            try:
                self.set_result(self._compute())
            except BaseException as exc:  # noqa: BLE001 (raised again just below)
                self.set_exception(exc)
        return super().result(timeout)


def _failure(step: str, exc: Exception) -> dict[str, Any]:
    """Log a failed group step; return its row of ``errors.tsv``."""
    logger.error("group step %s failed: %s: %s", step, type(exc).__name__, exc)
    logger.debug("group step %s", step, exc_info=exc)
    return {
        "participant_id": None,
        "session_id": None,
        "step": step,
        "error": f"{type(exc).__name__}: {exc}",
    }


def _statistics(
    out: Path,
    study: Path,
    done: list[Any],
    results: list[SessionResult],
    tables: dict[str, Any],
    config: StudyConfig,
    contrast: tuple[str, ...],
    windows: Windows,
    design: dict[str, Any],
    steps: Steps,
) -> tuple[Any, list[dict[str, Any]]]:
    """Run the GLM and the group statistics, write them to ``OUT/group``; ``(stats, errors)``."""
    errors: list[dict[str, Any]] = []
    glm = None
    if config.glm.enabled and steps.glm is not None:
        try:
            durations = {
                (r.participant_id, r.session_id): r.summary.get("infusion_duration_s")
                for r in results
                if r.ok
            }
            durations = {k: (math.nan if v is None else float(v)) for k, v in durations.items()}
            glm = steps.glm(tables["timecourses"], durations=durations, options=config.glm)
            deriv.write_group_table(
                out,
                "glm",
                glm,
                extra={"Design": design, "GLM": config.as_dict()["glm"] | dict(glm.attrs)},
            )
        except Exception as exc:  # a failing group step is reported, the tables stay
            errors.append(_failure("glm", exc))
    stats = None
    try:
        phenotype = steps.read_phenotype(study, score=config.stats.score)
        extra: dict[str, Any] = {} if glm is None else {"glm": first_sessions(glm, contrast)}
        extra["sessions"] = _session_table(done, results)
        stats = steps.stats(
            first_sessions(tables["timecourses"], contrast),
            first_sessions(tables["responses"], contrast),
            contrast=contrast,
            options=config.stats,
            windows=windows,
            phenotype=phenotype,
            **extra,
        )
        deriv.write_group_table(
            out, "stats", stats, extra={"Design": design, **dict(getattr(stats, "attrs", {}))}
        )
    except Exception as exc:  # a failing group step is reported, the tables stay
        errors.append(_failure("stats", exc))
    return stats, errors
