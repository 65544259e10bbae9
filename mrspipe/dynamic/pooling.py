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
from .timecourses import DEFAULT_RATIOS, SESSION_KEYS, add_ratios
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


def _arrays(tc: pd.DataFrame, cov: pd.DataFrame, names: list[str]) -> tuple[Any, ...]:
    """Frame ids, times, estimates ``(F, n)`` and covariances ``(F, n, n)`` of one session."""
    wide = tc.pivot_table(index="frame", columns="metabolite", values="estimate", aggfunc="first")
    sd = tc.pivot_table(index="frame", columns="metabolite", values="crlb_sd", aggfunc="first")
    frames = wide.index.to_numpy()
    times = tc.drop_duplicates("frame").set_index("frame").loc[frames, "time_s"].to_numpy(float)
    est = wide.reindex(columns=names).to_numpy(float)
    c = np.zeros((frames.size, len(names), len(names)))
    idx = np.arange(len(names))
    c[:, idx, idx] = sd.reindex(columns=names).to_numpy(float) ** 2
    pos = {n: i for i, n in enumerate(names)}
    sub = cov[cov["metabolite_a"].isin(pos) & cov["metabolite_b"].isin(pos)]
    at = pd.Index(frames).get_indexer(sub["frame"].to_numpy())
    ok = at >= 0
    a = sub["metabolite_a"].map(pos).to_numpy()[ok]
    b = sub["metabolite_b"].map(pos).to_numpy()[ok]
    v = sub["covariance"].to_numpy(float)[ok]
    c[at[ok], a, b] = v
    c[at[ok], b, a] = v
    return frames, times, est, c


def pool_neighbours(
    timecourses: pd.DataFrame,
    covariance: pd.DataFrame,
    *,
    metabolites: Sequence[str],
    windows: Mapping[tuple[Any, Any], tuple[Window, Window]],
    min_sessions: int = 6,
    sliding: tuple[int, int] | None = None,
    ratios: Mapping[str, tuple[str, str]] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Pool ``metabolites``' responses per condition and condition every other estimate on them.

    Parameters
    ----------
    timecourses : DataFrame
        The study's ``timecourses`` (every session; ratio rows are recomputed).
    covariance : DataFrame
        ``participant_id, session_id, frame, metabolite_a, metabolite_b, covariance`` of
        every session (``Estimates.covariance_table`` of the pooled metabolites and the
        others to adjust).
    metabolites : sequence of str
        The pooled neighbours (e.g. ``("Gln", "GABA")``).
    windows : mapping (participant_id, session_id) -> (baseline, response)
        Each session's windows, s from the onset.
    min_sessions : int
        A condition with fewer sessions is left as it is (logged).
    sliding : (window, step), optional
        Frames are sliding windows (:func:`~.windows.window_responses`).
    ratios : mapping, optional
        Ratio rows to recompute (default :data:`~.timecourses.DEFAULT_RATIOS`).

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
    pooled = [m for m in metabolites if m in set(timecourses["metabolite"])]
    base = timecourses[~timecourses["metabolite"].isin(ratios)]
    in_cov = set(covariance["metabolite_a"]) | set(covariance["metabolite_b"])
    targets = [m for m in dict.fromkeys(base["metabolite"]) if m in in_cov and m not in pooled]
    names = pooled + targets
    n_p = len(pooled)
    sessions = {k: g for k, g in base.groupby(list(_KEY), sort=False, dropna=False)}
    covs = {k: g for k, g in covariance.groupby(list(_KEY), sort=False, dropna=False)}
    data: dict[Any, dict[str, Any]] = {}
    for key, tc in sessions.items():
        if key not in covs or not pooled or not targets:
            continue
        frames, times, est, c = _arrays(tc, covs[key], names)
        X = response_design(times, windows.get(key, _W)[1])
        ok = np.isfinite(est).all(axis=1) & np.isfinite(c).all(axis=(1, 2))
        if ok.sum() < X.shape[1] + 2 or np.linalg.matrix_rank(X[ok]) < X.shape[1]:
            continue
        xtx_inv = np.linalg.inv(X[ok].T @ X[ok])
        beta = xtx_inv @ X[ok].T @ est[ok, :n_p]  # (3, n_p)
        resid = est[ok, :n_p] - X[ok] @ beta
        s2 = (resid**2).sum(axis=0) / (ok.sum() - X.shape[1])
        var = np.outer(np.diag(xtx_inv), s2)  # (3, n_p)
        cond = tc["condition"].iloc[0]
        group = "" if pd.isna(cond) else str(cond)
        data[key] = dict(
            frames=frames,
            times=times,
            est=est,
            c=c,
            X=X,
            ok=ok,
            beta=beta,
            var=var,
            s2=s2,
            group=group,
        )
    summary = []
    shrunk: dict[Any, tuple[np.ndarray, np.ndarray]] = {}
    for group in dict.fromkeys(d["group"] for d in data.values()):
        keys = [k for k, d in data.items() if d["group"] == group]
        if len(keys) < min_sessions:
            logger.warning(
                "pooling: condition %r has %d sessions with the pooled metabolites (at least "
                "%d needed); its estimates are left as fitted",
                group or "(none)",
                len(keys),
                min_sessions,
            )
            continue
        B = np.stack([data[k]["beta"] for k in keys])  # (n, 3, n_p)
        V = np.stack([data[k]["var"] for k in keys])
        S, P = B.copy(), np.zeros_like(V)
        P[:, 0] = V[:, 0]  # the intercept stays the session's own
        for term in range(1, B.shape[1]):
            for j, name in enumerate(pooled):
                mu, tau2, mu_var = dersimonian_laird(B[:, term, j], V[:, term, j])
                lam = tau2 / (tau2 + V[:, term, j])
                S[:, term, j] = mu + lam * (B[:, term, j] - mu)
                P[:, term, j] = lam * V[:, term, j] + (1.0 - lam) ** 2 * mu_var
                summary.append(
                    {
                        "condition": group or None,
                        "metabolite": name,
                        "term": "response",
                        "mu": mu,
                        "tau": float(np.sqrt(tau2)),
                        "n_sessions": len(keys),
                        "median_se": float(np.sqrt(np.median(V[:, term, j]))),
                    }
                )
        for i, k in enumerate(keys):
            shrunk[k] = (S[i], P[i])
    out_tc, out_resp = [], []
    for key, full in timecourses.groupby(list(_KEY), sort=False, dropna=False):
        base_w, resp_w = windows.get(key, _W)
        if key in shrunk:
            full, resp = _condition(
                sessions[key],
                data[key],
                shrunk[key],
                n_p,
                targets,
                ratios,
                base_w,
                resp_w,
                sliding,
            )
        else:
            resp = window_responses(
                full, baseline_window=base_w, response_window=resp_w, sliding=sliding
            )
        out_tc.append(full)
        out_resp.append(resp)
    summary_df = pd.DataFrame(
        summary, columns=["condition", "metabolite", "term", "mu", "tau", "n_sessions", "median_se"]
    )
    return (
        pd.concat(out_tc, ignore_index=True),
        pd.concat(out_resp, ignore_index=True),
        summary_df,
    )


def _condition(
    tc: pd.DataFrame,
    d: dict[str, Any],
    shrunk: tuple[np.ndarray, np.ndarray],
    n_p: int,
    targets: list[str],
    ratios: Mapping[str, tuple[str, str]],
    base_w: Window,
    resp_w: Window,
    sliding: tuple[int, int] | None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One session's adjusted time courses and responses."""
    S, P = shrunk
    X, est, c, ok = d["X"], d["est"], d["c"], d["ok"]
    part = X[:, 1:] @ S[1:]  # (F, n_p) the shrunk response
    intercept = (est[ok, :n_p] - part[ok]).mean(axis=0)
    traj = intercept + part
    P = P.copy()
    P[0] = d["s2"] / ok.sum()  # variance of the session's own intercept
    c_nn = c[:, :n_p, :n_p]
    c_tn = c[:, n_p:, :n_p]
    gain = np.zeros_like(c_tn)  # (F, T, n_p)
    gain[ok] = np.linalg.solve(c_nn[ok], c_tn[ok].transpose(0, 2, 1)).transpose(0, 2, 1)
    adj = est[:, n_p:] - np.einsum("ftn,fn->ft", gain, est[:, :n_p] - traj)
    cond = c[:, n_p:, n_p:] - np.einsum("ftn,fsn->fts", gain, c_tn)
    rows = tc.set_index(["frame", "metabolite"])
    new = rows.copy()
    frame_pos = pd.Index(d["frames"])
    for t, name in enumerate(targets):
        sel = new.index.get_level_values("metabolite") == name
        at = frame_pos.get_indexer(new.index.get_level_values("frame")[sel])
        before = new.loc[sel, ["estimate", "crlb_sd"]].to_numpy(float)
        new.loc[sel, "estimate"] = adj[at, t]
        new.loc[sel, "crlb_sd"] = np.sqrt(np.clip(cond[at, t, t], 0.0, None))
        # water-scaled concentrations ride along: the same factor per frame
        for col, ref in (("molality_mmol_kg", 0), ("molarity_mm", 0)):
            if col in new.columns:
                new.loc[sel, col] *= adj[at, t] / before[:, ref]
        for col in ("molality_sd", "molarity_sd"):
            if col in new.columns:
                new.loc[sel, col] *= new.loc[sel, "crlb_sd"].to_numpy(float) / before[:, 1]
        if "crlb_percent" in new.columns:
            new.loc[sel, "crlb_percent"] = 100.0 * new.loc[sel, "crlb_sd"] / np.abs(adj[at, t])
    new = new.reset_index()
    cov_rows = [
        (f, targets[a], targets[b], cond[i, a, b])
        for i, f in enumerate(d["frames"])
        for a in range(len(targets))
        for b in range(a + 1, len(targets))
    ]
    cond_table = pd.DataFrame(
        cov_rows, columns=["frame", "metabolite_a", "metabolite_b", "covariance"]
    )
    adj_tc = add_ratios(new[list(tc.columns)], ratios=ratios, covariance=cond_table)
    resp = window_responses(adj_tc, baseline_window=base_w, response_window=resp_w, sliding=sliding)
    # the trajectory's uncertainty, shared by the frames of a window: per name, the window
    # mean of gain_f x_f over each coefficient of each pooled metabolite
    times = d["times"]
    masks = {
        "baseline": np.asarray(select_window(pd.Series(times), base_w), bool) & ok,
        "response": np.asarray(select_window(pd.Series(times), resp_w), bool) & ok,
    }
    # gains of the ratios, first order in numerator and denominator
    gains = {name: gain[:, t] for t, name in enumerate(targets)}
    values = {name: adj[:, t] for t, name in enumerate(targets)}
    for rname, (num, den) in ratios.items():
        if num in gains and den in gains:  # (a side that is not adjusted has no gain)
            gains[rname] = (
                gains[num] / values[den][:, None]
                - (values[num] / values[den] ** 2)[:, None] * gains[den]
            )
    resp = resp.set_index("metabolite")
    for name, g in gains.items():
        if name not in resp.index or not all(m.any() for m in masks.values()):
            continue
        # (n_p, 3): mean over the window's frames of gain[f, j] * X[f, k]; the % change
        # moves by 100 / b (d_response - r / b d_baseline), so the shared intercept cancels
        lin = {w: np.einsum("fj,fk->jk", g[m], X[m]) / m.sum() for w, m in masks.items()}
        b, r = float(resp.loc[name, "baseline"]), float(resp.loc[name, "response"])
        d_pct = 100.0 / b * (lin["response"] - r / b * lin["baseline"])
        pct_se = float(resp.loc[name, "percent_change_se"])
        resp.loc[name, "percent_change_se"] = np.sqrt(pct_se**2 + (d_pct.T**2 * P).sum())
        for w in masks:
            se = float(resp.loc[name, f"{w}_se"])
            resp.loc[name, f"{w}_se"] = np.sqrt(se**2 + (lin[w].T ** 2 * P).sum())
    resp = resp.reset_index()
    cols = [*SESSION_KEYS, "metabolite"]
    resp = resp[[*cols, *[c for c in resp.columns if c not in cols]]]
    return adj_tc, resp
