"""Group statistics for crossover designs on the tidy ``responses``/``timecourses`` tables.

:func:`crossover_stats` runs everything and returns the ``stats`` table: ``metabolite, analysis,
term, subgroup, estimate, ci_low, ci_high, p_value, n`` plus ``converged`` (mixed-model rows).

=====================  ==============================  =============================================
analysis               term                            meaning
=====================  ==============================  =============================================
``condition_mean``     ``<condition>``                 mean % change, one-sample t
``paired``             ``<active>-<reference>``        within-participant difference, paired t
``paired``             ``dz``                          Cohen's d_z, noncentral-t interval
``interaction``        ``condition:sex``               paired difference in M minus in F, Welch t
``crossover``          ``period``, ``carryover``,      Jones-Kenward 2x2 crossover tests (when the
                       ``<active>-<reference>``        session order is known)
``mixedlm``            ``condition, sex,               MixedLM on the per-session % change
                       condition:sex``
``mixedlm_timecourse`` ``condition:time``, ...         per-frame % change model, two-stage t tests
``glm_paired``         ``<active>-<reference>``        paired difference of the per-session GLM
                                                       response (% of baseline), by subgroup
``glm_interaction``    ``condition:sex``               the same, M minus F (Welch t)
``clinical_response``  ``<condition>@<timepoint>``,    responder rates; paired difference (McNemar)
                       ``<active>-<reference>@<tp>``
``clinical``           ``condition:time@<timepoint>``  paired difference of the score change
``correlation``        ``pearson:<cond>@<tp>``, ...    glutamate response vs symptom reduction
=====================  ==============================  =============================================

Subgroups are ``all``, ``M`` and ``F``; participants of unknown sex count only in ``all``.
Differences are always active minus reference (``conditions=(active, reference)``) and M minus F.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from ..dynamic import RESPONSE_COLUMNS
from ._common import STATS_COLUMNS, check_columns, check_conditions
from .clinical import clinical_rows, correlation_rows, symptom_changes, wilson_interval
from .crossover import (
    condition_mean_rows,
    glm_contrast_rows,
    interaction_rows,
    paired_rows,
    period_rows,
)
from .mixed import fit_mixed, mixed_response_rows, mixed_timecourse_rows, require_statsmodels
from .options import StatsOptions

__all__ = [
    "STATS_COLUMNS",
    "StatsOptions",
    "crossover_stats",
    "condition_mean_rows",
    "paired_rows",
    "interaction_rows",
    "period_rows",
    "glm_contrast_rows",
    "mixed_response_rows",
    "mixed_timecourse_rows",
    "fit_mixed",
    "require_statsmodels",
    "symptom_changes",
    "clinical_rows",
    "correlation_rows",
    "wilson_interval",
]


def crossover_stats(
    responses: pd.DataFrame,
    *,
    conditions: Sequence[str],
    metabolites: Sequence[str] | None = None,
    timecourses: pd.DataFrame | None = None,
    phenotype: pd.DataFrame | None = None,
    alpha: float = 0.05,
    mixedlm: bool = True,
    baseline_window: tuple[float | None, float | None] = (None, 0.0),
    response_window: tuple[float | None, float | None] = (0.0, None),
    baseline_timepoint: str = "baseline",
    score_name: str = "score",
    glm: pd.DataFrame | None = None,
    glm_term: str | None = None,
    options: StatsOptions | None = None,
) -> pd.DataFrame:
    """All group analyses of a two-condition crossover, as one tidy ``stats`` table.

    Parameters
    ----------
    responses : DataFrame
        The ``responses`` table (``percent_change`` per participant, session and metabolite); an
        optional ``period`` column gives the session order (else the numbers in ``session_id``).
    conditions : (str, str)
        ``(active, reference)`` as named in the data, e.g. ``('naltrexone', 'placebo')``.
    metabolites : sequence of str, optional
        Default: every metabolite in ``responses``.
    timecourses : DataFrame, optional
        The ``timecourses`` table; adds the per-frame mixed model (``mixedlm_timecourse``).
    phenotype : DataFrame, optional
        Clinical scores (``participant_id``, ``session_id`` or ``condition``, ``timepoint``,
        ``score``); adds ``clinical_response``, ``clinical`` and ``correlation`` rows.
    alpha : float
        1 - confidence level of every interval (0.05 -> 95 %).
    mixedlm : bool
        Fit the mixed models (needs statsmodels, the ``[stats]`` extra).
    baseline_window, response_window : (start, end), s
        Windows of the per-frame model, as in :func:`mrspipe.dynamic.window_responses`.
    baseline_timepoint, score_name : str
        Baseline label of ``timepoint``; name of the score in the ``metabolite`` column.
    glm : DataFrame, optional
        Per-session GLM results (:func:`mrspipe.dynamic.glm_timecourses`); adds ``glm_paired``
        and ``glm_interaction`` rows on the response to ``glm_term`` (% of baseline).
    glm_term : str, optional
        The GLM response regressor (default: the first non-intercept, non-drift term).
    options : StatsOptions, optional
        The study's statistics options (``[stats]``, ``[clinical]`` of ``study.toml``); when
        given they set ``alpha`` (``1 - ci_level``), ``mixedlm``, ``baseline_timepoint`` and
        ``score_name`` (``score``), so an option of a new analysis is one field there.

    Returns
    -------
    DataFrame
        :data:`STATS_COLUMNS` plus ``converged``.

    Raises
    ------
    ConfigError
        Missing columns, unknown condition names, ``alpha`` outside (0, 1).
    MissingExtraError
        ``mixedlm=True`` without statsmodels installed.
    """
    from ..errors import ConfigError

    if options is not None:
        alpha, mixedlm = 1.0 - options.ci_level, options.mixed_model
        baseline_timepoint, score_name = options.baseline_timepoint, options.score
    if not 0 < alpha < 1:
        raise ConfigError(f"alpha must be in (0, 1), got {alpha}")
    check_columns(responses, RESPONSE_COLUMNS, "responses")
    conds = check_conditions(responses, conditions)
    if mixedlm:
        require_statsmodels()
    mets = list(dict.fromkeys(responses["metabolite"])) if metabolites is None else metabolites
    unknown = set(mets) - set(responses["metabolite"])
    if unknown:
        raise ConfigError(f"metabolites {sorted(unknown)} not in the responses table")
    rows: list[dict[str, Any]] = []
    changes = None
    if phenotype is not None:
        changes = symptom_changes(phenotype, responses, baseline_timepoint=baseline_timepoint)
        rows += clinical_rows(changes, conds, alpha, score_name=score_name)
    for met in mets:
        rows += condition_mean_rows(responses, met, conds, alpha)
        rows += paired_rows(responses, met, conds, alpha)
        rows += interaction_rows(responses, met, conds, alpha)
        rows += period_rows(responses, met, conds, alpha)
        if mixedlm:
            rows += mixed_response_rows(responses, met, conds, alpha)
            if timecourses is not None and met in set(timecourses["metabolite"]):
                rows += mixed_timecourse_rows(
                    timecourses, met, conds, alpha, baseline_window=baseline_window,
                    response_window=response_window,
                )  # fmt: skip
        if changes is not None:
            rows += correlation_rows(responses, changes, met, conds, alpha)
    if glm is not None and not glm.empty:
        terms = [t for t in dict.fromkeys(glm["term"])
                 if t != "intercept" and not str(t).startswith("drift")]  # fmt: skip
        term = glm_term if glm_term is not None else (terms[0] if terms else None)
        if term is not None:
            rows += glm_contrast_rows(glm[glm["metabolite"].isin(mets)], conditions=conds,
                                      term=term, alpha=alpha)  # fmt: skip
    out = pd.DataFrame(rows, columns=[*STATS_COLUMNS, "converged"])
    return out
