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
from ..spectral import is_flipped, orientation_score
from .peaks import (
    MAX_FRAMES,
    METABOLITE_PEAKS,
    WATER_PPM,
    WATER_RATIO,
    estimate_ppm_offset,
    is_water,
    looks_like_water,
    mean_magnitude,
    metabolite_pattern,
    noise_level,
    water_ratio,
)

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
    "METABOLITE_PEAKS",
    "WATER_PPM",
    "WATER_RATIO",
]

logger = logging.getLogger("mrspipe")


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
    mag = mean_magnitude(data)
    out: list[Finding] = []
    if role == "svs" and water_ratio(ppm, mag) > 5 * WATER_RATIO:
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
    if is_water(data, role, water_ratio(data.ppm, mean_magnitude(data))) or looks_like_water(data):
        return [cannot_tell]
    flat = data.fids.reshape(-1, data.n_points)[:MAX_FRAMES]
    assert data.ppm_reference is not None
    args = (flat, data.dwell_time, data.spectrometer_frequency, data.ppm_reference)
    score = orientation_score(*args)
    # The NAA/Cr/Cho pattern decides: is it clearly stronger in the mirror image than as stored?
    ppm, mag = data.ppm, mean_magnitude(data)
    noise = noise_level(mag)
    _, direct = metabolite_pattern(ppm, mag)
    _, mirrored = metabolite_pattern((2 * data.ppm_reference - ppm)[::-1], mag[::-1])
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
