"""Cramér-Rao lower bounds of the fitted concentrations, and metabolite sums.

The Fisher information is evaluated at the solution for complex Gaussian white noise in the
spectrum (independent real and imaginary parts of SD ``sigma``), for all parameters together:
concentrations and nonlinear parameters (shift, widths per group, phases), with the smooth
baseline profiled out (the whitened model of :class:`~.model.FitProblem`)::

    F = Re(J^H (I - S) J) / sigma^2,   J = d(model)/d(conc, theta)

(``S`` the baseline smoother); for the regularised spline baseline the covariance is the
sandwich ``sigma^2 F^-1 J^H (I - S)^2 J F^-1`` of this estimator (equal to ``F^-1`` for a
polynomial baseline, where ``S`` is a projection).

``sigma`` is estimated **from the fit residual** over the fit band (baseline removed):
``sigma^2 = e^H (I - S) e / (2 K - 2 tr(S) - n_free)``, with ``n_free`` the number of free
concentrations and nonlinear parameters. The covariance of the concentrations is the
corresponding block of ``F^-1`` (a pseudo-inverse when ``F`` is singular); sums get the
variance ``1^T C 1``, which includes the covariances.

References
----------
Cavassila S, Deval S, Huegen C, van Ormondt D, Graveron-Demilly D. Cramér-Rao bounds: an
evaluation tool for quantitation. NMR Biomed 2001;14:278-283.
"""

from __future__ import annotations

import logging

import numpy as np

from ..uncertainty import combine

__all__ = [
    "SUMS",
    "ALIASES",
    "canonical",
    "sum_weights",
    "fisher_covariance",
    "hac_meat",
    "combine",
]

logger = logging.getLogger("mrspipe")

#: canonical metabolite name -> other names basis sets use for it
ALIASES: dict[str, tuple[str, ...]] = {
    "PCho": ("PCh", "PC", "PCh+GPC"),
    "sIns": ("Scyllo", "sI", "Scy", "scyllo"),
    "Ins": ("mI", "mIns", "myo", "Ins"),
    "NAA": ("NAA",),
    "NAAG": ("NAAG",),
    "Cr": ("Cr",),
    "PCr": ("PCr",),
    "GPC": ("GPC",),
    "Glu": ("Glu",),
    "Gln": ("Gln",),
}

#: sum name -> canonical members
SUMS: dict[str, tuple[str, ...]] = {
    "tNAA": ("NAA", "NAAG"),
    "tCr": ("Cr", "PCr"),
    "tCho": ("GPC", "PCho"),
    "Glx": ("Glu", "Gln"),
}


def canonical(name: str) -> str:
    """Canonical spelling of a metabolite name (``PCh`` -> ``PCho``, ``Scyllo`` -> ``sIns``)."""
    for canon, aliases in ALIASES.items():
        if name == canon or name in aliases:
            return canon
    return name


def sum_weights(names: tuple[str, ...]) -> tuple[tuple[str, ...], np.ndarray]:
    """Weights of the metabolite sums available in a basis.

    Parameters
    ----------
    names : tuple of str
        Basis names (any alias spelling).

    Returns
    -------
    sum_names : tuple of str
        The sums whose every member is in the basis (and that are not themselves a basis
        name). A sum with a missing member is absent, never partial: without Glu there is no
        Glx (it would equal Gln), without NAAG no tNAA.
    weights : (n_sums, n_met) float ndarray
        0/1 membership.
    """
    canon = [canonical(n) for n in names]
    out_names, rows = [], []
    for total, members in SUMS.items():
        if total in names:
            continue
        missing = [m for m in members if m not in canon]
        if missing:
            if len(missing) < len(members):
                logger.info("no %s: the basis lacks %s", total, ", ".join(missing))
            continue
        out_names.append(total)
        rows.append(np.array([1.0 if c in members else 0.0 for c in canon]))
    weights = np.array(rows) if rows else np.zeros((0, len(names)))
    return tuple(out_names), weights


def fisher_covariance(
    fisher: np.ndarray,
    middle: np.ndarray,
    sigma: np.ndarray,
    n_conc: int,
    *,
    meat: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Covariance of the concentrations.

    Parameters
    ----------
    fisher : (n_frames, n_par, n_par) float ndarray
        ``J^T (I - S) J`` (the information matrix times ``sigma^2``); the first ``n_conc``
        parameters are the concentrations.
    middle : (n_frames, n_par, n_par) float ndarray
        ``J^T (I - S)^2 J``; equal to ``fisher`` for an unregularised (projected) baseline. The
        covariance is the sandwich ``sigma^2 F^-1 middle F^-1``, which accounts for the
        smoothness penalty of the spline baseline (without it the bound is conservative).
    sigma : (n_frames,) float ndarray
        Noise SD of the real (and of the imaginary) part of a spectral point.
    n_conc : int
    meat : (n_frames, n_par, n_par) float ndarray, optional
        Residual-based "meat" ``J^T Omega J`` of a misspecification-robust sandwich
        (:func:`hac_meat`). When given, each concentration's variance is raised to the
        sandwich's ``F^-1 meat F^-1`` where that is larger (correlations kept): the SD then
        covers what model mismatch leaves in the residual where that metabolite's signal is.

    Returns
    -------
    cov : (n_frames, n_conc, n_conc) float ndarray
        A concentration without information gets an infinite variance and zero covariances.
    inflation : (n_frames, n_conc) float ndarray
        Variance factor (>= 1) the robust sandwich applied (1 without ``meat``).
    """
    # scale to unit diagonal before inverting; parameters without information drop out. The
    # threshold is relative within each block: concentration columns scale with the basis,
    # nonlinear-parameter columns with the concentrations times the basis, so one threshold
    # over both would depend on the units of the data (it flagged every concentration of
    # data scaled by 1e3 as carrying no information).
    diag = np.einsum("fii->fi", fisher)
    blocks = (slice(0, n_conc), slice(n_conc, None))
    ok = np.zeros(diag.shape, bool)
    for blk in blocks:
        part = diag[:, blk]
        if part.shape[1]:
            ok[:, blk] = part > 1e-14 * part.max(axis=1, keepdims=True) + 1e-300
    s = np.where(ok, 1.0 / np.sqrt(np.where(ok, diag, 1.0)), 0.0)
    scaled = fisher * s[:, :, None] * s[:, None, :]
    inv = np.linalg.pinv(scaled, rcond=1e-12, hermitian=True)
    mid = middle * s[:, :, None] * s[:, None, :]
    cov = inv @ mid @ inv
    cov = cov * s[:, :, None] * s[:, None, :] * (sigma**2)[:, None, None]
    cov = cov[:, :n_conc, :n_conc]
    inflation = np.ones(cov.shape[:2])
    if meat is not None:
        robust = inv @ (meat * s[:, :, None] * s[:, None, :]) @ inv
        var_r = np.einsum("fii->fi", robust)[:, :n_conc] * s[:, :n_conc] ** 2
        var_c = np.einsum("fii->fi", cov)
        with np.errstate(divide="ignore", invalid="ignore"):
            inflation = np.where(var_c > 0, np.maximum(var_r / var_c, 1.0), 1.0)
        root = np.sqrt(inflation)
        cov = cov * root[:, :, None] * root[:, None, :]
    # a concentration without information (its basis spectrum is ~0 over the fit band) has an
    # unbounded SD: +inf on the diagonal, no covariance with the others (never NaN)
    bad = ~ok[:, :n_conc]
    cov = np.where(bad[:, :, None] | bad[:, None, :], 0.0, cov)
    idx = np.arange(n_conc)
    cov[:, idx, idx] = np.where(bad, np.inf, cov[:, idx, idx])
    return cov, inflation


def hac_meat(jw: np.ndarray, resid: np.ndarray, window: np.ndarray | int) -> np.ndarray:
    """Bartlett-kernel (Newey-West) estimate of ``J^T Cov(e) J`` from the fit residual.

    The scores ``g_k = J_k e_k`` are summed over moving windows of ``window`` points along the
    spectrum (separately for the real and imaginary parts) and ``meat = sum_k S_k S_k^T /
    window``: exactly the Bartlett-weighted sum of the lagged score products up to lag
    ``window - 1``, in one matrix product. For white noise its expectation is ``sigma^2
    J^T J``; a residual left by model mismatch where a metabolite's signal lies raises it.

    Parameters
    ----------
    jw : (n_frames, n_par, 2K) float ndarray
        Columns of the Jacobian with the baseline profiled out, stacked (re, im interleaved).
    resid : (n_frames, 2K) float ndarray
        Fit residual (baseline removed), stacked likewise.
    window : int or (n_frames,) int ndarray
        Bandwidth in points (about two linewidths), per frame or one for all. Each frame's
        meat depends only on its own data and window (not on the frames fitted with it).

    Returns
    -------
    (n_frames, n_par, n_par) float ndarray

    References
    ----------
    White H. A heteroskedasticity-consistent covariance matrix estimator and a direct test
    for heteroskedasticity. Econometrica 1980;48:817-838.
    Newey WK, West KD. Econometrica 1987;55:703-708.
    """
    n_f, n_p, n2 = jw.shape
    n_k = n2 // 2
    g = (jw * resid[:, None, :]).reshape(n_f, n_p, n_k, 2)
    win = np.broadcast_to(np.asarray(window, dtype=int), (n_f,))
    win = np.clip(win, 1, max(1, n2 // 4))
    c = np.cumsum(g, axis=2)
    c = np.concatenate([np.zeros((n_f, n_p, 1, 2)), c], axis=2)
    # moving sums S_k = c[k + w] - c[k] for k = 0 .. K - w; rows past a frame's last full
    # window are zero, so frames with different windows share one matrix product
    k = np.arange(n_k - int(win.min()) + 1)
    hi = k[None, :] + win[:, None]  # (F, n_s)
    valid = hi <= n_k
    hi = np.where(valid, hi, n_k)
    lo = np.where(valid, k[None, :], n_k)
    take = np.take_along_axis
    sums = take(c, hi[:, None, :, None], axis=2) - take(c, lo[:, None, :, None], axis=2)
    sums = sums.reshape(n_f, n_p, -1)
    return sums @ sums.transpose(0, 2, 1) / win[:, None, None]
