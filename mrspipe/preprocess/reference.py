"""ppm referencing: put NAA at 2.008 ppm and creatine at 3.027 ppm.

The peaks are located on the average spectrum (parabolic interpolation of the zero-filled
magnitude spectrum within a search window around each expected position); the mean offset,
weighted by peak height, is removed from every FID by a frequency shift.
"""

from __future__ import annotations

import numpy as np

from ..data import ppm_axis
from ..errors import PreprocessError
from ..spectral import apply_lineshape, to_spectrum
from .measure import noise_sd, peak_position, ppm_mask

__all__ = ["REFERENCE_PEAKS", "find_reference_offset", "find_zero_phase", "reference_ppm"]

#: chemical shifts (ppm) of the singlets used for referencing
REFERENCE_PEAKS: dict[str, float] = {"NAA": 2.008, "Cr": 3.027}


#: largest ppm offset the coarse template search considers (a cold phantom reads ~0.2 ppm low)
COARSE_SEARCH_PPM = 0.5


def _coarse_offset(
    mag: np.ndarray,
    dwell_time: float,
    spectrometer_frequency: float,
    ppm_reference: float,
    peaks: dict[str, float],
    *,
    width: float = 0.03,
) -> float:
    """Shift (ppm) of the pattern of ``peaks`` that best matches the magnitude spectrum.

    The reference singlets as Gaussians (``width`` ppm sd) are slid over +-
    :data:`COARSE_SEARCH_PPM` and scored against the baseline-removed magnitude (all shifts at
    once); offsets larger than the local search window are then found too.
    """
    n = mag.size
    ppm = ppm_axis(n, dwell_time, spectrometer_frequency, ppm_reference)
    step = min(abs(ppm[1] - ppm[0]), 0.005)
    shifts = np.arange(-COARSE_SEARCH_PPM, COARSE_SEARCH_PPM + step / 2, step)
    centres = np.array(list(peaks.values()))
    near = np.abs(ppm - centres.mean()) < (np.ptp(centres) / 2 + COARSE_SEARCH_PPM + 4 * width)
    if not near.any():
        return 0.0
    signal = mag[near] - np.median(mag[near])
    offsets = ppm[near][None, None, :] - (centres[None, :, None] + shifts[:, None, None])
    score = np.einsum("skn,n->s", np.exp(-0.5 * (offsets / width) ** 2), signal)
    return float(shifts[int(np.argmax(score))])


def find_reference_offset(
    fids: np.ndarray,
    dwell_time: float,
    spectrometer_frequency: float,
    ppm_reference: float,
    *,
    peaks: dict[str, float] | None = None,
    search_ppm: float = 0.15,
    min_snr: float = 3.0,
) -> float:
    """Frequency offset (Hz) of the reference peaks on the average of ``fids``.

    A coarse template search over +-0.5 ppm places the peak pattern first; each peak is then
    located within ``search_ppm`` of its coarse position.

    Parameters
    ----------
    fids : (..., n_points) complex ndarray
        Averaged over every leading axis first (align them before).
    dwell_time : float, s
    spectrometer_frequency : float, MHz
    ppm_reference : float, ppm
    peaks : dict of str to float, ppm
        Name -> expected chemical shift (default :data:`REFERENCE_PEAKS`).
    search_ppm : float, ppm
        Half-width of the search window around each expected position.
    min_snr : float
        A peak lower than this multiple of the spectral noise SD is not used.

    Returns
    -------
    float, Hz
        Observed minus expected position; shift the data by its negative.

    Raises
    ------
    PreprocessError
        If no reference peak stands out of the noise.
    """
    peaks = REFERENCE_PEAKS if peaks is None else peaks
    avg = np.asarray(fids).reshape(-1, np.shape(fids)[-1]).mean(axis=0)
    n = avg.shape[-1]
    noise = float(noise_sd(avg)) * np.sqrt(n)
    spec = np.abs(to_spectrum(avg))
    coarse = _coarse_offset(spec, dwell_time, spectrometer_frequency, ppm_reference, peaks)
    offsets, weights = [], []
    for expected in peaks.values():  # a loop over the few reference peaks
        centre = expected + coarse
        window = (centre - search_ppm, centre + search_ppm)
        mask = ppm_mask(n, dwell_time, spectrometer_frequency, ppm_reference, window)
        height = spec[mask].max()
        if height < min_snr * noise:
            continue
        pos = float(
            peak_position(avg, dwell_time, spectrometer_frequency, ppm_reference, peak_range=window)
        )
        offsets.append((pos - expected) * spectrometer_frequency)
        weights.append(height)
    if not offsets:
        raise PreprocessError(
            f"no reference peak ({', '.join(peaks)}) found within {search_ppm} ppm of its "
            "expected position; cannot reference the ppm scale"
        )
    return float(np.average(offsets, weights=weights))


def reference_ppm(
    fids: np.ndarray,
    dwell_time: float,
    spectrometer_frequency: float,
    ppm_reference: float,
    *,
    peaks: dict[str, float] | None = None,
    search_ppm: float = 0.15,
) -> tuple[np.ndarray, float]:
    """Shift all FIDs so the reference peaks sit at their chemical shifts.

    Parameters
    ----------
    fids : (..., n_points) complex ndarray
    dwell_time, spectrometer_frequency, ppm_reference, peaks, search_ppm
        See :func:`find_reference_offset`.

    Returns
    -------
    fids : (..., n_points) complex ndarray
    offset_hz : float, Hz
        The offset found (the data were shifted by its negative).
    """
    offset = find_reference_offset(
        fids, dwell_time, spectrometer_frequency, ppm_reference, peaks=peaks, search_ppm=search_ppm
    )
    return apply_lineshape(np.asarray(fids), dwell_time, shift_hz=-offset), offset


def find_zero_phase(
    fids: np.ndarray,
    dwell_time: float,
    spectrometer_frequency: float,
    ppm_reference: float,
    *,
    peaks: dict[str, float] | None = None,
    half_width_ppm: float = 0.04,
) -> np.ndarray:
    """Zero-order phase that makes the reference singlets absorptive.

    Over a window symmetric about a Lorentzian line the dispersion part integrates to zero,
    so the phase of the summed complex spectrum over windows centred on the (referenced)
    singlets is the line's zero-order phase. What lies under the line is removed first: the
    mean of two flanks as wide as the window on either side (the line's own dispersion cancels
    between them, its absorption tails are in phase) times the window's points. A flat complex
    offset (a broad baseline, or a residual-water model subtracted from a half-weighted first
    point, as in Philips SDAT files) otherwise turns the estimate by up to half a radian.

    Parameters
    ----------
    fids : (..., n_points) complex ndarray
        Referenced FIDs (peaks at their chemical shifts); each leading index is phased alone.
    dwell_time : float, s
    spectrometer_frequency : float, MHz
    ppm_reference : float, ppm
    peaks : dict of str to float, ppm
        Default :data:`REFERENCE_PEAKS`.
    half_width_ppm : float, ppm
        Half-width of the window about each peak.

    Returns
    -------
    (..., 1) float ndarray, rad
        Multiply the FIDs by ``exp(-1j * phase)`` to phase them.
    """
    peaks = REFERENCE_PEAKS if peaks is None else peaks
    fids = np.asarray(fids)
    n = fids.shape[-1]
    ppm = ppm_axis(n, dwell_time, spectrometer_frequency, ppm_reference)
    spec = to_spectrum(fids)
    total = np.zeros(fids.shape[:-1] + (1,), complex)
    for expected in peaks.values():  # a loop over the few reference peaks
        dist = np.abs(ppm - expected)
        window = dist <= half_width_ppm
        window[np.argmin(dist)] = True  # coarse spectra: the nearest point
        flanks = ~window & (dist <= 2 * half_width_ppm)
        below, above = flanks & (ppm < expected), flanks & (ppm > expected)
        line = spec[..., window].sum(-1, keepdims=True)
        if below.any() and above.any():  # both flanks, so the dispersion cancels
            under = 0.5 * (
                spec[..., below].mean(-1, keepdims=True) + spec[..., above].mean(-1, keepdims=True)
            )
            line = line - window.sum() * under
        total += line
    return np.where(np.abs(total) > 0, np.angle(total), 0.0)
