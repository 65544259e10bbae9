"""Bad-transient detection: reported, never silently dropped.

After alignment, a transient that does not look like its reference (motion, a spike, lost
signal, a failed registration) stands out in the residual from the reference over the
metabolite range and in its amplitude relative to the reference. Outliers are found with
robust z-scores (median and MAD over the transients of each group). A transient is rejected for
what its data show, never for an optimiser flag alone: a registration that did not converge
is rejected only when the transient also fits its reference badly. Every rejection has a
reason (:data:`REASONS`) for the QC table.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from .measure import fft_points, nonzero_finite, ppm_mask

__all__ = ["robust_z", "find_bad_transients", "REASONS"]

#: the reasons :func:`find_bad_transients` gives, in the order they are checked
REASONS = {
    "empty": "all zero or not finite",
    "residual": "residual outlier",
    "amplitude": "amplitude loss",
    "registration": "registration failed",
}

#: transients measured at once (bounds the work arrays)
_BLOCK = 256

#: a non-converged registration counts as failed from this fraction of the threshold on
_REGISTRATION_FRACTION = 0.5


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
    min_loss: float = 0.15,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flag transients that are outliers after alignment, with the reason.

    A transient is rejected when it is all zero or not finite, when the robust z-score of its
    residual norm from the reference exceeds ``threshold``, when the robust z-score of its
    amplitude (projection on the reference) is below ``-threshold`` *and* the amplitude is at
    least ``min_loss`` below the group median (signal loss from motion: a few per cent, which
    high-SNR data resolve as a large z-score, is physiology or drift, not a bad transient),
    or when its registration did not converge (``converged`` False) *and* its residual
    z-score exceeds half the threshold (a registration that really failed leaves a transient
    unlike its reference; a flag on a transient that matches it is not evidence).

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
    min_loss : float
        Smallest relative amplitude loss that counts (fraction of the median amplitude).

    Returns
    -------
    rejected : bool ndarray, shape ``aligned.shape[:-1]``
    residual_z : float ndarray, same shape
        Robust z-score of the residual norm (for the QC table).
    reason : str ndarray, same shape
        Why each transient was rejected (``""`` when kept), e.g. ``"residual outlier (z=6.2)"``.
    """
    if not threshold > 0:
        raise ConfigError(f"rejection threshold must be positive, got {threshold}")
    aligned = np.asarray(aligned)
    n = aligned.shape[-1]
    ax = axis % aligned.ndim
    mask = ppm_mask(n, dwell_time, spectrometer_frequency, ppm_reference, ppm_range)
    # the masked points of the shifted spectra, a block of transients at a time (bounded memory)
    points = np.fft.fftshift(np.arange(n))[mask]
    nonzero, finite = nonzero_finite(aligned)
    good = finite & nonzero
    ref_spec = fft_points(np.asarray(reference), points)
    ref_energy = (np.abs(ref_spec) ** 2).sum(-1)
    ref_energy = np.where(ref_energy > 0, ref_energy, 1.0)
    amp = np.empty(good.shape)
    resid = np.empty(good.shape)
    for b in range(0, aligned.shape[ax], _BLOCK):
        blk = (slice(None),) * ax + (slice(b, b + _BLOCK),)
        # single-precision transforms (rounding ~1e-7 of the band's norm; the sums in double)
        band = fft_points(aligned[blk], points, single=True).astype(np.complex128)
        spec = np.where(good[blk][..., None], band, 0)
        ref = np.broadcast_to(ref_spec, spec.shape)
        amp[blk] = (np.conj(ref) * spec).real.sum(-1) / np.broadcast_to(ref_energy, amp[blk].shape)
        resid[blk] = np.sqrt((np.abs(spec - ref) ** 2).sum(-1))
    z_res = robust_z(resid, axis=ax, valid=good)
    z_amp = robust_z(amp, axis=ax, valid=good)
    med_amp = np.nanmedian(np.where(good, amp, np.nan), axis=ax, keepdims=True)
    material = amp < (1.0 - min_loss) * np.abs(np.nan_to_num(med_amp))
    failed = np.zeros(good.shape, bool)
    if converged is not None:
        failed = ~np.broadcast_to(np.asarray(converged, bool), good.shape) & (
            z_res > _REGISTRATION_FRACTION * threshold
        )
    causes = {
        "empty": ~good,
        "residual": good & (z_res > threshold),
        "amplitude": good & (z_amp < -threshold) & material,
        "registration": good & failed,
    }
    rejected = np.zeros(good.shape, bool)
    reason = np.full(good.shape, "", dtype=object)
    details = {"empty": None, "residual": z_res, "amplitude": z_amp, "registration": z_res}
    for key, hit in causes.items():  # a loop over the four causes, not the transients
        where = np.nonzero(hit)
        if not where[0].size:
            continue
        label = REASONS[key]
        detail = details[key]
        # the text of the hits only (a few transients): "label (z=6.2)"
        text = (
            np.full(where[0].size, label, dtype=object)
            if detail is None
            else label + " (z=" + np.char.mod("%.1f", detail[where]).astype(object) + ")"
        )
        before = reason[where]
        reason[where] = np.where(before == "", text, before + "; " + text)
        rejected |= hit
    return rejected, np.where(good, z_res, np.inf), reason
