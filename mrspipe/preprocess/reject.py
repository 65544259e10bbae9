"""Bad-transient detection: reported, never silently dropped.

After alignment, a transient that does not look like its reference (motion, a spike, lost
signal, a failed registration) stands out in the residual from the reference over the
metabolite range and in its amplitude relative to the reference. Outliers are found with
robust z-scores (median and MAD over the transients of each group).
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from .measure import ppm_mask

__all__ = ["robust_z", "find_bad_transients"]


def robust_z(values: np.ndarray, *, axis: int = -1, valid: np.ndarray | None = None) -> np.ndarray:
    """Robust z-scores ``(x - median) / (1.4826 * MAD)`` along ``axis``.

    Parameters
    ----------
    values : float ndarray
    axis : int
    valid : bool ndarray like ``values``, optional
        Entries used for the median and MAD (others still get a score).

    Returns
    -------
    float ndarray like ``values``
        0 where the MAD is zero and the value equals the median.
    """
    x = np.asarray(values, dtype=float)
    ref = np.where(valid, x, np.nan) if valid is not None else x
    med = np.nanmedian(ref, axis=axis, keepdims=True)
    mad = 1.4826 * np.nanmedian(np.abs(ref - med), axis=axis, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (x - med) / mad
    return np.where(np.isfinite(z), z, np.where(x == med, 0.0, np.copysign(np.inf, x - med)))


def find_bad_transients(
    aligned: np.ndarray,
    reference: np.ndarray,
    dwell_time: float,
    spectrometer_frequency: float,
    ppm_reference: float,
    *,
    axis: int = -2,
    ppm_range: tuple[float, float] = (1.8, 4.2),
    threshold: float = 4.0,
    converged: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Flag transients that are outliers after alignment.

    A transient is rejected when it is all zero or not finite, when its registration failed
    (``converged`` False), when the robust z-score of its residual norm from the reference
    exceeds ``threshold``, or when the robust z-score of its amplitude (projection on the
    reference) is below ``-threshold`` (signal loss from motion).

    Parameters
    ----------
    aligned : (..., n_transients, ..., n_points) complex ndarray
        Aligned transients, transients along ``axis``.
    reference : complex ndarray broadcasting against ``aligned``
        The alignment reference of each group.
    dwell_time : float, s
    spectrometer_frequency : float, MHz
    ppm_reference : float, ppm
    axis : int
        The transient axis.
    ppm_range : (float, float), ppm
        Range over which the residual is measured.
    threshold : float
        Robust z-score limit.
    converged : bool ndarray like the transients, optional

    Returns
    -------
    rejected : bool ndarray, shape ``aligned.shape[:-1]``
    residual_z : float ndarray, same shape
        Robust z-score of the residual norm (for the QC table).
    """
    if not threshold > 0:
        raise ConfigError(f"rejection threshold must be positive, got {threshold}")
    aligned = np.asarray(aligned)
    n = aligned.shape[-1]
    ax = axis % aligned.ndim
    mask = ppm_mask(n, dwell_time, spectrometer_frequency, ppm_reference, ppm_range)
    spec = np.fft.fftshift(np.fft.fft(aligned, axis=-1), axes=-1)[..., mask]
    ref = np.fft.fftshift(np.fft.fft(np.broadcast_to(reference, aligned.shape), axis=-1), axes=-1)[
        ..., mask
    ]
    finite = np.isfinite(aligned).all(-1)
    nonzero = np.abs(np.nan_to_num(aligned)).sum(-1) > 0
    good = finite & nonzero
    spec = np.where(good[..., None], spec, 0)
    ref_energy = (np.abs(ref) ** 2).sum(-1)
    amp = (np.conj(ref) * spec).real.sum(-1) / np.where(ref_energy > 0, ref_energy, 1.0)
    resid = np.sqrt((np.abs(spec - ref) ** 2).sum(-1))
    z_res = robust_z(resid, axis=ax, valid=good)
    z_amp = robust_z(amp, axis=ax, valid=good)
    rejected = ~good | (z_res > threshold) | (z_amp < -threshold)
    if converged is not None:
        rejected |= ~np.asarray(converged, bool)
    return rejected, np.where(good, z_res, np.inf)
