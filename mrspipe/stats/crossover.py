"""Two-period crossover: period-adjusted paired contrasts by sex, condition x sex, carry-over.

Each contrast comes with its permutation p-value.

Every function takes the per-participant table of :func:`mrspipe.stats._common.wide_by_condition`
(columns ``a`` = active, ``b`` = reference value, ``sex``, ``period_a`` = 1 or 2 when the
active condition came first or second) and returns rows of the ``stats`` table. With ``d = a - b``
and sequence AB (active first) or BA, a period effect ``pi`` (period 2 minus period 1) enters
``d`` as ``-pi`` in AB and ``+pi`` in BA, so:

* the **main paired contrast** (analysis ``paired``) is the Jones-Kenward estimate
  ``(mean d_AB + mean d_BA) / 2``, unbiased whatever the period effect and the sequence
  balance, pooled-variance t on ``n - 2`` df; when the order is unknown (or a sequence has fewer
  than 2 participants) it is the plain paired t, and the ``test`` column says so;
* the plain paired difference ``mean d`` (biased by ``pi (n_BA - n_AB) / n``) is the sensitivity
  row ``paired_unadjusted`` (only when its estimate differs);
* ``interaction`` (``condition:sex``) is the difference of the sexes' period-adjusted estimates,
  pooled over the four sex x sequence cells (``n - 4`` df); Welch's test of the plain
  differences is ``interaction_unadjusted``;
* ``crossover``: ``period`` = ``(mean d_BA - mean d_AB) / 2`` and ``carryover`` = ``mean s_AB -
  mean s_BA`` with ``s = a + b`` (differential carry-over; low power).

``p_perm``: the paired contrasts relabel which condition each participant had first, keeping
the sequence group sizes (the design's randomisation; all ``2^n`` sign flips when the order is
unknown); the interaction permutes sex within sequence groups. See
:mod:`mrspipe.stats.permutation`.

References
----------
Jones B, Kenward MG. Design and Analysis of Cross-Over Trials, 3rd ed. CRC Press 2014, ch. 2.
Grizzle JE. The two-period change-over design and its use in clinical trials. Biometrics 1965.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from .._logging import logger
from ._common import SEXES, cohens_dz, row, t_interval
from .contrasts import cell_contrast, welch_contrast
from .options import StatsOptions
from .permutation import group_relabellings, permutation_p, sequence_relabellings, sign_flips

__all__ = [
    "treatment_rows",
    "interaction_rows",
    "period_rows",
    "effect_size_rows",
    "condition_mean_rows",
]


def _subgroups(wide: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    return [("all", wide), *((sex, wide[wide["sex"] == sex]) for sex in SEXES)]


def _order_known(w: pd.DataFrame) -> bool:
    first = w["period_a"]
    return bool(first.notna().all() and (first == 1).sum() >= 2 and (first == 2).sum() >= 2)


def _perm_kwargs(opts: StatsOptions) -> dict[str, Any]:
    return {"n_draws": opts.permutations, "max_exhaustive": opts.max_exhaustive, "rng": opts.seed}


def adjusted_contrast(
    d: np.ndarray, first: np.ndarray, opts: StatsOptions
) -> tuple[float, tuple[float, float], float, float, float]:
    """Jones-Kenward ``(mean d_AB + mean d_BA) / 2``: estimate, CI, p, p_perm, df."""
    signs, exhaustive = sequence_relabellings(first, **_perm_kwargs(opts))
    ab = (signs > 0) == first[None, :]
    perm = cell_contrast(signs * d, np.where(ab, 0, 1), np.array([0.5, 0.5]))
    res = cell_contrast(d, np.where(first, 0, 1), np.array([0.5, 0.5]))
    p_perm = permutation_p(float(res.t[0]), perm.t, exhaustive)
    return float(res.estimate[0]), res.ci(opts.alpha), res.p_value(), p_perm, float(res.df[0])


def plain_contrast(
    d: np.ndarray, opts: StatsOptions
) -> tuple[float, tuple[float, float], float, float, float]:
    """Plain paired mean difference: estimate, CI, paired-t p, sign-flip p_perm, df."""
    signs, exhaustive = sign_flips(d.size, **_perm_kwargs(opts))
    res = cell_contrast(signs * d, np.zeros(d.size, dtype=int), np.array([1.0]))
    p_perm = permutation_p(float(res.t[0]), res.t, exhaustive)
    obs = cell_contrast(d, np.zeros(d.size, dtype=int), np.array([1.0]))
    return float(obs.estimate[0]), obs.ci(opts.alpha), obs.p_value(), p_perm, float(obs.df[0])


def treatment_rows(
    wide: pd.DataFrame,
    metabolite: Any,
    term: str,
    opts: StatsOptions,
    *,
    analysis: str = "paired",
    sensitivity: bool = True,
) -> list[dict[str, Any]]:
    """Test the paired contrast (period-adjusted when possible); add the plain sensitivity row.

    Rows: ``analysis`` (term ``term``), and ``<analysis>_unadjusted`` when the main row is
    period-adjusted and the plain mean differs; subgroups ``all, M, F`` (subgroups with fewer
    than 2 participants are omitted).
    """
    out = []
    for group, w in _subgroups(wide):
        d = (w["a"] - w["b"]).to_numpy(dtype=float)
        n = d.size
        if n < 2:
            continue
        plain = plain_contrast(d, opts)
        if opts.period_adjust and _order_known(w):
            first = (w["period_a"] == 1).to_numpy()
            est, ci, p, pp, df = adjusted_contrast(d, first, opts)
            test = f"t({df:g}), period-adjusted (Jones-Kenward)"
            out.append(row(metabolite, analysis, term, group, est, ci, p, n, p_perm=pp, test=test))
            if sensitivity and not math.isclose(plain[0], est, rel_tol=1e-9, abs_tol=1e-12):
                test = f"t({plain[4]:g}), paired, no period term"
                name = f"{analysis}_unadjusted"
                out.append(
                    row(metabolite, name, term, group, *plain[:3], n, p_perm=plain[3], test=test)
                )
        else:
            why = "order unknown" if w["period_a"].isna().any() else "no period adjustment"
            if opts.period_adjust and not w["period_a"].isna().any():
                why = "a sequence has < 2 participants"
            test = f"t({plain[4]:g}), paired ({why})"
            out.append(
                row(metabolite, analysis, term, group, *plain[:3], n, p_perm=plain[3], test=test)
            )
    return out


def interaction_rows(
    wide: pd.DataFrame,
    metabolite: Any,
    opts: StatsOptions,
    *,
    analysis: str = "interaction",
    sensitivity: bool = True,
) -> list[dict[str, Any]]:
    """Condition x sex: (active - reference) in men minus in women.

    Period-adjusted when every sex x sequence cell has a participant and ``n - 4 >= 2``
    (pooled t, sex permuted within sequence groups for ``p_perm``); else (and as the
    ``<analysis>_unadjusted`` sensitivity row) Welch's t of the plain paired differences (sex
    permuted freely). Rows: subgroup ``all``, ``n`` = participants of known sex.
    """
    w = wide[wide["sex"].isin(SEXES)]
    d = (w["a"] - w["b"]).to_numpy(dtype=float)
    male = (w["sex"] == "M").to_numpy()
    if male.sum() < 2 or (~male).sum() < 2:
        logger.info("%s: fewer than 2 participants of a sex; no condition:sex test", metabolite)
        return []
    n = d.size
    kw = _perm_kwargs(opts)
    labels, exhaustive = group_relabellings(male, **kw)
    welch = welch_contrast(d, labels)
    obs_w = welch_contrast(d, male)
    p_welch = permutation_p(float(obs_w.t[0]), welch.t, exhaustive)
    term = "condition:sex"

    def welch_row(name: str) -> dict[str, Any]:
        """Welch's t of the plain paired differences, as the row ``name``."""
        return row(
            metabolite,
            name,
            term,
            "all",
            float(obs_w.estimate[0]),
            obs_w.ci(opts.alpha),
            obs_w.p_value(),
            n,
            p_perm=p_welch,
            test=f"Welch t({float(obs_w.df[0]):.3g}), no period term",
        )

    first = (w["period_a"] == 1).to_numpy()
    cells = np.where(male, 0, 2) + np.where(first, 0, 1)
    adjustable = (
        opts.period_adjust
        and w["period_a"].notna().all()
        and np.bincount(cells, minlength=4).min() >= 1
        and n - 4 >= 2
    )
    if not adjustable:
        return [welch_row(analysis)]
    weights = np.array([0.5, 0.5, -0.5, -0.5])
    obs = cell_contrast(d, cells, weights)
    relab, exh = group_relabellings(male, strata=first, **kw)
    perm = cell_contrast(d, np.where(relab, 0, 2) + np.where(first, 0, 1)[None, :], weights)
    out = [
        row(
            metabolite,
            analysis,
            term,
            "all",
            obs.estimate[0],
            obs.ci(opts.alpha),
            obs.p_value(),
            n,
            p_perm=permutation_p(float(obs.t[0]), perm.t, exh),
            test=f"t({obs.df[0]:g}), period-adjusted (sex x sequence cells)",
        )
    ]
    if sensitivity and not math.isclose(
        float(obs_w.estimate[0]), float(obs.estimate[0]), rel_tol=1e-9, abs_tol=1e-12
    ):
        out.append(welch_row(f"{analysis}_unadjusted"))
    return out


def period_rows(
    wide: pd.DataFrame, metabolite: Any, opts: StatsOptions, *, analysis: str = "crossover"
) -> list[dict[str, Any]]:
    """Period (period 2 minus period 1) and differential carry-over of the 2x2 crossover.

    Pooled-variance two-sample t-tests (Jones & Kenward 2014, sec. 2.3-2.5); subgroup ``all``;
    none when the order is unknown or a sequence has fewer than 2 participants.
    """
    if not _order_known(wide):
        logger.info("%s: session order unknown or a sequence has < 2 participants", metabolite)
        return []
    first = (wide["period_a"] == 1).to_numpy()
    cells = np.where(first, 0, 1)
    d = (wide["a"] - wide["b"]).to_numpy(float)
    s = (wide["a"] + wide["b"]).to_numpy(float)
    n = d.size
    out = []
    for term, y, weights in (("period", d, [-0.5, 0.5]), ("carryover", s, [1.0, -1.0])):
        res = cell_contrast(y, cells, np.array(weights))
        out.append(
            row(
                metabolite,
                analysis,
                term,
                "all",
                res.estimate[0],
                res.ci(opts.alpha),
                res.p_value(),
                n,
                test=f"t({res.df[0]:g}), AB vs BA",
            )
        )
    return out


def effect_size_rows(
    wide: pd.DataFrame, metabolite: Any, opts: StatsOptions, *, analysis: str = "effect_size"
) -> list[dict[str, Any]]:
    """Standardised paired effect sizes (no test of their own: see the paired row's p).

    One row per subgroup, term ``dz``: ``estimate`` = d_z = mean(d) / sd(d) with its
    noncentral-t interval (Steiger & Fouladi); beside it, columns ``d_av`` = mean(d) /
    ((sd_a + sd_b) / 2) (Cumming 2012) and ``d_rm`` = d_z sqrt(2 (1 - r_ab)) (Lakens 2013),
    without intervals. (They are columns, not rows: with similar SDs in the two conditions d_av
    and d_rm nearly coincide, and would read as one estimate reported twice.)

    References
    ----------
    Lakens D. Calculating and reporting effect sizes to facilitate cumulative science: a
    practical primer for t-tests and ANOVAs. Front Psychol 2013;4:863.
    """
    out = []
    for group, w in _subgroups(wide):
        a, b = w["a"].to_numpy(float), w["b"].to_numpy(float)
        if a.size < 3:
            continue
        d = a - b
        dz, ci = cohens_dz(d, opts.alpha)
        sd_av = (a.std(ddof=1) + b.std(ddof=1)) / 2
        d_av = d.mean() / sd_av if sd_av > 0 else math.nan
        r = np.corrcoef(a, b)[0, 1] if a.std() > 0 and b.std() > 0 else math.nan
        d_rm = dz * math.sqrt(2 * (1 - r)) if np.isfinite(r) else math.nan
        out.append(
            row(
                metabolite,
                analysis,
                "dz",
                group,
                dz,
                ci,
                n=a.size,
                d_av=float(d_av),
                d_rm=float(d_rm),
                test="no test (see paired)",
            )
        )
    return out


def condition_mean_rows(
    responses: pd.DataFrame,
    metabolite: Any,
    conditions: tuple[str, str],
    opts: StatsOptions,
    *,
    value: str = "percent_change",
) -> list[dict[str, Any]]:
    """Mean % change per condition (is there a rise at all?), one-sample t against 0.

    Rows: analysis ``condition_mean``, term = condition name, subgroups ``all, M, F``; uses every
    participant with that condition.
    """
    from ..dynamic import normalise_sex

    out = []
    sub = responses[responses["metabolite"] == metabolite]
    sex = sub["sex"].map(normalise_sex)
    for cond in conditions:
        for group in ("all", *SEXES):
            mask = (sub["condition"] == cond) & ((sex == group) if group != "all" else True)
            est, ci, p, n = t_interval(sub.loc[mask, value].to_numpy(), opts.alpha)
            if n:
                out.append(
                    row(
                        metabolite,
                        "condition_mean",
                        cond,
                        group,
                        est,
                        ci,
                        p,
                        n,
                        test=f"one-sample t({n - 1})",
                    )
                )
    return out
