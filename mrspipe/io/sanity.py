"""Sanity checks for converted (or any) MRS data: catch what a converter or a header got wrong.

Each check returns a list of :class:`Finding`; ``level`` is ``'error'`` where the data cannot be
right (a 30 s echo time, a frequency-flipped spectrum), ``'warning'`` where they look suspicious
(a ppm reference 0.2 ppm off, a missing water reference) and ``'info'`` for notes.
:func:`check_mrs` runs the registered checks and logs warnings and errors loudly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from ..data import MRSData
from ..errors import ConfigError
from ..spectral import is_flipped, orientation_score, to_spectrum

__all__ = [
    "Finding",
    "CHECKS",
    "check_mrs",
    "check_timing",
    "check_ppm_reference",
    "check_orientation",
    "check_reference",
    "estimate_ppm_offset",
    "errors_of",
    "looks_like_water",
]

logger = logging.getLogger("mrspipe")

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
_MAX_FRAMES = 64


@dataclass(frozen=True)
class Finding:
    """One result of a sanity check.

    Parameters
    ----------
    level : {'info', 'warning', 'error'}
    check : str
        Which check, e.g. ``'echo_time'``, ``'ppm_reference'``, ``'orientation'``.
    message : str
        A sentence a user can act on.
    value : float, optional
        The measured quantity (e.g. the ppm offset), for tests and tables.
    """

    level: str
    check: str
    message: str
    value: float | None = None


def errors_of(findings: Iterable[Finding]) -> list[Finding]:
    """Return the findings of level ``'error'``."""
    return [f for f in findings if f.level == "error"]


def check_timing(data: MRSData, *, role: str | None = None) -> list[Finding]:
    """Implausible echo/repetition times, frequency and dwell time (unit mix-ups).

    TE > 1 s or TR > 60 s means milliseconds were stored as seconds (error); a TE below
    0.5 ms or a TR below 50 ms is suspicious (warning); a 1H frequency outside 10-1500 MHz
    means Hz or T were stored as MHz (error); a bandwidth outside 200 Hz - 1 MHz is a warning.
    """
    out: list[Finding] = []
    te, tr = data.echo_time, data.repetition_time
    if te is None:
        out.append(Finding("warning", "echo_time", "echo time unknown (no EchoTime in header)"))
    elif te > 1.0:
        out.append(
            Finding(
                "error",
                "echo_time",
                f"echo time {te:g} s is implausible: milliseconds stored as seconds?",
                te,
            )
        )
    elif te < 0:
        out.append(Finding("error", "echo_time", f"echo time {te:g} s is negative", te))
    elif 0 < te < 5e-4:
        out.append(
            Finding(
                "warning",
                "echo_time",
                f"echo time {te:g} s is implausibly short: seconds divided by 1000 twice?",
                te,
            )
        )
    if tr is not None:
        if tr > 60.0:
            out.append(
                Finding(
                    "error",
                    "repetition_time",
                    f"repetition time {tr:g} s is implausible: milliseconds stored as seconds?",
                    tr,
                )
            )
        elif 0 < tr < 0.05:
            out.append(
                Finding(
                    "warning",
                    "repetition_time",
                    f"repetition time {tr:g} s is "
                    "implausibly short: seconds divided by 1000 twice?",
                    tr,
                )
            )
        elif te is not None and 0 < tr < te <= 1.0:
            out.append(
                Finding(
                    "error",
                    "repetition_time",
                    f"repetition time {tr:g} s is shorter than the echo time",
                    tr,
                )
            )
    cf = data.spectrometer_frequency
    if data.nucleus == "1H" and not 10.0 <= cf <= 1500.0:
        out.append(
            Finding(
                "error",
                "frequency",
                f"1H frequency {cf:g} MHz is implausible: Hz or tesla stored as MHz?",
                cf,
            )
        )
    bandwidth = 1.0 / data.dwell_time
    if not 200.0 <= bandwidth <= 1e6:
        out.append(
            Finding(
                "warning",
                "dwell_time",
                f"spectral width {bandwidth:g} Hz (dwell "
                f"{data.dwell_time:g} s) is implausible: dwell in ms or us?",
                data.dwell_time,
            )
        )
    return out


def _mean_magnitude(data: MRSData) -> np.ndarray:
    """Mean magnitude spectrum over (at most 64 evenly spaced) frames, ``(n_points,)``."""
    flat = data.fids.reshape(-1, data.n_points)
    if flat.shape[0] > _MAX_FRAMES:
        flat = flat[np.linspace(0, flat.shape[0] - 1, _MAX_FRAMES).round().astype(int)]
    return np.abs(to_spectrum(flat)).mean(axis=0)


def _noise_sd(mag: np.ndarray) -> float:
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


def _water_ratio(ppm: np.ndarray, mag: np.ndarray) -> float:
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
    return w / max(m, _noise_sd(mag), 1e-30)


def _no_metabolites(ppm: np.ndarray, mag: np.ndarray, ppm_reference: float) -> bool:
    """Tell whether neither the NAA/Cr/Cho pattern nor its mirror stands out of the noise."""
    noise = _noise_sd(mag)
    _, direct = _metabolite_pattern(ppm, mag)
    _, mirrored = _metabolite_pattern((2 * ppm_reference - ppm)[::-1], mag[::-1])
    return max(direct, mirrored) < _PATTERN_SNR * noise


def looks_like_water(data: MRSData) -> bool:
    """Tell whether the water peak dominates (a water-unsuppressed reference), 1H only.

    Either water is :data:`WATER_RATIO` times the tallest metabolite peak, or it is a tenth
    of that and no NAA/Cr/Cho pattern (nor its mirror image) stands out of the noise: an
    unsuppressed short-TE spectrum whose water wings and sidebands hide the metabolites.
    """
    if data.nucleus != "1H":
        return False
    mag = _mean_magnitude(data)
    ratio = _water_ratio(data.ppm, mag)
    if ratio > WATER_RATIO:
        return True
    assert data.ppm_reference is not None
    return ratio > WATER_RATIO / 10 and _no_metabolites(data.ppm, mag, data.ppm_reference)


def _is_water(data: MRSData, role: str | None, ratio: float) -> bool:
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
    mag = _mean_magnitude(data)
    noise = _noise_sd(mag)
    floor = float(np.median(mag))
    if _is_water(data, role, _water_ratio(ppm, mag)):
        band = np.flatnonzero((ppm > WATER_PPM - 0.6) & (ppm < WATER_PPM + 0.6))
        if band.size < 3:
            return None
        i = band[np.argmax(mag[band])]
        if mag[i] - floor < 10 * noise:
            return None
        return _refine(ppm, mag, i) - WATER_PPM, "water"
    offset, height = _metabolite_pattern(ppm, mag, search=search)
    if height < 5 * noise:
        return None
    return offset, "metabolites"


def _metabolite_pattern(
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


def check_ppm_reference(
    data: MRSData, *, role: str | None = None, tolerance: float = 0.1
) -> list[Finding]:
    """Warn when the ppm axis is off by more than ``tolerance`` ppm (NAA/Cr/Cho or water).

    Water may sit anywhere in 4.65-4.7 ppm (temperature), so for water the tolerance is counted
    from that range. A room-temperature phantom typically reads about -0.2 ppm when the
    frequency was set on water; reference to NAA/Cr in preprocessing.
    """
    if data.nucleus != "1H":
        return [Finding("info", "ppm_reference", f"not checked for {data.nucleus}")]
    ppm = data.ppm
    mag = _mean_magnitude(data)
    out: list[Finding] = []
    if role == "svs" and _water_ratio(ppm, mag) > 5 * WATER_RATIO:
        out.append(
            Finding(
                "warning",
                "role",
                "the water peak dominates: this looks like a "
                "water-unsuppressed reference, not metabolite data",
            )
        )
    found = estimate_ppm_offset(data, role=role)
    if found is None:
        return out + [
            Finding(
                "info",
                "ppm_reference",
                "no NAA/Cr/Cho or water peak stands out of the noise; ppm reference not checked",
            )
        ]
    offset, basis = found
    if basis == "water":
        water = WATER_PPM + offset
        excess = max(0.0, abs(offset) - 0.03)
        if excess > tolerance:
            out.append(
                Finding(
                    "warning",
                    "ppm_reference",
                    f"water found at {water:.2f} ppm, "
                    f"expected 4.65-4.70: ppm reference off by {offset:+.2f} ppm",
                    offset,
                )
            )
    elif abs(offset) > tolerance:
        out.append(
            Finding(
                "warning",
                "ppm_reference",
                f"NAA found at "
                f"{METABOLITE_PEAKS[0][0] + offset:.2f} ppm: ppm reference off by "
                f"{offset:+.2f} ppm (room-temperature phantom, or the frequency was "
                "not set on water); reference to NAA/Cr when preprocessing",
                offset,
            )
        )
    return out


def check_orientation(data: MRSData, *, role: str | None = None) -> list[Finding]:
    """Error when a 1H metabolite spectrum is frequency-flipped (stored conjugated).

    Uses :func:`mrspipe.spectral.is_flipped` on up to 64 frames; water-dominated data are
    mirror-symmetric about the centre and not judged: an ``'info'`` finding says the
    orientation cannot be told.
    """
    if data.nucleus != "1H":
        return []
    cannot_tell = Finding(
        "info",
        "orientation",
        "cannot tell the orientation: a water-dominated spectrum has no metabolite peaks "
        "to judge by",
    )
    if _is_water(data, role, _water_ratio(data.ppm, _mean_magnitude(data))) or looks_like_water(
        data
    ):
        return [cannot_tell]
    flat = data.fids.reshape(-1, data.n_points)[:_MAX_FRAMES]
    assert data.ppm_reference is not None
    args = (flat, data.dwell_time, data.spectrometer_frequency, data.ppm_reference)
    score = orientation_score(*args)
    # The NAA/Cr/Cho pattern decides: is it clearly stronger in the mirror image than as stored?
    ppm, mag = data.ppm, _mean_magnitude(data)
    noise = _noise_sd(mag)
    _, direct = _metabolite_pattern(ppm, mag)
    _, mirrored = _metabolite_pattern((2 * data.ppm_reference - ppm)[::-1], mag[::-1])
    if mirrored > 5 * noise and mirrored > 2 * direct:
        return [
            Finding(
                "error",
                "orientation",
                "the spectrum is frequency-flipped: NAA, Cr and "
                "Cho appear mirrored about the centre (orientation score "
                f"{score:.2f}); the data were stored as the complex conjugate",
                score,
            )
        ]
    if is_flipped(*args):
        return [
            Finding(
                "warning",
                "orientation",
                f"orientation score {score:.2f} suggests a "
                "flipped spectrum, but no mirrored NAA/Cr/Cho pattern confirms it "
                "(unusual phantom or no metabolite signal?)",
                score,
            )
        ]
    return []


def check_reference(data: MRSData, ref: MRSData | None) -> list[Finding]:
    """Check that a water reference exists and matches the metabolite data.

    Parameters
    ----------
    data : MRSData
        Metabolite data.
    ref : MRSData or None
        Its water reference.
    """
    if ref is None:
        return [
            Finding(
                "warning",
                "water_reference",
                "no water reference: no eddy-current "
                "correction and no water-scaled concentrations for this session",
            )
        ]
    out = []
    rel = abs(ref.spectrometer_frequency / data.spectrometer_frequency - 1.0)
    if rel > 1e-5:
        out.append(
            Finding(
                "warning",
                "water_reference",
                f"water reference at "
                f"{ref.spectrometer_frequency:.4f} MHz, data at "
                f"{data.spectrometer_frequency:.4f} MHz: from another scan?",
                rel,
            )
        )
    if not np.isclose(ref.dwell_time, data.dwell_time, rtol=1e-6):
        out.append(
            Finding(
                "warning",
                "water_reference",
                f"water reference dwell time "
                f"{ref.dwell_time:g} s differs from the data's {data.dwell_time:g} s",
            )
        )
    if data.nucleus == "1H" and not looks_like_water(ref):
        out.append(
            Finding(
                "warning",
                "water_reference",
                "the water reference has no dominant water peak: water-suppressed?",
            )
        )
    return out


#: name -> check; each takes ``(data, *, role)`` and returns a list of findings.
CHECKS: dict[str, Callable[..., list[Finding]]] = {
    "timing": check_timing,
    "ppm_reference": check_ppm_reference,
    "orientation": check_orientation,
}


def check_mrs(
    data: MRSData,
    *,
    role: str | None = None,
    checks: Iterable[str] | None = None,
    label: str | None = None,
) -> list[Finding]:
    """Run sanity checks on ``data``, log warnings and errors, and return every finding.

    Parameters
    ----------
    data : MRSData
    role : {'svs', 'mrsref', 'ecc'}, optional
        What the data should be (a water reference is judged by its water peak).
    checks : iterable of {'timing', 'ppm_reference', 'orientation'}, optional
        Default: all of :data:`CHECKS`.
    label : str, optional
        Names the data in log messages (default ``data.source``).

    Returns
    -------
    list of Finding
    """
    names = list(CHECKS) if checks is None else list(checks)
    unknown = [n for n in names if n not in CHECKS]
    if unknown:
        raise ConfigError(f"unknown checks {unknown}; choose from {sorted(CHECKS)}")
    findings = [f for name in names for f in CHECKS[name](data, role=role)]
    label = label or data.source or "data"
    for f in findings:
        if f.level in ("warning", "error"):
            logger.warning("%s: %s%s", label, "ERROR: " * (f.level == "error"), f.message)
    return findings
