"""Simulation helpers for the fitting tests: a small analytic basis and synthetic spectra.

The basis is built from analytic resonances (singlets and J-split multiplets at their chemical
shifts) so the tests need no shared data; spectra are simulated with
:func:`mrspipe.spectral.apply_lineshape`/`apply_phase`, independently of the fit model code.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mrspipe.data import Basis, MRSData
from mrspipe.spectral import apply_lineshape, apply_phase, to_fid, to_spectrum

CF = 123.2  # MHz
REF = 4.65

#: name -> list of (ppm, protons, J_Hz, multiplicity)
SPINS: dict[str, list[tuple[float, float, float, int]]] = {
    "NAA": [(2.008, 3, 0, 1), (2.49, 1, 8, 2), (2.67, 1, 8, 2), (4.38, 1, 6, 3)],
    "NAAG": [(2.042, 3, 0, 1), (2.18, 2, 7, 3), (2.60, 1, 8, 2), (4.60, 1, 6, 3)],
    "Cr": [(3.027, 3, 0, 1), (3.913, 2, 0, 1)],
    "PCr": [(3.029, 3, 0, 1), (3.930, 2, 0, 1)],
    "GPC": [(3.212, 9, 0, 1), (3.67, 2, 5, 3), (4.32, 2, 5, 3)],
    "PCh": [(3.208, 9, 0, 1), (3.64, 2, 5, 3), (4.28, 2, 5, 3)],
    "Ins": [(3.52, 2, 9, 2), (3.61, 2, 9, 3), (3.27, 1, 9, 3), (4.05, 1, 3, 3)],
    "sIns": [(3.34, 6, 0, 1)],
    "Glu": [(2.04, 1, 7, 3), (2.12, 1, 7, 3), (2.34, 2, 7, 3), (3.75, 1, 6, 3)],
    "Gln": [(2.11, 2, 7, 3), (2.45, 2, 7, 3), (3.76, 1, 6, 3)],
    "GABA": [(1.89, 2, 7, 3), (2.28, 2, 7, 3), (3.01, 2, 7, 3)],
    "Lac": [(1.31, 3, 7, 2), (4.10, 1, 7, 3)],
    "Tau": [(3.25, 2, 6, 3), (3.42, 2, 6, 3)],
    "GSH": [(2.95, 2, 6, 3), (3.77, 1, 6, 3), (2.55, 2, 7, 3), (2.15, 2, 7, 3)],
    "Ala": [(1.47, 3, 7, 2), (3.78, 1, 7, 3)],
    "Asp": [(2.65, 1, 17, 2), (2.80, 1, 17, 2), (3.89, 1, 6, 3)],
    "PE": [(3.22, 2, 5, 3), (3.98, 2, 5, 3)],
    "Glc": [(3.40, 2, 9, 3), (3.49, 2, 9, 3), (3.82, 2, 5, 3), (5.22, 1, 4, 2)],
    "Gly": [(3.55, 2, 0, 1)],
    "Asc": [(3.73, 2, 6, 3), (4.01, 1, 6, 3), (4.50, 1, 2, 2)],
    "Ace": [(1.90, 3, 0, 1)],
    "Mac": [
        (0.90, 3, 0, 1),
        (1.21, 2, 0, 1),
        (1.43, 2, 0, 1),
        (1.72, 2, 0, 1),
        (2.05, 3, 0, 1),
        (3.00, 2, 0, 1),
        (3.20, 1, 0, 1),
    ],
}
_PASCAL = {1: [1.0], 2: [1.0, 1.0], 3: [1.0, 2.0, 1.0]}

#: typical brain concentrations (mM)
TRUTH: dict[str, float] = {
    "NAA": 10.0,
    "NAAG": 1.5,
    "Cr": 4.5,
    "PCr": 4.0,
    "GPC": 1.0,
    "PCh": 0.6,
    "Ins": 6.0,
    "sIns": 0.3,
    "Glu": 9.0,
    "Gln": 3.0,
    "GABA": 1.5,
    "Lac": 0.5,
    "Tau": 1.5,
    "GSH": 2.0,
    "Mac": 8.0,
}


#: the 15 metabolites of the default analytic basis (the others are for the 22-spectrum bench)
DEFAULT_NAMES = (
    "NAA",
    "NAAG",
    "Cr",
    "PCr",
    "GPC",
    "PCh",
    "Ins",
    "sIns",
    "Glu",
    "Gln",
    "GABA",
    "Lac",
    "Tau",
    "GSH",
    "Mac",
)


def make_basis(names=None, *, n_points=1024, dwell=5e-4, cf=CF, intrinsic_hz=1.0) -> Basis:
    """Analytic basis: each resonance ``exp(2 pi i (ppm - REF) cf t)``, macromolecules broad."""
    names = DEFAULT_NAMES if names is None else tuple(names)
    t = np.arange(n_points) * dwell
    fids = np.zeros((len(names), n_points), complex)
    for i, name in enumerate(names):
        width = 25.0 if name == "Mac" else intrinsic_hz
        for ppm, protons, j_hz, mult in SPINS[name]:
            amps = np.array(_PASCAL[mult]) / sum(_PASCAL[mult]) * protons
            offs = (np.arange(mult) - (mult - 1) / 2) * j_hz
            for a, off in zip(amps, offs, strict=True):
                fids[i] += a * np.exp(2j * np.pi * ((ppm - REF) * cf + off) * t)
        fids[i] *= np.exp(-np.pi * width * t)
    return Basis(
        names=names, fids=fids, dwell_time=dwell, spectrometer_frequency=cf, echo_time=0.03
    )


def simulate(
    basis: Basis,
    conc,
    *,
    lorentz_hz=3.0,
    gauss_hz=4.0,
    shift_hz=0.0,
    phase0=0.0,
    phase1=0.0,
    noise_sd=0.0,
    rng=None,
    baseline=None,
) -> MRSData:
    """Frames ``sum_m c_m b_m`` with lineshape, shift, phases, baseline and complex noise.

    ``conc`` is ``(n_frames, n_met)``; the other parameters broadcast as ``(n_frames,)``.
    ``noise_sd`` is the SD of the real (and imaginary) part of each time-domain point.
    """
    conc = np.atleast_2d(conc)
    n_f = conc.shape[0]

    def col(v):
        return np.broadcast_to(np.asarray(v, float), (n_f,))[:, None]

    fid = conc @ basis.fids
    fid = apply_lineshape(
        fid,
        basis.dwell_time,
        lorentz_hz=col(lorentz_hz),
        gauss_hz=col(gauss_hz),
        shift_hz=col(shift_hz),
        phase0=col(phase0),
    )
    freq = np.fft.fftshift(np.fft.fftfreq(basis.n_points, basis.dwell_time))
    spec = apply_phase(to_spectrum(fid), freq, phase1=col(phase1))
    if baseline is not None:
        spec = spec + baseline
    fid = to_fid(spec)
    if noise_sd:
        rng = np.random.default_rng(rng)
        noise = rng.standard_normal(fid.shape) + 1j * rng.standard_normal(fid.shape)
        fid = fid + noise_sd * noise
    return MRSData(
        fids=fid,
        dwell_time=basis.dwell_time,
        spectrometer_frequency=basis.spectrometer_frequency,
        dims=("dyn",),
        echo_time=basis.echo_time,
    )


def truth_vector(basis: Basis, truth=None) -> np.ndarray:
    truth = TRUTH if truth is None else truth
    return np.array([truth.get(n, 0.0) for n in basis.names])


def challenge_basis(shared: Path) -> Basis:
    """The ISMRM 2016 challenge basis from ``basisset_text_noTMS/*.txt`` (Re, Im columns).

    The text files store the conjugate of mrspipe's convention (Cr's 3.03 ppm line rotates
    clockwise: the imaginary part of the second point is positive); dwell 0.25 ms, 2048 points,
    123.2 MHz (README / jMRUI headers).
    """
    folder = shared / "ismrm2016_fitting_challenge" / "basisset_text_noTMS"
    files = sorted(folder.glob("*.txt"))
    names = tuple(f.stem for f in files)
    fids = np.array([np.loadtxt(f) @ np.array([1.0, -1.0j]) for f in files])
    return Basis(
        names=names,
        fids=fids,
        dwell_time=2.5e-4,
        spectrometer_frequency=123.2,
        echo_time=0.03,
        source=str(folder),
    )
