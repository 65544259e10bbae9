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
from collections.abc import Callable

import numpy as np

from ..uncertainty import combine

__all__ = [
    "SUMS",
    "ALIASES",
    "canonical",
    "sum_weights",
    "fisher_covariance",
    "hac_meat",
    "sandwich_blocks",
    "hac_variances",
    "window_sums",
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
    robust: Callable[[np.ndarray], np.ndarray] | None = None,
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
    robust : callable, optional
        Instead of ``meat``: ``robust(a)`` returns the robust variances ``diag(a meat a^T)``
        ``(n_frames, n_conc)`` for the rows ``a`` ``(n_frames, n_conc, n_par)`` of ``F^-1``
        (:func:`hac_variances`, which never forms the ``n_par x n_par`` meat).

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
    rows = _pinv_rows(scaled, ok, n_conc)  # (F, n_conc, n_par)
    rows_t = rows.transpose(0, 2, 1)
    s_c = s[:, :n_conc]
    mid = middle * s[:, :, None] * s[:, None, :]
    cov = rows @ mid @ rows_t
    cov = cov * s_c[:, :, None] * s_c[:, None, :] * (sigma**2)[:, None, None]
    inflation = np.ones(cov.shape[:2])
    if meat is not None or robust is not None:
        if robust is not None:  # rows of F^-1 in the units of fisher
            var_r = robust(rows * s_c[:, :, None] * s[:, None, :])
        else:
            assert meat is not None
            var_r = ((rows @ (meat * s[:, :, None] * s[:, None, :])) * rows).sum(axis=2)
            var_r = var_r * s_c**2
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


def _pinv_rows(scaled: np.ndarray, ok: np.ndarray, n_rows: int) -> np.ndarray:
    """First ``n_rows`` rows of the pseudo-inverse (``rcond`` 1e-12) of unit-diagonal matrices.

    ``scaled`` is symmetric positive semidefinite with unit diagonal where ``ok`` and zero rows
    and columns elsewhere. A frame whose matrix is well conditioned (condition number below
    1e11, bounded by ``n tr(A^-1)``) takes the plain inverse, which equals the pseudo-inverse
    there; the others take the pseudo-inverse through the eigendecomposition (several times
    dearer).
    """
    n_f, n = scaled.shape[:2]
    idx = np.arange(n)
    filled = scaled.copy()
    filled[:, idx, idx] = np.where(ok, filled[:, idx, idx], 1.0)  # rows without information
    try:
        inv = np.linalg.inv(filled)
        trace = np.einsum("fii->fi", inv).sum(axis=1)
        good = np.isfinite(trace) & (trace > 0) & (n * trace < 1e11)
    except np.linalg.LinAlgError:  # an exactly singular matrix in the batch
        inv = np.zeros_like(filled)
        good = np.zeros(n_f, bool)
    inv = np.where(ok[:, :, None] & ok[:, None, :], inv, 0.0)
    rows = inv[:, :n_rows]
    if not good.all():
        bad = np.flatnonzero(~good)
        w, v = np.linalg.eigh(scaled[bad])
        cut = 1e-12 * np.abs(w).max(axis=1, keepdims=True)
        inv_w = np.where(np.abs(w) > cut, 1.0 / np.where(w != 0, w, 1.0), 0.0)
        rows = rows.copy()
        rows[bad] = (v[:, :n_rows] * inv_w[:, None, :]) @ v.transpose(0, 2, 1)
    return rows


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
    g = jw * resid[:, None, :]
    meat = np.empty((n_f, n_p, n_p))
    for w, rows in _by_window(window, n_f, n2 // 2):
        sums = window_sums(g[rows], w)
        meat[rows] = sums @ sums.transpose(0, 2, 1) / w
    return meat


def hac_variances(
    a: np.ndarray,
    blocks: tuple[np.ndarray, ...],
    projections: tuple[np.ndarray, ...],
    u: np.ndarray,
    d: np.ndarray,
    resid: np.ndarray,
    window: np.ndarray | int,
) -> np.ndarray:
    """``diag(a meat a^T)`` of :func:`hac_meat` without forming the meat.

    ``a J^T`` is the influence of every point on each combination ``a theta``: its scores
    ``(a J_k) e_k`` are summed over the windows, so the work is that of ``n_rows`` instead of
    ``n_par`` columns and no ``n_par x n_par`` product. Computed in single precision (relative
    error ~1e-6, far below the estimate's own sampling error).

    Parameters
    ----------
    a : (n_frames, n_rows, n_par) float ndarray
        Rows of the combinations (e.g. of ``F^-1`` for the concentrations).
    blocks : tuple of (n_frames, n_i, 2K) float ndarray
        The Jacobian's columns in blocks (``sum n_i = n_par``), stacked (re, im interleaved),
        baseline not yet profiled out.
    projections : tuple of (n_frames, n_i, 2B) float ndarray
        Their projections on ``kron(u, I2)``.
    u : (K, B) float ndarray
    d : (B,) float ndarray
        The baseline smoother ``S = u diag(d) u^T`` on the real and on the imaginary part.
    resid : (n_frames, 2K) float ndarray
        Fit residual (baseline removed), stacked.
    window : int or (n_frames,) int ndarray

    Returns
    -------
    (n_frames, n_rows) float ndarray
    """
    n_f = a.shape[0]
    n_k = u.shape[0]
    # in single precision: the variances come out to ~1e-6 (measured on the fit's own
    # influence rows), far below their sampling error, at half the memory traffic
    f32 = np.float32
    a32 = a.astype(f32)
    # the influence a J^T with the baseline profiled out: (I - S) (a J^T), stacked
    z = a32 @ np.concatenate(blocks, axis=1, dtype=f32)
    zp = a32 @ np.concatenate(projections, axis=1, dtype=f32)
    z -= (zp * np.repeat(d, 2).astype(f32)) @ np.kron(u, np.eye(2)).T.astype(f32)
    z *= resid[:, None, :].astype(f32)
    out = np.empty(a.shape[:2])
    for w, rows in _by_window(window, n_f, n_k):
        sums = window_sums(z[rows], w)
        out[rows] = np.einsum("frk,frk->fr", sums, sums, dtype=np.float64) / w
    return out


def _by_window(
    window: np.ndarray | int, n_f: int, n_k: int, block: int = 16
) -> list[tuple[int, np.ndarray]]:
    """Frames grouped by their window length (at least 1, at most half the band).

    Groups hold at most ``block`` frames: the window sums then stay in the core's cache (at 64
    frames of 22 rows they were ~4x slower per frame).
    """
    win = np.clip(np.broadcast_to(np.asarray(window, dtype=int), (n_f,)), 1, max(1, n_k // 2))
    out = []
    for w in np.unique(win):  # a few distinct values
        rows = np.flatnonzero(win == w)
        out += [(int(w), rows[i : i + block]) for i in range(0, rows.size, block)]
    return out


def window_sums(h: np.ndarray, w: int) -> np.ndarray:
    """Return the sums of ``w`` consecutive points along the last axis, ``(..., 2 (K - w + 1))``.

    ``h`` is stacked ``(..., 2K)`` (re, im interleaved): the real and imaginary parts are
    summed separately. Built from sums of 1, 2, 4, ... points (one addition per bit of ``w``),
    every window inside the band.
    """
    n_out = h.shape[-1] - 2 * (w - 1)
    out: np.ndarray | None = None
    off, p, s = 0, 1, h
    while True:
        if w & p:
            piece = s[..., 2 * off : 2 * off + n_out]
            out = piece.copy() if out is None else np.add(out, piece, out=out)
            off += p
        if 2 * p > w:
            break
        s = s[..., : -2 * p] + s[..., 2 * p :]  # sums of 2p consecutive points
        p *= 2
    assert out is not None
    return out


def sandwich_blocks(
    gram: np.ndarray,
    x: np.ndarray,
    p: np.ndarray,
    d_x: np.ndarray,
    d_p: np.ndarray,
    d2: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """``J^T (I - S) J`` and ``J^T (I - S)^2 J`` from the blocks of the Jacobian.

    ``J = [x, d]`` (concentrations, then nonlinear parameters), stacked (re, im interleaved)
    with their projections on the baseline eigenvectors ``U2`` (``S = U2 diag(d2) U2^T``).

    Parameters
    ----------
    gram : (F, M, M) float ndarray
        ``x^T (I - S) x`` (known from the linear solution).
    x, d_x : (F, M, 2K), (F, P, 2K) float ndarray
    p, d_p : (F, M, 2B), (F, P, 2B) float ndarray
        ``x @ U2``, ``d_x @ U2``.
    d2 : (2B,) float ndarray

    Returns
    -------
    fisher, middle : (F, M + P, M + P) float ndarray
    """
    cross = x @ d_x.transpose(0, 2, 1) - (p * d2) @ d_p.transpose(0, 2, 1)
    dd = d_x @ d_x.transpose(0, 2, 1) - (d_p * d2) @ d_p.transpose(0, 2, 1)
    fisher = np.block([[gram, cross], [cross.transpose(0, 2, 1), dd]])
    j_p = np.concatenate([p, d_p], axis=1)
    middle = fisher - (j_p * (d2 - d2**2)) @ j_p.transpose(0, 2, 1)
    return fisher, middle
