"""``simulate_basis``: metabolite basis spectra by density-matrix simulation.

Normalisation: a singlet of one proton, fully excited, has FID amplitude 1 at t = 0 (unit
area per proton: its spectrum integrates to 1 in the sense ``sum(spectrum) / n_points = 1``).
A metabolite of ``n`` protons therefore starts at ``n`` in pulse-acquire; J evolution and the
STEAM factor 1/2 reduce this at longer echo times as they do physically. No T2 decay.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np

from ..data import Basis, default_ppm_reference
from ..errors import SimulationError
from ..spectral import apply_lineshape
from .density_matrix import lines_to_fid
from .sequences import sequence_events, simulate_lines
from .spin_systems import get_metabolite, known_metabolites

__all__ = ["simulate_basis", "metabolite_lines", "DEFAULT_METABOLITES"]

logger = logging.getLogger("mrspipe")

#: The metabolites simulated when none are named (all shipped spin systems).
DEFAULT_METABOLITES: tuple[str, ...] = known_metabolites()


def metabolite_lines(
    name: str,
    events: list[tuple],
    *,
    field_mhz: float,
    ppm_reference: float = 4.65,
    strong: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Lines (frequency, complex amplitude) of one metabolite after a sequence.

    Parameters
    ----------
    name : str
        A known metabolite (:func:`~mrspipe.simulate.spin_systems.known_metabolites`).
    events : list of tuple
        From :func:`~mrspipe.simulate.sequences.sequence_events`.
    field_mhz : float, MHz
        1H Larmor frequency.
    ppm_reference : float, ppm
        Chemical shift at the receiver frequency.
    strong : bool
        Full coupling Hamiltonian (True) or weak-coupling approximation.

    Returns
    -------
    freqs_hz : (n_lines,) float ndarray, Hz
    amps : (n_lines,) complex ndarray
        Scaled by each subsystem's ``scale`` (protons of a singlet).
    """
    met = get_metabolite(name)
    freqs, amps = [], []
    for system in met.systems:
        offsets = (np.asarray(system.shifts) - ppm_reference) * field_mhz
        f, a = simulate_lines(offsets, system.couplings, system.observed, events, strong=strong)
        freqs.append(f)
        amps.append(a * system.scale)
    return np.concatenate(freqs), np.concatenate(amps)


def simulate_basis(
    metabolites: Sequence[str] | None = None,
    *,
    sequence: str = "press",
    field_mhz: float = 123.2,
    te: float = 0.030,
    te1: float | None = None,
    te2: float | None = None,
    tm: float | None = None,
    dwell_time: float = 2.5e-4,
    n_points: int = 2048,
    linewidth_hz: float = 0.0,
    strong: bool = True,
) -> Basis:
    """Simulate basis spectra of metabolites for an ideal-pulse sequence.

    Parameters
    ----------
    metabolites : sequence of str, optional
        Names (default: all of :data:`DEFAULT_METABOLITES`).
    sequence : {'pulse-acquire', 'spin-echo', 'press', 'steam', 'slaser'}
        See :mod:`mrspipe.simulate.sequences` for the timings.
    field_mhz : float, MHz
        1H Larmor frequency (123.2 for 3 T).
    te : float, s
        Echo time.
    te1, te2 : float, s, optional
        PRESS sub-echo times (``te1 + te2 = te``; one of them suffices; default TE/2 each).
    tm : float, s, optional
        STEAM mixing time (required for STEAM).
    dwell_time : float, s
        Sampling interval.
    n_points : int
        Points per FID.
    linewidth_hz : float, Hz
        Lorentzian FWHM applied to every spectrum (0: none).
    strong : bool
        Full coupling Hamiltonian (default) or the weak-coupling approximation.

    Returns
    -------
    Basis
        FIDs ``(n_metabolites, n_points)`` in the internal convention, ppm reference 4.65;
        ``meta`` records the sequence, timings and sources.

    Raises
    ------
    SimulationError
        Unknown metabolite or sequence, negative or inconsistent times, non-positive field,
        dwell time or number of points.
    """
    if not (np.isfinite(field_mhz) and field_mhz > 0):
        raise SimulationError(f"field_mhz must be positive, got {field_mhz}")
    if not (np.isfinite(dwell_time) and dwell_time > 0):
        raise SimulationError(f"dwell_time must be positive (s), got {dwell_time}")
    if int(n_points) < 1:
        raise SimulationError(f"n_points must be positive, got {n_points}")
    if linewidth_hz < 0:
        raise SimulationError(f"linewidth_hz must be >= 0, got {linewidth_hz}")
    if te2 is not None:
        if te1 is not None and not np.isclose(te1 + te2, te):
            raise SimulationError(f"te1 + te2 = {te1 + te2} s differs from te = {te} s")
        if te2 > te or te2 < 0:
            raise SimulationError(f"te2 = {te2} s must lie in [0, te = {te}] s")
        te1 = te - te2
    if te1 is not None and te1 > te:
        raise SimulationError(f"te1 = {te1} s exceeds te = {te} s")
    names = list(DEFAULT_METABOLITES if metabolites is None else metabolites)
    unknown = [n for n in names if n not in known_metabolites()]
    if unknown:
        raise SimulationError(
            f"unknown metabolite(s) {', '.join(unknown)}; known: {', '.join(known_metabolites())}"
        )
    events = sequence_events(sequence, te=te, te1=te1, tm=tm)
    ref = default_ppm_reference("1H")
    t = np.arange(int(n_points)) * dwell_time
    fids = np.empty((len(names), int(n_points)), complex)
    sources = {}
    for k, name in enumerate(names):
        freqs, amps = metabolite_lines(
            name, events, field_mhz=field_mhz, ppm_reference=ref, strong=strong
        )
        fids[k] = lines_to_fid(freqs, amps, t)
        sources[name] = get_metabolite(name).source
    if linewidth_hz > 0:
        fids = apply_lineshape(fids, dwell_time, lorentz_hz=linewidth_hz)
    logger.debug("simulated %d basis spectra (%s, TE %.4g s)", len(names), sequence, te)
    meta = {
        "simulated": True,
        "sequence": sequence,
        "te": te,
        "te1": te1,
        "tm": tm,
        "field_mhz": field_mhz,
        "linewidth_hz": linewidth_hz,
        "normalisation": "one proton of a singlet has FID amplitude 1 at t=0",
        "sources": sources,
    }
    echo = None if sequence == "pulse-acquire" else te
    return Basis(
        names=tuple(names),
        fids=fids,
        dwell_time=float(dwell_time),
        spectrometer_frequency=float(field_mhz),
        nucleus="1H",
        echo_time=echo,
        ppm_reference=ref,
        meta=meta,
        source=f"mrspipe.simulate ({sequence})",
    )
