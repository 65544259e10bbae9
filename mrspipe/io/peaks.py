"""Where the water and metabolite peaks are: the spectral measurements behind the sanity checks.

Magnitude spectra averaged over frames (so coil and frame phases do not cancel), the water
peak against the tallest narrow metabolite peak (:func:`looks_like_water`), and the offset of
the ppm axis from the water peak or an NAA/Cr/Cho template (:func:`estimate_ppm_offset`).
Used by :mod:`mrspipe.io.sanity`.
"""

from __future__ import annotations

import numpy as np

from ..data import MRSData
from ..spectral import to_spectrum

__all__ = [
    "METABOLITE_PEAKS",
    "WATER_PPM",
    "WATER_RATIO",
    "estimate_ppm_offset",
    "looks_like_water",
]

#: Expected chemical shifts (ppm) and relative weights of the template used to find the
#: reference offset of a brain (or phantom) 1H spectrum: NAA, creatine, choline singlets.
METABOLITE_PEAKS: tuple[tuple[float, float], ...] = ((2.008, 1.0), (3.027, 0.8), (3.20, 0.7))
#: Water at body temperature (ppm) and the half-width of the plausible range.
WATER_PPM = 4.68
#: Water peak over the tallest metabolite peak above which a spectrum counts as a water
#: reference (residual water in suppressed in-vivo data is typically 5-100 times NAA).
WATER_RATIO = 300.0
#: a metabolite pattern counts when its NAA peak is this many noise SDs high
_PATTERN_SNR = 3.0
#: frames the checks look at (evenly spaced for the mean magnitude)
MAX_FRAMES = 64


def mean_magnitude(data: MRSData) -> np.ndarray:
    """Mean magnitude spectrum over (at most 64 evenly spaced) frames, ``(n_points,)``."""
    flat = data.fids.reshape(-1, data.n_points)
    if flat.shape[0] > MAX_FRAMES:
        flat = flat[np.linspace(0, flat.shape[0] - 1, MAX_FRAMES).round().astype(int)]
    return np.abs(to_spectrum(flat)).mean(axis=0)


def noise_level(mag: np.ndarray) -> float:
    """Robust noise level from the outer 10 % of the spectrum on each side."""
    k = max(len(mag) // 10, 4)
    edges = np.concatenate([mag[:k], mag[-k:]])
    return float(1.4826 * np.median(np.abs(np.diff(edges))) / np.sqrt(2.0)) or 1e-30


def _refine(ppm: np.ndarray, values: np.ndarray, i: int) -> float:
    """Parabolic interpolation of a maximum at index ``i``."""
    if 0 < i < len(values) - 1:
        a, b, c = values[i - 1], values[i], values[i + 1]
        denom = a - 2 * b + c
        if denom != 0:
            return float(ppm[i] + 0.5 * (a - c) / denom * (ppm[1] - ppm[0]))
    return float(ppm[i])


def _peaks_only(ppm: np.ndarray, mag: np.ndarray, width: float = 0.25) -> np.ndarray:
    """Remove the baseline and the water tail: magnitude minus its running median.

    The median runs over ``width`` ppm; the result (narrow peaks only) is clipped at zero.
    """
    from scipy.ndimage import median_filter

    size = max(int(round(width / abs(ppm[1] - ppm[0]))) | 1, 3)
    return np.clip(mag - median_filter(mag, size=size, mode="nearest"), 0.0, None)


def water_ratio(ppm: np.ndarray, mag: np.ndarray) -> float:
    """Compare the water peak with the tallest narrow peak between 1.7 and 3.5 ppm.

    The mirror image of that band about 4.65 ppm counts too, so a flipped spectrum is judged
    the same way.
    """
    water = (ppm > 4.2) & (ppm < 5.2)
    metab = ((ppm > 1.7) & (ppm < 3.5)) | ((ppm > 5.8) & (ppm < 7.6))
    if not water.any() or not metab.any():
        return 0.0
    w = float(np.max(mag[water]) - np.median(mag))
    m = float(np.max(_peaks_only(ppm, mag)[metab]))
    return w / max(m, noise_level(mag), 1e-30)


def _no_metabolites(ppm: np.ndarray, mag: np.ndarray, ppm_reference: float) -> bool:
    """Tell whether neither the NAA/Cr/Cho pattern nor its mirror stands out of the noise."""
    noise = noise_level(mag)
    _, direct = metabolite_pattern(ppm, mag)
    _, mirrored = metabolite_pattern((2 * ppm_reference - ppm)[::-1], mag[::-1])
    return max(direct, mirrored) < _PATTERN_SNR * noise


def looks_like_water(data: MRSData) -> bool:
    """Tell whether the water peak dominates (a water-unsuppressed reference), 1H only.

    Either water is :data:`WATER_RATIO` times the tallest metabolite peak, or it is a tenth
    of that and no NAA/Cr/Cho pattern (nor its mirror image) stands out of the noise: an
    unsuppressed short-TE spectrum whose water wings and sidebands hide the metabolites.
    """
    if data.nucleus != "1H":
        return False
    mag = mean_magnitude(data)
    ratio = water_ratio(data.ppm, mag)
    if ratio > WATER_RATIO:
        return True
    assert data.ppm_reference is not None
    return ratio > WATER_RATIO / 10 and _no_metabolites(data.ppm, mag, data.ppm_reference)


def is_water(data: MRSData, role: str | None, ratio: float) -> bool:
    """Tell whether ``data`` are judged by their water peak: by role, header, or ``ratio``."""
    if role in ("mrsref", "ecc"):
        return True
    if role == "svs":
        return ratio > 5 * WATER_RATIO
    if data.header.get("WaterSuppressed") is False:
        return True
    return ratio > WATER_RATIO


def estimate_ppm_offset(
    data: MRSData, *, role: str | None = None, search: float = 0.5
) -> tuple[float, str] | None:
    """How far the ppm axis is off, from the water peak or the NAA/Cr/Cho pattern.

    Parameters
    ----------
    data : MRSData
        1H data; leading axes are averaged (magnitude, so coil phases do not cancel).
    role : {'svs', 'mrsref', 'ecc'}, optional
        ``'mrsref'`` forces the water peak; otherwise water-dominated spectra use it too.
    search : float, ppm
        Largest offset searched for with the metabolite template.

    Returns
    -------
    (offset, basis) or None
        ``offset`` in ppm, positive when peaks appear at higher ppm than they should (NAA found
        at ``2.01 + offset``; water at ``4.68 + offset``); ``basis`` is ``'water'`` or
        ``'metabolites'``. None when no peak stands out of the noise.
    """
    ppm = data.ppm
    mag = mean_magnitude(data)
    noise = noise_level(mag)
    floor = float(np.median(mag))
    if is_water(data, role, water_ratio(ppm, mag)):
        band = np.flatnonzero((ppm > WATER_PPM - 0.6) & (ppm < WATER_PPM + 0.6))
        if band.size < 3:
            return None
        i = band[np.argmax(mag[band])]
        if mag[i] - floor < 10 * noise:
            return None
        return _refine(ppm, mag, i) - WATER_PPM, "water"
    offset, height = metabolite_pattern(ppm, mag, search=search)
    if height < 5 * noise:
        return None
    return offset, "metabolites"


def metabolite_pattern(
    ppm: np.ndarray, mag: np.ndarray, *, search: float = 0.5
) -> tuple[float, float]:
    """Best shift of the NAA/Cr/Cho template and the NAA peak height found there.

    ``ppm`` ascending; the magnitude ``mag`` has its baseline removed first (running median).
    """
    step = min(abs(ppm[1] - ppm[0]), 0.005)
    shifts = np.arange(-search, search + step / 2, step)
    centres = np.array([p for p, _ in METABOLITE_PEAKS])
    weights = np.array([w for _, w in METABOLITE_PEAKS])
    width = 0.03  # ppm, Gaussian sd: about an in-vivo singlet
    signal = _peaks_only(ppm, mag)
    near = np.abs(ppm - centres.mean()) < (np.ptp(centres) / 2 + search + 4 * width)
    # (n_shifts, n_peaks, n_near) Gaussian template evaluated at every shift: no loops
    offsets = ppm[near][None, None, :] - (centres[None, :, None] + shifts[:, None, None])
    template = np.exp(-0.5 * (offsets / width) ** 2)
    score = np.einsum("k,skn,n->s", weights, template, signal[near])
    offset = _refine(shifts, score, int(np.argmax(score)))
    return offset, float(np.interp(centres[0] + offset, ppm, signal))
