"""``simulate_study``: a synthetic functional-MRS crossover study with known truth.

Per participant and session: single transients (``n_transients`` on ``DIM_DYN``, one every
``tr`` s) whose glutamate rises after the infusion onset as
``Glu(t) = Glu0 * (1 + p/100 * r(t))``, ``r(t) = 1 - exp(-(t - onset)/tau)`` for
``t > onset`` (0 before), with ``p`` the session's true percent change (condition x sex mean
plus participant-level noise). The Lorentzian linewidth narrows by ``bold_hz * r(t)`` (a
BOLD-like effect that is *not* a concentration change). Each transient has frequency drift
(linear + random walk + jitter), phase jitter, residual water and complex Gaussian noise set
so that the single-transient NAA peak SNR is ``snr`` (a typical 3 T single transient is
~10-20). The numbers are made here; the files are written by :mod:`mrspipe.io.bids`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..data import Basis, MRSData
from ..errors import SimulationError
from ..spectral import apply_lineshape
from .basis import simulate_basis
from .macromolecules import DEFAULT_MM_AMPLITUDES, macromolecule_basis
from .spectra import simulate_spectra

__all__ = [
    "simulate_study",
    "simulate_session",
    "true_window_change",
    "study_basis",
    "DEFAULT_CONCENTRATIONS",
    "DEFAULT_RESPONSE",
]

logger = logging.getLogger("mrspipe")

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


def _cached_basis(**kwargs: Any) -> Basis:
    key = tuple(sorted(kwargs.items()))
    if key not in _BASIS_CACHE:
        _BASIS_CACHE[key] = simulate_basis(**kwargs)
    return _BASIS_CACHE[key]


def _response_curve(times: np.ndarray, onset: float, tau: float) -> np.ndarray:
    return np.where(times > onset, -np.expm1(-(times - onset) / tau), 0.0)


def study_basis(
    *,
    sequence: str = "press",
    field_mhz: float = 123.2,
    te: float = 0.030,
    dwell_time: float = 2.5e-4,
    n_points: int = 2048,
    macromolecules: bool = True,
) -> Basis:
    """Return the basis that describes :func:`simulate_study`'s spectra: metabolites + MM.

    The simulated transients contain the macromolecule components of
    :data:`~mrspipe.simulate.macromolecules.DEFAULT_MM_AMPLITUDES`; a basis without them leaves
    the broad MM signal to the fit's baseline, and then a narrowing line (the BOLD effect) is
    read as a concentration change (about -1 % Glu per Hz of narrowing at 3 T). With the
    macromolecule spectrum in the basis the fit has the model of the data. It is one basis
    spectrum (``MM``: the components in the simulated proportions), as a measured
    metabolite-nulled spectrum would be; the eight components as separate free spectra remove
    the bias too but add variance (per-session Glu % change RMSE 1.62 instead of ~1.3 pp on the
    20 x 2 x 640 study).

    Parameters
    ----------
    sequence, field_mhz, te, dwell_time, n_points
        As in :func:`~mrspipe.simulate.simulate_basis` (and ``truth["design"]``).
    macromolecules : bool
        Append the macromolecule spectrum (named ``MM``).

    Returns
    -------
    Basis
    """
    import dataclasses

    basis = _cached_basis(sequence=sequence, field_mhz=field_mhz, te=te, dwell_time=dwell_time,
                          n_points=n_points)
    if not macromolecules:
        return basis
    mm = macromolecule_basis(list(DEFAULT_MM_AMPLITUDES), field_mhz=field_mhz,
                             dwell_time=dwell_time, n_points=n_points)
    weights = np.array([DEFAULT_MM_AMPLITUDES[n] for n in mm.names])
    mm_fid = (weights / weights.sum()) @ mm.fids
    return dataclasses.replace(basis, names=basis.names + ("MM",),
                               fids=np.concatenate([basis.fids,
                                                    mm_fid[None].astype(basis.fids.dtype)]))


def true_window_change(
    concentration: np.ndarray,
    times: np.ndarray,
    onset: float,
    *,
    block: int = 1,
    baseline_window: tuple[float | None, float | None] = (None, 0.0),
    response_window: tuple[float | None, float | None] = (0.0, None),
) -> float:
    """Compute the true % change of a simulated time course as the pipeline measures it.

    The per-transient truth is averaged in non-overlapping blocks of ``block`` transients (a
    trailing incomplete block is dropped), each block is placed at the mean time of its
    transients minus ``onset``, and the mean over the blocks with ``start <= t < end`` of the
    response window is compared with that of the baseline window:
    ``100 (response / baseline - 1)``. This is the definition of
    :func:`mrspipe.dynamic.window_responses` on frames from
    :func:`mrspipe.preprocess.average_frames`, so an estimate and this truth differ only by
    measurement error (and by the few transients rejected in preprocessing).

    Parameters
    ----------
    concentration : (n_transients,) float ndarray
        True concentration of each transient (e.g. ``truth["sessions"][i]["glu_mM"]``).
    times : (n_transients,) float ndarray, s
        Acquisition time of each transient from the first one.
    onset : float, s
        Infusion onset from the first transient.
    block : int
        Transients per frame.
    baseline_window, response_window : (start, end), s relative to the onset
        ``None`` is an open end.

    Returns
    -------
    float, %
        NaN if a window holds no frame.
    """
    c = np.asarray(concentration, dtype=float)
    t = np.asarray(times, dtype=float)
    if c.shape != t.shape or c.ndim != 1:
        raise SimulationError(f"{c.shape} concentrations for {t.shape} times")
    if block < 1:
        raise SimulationError(f"block must be >= 1, got {block}")
    n = (c.size // block) * block
    frame_c = c[:n].reshape(-1, block).mean(axis=1)
    frame_t = t[:n].reshape(-1, block).mean(axis=1) - float(onset)

    def mean_in(window: tuple[float | None, float | None]) -> float:
        lo = -np.inf if window[0] is None else float(window[0])
        hi = np.inf if window[1] is None else float(window[1])
        sel = (frame_t >= lo) & (frame_t < hi)
        return float(frame_c[sel].mean()) if sel.any() else float("nan")

    return 100.0 * (mean_in(response_window) / mean_in(baseline_window) - 1.0)


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
        header={"WaterSuppressed": True, "ConversionMethod": "mrspipe.simulate"},
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


def _design(n: int, conditions: tuple[str, str], rng: np.random.Generator) -> tuple[list, list]:
    """Sexes and condition orders, balanced over sex x order cells (exactly when n % 4 == 0)."""
    cells = [("M", 0), ("F", 0), ("M", 1), ("F", 1)]
    assigned = [cells[i % 4] for i in range(n)]
    perm = rng.permutation(n)
    assigned = [assigned[i] for i in perm]
    sexes = [s for s, _ in assigned]
    orders = [tuple(conditions) if o == 0 else tuple(conditions[::-1]) for _, o in assigned]
    return sexes, orders


def simulate_study(
    out_dir: str | os.PathLike[str],
    *,
    n_participants: int = 20,
    n_transients: int = 640,
    tr: float = 3.0,
    n_points: int = 2048,
    dwell_time: float = 2.5e-4,
    field_mhz: float = 123.2,
    sequence: str = "press",
    te: float = 0.030,
    conditions: tuple[str, str] = ("naltrexone", "placebo"),
    response: dict[str, dict[str, float]] | None = None,
    infusion_onset: float | None = None,
    infusion_duration: float = 2400.0,
    response_tau: float = 300.0,
    response_sd: float = 1.5,
    between_sd: float = 0.08,
    within_sd: float = 0.03,
    linewidth_hz: float = 5.0,
    bold_hz: float = 0.3,
    drift_hz_per_s: float = 0.002,
    phase_sd: float = 0.05,
    snr: float = 15.0,
    residual_water: float = 300.0,
    water_reference: bool = True,
    phenotype: bool = True,
    overwrite: bool = False,
    rng: np.random.Generator | int | None = None,
) -> dict[str, Any]:
    """Write a synthetic crossover fMRS study in the MRS-BIDS layout and return its truth.

    Parameters
    ----------
    out_dir : str or path-like
        Study folder (created; must be empty or absent unless ``overwrite``).
    n_participants, n_transients : int
    tr : float, s
        Time between transients.
    n_points, dwell_time, field_mhz, sequence, te
        Acquisition (see :func:`~mrspipe.simulate.simulate_basis`).
    conditions : (str, str)
        The two drug conditions; the order is counterbalanced within each sex.
    response : dict, optional
        ``{condition: {"M": %, "F": %}}`` plateau Glu change (default
        :data:`DEFAULT_RESPONSE`).
    infusion_onset : float, s, optional
        From the first transient (default a quarter of the acquisition).
    infusion_duration, response_tau : float, s
    response_sd : float, %
        Participant-level sd of the percent change.
    between_sd, within_sd : float
        Log-normal sd of concentrations between participants and between sessions.
    linewidth_hz, bold_hz, drift_hz_per_s, phase_sd, snr, residual_water
        See :func:`simulate_session`; linewidth and drift vary by session around these.
    water_reference, phenotype : bool
        Also write ``*_mrsref.nii.gz`` and ``phenotype/madrs.tsv``.
    overwrite : bool
    rng : numpy.random.Generator, int or None

    Returns
    -------
    dict
        The truth (also written to ``out_dir/truth.json``): design, per-participant sex and
        order, per-session condition, true Glu % change (plateau and mean over the response
        window), concentrations, linewidth, drift, noise.

    Raises
    ------
    SimulationError
        Bad sizes or times, a response without an entry for a condition/sex, a non-empty
        output folder without ``overwrite``.
    """
    import pandas as pd

    from ..io import bids
    from ..io.tables import write_json

    rng = np.random.default_rng(rng)
    response = DEFAULT_RESPONSE if response is None else response
    if n_participants < 1 or n_transients < 1 or tr <= 0:
        raise SimulationError("n_participants, n_transients and tr must be positive")
    if len(conditions) != 2:
        raise SimulationError(f"a crossover needs two conditions, got {conditions}")
    for cond in conditions:
        if cond not in response or not {"M", "F"} <= set(response[cond]):
            raise SimulationError(f"response needs {{'M': %, 'F': %}} for condition {cond!r}")
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise SimulationError(
            "output folder is not empty (pass overwrite=True; CLI: --overwrite)", out
        )
    times = np.arange(n_transients) * tr
    onset = float(0.25 * times[-1]) if infusion_onset is None else float(infusion_onset)
    if onset < 0:
        raise SimulationError(f"infusion_onset must be >= 0, got {onset}")
    basis = _cached_basis(
        sequence=sequence, field_mhz=field_mhz, te=te, dwell_time=dwell_time, n_points=n_points
    )
    sexes, orders = _design(n_participants, tuple(conditions), rng)
    width = max(2, len(str(n_participants)))
    pids = [f"sub-{i + 1:0{width}d}" for i in range(n_participants)]
    bids.write_dataset_description(out, "mrspipe synthetic crossover fMRS study")
    bids.write_participants(
        out,
        pd.DataFrame(
            {
                "participant_id": pids,
                "sex": sexes,
                "age": np.round(rng.uniform(20, 60, n_participants)).astype(int),
            }
        ),
    )
    events = pd.DataFrame(
        {"onset": [onset], "duration": [infusion_duration], "trial_type": ["ketamine_infusion"]}
    )
    truth_sessions, madrs_rows = [], []
    for pid, sex, order in zip(pids, sexes, orders, strict=True):
        base = {
            k: v * float(np.exp(rng.normal(0, between_sd)))
            for k, v in DEFAULT_CONCENTRATIONS.items()
        }
        madrs0 = float(np.clip(rng.normal(30, 5), 20, 50))
        rows = []
        for s, cond in enumerate(order):
            sid = f"ses-{s + 1}"
            conc = {k: v * float(np.exp(rng.normal(0, within_sd))) for k, v in base.items()}
            pct = float(response[cond][sex] + rng.normal(0, response_sd))
            svs, ref, st = simulate_session(
                basis,
                concentrations=conc,
                percent_change=pct,
                times=times,
                onset=onset,
                tau=response_tau,
                linewidth_hz=float(linewidth_hz * np.exp(rng.normal(0, 0.1))),
                bold_hz=bold_hz,
                drift_hz_per_s=float(rng.normal(0, drift_hz_per_s)),
                phase_sd=phase_sd,
                snr=snr,
                water_amplitude=residual_water,
                rng=rng,
            )
            bids.write_session(
                out, pid, sid, svs=svs, ref=ref if water_reference else None, events=events
            )
            rows.append({"session_id": sid, "condition": cond})
            # symptom change follows the glutamate response (a link for the stats to find)
            reduction = float(np.clip(0.2 + 0.04 * pct + rng.normal(0, 0.1), -0.2, 0.95))
            madrs_rows += [
                {
                    "participant_id": pid,
                    "session_id": sid,
                    "condition": cond,
                    "timepoint": "baseline",
                    "time_h": 0,
                    "madrs": round(madrs0),
                },
                {
                    "participant_id": pid,
                    "session_id": sid,
                    "condition": cond,
                    "timepoint": "24h",
                    "time_h": 24,
                    "madrs": round(madrs0 * (1 - reduction)),
                },
            ]
            truth_sessions.append(
                {
                    "participant_id": pid,
                    "session_id": sid,
                    "condition": cond,
                    "sex": sex,
                    "madrs_reduction": reduction,
                    **st,
                }
            )
        bids.write_sessions_table(out, pid, pd.DataFrame(rows))
    if phenotype:
        bids.write_phenotype(
            out,
            "madrs",
            pd.DataFrame(madrs_rows),
            sidecar={"madrs": {"Description": "Montgomery-Asberg Depression Rating Scale total"}},
        )
    truth = {
        "design": {
            "n_participants": n_participants,
            "n_transients": n_transients,
            "tr": tr,
            "n_points": n_points,
            "dwell_time": dwell_time,
            "field_mhz": field_mhz,
            "sequence": sequence,
            "te": te,
            "conditions": list(conditions),
            "response": response,
            "infusion_onset": onset,
            "infusion_duration": infusion_duration,
            "response_tau": response_tau,
            "response_sd": response_sd,
            "snr": snr,
            "bold_hz": bold_hz,
            "concentration_units": "mM for the relaxation-free basis, 1 proton = amplitude 1",
        },
        "participants": [
            {"participant_id": p, "sex": s, "order": list(o)}
            for p, s, o in zip(pids, sexes, orders, strict=True)
        ],
        "sessions": truth_sessions,
    }
    write_json(out / "truth.json", truth)
    logger.info("simulated %d participants x 2 sessions into %s", n_participants, out)
    return truth
