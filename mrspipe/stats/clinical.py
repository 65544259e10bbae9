"""Clinical scores (MADRS, HAM-D): response rates, condition x time, link to glutamate.

The phenotype table is long: ``participant_id``, ``session_id`` and/or ``condition``,
``timepoint`` (e.g. ``baseline``, ``24h``) and ``score``. Symptom change at a follow-up is
``score - baseline score`` (negative = better); the reduction is ``100 (baseline - score) /
baseline`` %; a responder has a reduction of at least 50 % (Williams et al. 2018: HAM-D-17 on
post-infusion day 1).
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from scipy import stats as sps

from .._logging import logger
from ..dynamic import normalise_sex
from ..errors import ConfigError
from ._common import SEXES, check_columns, fisher_ci, row, t_interval

__all__ = ["symptom_changes", "clinical_rows", "correlation_rows", "wilson_interval"]


def wilson_interval(k: int, n: int, alpha: float) -> tuple[float, float]:
    """Wilson score interval of a proportion ``k / n``."""
    if n == 0:
        return math.nan, math.nan
    z = sps.norm.ppf(1 - alpha / 2)
    p = k / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z * math.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / (1 + z**2 / n)
    return centre - half, centre + half


def symptom_changes(
    phenotype: pd.DataFrame,
    responses: pd.DataFrame,
    *,
    baseline_timepoint: str = "baseline",
    threshold: float = 0.5,
) -> pd.DataFrame:
    """Change of the score from baseline to every follow-up, per participant and condition.

    Returns
    -------
    DataFrame
        ``participant_id, condition, sex, timepoint, baseline_score, score, change,
        reduction_percent, responder``.
    """
    check_columns(phenotype, ["participant_id", "timepoint", "score"], "phenotype")
    ph = phenotype.copy()
    sessions = responses.drop_duplicates(["participant_id", "session_id"])
    if "condition" not in ph.columns:
        if "session_id" not in ph.columns:
            raise ConfigError("phenotype table needs a condition or a session_id column")
        ph = ph.merge(sessions[["participant_id", "session_id", "condition"]],
                      on=["participant_id", "session_id"], how="left")  # fmt: skip
    sex = responses.groupby("participant_id")["sex"].first().map(normalise_sex)
    ph["sex"] = ph["participant_id"].map(sex)
    ph["timepoint"] = ph["timepoint"].astype(str)
    if baseline_timepoint not in set(ph["timepoint"]):
        raise ConfigError(f"phenotype table has no {baseline_timepoint!r} timepoint")
    base = ph[ph["timepoint"] == baseline_timepoint].set_index(["participant_id", "condition"])
    follow = ph[ph["timepoint"] != baseline_timepoint].copy()
    idx = pd.MultiIndex.from_frame(follow[["participant_id", "condition"]])
    follow["baseline_score"] = base["score"].reindex(idx).to_numpy(dtype=float)
    follow["change"] = follow["score"] - follow["baseline_score"]
    follow["reduction_percent"] = -100.0 * follow["change"] / follow["baseline_score"]
    follow["responder"] = follow["reduction_percent"] >= 100.0 * threshold
    cols = ["participant_id", "condition", "sex", "timepoint", "baseline_score", "score",
            "change", "reduction_percent", "responder"]  # fmt: skip
    return follow.dropna(subset=["baseline_score", "score"]).loc[:, cols]


def clinical_rows(
    changes: pd.DataFrame, conditions: tuple[str, str], alpha: float, *, score_name: str
) -> list[dict[str, Any]]:
    """Response rates and the condition x time contrast of the scores, per follow-up.

    Rows (``metabolite`` = ``score_name``):

    * ``clinical_response``, term ``'<condition>@<timepoint>'``: responder rate, Wilson interval;
    * ``clinical_response``, term ``'<active>-<reference>@<timepoint>'``: paired difference of
      rates (Wald interval), exact McNemar p-value on the discordant pairs;
    * ``clinical``, term ``'condition:time@<timepoint>'``: mean paired difference of the score
      change (active minus reference), paired t; subgroups ``all, M, F``.
    """
    a, b = conditions
    out = []
    for tp, grp in changes.groupby("timepoint", sort=True):
        for cond in conditions:
            resp = grp.loc[grp["condition"] == cond, "responder"].astype(bool)
            k, n = int(resp.sum()), int(resp.size)
            if n:
                out.append(row(score_name, "clinical_response", f"{cond}@{tp}", "all", k / n,
                               wilson_interval(k, n, alpha), n=n))  # fmt: skip
        wide = grp.pivot_table(index="participant_id", columns="condition",
                               values=["responder", "change"], aggfunc="first")  # fmt: skip
        if ("change", a) not in wide.columns or ("change", b) not in wide.columns:
            continue
        wide = wide.dropna(subset=[("change", a), ("change", b)])
        ra, rb = wide[("responder", a)].astype(int), wide[("responder", b)].astype(int)
        n = len(wide)
        if n >= 2:
            n10, n01 = int(((ra == 1) & (rb == 0)).sum()), int(((ra == 0) & (rb == 1)).sum())
            diff = (n10 - n01) / n
            se = math.sqrt(max(n10 + n01 - (n10 - n01) ** 2 / n, 0.0)) / n
            z = sps.norm.ppf(1 - alpha / 2)
            p = sps.binomtest(n10, n10 + n01, 0.5).pvalue if n10 + n01 else 1.0
            out.append(row(score_name, "clinical_response", f"{a}-{b}@{tp}", "all", diff,
                           (diff - z * se, diff + z * se), p, n))  # fmt: skip
        sex = grp.groupby("participant_id")["sex"].first().reindex(wide.index)
        d = wide[("change", a)] - wide[("change", b)]
        for group in ("all", *SEXES):
            sel = d if group == "all" else d[sex == group]
            est, ci, p, n = t_interval(sel.to_numpy(dtype=float), alpha)
            if n >= 2:
                out.append(row(score_name, "clinical", f"condition:time@{tp}", group, est, ci, p,
                               n))  # fmt: skip
    return out


def correlation_rows(
    responses: pd.DataFrame,
    changes: pd.DataFrame,
    metabolite: Any,
    conditions: tuple[str, str],
    alpha: float,
) -> list[dict[str, Any]]:
    """Correlation of the glutamate response with the symptom reduction.

    For each follow-up and each condition, ``percent_change`` of ``metabolite`` against the
    score's ``reduction_percent`` across participants; and the same for the within-participant
    differences (active minus reference) of both. Pearson r (Fisher-z interval) and Spearman rho
    (Bonett-Wright interval). Rows: analysis ``correlation``, terms ``'pearson:<cond>@<tp>'``,
    ``'spearman:<cond>@<tp>'`` (``<cond>`` may be ``'<active>-<reference>'``), subgroup ``all``.
    """
    resp = responses[responses["metabolite"] == metabolite]
    glu = resp.pivot_table(index="participant_id", columns="condition", values="percent_change",
                           aggfunc="first")  # fmt: skip
    out = []
    a, b = conditions
    for tp, grp in changes.groupby("timepoint", sort=True):
        red = grp.pivot_table(index="participant_id", columns="condition",
                              values="reduction_percent", aggfunc="first")  # fmt: skip
        pairs: dict[str, tuple[pd.Series, pd.Series]] = {}
        for cond in conditions:
            if cond in glu.columns and cond in red.columns:
                pairs[cond] = (glu[cond], red[cond])
        if len(pairs) == 2:
            pairs[f"{a}-{b}"] = (glu[a] - glu[b], red[a] - red[b])
        for label, (x, y) in pairs.items():
            both = pd.concat([x, y], axis=1, join="inner").dropna()
            n = len(both)
            if n < 4 or both.iloc[:, 0].nunique() < 2 or both.iloc[:, 1].nunique() < 2:
                logger.info("%s@%s: too few pairs for a correlation", label, tp)
                continue
            xv, yv = both.iloc[:, 0].to_numpy(float), both.iloc[:, 1].to_numpy(float)
            r, p = sps.pearsonr(xv, yv)
            out.append(row(metabolite, "correlation", f"pearson:{label}@{tp}", "all", r,
                           fisher_ci(float(r), n, alpha), p, n))  # fmt: skip
            rho, p = sps.spearmanr(xv, yv)
            out.append(row(metabolite, "correlation", f"spearman:{label}@{tp}", "all", rho,
                           fisher_ci(float(rho), n, alpha, spearman=True), p, n))  # fmt: skip
    return out
