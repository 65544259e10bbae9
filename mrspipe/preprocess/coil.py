"""Coil combination: noise whitening, then reference-weighted or SVD combination.

The noise covariance between coils is estimated from the FID tails (or a noise scan) and the
data are whitened with its inverse square root. The coil sensitivities (amplitude and phase)
come from a reference FID per coil (the water reference, or the data's own mean): either its
first points (``'water'``) or the dominant left singular vector of its first points
(``'svd'``). The combination ``w^H x`` with ``w = s / |s|^2`` (whitened space) is the
SNR-optimal, phase-aligned, unit-gain combination; ``'sum'`` (plain sum) is kept for comparison.

References
----------
Roemer PB, Edelstein WA, Hayes CE, Souza SP, Mueller OM. The NMR phased array.
Magn Reson Med 1990;16:192-225.
Rodgers CT, Robson MD. Receive array magnetic resonance spectroscopy: whitened singular value
decomposition (WSVD) gives optimal Bayesian solution. Magn Reson Med 2010;63:881-891.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError, PreprocessError
from .measure import tail_slice

__all__ = ["noise_covariance", "whitening_matrix", "coil_weights", "combine_coils", "METHODS"]


def noise_covariance(
    fids: np.ndarray, *, coil_axis: int = 0, tail_fraction: float = 0.25
) -> np.ndarray:
    """Noise covariance between coils from the FID tails (or a noise scan).

    Parameters
    ----------
    fids : (..., n_coils, ..., n_points) complex ndarray
        Coil data (or a pure-noise acquisition, then use ``tail_fraction=1``).
    coil_axis : int
    tail_fraction : float
        Fraction of the last points used; pooled over every other leading axis.

    Returns
    -------
    (n_coils, n_coils) complex ndarray
        Hermitian covariance of the complex noise per sample.
    """
    x = np.moveaxis(np.asarray(fids), coil_axis, 0)
    tail = x[..., tail_slice(x.shape[-1], tail_fraction)]
    tail = tail - tail.mean(axis=-1, keepdims=True)
    flat = tail.reshape(x.shape[0], -1)
    return (flat @ flat.conj().T) / max(flat.shape[1] - 1, 1)


def whitening_matrix(covariance: np.ndarray, *, rcond: float = 1e-10) -> np.ndarray:
    """Inverse square root of a noise covariance, ``(n_coils, n_coils)``.

    Raises
    ------
    PreprocessError
        If the covariance is not positive (a dead coil or pure-zero data).
    """
    vals, vecs = np.linalg.eigh(covariance)
    if not np.isfinite(vals).all() or vals.max() <= 0:
        raise PreprocessError("noise covariance is zero or not finite: no noise in the data?")
    vals = np.maximum(vals, vals.max() * rcond)
    return (vecs / np.sqrt(vals)) @ vecs.conj().T


def _water_sens(ref: np.ndarray, n_signal: int) -> np.ndarray:
    return ref[:, 0]


def _svd_sens(ref: np.ndarray, n_signal: int) -> np.ndarray:
    u, sv, vh = np.linalg.svd(ref[:, :n_signal], full_matrices=False)
    sens = u[:, 0] * sv[0] * vh[0, 0]  # scaled and phased so it tracks the first points
    return sens


#: sensitivity estimators: name -> f(whitened reference (n_coils, n), n_signal) -> (n_coils,)
METHODS = {"svd": _svd_sens, "water": _water_sens}


def coil_weights(
    reference: np.ndarray,
    whitening: np.ndarray,
    *,
    method: str = "svd",
    n_signal: int = 64,
) -> np.ndarray:
    """Compute combination weights from a reference FID per coil.

    Parameters
    ----------
    reference : (n_coils, n_points) complex ndarray
        Reference FIDs (e.g. the water reference averaged over its transients).
    whitening : (n_coils, n_coils) complex ndarray
        From :func:`whitening_matrix`.
    method : {'svd', 'water'}
        ``'water'``: sensitivities = first point of the whitened reference; ``'svd'``: its
        rank-1 approximation over the first ``n_signal`` points (less noisy).
    n_signal : int
        Leading points of the reference used by ``'svd'``.

    Returns
    -------
    (n_coils,) complex ndarray
        ``w`` such that the combined FID is ``w.conj() @ x`` (unwhitened coil data ``x``);
        phases aligned, scaled so the combined reference starts with the root-sum-of-squares
        magnitude of the coils' first points.
    """
    if method not in METHODS:
        raise ConfigError(f"coil combination must be one of {sorted(METHODS)}, got {method!r}")
    ref_w = whitening @ reference
    sens = METHODS[method](ref_w, min(n_signal, reference.shape[-1]))
    norm = np.vdot(sens, sens).real
    if not norm > 0:
        raise PreprocessError("the coil reference has no signal; cannot weight the coils")
    rss = np.sqrt((np.abs(reference[:, 0]) ** 2).sum())
    return whitening.conj().T @ (sens / norm) * rss


def combine_coils(
    fids: np.ndarray,
    *,
    coil_axis: int = 0,
    reference: np.ndarray | None = None,
    noise: np.ndarray | None = None,
    method: str = "svd",
    tail_fraction: float = 0.25,
    n_signal: int = 64,
) -> tuple[np.ndarray, np.ndarray]:
    """Combine the coil axis of FIDs: noise-whitened, reference-weighted, phase-aligned.

    Parameters
    ----------
    fids : (..., n_coils, ..., n_points) complex ndarray
    coil_axis : int
    reference : (n_coils, n_points) or (n_coils, ..., n_points) complex ndarray, optional
        Coil reference (the water reference; extra axes are averaged). Default: the mean of
        ``fids`` over every axis but the coil axis.
    noise : (n_coils, ..., n_noise) complex ndarray, optional
        A noise scan for the covariance; default: the FID tails of ``fids``.
    method : {'svd', 'water', 'sum'}
        ``'sum'`` is the plain (unweighted, unphased) sum, for comparison only.
    tail_fraction : float
    n_signal : int

    Returns
    -------
    combined : (..., ..., n_points) complex ndarray
        ``fids`` with the coil axis removed.
    weights : (n_coils,) complex ndarray
    """
    fids = np.asarray(fids)
    ax = coil_axis % fids.ndim
    if ax == fids.ndim - 1:
        raise ConfigError("the coil axis cannot be the spectral (last) axis")
    x = np.moveaxis(fids, ax, 0)
    n_coils = x.shape[0]
    if method == "sum":
        w = np.ones(n_coils, dtype=complex)
        return np.tensordot(w.conj(), x, axes=(0, 0)), w
    if noise is not None:
        noise = np.asarray(noise)
        if noise.shape[0] != n_coils:
            raise PreprocessError(
                f"noise scan has {noise.shape[0]} coils but the data have {n_coils}"
            )
        cov = noise_covariance(noise, coil_axis=0, tail_fraction=1.0)
    else:
        cov = noise_covariance(x, coil_axis=0, tail_fraction=tail_fraction)
    whiten = whitening_matrix(cov)
    if reference is None:
        ref = x.reshape(n_coils, -1, x.shape[-1]).mean(axis=1)
    else:
        reference = np.asarray(reference)
        if reference.shape[0] != n_coils or reference.shape[-1] != x.shape[-1]:
            raise PreprocessError(
                f"coil reference has shape {reference.shape}; expected {n_coils} coils first "
                f"and {x.shape[-1]} points last"
            )
        ref = reference.reshape(n_coils, -1, reference.shape[-1]).mean(axis=1)
    w = coil_weights(ref, whiten, method=method, n_signal=n_signal)
    return np.tensordot(w.conj(), x, axes=(0, 0)), w
