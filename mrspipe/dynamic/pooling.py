"""Neighbour responses pooled across a study's sessions; every frame conditioned on them.

Glutamate's frame estimate is strongly anti-correlated with glutamine's and GABA's (their
spectra overlap): most of the noise of a session's Glu % change is the part it shares with
their estimates. Knowing the neighbours' true time courses would remove it; a session alone
cannot tell them (a response fitted to its own frames is estimated from the same contrast, so
conditioning on it changes nothing). A study can: the neighbours' responses are exchangeable
across the sessions of a condition, so they are pooled.

Per session the pooled metabolites' frame estimates are regressed on ``intercept + response``
(``response`` is 1 in the session's response window, 0 elsewhere: only the window means enter
the window % change), giving the response coefficient ``b_i`` with its OLS variance ``s_i^2``.
Per condition and pooled metabolite, ``b_i ~ N(mu, tau^2)`` is estimated by DerSimonian-Laird and
each ``b_i`` is shrunk towards ``mu`` (weight ``lambda_i = tau^2 / (tau^2 + s_i^2)``); the
session's trajectory is its own intercept plus the shrunk response. Every other metabolite,
sum and ratio of the frame is then conditioned on the pooled metabolites sitting on that
trajectory, with the frame's covariance ``C`` (Gaussian conditioning):

    x_adj = x - C[x, N] C[N, N]^-1 (N - trajectory),
    Var(x_adj | trajectory) = C[x, x] - C[x, N] C[N, N]^-1 C[N, x].

Noise-free, or when ``mu`` is right, the adjusted estimates are unbiased whatever the
neighbours do (a homogeneous change is in ``mu``); when their responses differ between
sessions, ``tau^2`` is large, the shrinkage small and the adjustment close to none. The
window standard errors add the trajectory's uncertainty (the intercept's, and the shrunk
response's posterior variance ``lambda_i s_i^2 + (1 - lambda_i)^2 Var(mu)``), so they stay
honest for every ``lambda``. Measured in ``bench/study_pooled_nuisance.py`` and
``docs/methods/pooling.md``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..design import Window, select_window
from ..uncertainty import ratio_sd
from .timecourses import DEFAULT_RATIOS
from .windows import window_responses

__all__ = ["response_design", "dersimonian_laird", "pool_neighbours"]

logger = logging.getLogger("mrspipe")

_KEY = ("participant_id", "session_id")
_W: tuple[Window, Window] = ((None, 0.0), (0.0, None))


def response_design(time_s: np.ndarray, response: Window) -> np.ndarray:
    """Columns ``intercept, response window`` at ``time_s`` (s from the onset), ``(F, 2)``."""
    t = pd.Series(np.asarray(time_s, dtype=float))
    return np.column_stack([np.ones(t.size), np.asarray(select_window(t, response), float)])


def dersimonian_laird(b: np.ndarray, v: np.ndarray) -> tuple[float, float, float]:
    """Mean, between-session variance and the variance of the mean of ``b_i ~ N(mu, tau^2+v_i)``.

    Parameters
    ----------
    b, v : (n,) float ndarray
        Estimates and their variances (``v > 0``).

    Returns
    -------
    mu, tau2, mu_var : float
    """
    w = 1.0 / v
    mu_fe = float((w * b).sum() / w.sum())
    q = float((w * (b - mu_fe) ** 2).sum())
    denom = float(w.sum() - (w**2).sum() / w.sum())
    tau2 = max(0.0, (q - (b.size - 1)) / denom) if denom > 0 else 0.0
    ws = 1.0 / (v + tau2)
    return float((ws * b).sum() / ws.sum()), tau2, float(1.0 / ws.sum())


def _bounds(windows: Sequence[Window]) -> tuple[np.ndarray, np.ndarray]:
    lo = np.array([-np.inf if w[0] is None else float(w[0]) for w in windows])
    hi = np.array([np.inf if w[1] is None else float(w[1]) for w in windows])
    return lo, hi


def pool_neighbours(
    timecourses: pd.DataFrame,
    covariance: pd.DataFrame,
    *,
    metabolites: Sequence[str],
    windows: Mapping[tuple[Any, Any], tuple[Window, Window]],
    min_sessions: int = 6,
    sliding: tuple[int, int] | None = None,
    ratios: Mapping[str, tuple[str, str]] | None = None,
    responses: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Pool ``metabolites``' responses per condition and condition every other estimate on them.

    All sessions at once (arrays ``(session, frame, ...)``), no loop over sessions or frames.

    Parameters
    ----------
    timecourses : DataFrame
        The study's ``timecourses`` (every session; its ratio rows are recomputed).
    covariance : DataFrame
        ``participant_id, session_id, frame, metabolite_a, metabolite_b, covariance`` of
        every session (``Estimates.covariance_table`` of the pooled metabolites and the
        others to adjust).
    metabolites : sequence of str
        The pooled neighbours (e.g. ``("Gln", "GABA")``).
    windows : mapping (participant_id, session_id) -> (baseline, response)
        Each session's windows, s from the onset (default every frame before / after it).
    min_sessions : int
        A condition with fewer sessions is left as it is (logged).
    sliding : (window, step), optional
        Frames are sliding windows (:func:`~.windows.window_responses`).
    ratios : mapping, optional
        Ratio rows to recompute (default :data:`~.timecourses.DEFAULT_RATIOS`); a ratio is
        recomputed when both its parts are adjusted.
    responses : DataFrame, optional
        The sessions' own window responses: the rows of what is not adjusted are taken from
        it instead of being recomputed.

    Returns
    -------
    timecourses, responses : DataFrame
        The adjusted tables (the pooled metabolites keep their own estimates); ``responses``
        as :func:`~.windows.window_responses` with the trajectory's uncertainty in the SEs.
    summary : DataFrame
        ``condition, metabolite, term, mu, tau, n_sessions, median_se`` per condition and pooled
        metabolite (``term`` ``response``: its window contrast, in its own units).
    """
    ratios = DEFAULT_RATIOS if ratios is None else ratios
    cols = ["condition", "metabolite", "term", "mu", "tau", "n_sessions", "median_se"]
    present = set(timecourses["metabolite"])
    pooled = [m for m in metabolites if m in present]
    in_cov = set(covariance["metabolite_a"]) | set(covariance["metabolite_b"])
    targets = [
        m
        for m in dict.fromkeys(timecourses["metabolite"])
        if m in in_cov and m not in pooled and m not in ratios
    ]
    tc = timecourses.reset_index(drop=True)
    keys = tc[list(_KEY)].astype(object).where(tc[list(_KEY)].notna(), "")
    session_index = pd.MultiIndex.from_frame(keys.drop_duplicates())
    srow = session_index.get_indexer(pd.MultiIndex.from_frame(keys))
    n_s = len(session_index)
    if not pooled or not targets or n_s == 0:
        return tc, _responses(tc, session_index, windows, sliding), pd.DataFrame(columns=cols)
    names = pooled + targets
    n_p, n_t = len(pooled), len(targets)
    frame = tc["frame"].to_numpy(dtype=int)
    n_f = int(frame.max()) + 1
    mrow = pd.Index(names).get_indexer(tc["metabolite"])
    has = mrow >= 0
    est = np.full((n_s, n_f, len(names)), np.nan)
    var = np.full_like(est, np.nan)
    times = np.full((n_s, n_f), np.nan)
    est[srow[has], frame[has], mrow[has]] = tc["estimate"].to_numpy(float)[has]
    var[srow[has], frame[has], mrow[has]] = tc["crlb_sd"].to_numpy(float)[has] ** 2
    times[srow, frame] = tc["time_s"].to_numpy(float)
    c = np.zeros((n_s, n_f, len(names), len(names)))
    idx = np.arange(len(names))
    c[:, :, idx, idx] = var
    ck = covariance[list(_KEY)].astype(object).where(covariance[list(_KEY)].notna(), "")
    cs = session_index.get_indexer(pd.MultiIndex.from_frame(ck))
    ca = pd.Index(names).get_indexer(covariance["metabolite_a"])
    cb = pd.Index(names).get_indexer(covariance["metabolite_b"])
    cf = covariance["frame"].to_numpy(dtype=int)
    use = (cs >= 0) & (ca >= 0) & (cb >= 0) & (cf >= 0) & (cf < n_f)
    cv = covariance["covariance"].to_numpy(float)[use]
    c[cs[use], cf[use], ca[use], cb[use]] = cv
    c[cs[use], cf[use], cb[use], ca[use]] = cv
    has_cov = np.zeros(n_s, bool)
    has_cov[cs[use]] = True
    win = [windows.get(tuple(k), _W) for k in session_index]  # type: ignore[arg-type]
    r_lo, r_hi = _bounds([w[1] for w in win])
    ind = ((times >= r_lo[:, None]) & (times < r_hi[:, None])).astype(float)  # (S, F)
    ok = np.isfinite(est).all(axis=2) & np.isfinite(c).all(axis=(2, 3)) & np.isfinite(times)
    # per session and pooled metabolite: intercept + response-window contrast (OLS)
    n1 = (ok * ind).sum(axis=1)
    n0 = (ok * (1 - ind)).sum(axis=1)
    nuis = np.where(ok[..., None], est[..., :n_p], 0.0)
    m1 = (nuis * ind[..., None]).sum(axis=1) / np.maximum(n1, 1)[:, None]
    m0 = (nuis * (1 - ind[..., None])).sum(axis=1) / np.maximum(n0, 1)[:, None]
    b = m1 - m0  # (S, n_p)
    resid = np.where(ok[..., None], est[..., :n_p] - m0[:, None] - b[:, None] * ind[..., None], 0)
    s2 = (resid**2).sum(axis=1) / np.maximum(n0 + n1 - 2, 1)[:, None]
    vb = s2 * (1 / np.maximum(n1, 1) + 1 / np.maximum(n0, 1))[:, None]
    valid = has_cov & (n1 >= 1) & (n0 >= 1) & (n0 + n1 >= 4)
    cond = tc.groupby(srow, sort=True)["condition"].first().reindex(range(n_s))
    group = np.array(["" if pd.isna(g) else str(g) for g in cond], dtype=object)
    shrunk, post = np.full_like(b, np.nan), np.full_like(b, np.nan)
    summary = []
    for g in dict.fromkeys(group[valid]):
        rows = np.flatnonzero(valid & (group == g))
        if rows.size < min_sessions:
            logger.warning(
                "pooling: condition %r has %d sessions with the pooled metabolites (at least "
                "%d needed); its estimates are left as fitted",
                g or "(none)",
                rows.size,
                min_sessions,
            )
            continue
        for j, name in enumerate(pooled):
            mu, tau2, mu_var = dersimonian_laird(b[rows, j], vb[rows, j])
            lam = tau2 / (tau2 + vb[rows, j])
            shrunk[rows, j] = mu + lam * (b[rows, j] - mu)
            post[rows, j] = lam * vb[rows, j] + (1.0 - lam) ** 2 * mu_var
            summary.append(
                (
                    g or None,
                    name,
                    "response",
                    mu,
                    float(np.sqrt(tau2)),
                    rows.size,
                    float(np.sqrt(np.median(vb[rows, j]))),
                )
            )
    done = np.isfinite(shrunk).all(axis=1)  # (S,) sessions pooled
    if not done.any():
        return tc, _responses(tc, session_index, windows, sliding), pd.DataFrame(columns=cols)
    # trajectory: the session's own intercept (over every usable frame) + the shrunk contrast
    part = np.nan_to_num(shrunk)[:, None, :] * ind[..., None]  # (S, F, n_p)
    n_ok = np.maximum(ok.sum(axis=1), 1)
    intercept = np.where(ok[..., None], est[..., :n_p] - part, 0).sum(axis=1) / n_ok[:, None]
    traj = intercept[:, None, :] + part
    use_f = ok & done[:, None]
    c_nn, c_tn = c[..., :n_p, :n_p], c[..., n_p:, :n_p]
    gain = np.zeros((n_s, n_f, n_t, n_p))
    gain[use_f] = np.linalg.solve(c_nn[use_f], c_tn[use_f].transpose(0, 2, 1)).transpose(0, 2, 1)
    dev = np.where(use_f[..., None], est[..., :n_p] - traj, 0.0)
    adj = est[..., n_p:] - np.einsum("sftn,sfn->sft", gain, dev)
    ccov = c[..., n_p:, n_p:] - np.einsum("sftn,sfun->sftu", gain, c_tn)
    # the rows of the adjusted metabolites, then the ratios built of two of them
    out = tc.copy()
    tpos = pd.Index(targets).get_indexer(tc["metabolite"])
    sel = (tpos >= 0) & done[srow]
    s_, f_, t_ = srow[sel], frame[sel], tpos[sel]
    before = out.loc[sel, ["estimate", "crlb_sd"]].to_numpy(float)
    new_est = adj[s_, f_, t_]
    new_sd = np.sqrt(np.clip(ccov[s_, f_, t_, t_], 0.0, None))
    _assign(out, sel, new_est, new_sd, before)
    gains = {name: gain[..., t, :] for t, name in enumerate(targets)}
    for rname, (num, den) in ratios.items():
        if num not in targets or den not in targets:
            continue
        a, d = targets.index(num), targets.index(den)
        rsel = (tc["metabolite"] == rname).to_numpy() & done[srow]
        s_, f_ = srow[rsel], frame[rsel]
        r, sd = ratio_sd(
            adj[s_, f_, a],
            adj[s_, f_, d],
            ccov[s_, f_, a, a],
            ccov[s_, f_, d, d],
            ccov[s_, f_, a, d],
        )
        _assign(out, rsel, r, sd, out.loc[rsel, ["estimate", "crlb_sd"]].to_numpy(float))
        with np.errstate(divide="ignore", invalid="ignore"):
            gains[rname] = (
                gain[..., a, :] / adj[..., d, None]
                - (adj[..., a] / adj[..., d] ** 2)[..., None] * gain[..., d, :]
            )
    adjusted = set(targets) | {r for r in gains if r in ratios}
    redo = out["metabolite"].isin(adjusted).to_numpy() | (responses is None)
    responses = pd.concat(
        [_responses(out[redo], session_index, windows, sliding)]
        + ([] if responses is None else [responses[~responses["metabolite"].isin(adjusted)]]),
        ignore_index=True,
    )
    # the trajectory's uncertainty, shared by the frames of a window: the window means of
    # gain_f x_f over the intercept (variance s2 / n) and the contrast (posterior variance)
    b_lo, b_hi = _bounds([w[0] for w in win])
    base = ((times >= b_lo[:, None]) & (times < b_hi[:, None])) & ok
    resp = (ind > 0) & ok
    var_i = s2 / n_ok[:, None]  # (S, n_p)
    rkey = pd.MultiIndex.from_frame(
        responses[list(_KEY)].astype(object).where(responses[list(_KEY)].notna(), "")
    )
    rs = session_index.get_indexer(rkey)
    metab = responses["metabolite"].to_numpy()
    extra = {k: np.zeros(len(responses)) for k in ("baseline", "response", "pct")}
    for name, g in gains.items():
        lin = {}
        for w, m in (("baseline", base), ("response", resp)):
            cnt = np.maximum(m.sum(axis=1), 1)[:, None]
            gm = np.where(m[..., None], np.nan_to_num(g), 0.0)
            lin[w] = (
                gm.sum(axis=1) / cnt,  # intercept column
                (gm * ind[..., None]).sum(axis=1) / cnt,  # response-window column
            )
        rows = np.flatnonzero((metab == name) & (rs >= 0))
        s_ = rs[rows]
        keep = done[s_]
        rows, s_ = rows[keep], s_[keep]
        bv = responses["baseline"].to_numpy(float)[rows]
        rv = responses["response"].to_numpy(float)[rows]
        for w in ("baseline", "response"):
            li, lr = lin[w]
            extra[w][rows] = (li[s_] ** 2 * var_i[s_] + lr[s_] ** 2 * post[s_]).sum(axis=1)
        di = (
            100.0
            / bv[:, None]
            * (lin["response"][0][s_] - (rv / bv)[:, None] * lin["baseline"][0][s_])
        )
        dr = (
            100.0
            / bv[:, None]
            * (lin["response"][1][s_] - (rv / bv)[:, None] * lin["baseline"][1][s_])
        )
        extra["pct"][rows] = (di**2 * var_i[s_] + dr**2 * post[s_]).sum(axis=1)
    for w in ("baseline", "response"):
        responses[f"{w}_se"] = np.sqrt(responses[f"{w}_se"].to_numpy(float) ** 2 + extra[w])
    responses["percent_change_se"] = np.sqrt(
        responses["percent_change_se"].to_numpy(float) ** 2 + extra["pct"]
    )
    return out, responses, pd.DataFrame(summary, columns=cols)


def _assign(
    out: pd.DataFrame, sel: np.ndarray, est: np.ndarray, sd: np.ndarray, before: np.ndarray
) -> None:
    """Set the rows ``sel``'s estimates and SDs; water-scaled columns follow (same factor)."""
    out.loc[sel, "estimate"] = est
    out.loc[sel, "crlb_sd"] = sd
    if "crlb_percent" in out.columns:
        with np.errstate(divide="ignore", invalid="ignore"):
            out.loc[sel, "crlb_percent"] = 100.0 * sd / np.abs(est)
    with np.errstate(divide="ignore", invalid="ignore"):
        for col, ref, new in (
            ("molality_mmol_kg", 0, est),
            ("molarity_mm", 0, est),
            ("molality_sd", 1, sd),
            ("molarity_sd", 1, sd),
        ):
            if col in out.columns:
                out.loc[sel, col] = out.loc[sel, col].to_numpy(float) * new / before[:, ref]


def _responses(
    tc: pd.DataFrame,
    sessions: pd.MultiIndex,
    windows: Mapping[Any, Any],
    sliding: tuple[int, int] | None,
) -> pd.DataFrame:
    """:func:`~.windows.window_responses` of every session, one call per distinct windows."""
    keys = tc[list(_KEY)].astype(object).where(tc[list(_KEY)].notna(), "")
    srow = sessions.get_indexer(pd.MultiIndex.from_frame(keys))
    win = [windows.get(tuple(k), _W) for k in sessions]
    parts = []
    for w in dict.fromkeys(win):
        members = np.flatnonzero([x == w for x in win])
        sub = tc[np.isin(srow, members)]
        parts.append(
            window_responses(sub, baseline_window=w[0], response_window=w[1], sliding=sliding)
        )
    return pd.concat(parts, ignore_index=True)
