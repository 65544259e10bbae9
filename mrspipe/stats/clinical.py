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

import numpy as np
import pandas as pd
from scipy import stats as sps

from .._logging import logger
from ..dynamic import normalise_sex
from ..errors import ConfigError
from ._common import check_columns, fisher_ci, row
from .crossover import effect_size_rows, period_rows, treatment_rows
from .options import StatsOptions

__all__ = [
    "symptom_changes",
    "clinical_rows",
    "correlation_rows",
    "wilson_interval",
    "newcombe_paired_interval",
]


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
        ph = ph.merge(
            sessions[["participant_id", "session_id", "condition"]],
            on=["participant_id", "session_id"],
            how="left",
        )
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
    cols = (
        "participant_id condition sex timepoint baseline_score score change reduction_percent "
        "responder"
    ).split()
    return follow.dropna(subset=["baseline_score", "score"]).loc[:, cols]


def newcombe_paired_interval(
    n11: int, n10: int, n01: int, n00: int, alpha: float
) -> tuple[float, float]:
    """Newcombe's hybrid score interval for a difference of paired proportions.

    ``p1 - p2`` with ``p1 = (n11 + n10) / n`` and ``p2 = (n11 + n01) / n`` (method 10 of
    Newcombe 1998: Wilson limits of each proportion combined with the phi correlation of the
    pairs). Unlike the Wald interval it does not collapse to a point without discordant pairs.

    References
    ----------
    Newcombe RG. Improved confidence intervals for the difference between binomial proportions
    based on paired data. Stat Med 1998;17:2635-50.
    """
    n = n11 + n10 + n01 + n00
    if n == 0:
        return math.nan, math.nan
    p1, p2 = (n11 + n10) / n, (n11 + n01) / n
    l1, u1 = wilson_interval(n11 + n10, n, alpha)
    l2, u2 = wilson_interval(n11 + n01, n, alpha)
    denom = (n11 + n10) * (n01 + n00) * (n11 + n01) * (n10 + n00)
    phi = (n11 * n00 - n10 * n01) / math.sqrt(denom) if denom > 0 else 0.0
    theta = p1 - p2
    low = theta - math.sqrt(
        max((p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2, 0.0)
    )
    high = theta + math.sqrt(
        max((p2 - l2) ** 2 - 2 * phi * (p2 - l2) * (u1 - p1) + (u1 - p1) ** 2, 0.0)
    )
    return max(low, -1.0), min(high, 1.0)


def clinical_rows(
    changes: pd.DataFrame,
    conditions: tuple[str, str],
    opts: StatsOptions,
    *,
    score_name: str,
    periods: pd.Series | None = None,
) -> list[dict[str, Any]]:
    """Response rates and the period-adjusted contrast of the score change, per follow-up.

    Rows (``metabolite`` = ``score_name``):

    * ``clinical_response``, term ``'<condition>@<timepoint>'``: responder rate, Wilson interval;
    * ``clinical_response``, term ``'<active>-<reference>@<timepoint>'``: paired difference of
      rates, Newcombe interval, exact McNemar p (which is also the exact within-participant
      permutation p on the discordant pairs, ``p_perm``);
    * ``clinical`` (and ``clinical_unadjusted``), term ``'condition:time@<timepoint>'``: the
      paired difference of the score change (active minus reference) as
      :func:`~mrspipe.stats.crossover.treatment_rows` tests it (period-adjusted when
      ``periods`` gives the order); subgroups ``all, M, F``;
    * ``clinical_crossover``, terms ``'period@<tp>'``, ``'carryover@<tp>'`` of the score change
      and ``'baseline_period@<tp>'``: the period effect on the pre-treatment score (a second
      period starting from a ketamine-lowered baseline shows here);
    * ``clinical_effect_size``, term ``'dz@<tp>'`` (with columns ``d_av`` and ``d_rm``).

    Parameters
    ----------
    periods : Series, optional
        Participant -> period (1 or 2) of the active condition.
    """
    a, b = conditions
    out: list[dict[str, Any]] = []
    for tp, grp in changes.groupby("timepoint", sort=True):
        for cond in conditions:
            resp = grp.loc[grp["condition"] == cond, "responder"].astype(bool)
            k, n = int(resp.sum()), int(resp.size)
            if n:
                out.append(
                    row(
                        score_name,
                        "clinical_response",
                        f"{cond}@{tp}",
                        "all",
                        k / n,
                        wilson_interval(k, n, opts.alpha),
                        n=n,
                        test="rate, Wilson interval",
                    )
                )
        wide = grp.pivot_table(
            index="participant_id",
            columns="condition",
            values=["responder", "change", "baseline_score"],
            aggfunc="first",
        )
        if ("change", a) not in wide.columns or ("change", b) not in wide.columns:
            continue
        wide = wide.dropna(subset=[("change", a), ("change", b)])
        ra, rb = wide[("responder", a)].astype(int), wide[("responder", b)].astype(int)
        n = len(wide)
        if n >= 2:
            n11, n00 = int(((ra == 1) & (rb == 1)).sum()), int(((ra == 0) & (rb == 0)).sum())
            n10, n01 = int(((ra == 1) & (rb == 0)).sum()), int(((ra == 0) & (rb == 1)).sum())
            p = sps.binomtest(n10, n10 + n01, 0.5).pvalue if n10 + n01 else 1.0
            out.append(
                row(
                    score_name,
                    "clinical_response",
                    f"{a}-{b}@{tp}",
                    "all",
                    (n10 - n01) / n,
                    newcombe_paired_interval(n11, n10, n01, n00, opts.alpha),
                    p,
                    n,
                    p_perm=p,
                    test="exact McNemar, Newcombe interval",
                )
            )
        sex = grp.groupby("participant_id")["sex"].first().reindex(wide.index)
        per = (
            pd.Series(np.nan, index=wide.index)
            if periods is None
            else periods.reindex(wide.index).astype(float)
        )
        change = pd.DataFrame(
            {"a": wide[("change", a)], "b": wide[("change", b)], "sex": sex, "period_a": per}
        )
        rows = treatment_rows(change, score_name, f"condition:time@{tp}", opts, analysis="clinical")
        rows += [
            dict(r, term=f"{r['term']}@{tp}")
            for r in period_rows(change, score_name, opts, analysis="clinical_crossover")
        ]
        base = change.assign(a=wide[("baseline_score", a)], b=wide[("baseline_score", b)])
        rows += [
            dict(r, term=f"baseline_period@{tp}")
            for r in period_rows(base, score_name, opts, analysis="clinical_crossover")
            if r["term"] == "period"
        ]
        rows += [
            dict(r, term=f"{r['term']}@{tp}")
            for r in effect_size_rows(change, score_name, opts, analysis="clinical_effect_size")
        ]
        out += rows
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
    glu = resp.pivot_table(
        index="participant_id", columns="condition", values="percent_change", aggfunc="first"
    )
    out = []
    a, b = conditions
    for tp, grp in changes.groupby("timepoint", sort=True):
        red = grp.pivot_table(
            index="participant_id", columns="condition", values="reduction_percent", aggfunc="first"
        )
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
            out.append(
                row(
                    metabolite,
                    "correlation",
                    f"pearson:{label}@{tp}",
                    "all",
                    r,
                    fisher_ci(float(r), n, alpha),
                    p,
                    n,
                    test="Pearson r, t test; Fisher-z interval",
                )
            )
            rho, p = sps.spearmanr(xv, yv)
            out.append(
                row(
                    metabolite,
                    "correlation",
                    f"spearman:{label}@{tp}",
                    "all",
                    rho,
                    fisher_ci(float(rho), n, alpha, spearman=True),
                    p,
                    n,
                    test="Spearman rho; Bonett-Wright interval",
                )
            )
    return out
