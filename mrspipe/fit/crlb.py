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

import numpy as np

__all__ = ["SUMS", "ALIASES", "canonical", "sum_weights", "fisher_covariance", "combine"]

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
        The sums with at least one member in the basis (and not themselves a basis name).
    weights : (n_sums, n_met) float ndarray
        0/1 membership.
    """
    canon = [canonical(n) for n in names]
    out_names, rows = [], []
    for total, members in SUMS.items():
        if total in names:
            continue
        w = np.array([1.0 if c in members else 0.0 for c in canon])
        if w.any():
            out_names.append(total)
            rows.append(w)
    weights = np.array(rows) if rows else np.zeros((0, len(names)))
    return tuple(out_names), weights


def fisher_covariance(
    fisher: np.ndarray, middle: np.ndarray, sigma: np.ndarray, n_conc: int
) -> np.ndarray:
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

    Returns
    -------
    (n_frames, n_conc, n_conc) float ndarray
        NaN rows/columns for concentrations without information.
    """
    # scale to unit diagonal before inverting; parameters without information drop out
    diag = np.einsum("fii->fi", fisher)
    ok = diag > 1e-14 * diag.max(axis=1, keepdims=True)
    s = np.where(ok, 1.0 / np.sqrt(np.where(ok, diag, 1.0)), 0.0)
    scaled = fisher * s[:, :, None] * s[:, None, :]
    inv = np.linalg.pinv(scaled, rcond=1e-12, hermitian=True)
    mid = middle * s[:, :, None] * s[:, None, :]
    cov = inv @ mid @ inv
    cov = cov * s[:, :, None] * s[:, None, :] * (sigma**2)[:, None, None]
    cov = cov[:, :n_conc, :n_conc]
    bad = ~ok[:, :n_conc]
    return np.where(bad[:, :, None] | bad[:, None, :], np.nan, cov)


def combine(
    estimates: np.ndarray, covariance: np.ndarray, weights: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Linear combinations of concentrations with their uncertainty.

    Parameters
    ----------
    estimates : (n_frames, n_met) float ndarray
    covariance : (n_frames, n_met, n_met) float ndarray
    weights : (n_comb, n_met) float ndarray

    Returns
    -------
    values : (n_frames, n_comb) float ndarray
    sd : (n_frames, n_comb) float ndarray
    cov : (n_frames, n_comb, n_comb) float ndarray
    """
    values = estimates @ weights.T
    cov = np.einsum("cm,fmn,dn->fcd", weights, covariance, weights)
    sd = np.sqrt(np.clip(np.einsum("fcc->fc", cov), 0.0, None))
    return values, sd, cov
