"""The group steps of a study: clinical scores, the per-session GLM and the statistics.

The defaults of :attr:`Steps.read_phenotype`, :attr:`Steps.glm` and :attr:`Steps.stats`
(:class:`mrspipe.pipeline.steps.Steps`), run once per study on the pooled session tables.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import MRSError

if TYPE_CHECKING:
    from ..dynamic.options import GLMOptions, Windows
    from ..stats.options import StatsOptions

__all__ = ["default_read_phenotype", "default_stats", "default_glm"]

logger = logging.getLogger("mrspipe")


def default_read_phenotype(study: Path, *, score: str) -> Any:
    """Clinical scores ``study/phenotype/<score>.tsv`` with the score column named ``score``.

    Returns None when the study has no such table.
    """
    from ..io.tables import read_table

    path = Path(study) / "phenotype" / f"{score}.tsv"
    if not path.is_file():
        return None
    table = read_table(path)
    if "score" not in table.columns and score in table.columns:
        table = table.rename(columns={score: "score"})
    return table


def default_stats(
    timecourses: Any,
    responses: Any,
    *,
    contrast: tuple[str, ...],
    options: StatsOptions,
    windows: Windows,
    phenotype: Any = None,
    glm: Any = None,
    sessions: Any = None,
) -> Any:
    """Group statistics (:func:`mrspipe.stats.crossover_stats`): the ``stats`` table.

    ``sessions`` (``participant_id, session_id, acq_time, infusion_duration_s``) gives the
    session order and the infusion ends.

    An empty ``contrast`` is a design without drug conditions (task fMRS): response against
    baseline, overall and by sex (:func:`mrspipe.stats.task.task_stats`).
    """
    from ..stats import crossover_stats

    if not contrast:
        from ..stats.task import task_stats

        return task_stats(responses, alpha=1.0 - options.ci_level)

    return crossover_stats(
        responses,
        conditions=contrast,
        timecourses=timecourses,
        phenotype=phenotype,
        options=options,
        baseline_window=windows.baseline,
        response_window=windows.response,
        glm=glm,
        sessions=sessions,
    )


def default_glm(
    timecourses: Any, *, durations: dict[tuple[str, str | None], float], options: GLMOptions
) -> Any:
    """Per-session GLM of the time courses (:func:`mrspipe.dynamic.glm_timecourses`).

    ``durations`` maps ``(participant_id, session_id)`` to the infusion duration (s; NaN or
    missing = until the end of the scan). Returns the ``glm`` table.
    """
    import pandas as pd

    from ..dynamic import glm_timecourses

    kind = options.regressor
    regressor: Any = {"kind": kind, "tau": options.tau_s} if kind == "exponential" else kind
    noise = options.noise
    bounded = options.until_infusion_end
    parts = []
    keys = ["participant_id", "session_id"]
    for (pid, sid), session in timecourses.groupby(keys, sort=False, dropna=False):
        # a session without a session id groups as NaN; the durations know it as None
        duration = durations.get((pid, None if pd.isna(sid) else sid), math.nan)
        finite = math.isfinite(duration)
        try:
            parts.append(
                glm_timecourses(
                    session,
                    regressors=(regressor,),
                    duration=duration if finite else math.inf,
                    drift_order=options.drift_order,
                    noise=noise,
                    until=duration if (bounded and finite) else None,
                )
            )
        except (MRSError, ValueError, ArithmeticError) as exc:  # this session only
            logger.warning("GLM skipped for %s %s: %s", pid, sid, exc)
    if not parts:  # no session could be fitted (e.g. every frame left out): no rows
        parts = [glm_timecourses(timecourses.iloc[:0], regressors=(regressor,), noise=noise)]
    glm = pd.concat(parts, ignore_index=True)
    glm.attrs["method"] = {
        "ar1": "AR(1) errors per time course (REML), GLS on the Prais-Winsten-whitened course; "
        "a missing frame is a gap (correlation phi^lag in frame numbers), not a neighbour; "
        "t-tests with Satterthwaite df (residual df frames - regressors - 1, reduced for the "
        "uncertainty of the AR coefficient; column df)",
        "ols": "ordinary least squares, independent frames; df = frames - regressors",
    }[noise]
    glm.attrs["frames"] = (
        "frames before the end of the infusion (events.tsv duration)" if bounded else "every frame"
    )
    if not glm.empty:
        glm.attrs["df_median"] = float(glm["df"].median())
        glm.attrs["ar1_median"] = float(glm["ar1"].median())
    return glm
