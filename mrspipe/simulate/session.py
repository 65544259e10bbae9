"""``simulate_session``: one session of a synthetic functional-MRS study with known truth.

Single transients (``n_transients`` on ``DIM_DYN``, one every ``tr`` s) whose glutamate rises
after the infusion onset as ``Glu(t) = Glu0 * (1 + p/100 * r(t))``, ``r(t) = 1 - exp(-(t -
onset)/tau)`` for ``t > onset`` (0 before). The Lorentzian linewidth narrows by ``bold_hz *
r(t)`` (a BOLD-like effect that is *not* a concentration change). Each transient has frequency
drift (linear + random walk + jitter), phase jitter, residual water and complex Gaussian noise.
A whole crossover study of such sessions: :func:`mrspipe.simulate.simulate_study`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..data import Basis, MRSData
from ..spectral import apply_lineshape
from .basis import simulate_basis
from .macromolecules import DEFAULT_MM_AMPLITUDES
from .spectra import simulate_spectra

__all__ = ["simulate_session", "DEFAULT_CONCENTRATIONS", "DEFAULT_RESPONSE"]

#: Typical grey-matter-rich concentrations, mM (de Graaf, In vivo NMR spectroscopy, 3rd ed.).
DEFAULT_CONCENTRATIONS: dict[str, float] = {
    "NAA": 11.0,
    "NAAG": 1.3,
    "Cr": 4.5,
    "PCr": 4.0,
    "Glu": 9.5,
    "Gln": 3.0,
    "GABA": 1.2,
    "GSH": 1.8,
    "Ins": 6.0,
    "sIns": 0.3,
    "Tau": 1.5,
    "GPC": 0.9,
    "PCho": 0.6,
    "Asp": 2.0,
    "Lac": 0.6,
    "Ala": 0.4,
    "Glc": 1.0,
    "PE": 1.5,
    "Gly": 0.5,
    "Asc": 1.0,
}

#: Glu % change (plateau) by condition and sex: naltrexone attenuates the ketamine response,
#: more in males (the GO-MARK direction of effect).
DEFAULT_RESPONSE: dict[str, dict[str, float]] = {
    "placebo": {"M": 8.0, "F": 8.0},
    "naltrexone": {"M": 2.0, "F": 6.0},
}

_BASIS_CACHE: dict[tuple, Basis] = {}


def cached_basis(**kwargs: Any) -> Basis:
    """Return :func:`simulate_basis` of ``kwargs``, simulated once per process."""
    key = tuple(sorted(kwargs.items()))
    if key not in _BASIS_CACHE:
        _BASIS_CACHE[key] = simulate_basis(**kwargs)
    return _BASIS_CACHE[key]


def _response_curve(times: np.ndarray, onset: float, tau: float) -> np.ndarray:
    return np.where(times > onset, -np.expm1(-(times - onset) / tau), 0.0)


def simulate_session(
    basis: Basis,
    *,
    concentrations: dict[str, float],
    percent_change: float,
    times: np.ndarray,
    onset: float,
    tau: float = 300.0,
    linewidth_hz: float = 5.0,
    gauss_hz: float = 3.0,
    bold_hz: float = 0.3,
    drift_hz_per_s: float = 0.0,
    drift_walk_hz: float = 0.05,
    shift_jitter_hz: float = 0.3,
    phase_sd: float = 0.05,
    snr: float = 15.0,
    water_amplitude: float = 300.0,
    water_t2: float = 0.11,
    rng: np.random.Generator | int | None = None,
) -> tuple[MRSData, MRSData, dict[str, Any]]:
    """All transients of one session at once (no loop over transients).

    Parameters
    ----------
    basis : Basis
    concentrations : dict of str to float, mM
        Pre-infusion concentrations.
    percent_change : float, %
        Plateau glutamate change after the onset.
    times : (n_transients,) float ndarray, s
        Acquisition time of each transient.
    onset : float, s
        Infusion onset.
    tau : float, s
        Time constant of the response.
    linewidth_hz, gauss_hz : float, Hz
        Lorentzian and Gaussian FWHM before the response.
    bold_hz : float, Hz
        Lorentzian narrowing at the full response.
    drift_hz_per_s, drift_walk_hz, shift_jitter_hz : float
        Linear drift (Hz/s), random-walk step sd (Hz) and per-transient jitter sd (Hz).
    phase_sd : float, rad
        Per-transient phase jitter sd.
    snr : float
        NAA peak height over the real spectral noise sd, single transient.
    water_amplitude : float
        Residual water amplitude (basis units).
    water_t2 : float, s
        Water T2 for the reference's TE attenuation.
    rng : numpy.random.Generator, int or None

    Returns
    -------
    svs : MRSData
        ``(n_transients, n_points)``, dims ``("dyn",)``, ``frame_times = times``.
    ref : MRSData
        Unsuppressed water reference, one averaged FID.
    truth : dict
    """
    rng = np.random.default_rng(rng)
    times = np.asarray(times, dtype=float)
    n_t = times.size
    r = _response_curve(times, onset, tau)
    conc = {k: np.full(n_t, v, float) for k, v in concentrations.items() if k in basis.names}
    if "Glu" in conc:
        conc["Glu"] = conc["Glu"] * (1.0 + percent_change / 100.0 * r)
    shift = (
        drift_hz_per_s * times
        + np.cumsum(rng.normal(0.0, drift_walk_hz, n_t))
        + rng.normal(0.0, shift_jitter_hz, n_t)
    )
    phase = rng.normal(0.0, phase_sd, n_t) + rng.uniform(-0.3, 0.3)
    lorentz = np.clip(linewidth_hz - bold_hz * r, 0.0, None)
    # noise level from the NAA singlet peak height of a noiseless transient
    naa = basis.select(["NAA"]) if "NAA" in basis.names else basis.select([basis.names[0]])
    probe, _ = simulate_spectra(
        naa,
        {naa.names[0]: concentrations.get(naa.names[0], 1.0)},
        lorentz_hz=linewidth_hz,
        gauss_hz=gauss_hz,
    )
    height = float(np.abs(probe.spectrum()).max())
    noise_sd = height / (snr * np.sqrt(basis.n_points))
    water_amp = water_amplitude * np.exp(rng.normal(0.0, 0.1, n_t))
    mm = {k: v * concentrations.get("NAA", 11.0) / 11.0 for k, v in DEFAULT_MM_AMPLITUDES.items()}
    data, truth = simulate_spectra(
        basis,
        conc,
        lorentz_hz=lorentz,
        gauss_hz=gauss_hz,
        shift_hz=shift,
        phase0=phase,
        macromolecules=mm,
        water={"amplitude": water_amp, "components": 3},
        noise_sd=noise_sd,
        rng=rng,
    )
    svs = data.with_fids(
        data.fids.astype(np.complex64),
        frame_times=times,
        repetition_time=float(np.median(np.diff(times))) if n_t > 1 else None,
        header={"WaterSuppressed": True, "ConversionMethod": "mrspipe.simulate"}
        | (
            {"SequenceName": f"{basis.meta['sequence']} (simulated)"}
            if basis.meta.get("sequence")
            else {}
        ),
        source=None,
    )
    # water reference: 2 protons x 55.5 M x 0.8 water fraction, T2-weighted at TE
    te = basis.echo_time or 0.0
    w_amp = 2 * 55.51e3 * 0.8 * np.exp(-te / water_t2)
    t = np.arange(basis.n_points) * basis.dwell_time
    w_fid = apply_lineshape(
        w_amp * np.ones(t.size, complex),
        basis.dwell_time,
        lorentz_hz=linewidth_hz,
        gauss_hz=gauss_hz,
        shift_hz=shift[0],
        phase0=phase[0],
    )
    w_fid = w_fid + noise_sd * (rng.standard_normal(t.size) + 1j * rng.standard_normal(t.size))
    ref = MRSData(
        fids=w_fid.astype(np.complex64),
        dwell_time=basis.dwell_time,
        spectrometer_frequency=basis.spectrometer_frequency,
        echo_time=basis.echo_time,
        ppm_reference=basis.ppm_reference,
        header={"WaterSuppressed": False, "ConversionMethod": "mrspipe.simulate"},
    )
    post = times > onset
    window = float(percent_change * r[post].mean()) if post.any() else 0.0
    session_truth = {
        "glu_percent_change": float(percent_change),
        "glu_percent_change_window": window,
        "concentrations": {k: float(v) for k, v in concentrations.items()},
        "linewidth_hz": float(linewidth_hz),
        "gauss_hz": float(gauss_hz),
        "bold_hz": float(bold_hz),
        "drift_hz_per_s": float(drift_hz_per_s),
        "noise_sd": float(noise_sd),
        "snr": float(snr),
        "water_reference_amplitude": float(w_amp),
        "shift_hz": truth["shift_hz"],
        "phase_rad": truth["phase0"],
        "lorentz_hz": truth["lorentz_hz"],
        "glu_mM": truth["concentrations"][:, basis.names.index("Glu")]
        if "Glu" in basis.names
        else None,
    }
    return svs, ref, session_truth
