"""Two-period crossover analyses: paired contrasts by sex, condition x sex, period, carry-over.

Every function takes the long ``responses`` table (one row per participant, session and
metabolite) and returns rows of the ``stats`` table (dicts with :data:`STATS_COLUMNS`).
Participants with only one of the two conditions are left out (logged). Participants of unknown
sex count in subgroup ``all`` and are left out of the ``M``/``F`` split and the sex interaction.

References
----------
Jones B, Kenward MG. Design and Analysis of Cross-Over Trials, 3rd ed. CRC Press 2014, ch. 2.
Grizzle JE. The two-period change-over design and its use in clinical trials. Biometrics 1965.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from .._logging import logger
from ..dynamic import normalise_sex
from ._common import SEXES, cohens_dz, pooled, row, t_interval, welch, wide_by_condition

__all__ = [
    "paired_rows",
    "interaction_rows",
    "period_rows",
    "condition_mean_rows",
    "glm_contrast_rows",
]


def _subgroups(wide: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    return [("all", wide), *((sex, wide[wide["sex"] == sex]) for sex in SEXES)]


def _wide(responses: pd.DataFrame, metabolite: Any, conditions: tuple[str, str]) -> pd.DataFrame:
    sub = responses[responses["metabolite"] == metabolite]
    wide = wide_by_condition(sub, conditions)
    dropped = sub["participant_id"].nunique() - len(wide)
    if dropped:
        logger.info("%s: %d participant(s) lack one of %s; left out", metabolite, dropped,
                    conditions)  # fmt: skip
    return wide


def condition_mean_rows(
    responses: pd.DataFrame, metabolite: Any, conditions: tuple[str, str], alpha: float
) -> list[dict[str, Any]]:
    """Mean % change per condition (is there a rise at all?), one-sample t against 0.

    Rows: analysis ``condition_mean``, term = condition name, subgroups ``all, M, F``; uses every
    participant with that condition.
    """
    out = []
    sub = responses[responses["metabolite"] == metabolite]
    sex = sub["sex"].map(normalise_sex)
    for cond in conditions:
        for group in ("all", *SEXES):
            mask = (sub["condition"] == cond) & ((sex == group) if group != "all" else True)
            est, ci, p, n = t_interval(sub.loc[mask, "percent_change"].to_numpy(), alpha)
            if n:
                out.append(row(metabolite, "condition_mean", cond, group, est, ci, p, n))
    return out


def paired_rows(
    responses: pd.DataFrame,
    metabolite: Any,
    conditions: tuple[str, str],
    alpha: float,
    *,
    effect_size: bool = True,
) -> list[dict[str, Any]]:
    """Within-participant difference (active minus reference) of ``percent_change``.

    Rows: analysis ``paired``; term ``'<active>-<reference>'`` (mean difference, t interval,
    paired t-test p) and term ``dz`` (Cohen's d_z with its noncentral-t interval, same p);
    subgroups ``all, M, F`` (a subgroup with fewer than 2 participants is omitted).
    ``effect_size=False`` skips the (slower) d_z rows.
    """
    wide = _wide(responses, metabolite, conditions)
    term = f"{conditions[0]}-{conditions[1]}"
    out = []
    for group, w in _subgroups(wide):
        d = (w["a"] - w["b"]).to_numpy(dtype=float)
        if d.size < 2:
            continue
        est, ci, p, n = t_interval(d, alpha)
        out.append(row(metabolite, "paired", term, group, est, ci, p, n))
        if effect_size:
            dz, dz_ci = cohens_dz(d, alpha)
            out.append(row(metabolite, "paired", "dz", group, dz, dz_ci, p, n))
    return out


def interaction_rows(
    responses: pd.DataFrame, metabolite: Any, conditions: tuple[str, str], alpha: float
) -> list[dict[str, Any]]:
    """Condition x sex: difference (M minus F) of the paired differences, Welch t.

    Rows: analysis ``interaction``, term ``condition:sex``, subgroup ``all``; ``n`` counts the
    participants of known sex.
    """
    wide = _wide(responses, metabolite, conditions)
    d = wide["a"] - wide["b"]
    dm, df_ = d[wide["sex"] == "M"].to_numpy(), d[wide["sex"] == "F"].to_numpy()
    if dm.size < 2 or df_.size < 2:
        logger.info("%s: fewer than 2 participants of a sex; no condition:sex test", metabolite)
        return []
    est, ci, p, n = welch(dm, df_, alpha)
    return [row(metabolite, "interaction", "condition:sex", "all", est, ci, p, n)]


def period_rows(
    responses: pd.DataFrame, metabolite: Any, conditions: tuple[str, str], alpha: float
) -> list[dict[str, Any]]:
    """Period, carry-over and period-adjusted treatment effects of the 2x2 crossover.

    The session order comes from a ``period`` column, else from the numbers in ``session_id``
    (``ses-1`` before ``ses-2``). With ``d`` = period-1 minus period-2 response and ``s`` their
    sum per participant, and sequence groups AB (active first) and BA:

    * ``period`` = period 2 minus period 1 = ``-(mean d_AB + mean d_BA) / 2``;
    * ``<active>-<reference>`` adjusted for period = ``(mean d_AB - mean d_BA) / 2``;
    * ``carryover`` = ``mean s_AB - mean s_BA`` (differential carry-over; low power).

    All pooled-variance two-sample t-tests (Jones & Kenward 2014, sec. 2.3-2.5). Rows: analysis
    ``crossover``, subgroup ``all``; none when the order is unknown or a sequence has < 2
    participants.
    """
    wide = _wide(responses, metabolite, conditions).dropna(subset=["period_a"])
    ab, ba = wide[wide["period_a"] == 1], wide[wide["period_a"] == 2]
    if len(ab) < 2 or len(ba) < 2:
        logger.info("%s: session order unknown or a sequence has < 2 participants", metabolite)
        return []
    d_ab = (ab["a"] - ab["b"]).to_numpy(float)  # period 1 - period 2
    d_ba = (ba["b"] - ba["a"]).to_numpy(float)
    s_ab = (ab["a"] + ab["b"]).to_numpy(float)
    s_ba = (ba["a"] + ba["b"]).to_numpy(float)
    term = f"{conditions[0]}-{conditions[1]}"
    out = []
    est, ci, p, n = pooled(d_ab, d_ba, alpha, scale=0.5)
    out.append(row(metabolite, "crossover", term, "all", est, ci, p, n))
    # period 2 - period 1 = -(mean d_AB + mean d_BA)/2: a two-sample test of d_AB against -d_BA
    est, ci, p, n = pooled(d_ab, -d_ba, alpha, scale=-0.5)
    out.append(row(metabolite, "crossover", "period", "all", est, ci, p, n))
    est, ci, p, n = pooled(s_ab, s_ba, alpha)
    out.append(row(metabolite, "crossover", "carryover", "all", est, ci, p, n))
    return out


def glm_contrast_rows(
    glm: pd.DataFrame, *, conditions: tuple[str, str], term: str, alpha: float
) -> list[dict[str, Any]]:
    """Paired contrast and condition x sex interaction of a GLM response, per metabolite.

    The per-session GLM (:func:`mrspipe.dynamic.glm_timecourses`) gives each session's response
    to ``term`` as % of its baseline (``percent``); these rows test it across the crossover
    exactly as :func:`paired_rows` and :func:`interaction_rows` test the window responses.

    Parameters
    ----------
    glm : DataFrame
        ``participant_id, session_id, condition, sex, metabolite, term, percent``.
    conditions : (str, str)
        Active and reference condition.
    term : str
        The response regressor (e.g. ``'ramp'``).
    alpha : float

    Returns
    -------
    list of dict
        Rows with analysis ``glm_paired`` (term ``'<active>-<reference>'``, subgroups all/M/F)
        and ``glm_interaction`` (term ``condition:sex``); the metabolite column is the
        metabolite, and ``extra`` records the regressor.
    """
    rows: list[dict[str, Any]] = []
    sel = glm[glm["term"] == term]
    if sel.empty:
        return rows
    responses = sel.rename(columns={"percent": "percent_change"})
    for metabolite in sorted(responses["metabolite"].unique(), key=str):
        found = paired_rows(responses, metabolite, conditions, alpha, effect_size=False)
        found += interaction_rows(responses, metabolite, conditions, alpha)
        for r in found:
            r["analysis"] = f"glm_{r['analysis']}"
        rows += found
    return rows
