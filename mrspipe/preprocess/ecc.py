"""Eddy-current correction from the water reference (Klose 1990).

The time-dependent phase of the (unsuppressed) water reference FID holds the eddy-current
phase error plus the water's own frequency offset; subtracting it point by point from the
metabolite FIDs removes the eddy-current distortion (and moves water to the receiver
frequency, which ppm referencing later accounts for). Where the water FID has decayed into
noise its phase is meaningless, so past that point the phase is continued linearly from the
last reliable stretch.

References
----------
Klose U. In vivo proton spectroscopy in presence of eddy currents.
Magn Reson Med 1990;14:26-30.
"""

from __future__ import annotations

import numpy as np

from ..errors import PreprocessError
from .measure import noise_sd

__all__ = ["water_phase", "eddy_current_correct"]


def water_phase(
    water: np.ndarray, *, snr_limit: float = 10.0, fit_points: int | None = None
) -> np.ndarray:
    """Unwrapped phase of water FIDs, continued linearly where the signal is noise.

    The continuation's slope (the water's own frequency offset) is a weighted least-squares line
    through the reliable phase, each point weighted by ``|water|**2`` (the inverse of its phase
    variance), so the strong points set it and the last points before the noise barely do.

    Parameters
    ----------
    water : (..., n_points) complex ndarray
    snr_limit : float
        Points whose magnitude is below ``snr_limit`` times the noise SD (after the first such
        point) take the linear continuation.
    fit_points : int, optional
        Number of reliable points before the cut used for the line; default the later half of
        the reliable stretch (the early points carry the eddy-current transient).

    Returns
    -------
    (..., n_points) float ndarray, rad
    """
    water = np.asarray(water)
    n = water.shape[-1]
    phase = np.unwrap(np.angle(water), axis=-1)
    sigma = noise_sd(water)[..., None]
    weak = np.abs(water) < snr_limit * np.maximum(sigma, 1e-300)
    weak[..., :2] = False
    cut = np.where(weak.any(-1), np.argmax(weak, axis=-1), n)[..., None]  # first weak point
    idx = np.arange(n)
    span = cut // 2 if fit_points is None else np.minimum(cut, fit_points)
    start = np.maximum(cut - np.maximum(span, 2), 0)
    weight = np.where((idx >= start) & (idx < cut), np.abs(water) ** 2, 0.0)
    total = np.maximum(weight.sum(-1, keepdims=True), 1e-300)
    xm = (idx * weight).sum(-1, keepdims=True) / total
    ym = (phase * weight).sum(-1, keepdims=True) / total
    sxx = (((idx - xm) ** 2) * weight).sum(-1, keepdims=True)
    sxy = ((idx - xm) * (phase - ym) * weight).sum(-1, keepdims=True)
    slope = np.where(sxx > 0, sxy / np.where(sxx > 0, sxx, 1.0), 0.0)
    linear = ym + slope * (idx - xm)
    return np.where(idx >= cut, linear, phase)


def eddy_current_correct(
    fids: np.ndarray,
    water: np.ndarray,
    *,
    snr_limit: float = 10.0,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Remove the water reference's phase from metabolite FIDs (Klose 1990).

    Parameters
    ----------
    fids : (..., n_points) complex ndarray
        Metabolite FIDs.
    water : complex ndarray broadcasting against ``fids``
        Water reference FID(s) (e.g. ``(n_points,)`` or one per group), same dwell time.
    snr_limit : float
        See :func:`water_phase`.
    out : complex ndarray like ``fids``, optional
        Where to write the result (may be ``fids`` itself; a single-precision ``out`` gets
        the double-precision product rounded once).

    Returns
    -------
    (..., n_points) complex ndarray
        ``fids * exp(-1j * phase(water))`` (``out`` when given).

    Raises
    ------
    PreprocessError
        If the number of points differs or the water reference is empty.
    """
    fids = np.asarray(fids)
    water = np.asarray(water)
    if water.shape[-1] != fids.shape[-1]:
        raise PreprocessError(
            f"water reference has {water.shape[-1]} points, the data {fids.shape[-1]}"
        )
    if not np.abs(water[..., :4]).max() > 0 or not np.isfinite(water).all():
        raise PreprocessError("water reference is all zero or not finite")
    try:
        np.broadcast_shapes(water.shape, fids.shape)
    except ValueError:
        raise PreprocessError(
            f"water reference shape {water.shape} does not match the data {fids.shape}"
        ) from None
    correction = np.exp(-1j * water_phase(water, snr_limit=snr_limit))
    if out is None:
        return fids * correction
    return np.multiply(fids, correction, out=out, casting="same_kind")
