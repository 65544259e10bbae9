"""Propagation of uncertainty: linear combinations and ratios of correlated estimates.

Low-level (numpy only): the fit (sums such as Glx with their CRLB), quantification (ratios of a
fit) and time courses (ratios of frame estimates) propagate covariances here, one way.
"""

from __future__ import annotations

import numpy as np

__all__ = ["combine", "ratio_sd"]


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
    # members with an infinite (no-information) variance and a zero estimate add nothing to a
    # sum: the sum's variance is computed from the members that are finite
    var = np.einsum("fmm->fm", covariance)
    infinite = ~np.isfinite(var)
    keep = ~(infinite & (estimates == 0))
    w = weights[None] * keep[:, None, :]  # (F, C, M)
    finite_cov = np.where(np.isfinite(covariance), covariance, 0.0)
    cov = np.einsum("fcm,fmn,fdn->fcd", w, finite_cov, w)
    # a kept member without information (nonzero estimate) leaves its sums unbounded
    unbounded = ((w != 0) & infinite[:, None, :]).any(axis=2)  # (F, C)
    idx = np.arange(cov.shape[1])
    cov[:, idx, idx] = np.where(unbounded, np.inf, cov[:, idx, idx])
    sd = np.sqrt(np.clip(np.einsum("fcc->fc", cov), 0.0, None))
    return values, sd, cov


def ratio_sd(
    a: np.ndarray,
    b: np.ndarray,
    var_a: np.ndarray,
    var_b: np.ndarray,
    cov_ab: np.ndarray | float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Ratio ``a / b`` and its first-order (delta-method) standard deviation, elementwise.

    ``var(a/b) = (a/b)^2 (var_a/a^2 + var_b/b^2 - 2 cov_ab/(a b))``; where ``a == 0`` (an
    estimate at the nonnegativity bound) the limit ``sqrt(var_a) / |b|`` is used; where
    ``b == 0`` ratio and SD are NaN (undefined, never inf).

    Parameters
    ----------
    a, b : (...) float ndarray
        Numerator and denominator estimates.
    var_a, var_b : (...) float ndarray
        Their variances.
    cov_ab : (...) float ndarray or float
        Their covariance (0: independent).

    Returns
    -------
    ratio, sd : (...) float ndarray
    """
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    var_a, var_b = np.asarray(var_a, dtype=float), np.asarray(var_b, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = a / b
        rel2 = var_a / a**2 + var_b / b**2 - 2 * cov_ab / (a * b)
        sd = np.abs(r) * np.sqrt(np.clip(rel2, 0.0, None))
        sd = np.where(a == 0, np.sqrt(var_a) / np.abs(b), sd)
    # a denominator at 0 (tCr at the nonnegativity bound): undefined, not +-inf
    r = np.where(b == 0, np.nan, r)
    sd = np.where(b == 0, np.nan, sd)
    return r, sd
