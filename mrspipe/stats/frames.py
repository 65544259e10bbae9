"""GO-MARK's frame-level linear mixed model, with Satterthwaite degrees of freedom.

Model for the frames of one metabolite (or ratio, e.g. Glx/tNAA) in the baseline and response
windows of every session::

    y[s, f] = x(s, f)' beta + u[p] + v[s] + (w[s] + z[p]) time[f] + e[s, f],   e ~ N(0, s2)

with ``time`` = -1/2 (baseline window) or +1/2 (response window), ``condition`` +1/2 (active)
or -1/2, ``period`` +1/2 (second session) or -1/2 when the order is known, ``sex`` +1/2 (M) or
-1/2; fixed effects: intercept, condition, time, condition:time, period, period:time (and sex
with all its interactions in the model with sex). Random: an intercept per participant
(``u``), an intercept per session (``v``) and, by default, random slopes: a rise per session
(``w``) and a rise per participant (shared by its two sessions, so that between-participant
differences in the rise are not mistaken for within-participant noise).

The frame-level REML likelihood is computed exactly from sufficient statistics: within a
(session, window) cell every term of the model is constant, so the frames reduce to the cell
means (variance ``s2 / n_frames`` plus the random effects) and the within-cell sum of squares
(``s2`` on ``N - n_cells`` df). That makes the fit a few milliseconds, the same numbers as a
frame-by-frame MixedLM (checked against statsmodels in the tests). Tests of a single fixed
contrast are ``F(1, df)`` with Satterthwaite's ``df`` from the expected REML information; a
variance component estimated at zero keeps its uncertainty in that computation (dropping it would
hand the test the frame count as df whenever the random rises happen to be estimated at 0).

Why its numbers differ from the two-stage analysis (``paired`` on window % change): the model
works in the units of the time course (not % of the session's baseline), weights sessions by
their frame counts and noise, and, without the random slope, takes the frame-to-frame scatter
as the uncertainty of each session's rise, giving ``df`` in the hundreds (GO-MARK's F(1,253)):
with autocorrelated frames or a rise that varies between sessions that is anti-conservative.
The random rise per session puts the session, not the frame, back as the unit of evidence, and
Satterthwaite's ``df`` then falls to about the number of participants.

References
----------
Satterthwaite FE. An approximate distribution of estimates of variance components. Biometrics
Bulletin 1946. Kuznetsova A, Brockhoff PB, Christensen RHB. lmerTest package: tests in linear
mixed effects models. J Stat Softw 2017. Jelen LA et al. Nat Med 2025 (GO-MARK).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize
from scipy import stats as sps

from .._logging import logger
from ..dynamic import normalise_sex, select_window

__all__ = ["FrameModel", "frame_cells", "fit_frame_model"]

_CELLS = (("a", -0.5), ("a", 0.5), ("b", -0.5), ("b", 0.5))


@dataclass(frozen=True)
class FrameModel:
    """A fitted frame-level model.

    Attributes
    ----------
    names : tuple of str
        Fixed effects.
    beta : (p,) float ndarray
        Estimates, units of the time course.
    covariance : (p, p) float ndarray
    variances : dict
        ``participant, session, session_slope, participant_slope, residual`` variance
        components (the slopes are random rises per session and per participant).
    n_participants : int
    """

    names: tuple[str, ...]
    beta: np.ndarray
    covariance: np.ndarray
    variances: dict[str, float]
    n_participants: int
    _df: dict[str, float]

    def test(self, name: str, alpha: float) -> tuple[float, tuple[float, float], float, float]:
        """Estimate, t interval, ``F(1, df)`` p-value and Satterthwaite ``df`` of one effect."""
        j = self.names.index(name)
        est, se, df = float(self.beta[j]), float(np.sqrt(self.covariance[j, j])), self._df[name]
        q = sps.t.ppf(1 - alpha / 2, df)
        p = float(sps.f.sf(est**2 / se**2, 1, df)) if se > 0 else float("nan")
        return est, (est - q * se, est + q * se), p, df


def frame_cells(
    timecourses: pd.DataFrame,
    metabolite: Any,
    conditions: tuple[str, str],
    *,
    baseline_window: tuple[float | None, float | None],
    response_window: tuple[float | None, float | None],
    periods: pd.DataFrame | None = None,
    durations: dict[tuple[Any, Any], float] | None = None,
) -> pd.DataFrame:
    """Sufficient statistics of the frames: one row per participant with complete cells.

    Returns
    -------
    cells : DataFrame
        Index participant; ``mean_<a|b><b|r>``, ``n_<a|b><b|r>`` (cell means and frame counts
        of active/reference x baseline/response), ``sex`` (+-1/2 or NaN), ``period_a`` (1, 2
        or NaN) and ``ss`` (sum of squares of the participant's frames about their cell means).
    """
    tc = timecourses[
        (timecourses["metabolite"] == metabolite) & timecourses["condition"].isin(conditions)
    ].copy()
    tc = tc[np.isfinite(tc["estimate"].to_numpy(float))]
    end = tc["time_s"].to_numpy(float) * 0 + np.inf
    if durations:
        keys = list(zip(tc["participant_id"], tc["session_id"], strict=True))
        end = np.array([durations.get(k, np.inf) for k in keys], dtype=float)
        end = np.where(np.isfinite(end), end, np.inf)
    base = select_window(tc["time_s"], baseline_window)
    resp = select_window(tc["time_s"], response_window) & (tc["time_s"].to_numpy(float) < end)
    tc = tc[base | resp].assign(
        _w=np.where(resp[base | resp], "r", "b"),
        _c=np.where(tc.loc[base | resp, "condition"] == conditions[0], "a", "b"),
    )
    grp = tc.groupby(["participant_id", "_c", "_w"])["estimate"]
    stats = grp.agg(["mean", "count"]).unstack(["_c", "_w"])
    stats.columns = [f"{k}_{c}{w}" for k, c, w in stats.columns]
    cols = [f"{k}_{c}{w}" for k in ("mean", "count") for c in "ab" for w in "br"]
    stats = stats.reindex(columns=cols)
    complete = stats.dropna()
    if len(complete) < len(stats):
        logger.info(
            "frame model: %d participant(s) without both sessions and windows left out",
            len(stats) - len(complete),
        )
    keep = tc["participant_id"].isin(complete.index)
    dev = tc.loc[keep, "estimate"] - grp.transform("mean")[keep]
    ss = (dev**2).groupby(tc.loc[keep, "participant_id"]).sum()
    sex = tc.groupby("participant_id")["sex"].first().map(normalise_sex)
    out = complete.rename(columns=lambda c: c.replace("count_", "n_"))
    out["ss"] = ss.reindex(out.index).astype(float)
    out["sex"] = sex.reindex(out.index).map({"M": 0.5, "F": -0.5}).astype(float)
    out["period_a"] = np.nan
    if periods is not None:
        active = periods[periods["condition"] == conditions[0]].set_index("participant_id")
        out["period_a"] = active["period"].reindex(out.index).astype(float)
    return out


def _design(cells: pd.DataFrame, *, with_sex: bool, with_period: bool) -> tuple[np.ndarray, list]:
    """Cell-level fixed-effect design ``(n * 4, p)`` (cells in :data:`_CELLS` order)."""
    n = len(cells)
    cond = np.tile([0.5, 0.5, -0.5, -0.5], n)
    time = np.tile([-0.5, 0.5, -0.5, 0.5], n)
    cols = {
        "intercept": np.ones(4 * n),
        "condition": cond,
        "time": time,
        "condition:time": cond * time,
    }
    if with_period:
        pa = cells["period_a"].to_numpy(float)
        period = np.repeat(np.where(pa == 1, -0.5, 0.5), 4) * np.tile([1, 1, -1, -1], n)
        cols |= {"period": period, "period:time": period * time}
    if with_sex:
        sex = np.repeat(cells["sex"].to_numpy(float), 4)
        cols |= {
            "sex": sex,
            "condition:sex": cond * sex,
            "time:sex": time * sex,
            "condition:time:sex": cond * time * sex,
        }
    return np.column_stack(list(cols.values())), list(cols)


def fit_frame_model(
    cells: pd.DataFrame,
    *,
    with_sex: bool,
    random_slope: bool = True,
) -> FrameModel | None:
    """REML fit of the frame-level model from :func:`frame_cells`; None if not estimable."""
    n = len(cells)
    counts = cells[[f"n_{c}" for c in ("ab", "ar", "bb", "br")]].to_numpy(float).ravel()
    within_ss, within_df = float(cells["ss"].sum()), int(counts.sum() - counts.size)
    with_period = bool(
        cells["period_a"].notna().all()
        and (cells["period_a"] == 1).sum() >= 2
        and (cells["period_a"] == 2).sum() >= 2
    )
    x, names = _design(cells, with_sex=with_sex, with_period=with_period)
    if n < 3 or within_df < 1 or np.linalg.matrix_rank(x) < x.shape[1] or 4 * n <= x.shape[1]:
        return None
    y = cells[[f"mean_{c}" for c in ("ab", "ar", "bb", "br")]].to_numpy(float).ravel()
    scale = float(np.std(y)) or 1.0
    y, w_ss = y / scale, within_ss / scale**2
    eye = np.eye(n)
    t = np.array([-0.5, 0.5])
    t4 = np.tile(t, 2)
    derivs = [
        np.kron(eye, np.ones((4, 4))),  # participant intercept
        np.kron(eye, np.kron(np.eye(2), np.ones((2, 2)))),  # session intercept
        np.kron(eye, np.kron(np.eye(2), np.outer(t, t))),  # session rise
        np.kron(eye, np.outer(t4, t4)),  # participant rise
        np.diag(1.0 / counts),  # residual (cell-mean part)
    ]
    free = [True, True, random_slope, random_slope, True]

    def parts(theta: np.ndarray) -> tuple[Any, ...]:
        v = sum(th * d for th, d, f in zip(theta, derivs, free, strict=True) if f)
        vinv = np.linalg.inv(v)
        xtv = x.T @ vinv
        cinv = xtv @ x
        c = np.linalg.inv(cinv)
        beta = c @ (xtv @ y)
        r = y - x @ beta
        return v, vinv, c, cinv, beta, r

    def neg2ll(theta: np.ndarray) -> float:
        try:
            v, vinv, c, cinv, beta, r = parts(theta)
        except np.linalg.LinAlgError:
            return 1e30
        ld_v, ld_c = np.linalg.slogdet(v)[1], np.linalg.slogdet(cinv)[1]
        s2 = theta[4]
        return float(ld_v + ld_c + r @ vinv @ r + within_df * np.log(s2) + w_ss / s2)

    s2_0 = w_ss / within_df
    spread = float(np.var(y))
    slope0 = spread / 4 if random_slope else 0.0
    start = np.array([spread / 4, spread / 4, slope0, slope0, s2_0])
    slope_bound = (0.0, None if random_slope else 0.0)
    bounds = [(0.0, None), (0.0, None), slope_bound, slope_bound, (1e-12, None)]
    res = optimize.minimize(neg2ll, start, method="L-BFGS-B", bounds=bounds)
    theta = res.x
    v, vinv, c, cinv, beta, r = parts(theta)
    # expected REML information: 1/2 tr(P D_j P D_k) (+ the within-cell part for s2)
    p_mat = vinv - vinv @ x @ c @ x.T @ vinv
    active = [j for j in range(5) if free[j]]  # boundary estimates too: their uncertainty counts
    pd_ = [p_mat @ derivs[j] for j in active]
    info = np.array([[0.5 * np.sum(a * b.T) for b in pd_] for a in pd_])
    info[-1, -1] += within_df / (2 * theta[4] ** 2)
    acov = np.linalg.pinv(info)
    xv = x.T @ vinv
    grads = [c @ xv @ derivs[j] @ xv.T @ c for j in active]  # d C / d theta_j
    dfs = {}
    for k, name in enumerate(names):
        g = np.array([gr[k, k] for gr in grads])
        denom = float(g @ acov @ g)
        dfs[name] = float(2 * c[k, k] ** 2 / denom) if denom > 0 else float(within_df)
    var_names = ("participant", "session", "session_slope", "participant_slope", "residual")
    return FrameModel(
        names=tuple(names),
        beta=beta * scale,
        covariance=c * scale**2,
        variances={k: float(v_) * scale**2 for k, v_ in zip(var_names, theta, strict=True)},
        n_participants=n,
        _df=dfs,
    )


def frame_rows(
    timecourses: pd.DataFrame,
    metabolite: Any,
    conditions: tuple[str, str],
    opts: Any,
    *,
    baseline_window: tuple[float | None, float | None],
    response_window: tuple[float | None, float | None],
    periods: pd.DataFrame | None = None,
    durations: dict[tuple[Any, Any], float] | None = None,
) -> list[dict[str, Any]]:
    """Rows ``frame_lmm``: ``condition:time`` (all, M, F) and ``condition:time:sex`` (all).

    Estimates in the units of the time course; ``p_value`` from ``F(1, df)`` (Satterthwaite),
    ``p_perm`` from relabelling conditions within participants on the per-participant
    condition x time contrast of the cell means (period-adjusted as the paired rows are).
    """
    from ._common import row
    from .crossover import adjusted_contrast, interaction_rows, plain_contrast

    cells = frame_cells(
        timecourses,
        metabolite,
        conditions,
        baseline_window=baseline_window,
        response_window=response_window,
        periods=periods,
        durations=durations,
    )
    out: list[dict[str, Any]] = []
    if len(cells) < 4:
        return out
    contrast = (cells["mean_ar"] - cells["mean_ab"]) - (cells["mean_br"] - cells["mean_bb"])
    wide = pd.DataFrame(
        {
            "a": contrast,
            "b": 0.0,
            "period_a": cells["period_a"],
            "sex": cells["sex"].map({0.5: "M", -0.5: "F"}),
        }
    )
    groups = [("all", cells, False)]
    known = cells.dropna(subset=["sex"])
    if known["sex"].nunique() == 2 and len(known) >= 6:
        groups = [("all", known, True)]
    groups += [(lab, cells[cells["sex"] == code], False) for lab, code in (("M", 0.5), ("F", -0.5))]
    for label, sub, with_sex in groups:
        if len(sub) < 4:
            continue
        model = fit_frame_model(sub, with_sex=with_sex, random_slope=opts.random_slope)
        if model is None:
            continue
        w = wide.loc[sub.index]
        d = w["a"].to_numpy(float)
        order = w["period_a"]
        if order.notna().all() and (order == 1).sum() >= 2 and (order == 2).sum() >= 2:
            p_perm = adjusted_contrast(d, (order == 1).to_numpy(), opts)[3]
        else:
            p_perm = plain_contrast(d, opts)[3]
        terms = ["condition:time"] + (["condition:time:sex"] if with_sex else [])
        for term in terms:
            est, ci, p, df = model.test(term, opts.alpha)
            if term.endswith(":sex"):
                inter = interaction_rows(w, metabolite, opts, sensitivity=False)
                p_perm = inter[0]["p_perm"] if inter else float("nan")
            slope = "random rise per session" if opts.random_slope else "no random slope"
            out.append(
                row(
                    metabolite,
                    "frame_lmm",
                    term,
                    label,
                    est,
                    ci,
                    p,
                    model.n_participants,
                    p_perm=p_perm,
                    df=df,
                    test=f"F(1, {df:.1f}), frame-level LMM, Satterthwaite ({slope})",
                )
            )
    return out
