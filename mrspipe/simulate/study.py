"""``simulate_study``: a synthetic functional-MRS crossover study with known truth.

Per participant and session: single transients (``n_transients`` on ``DIM_DYN``, one every
``tr`` s) whose glutamate rises after the infusion onset as
``Glu(t) = Glu0 * (1 + p/100 * r(t))``, ``r(t) = 1 - exp(-(t - onset)/tau)`` for
``t > onset`` (0 before), with ``p`` the session's true percent change (condition x sex mean
plus participant-level noise). The Lorentzian linewidth narrows by ``bold_hz * r(t)`` (a
BOLD-like effect that is *not* a concentration change). Each transient has frequency drift
(linear + random walk + jitter), phase jitter, residual water and complex Gaussian noise set
so that the single-transient NAA peak SNR is ``snr`` (a typical 3 T single transient is
~10-20). One session is made by :func:`~mrspipe.simulate.session.simulate_session`; the files
are written by :mod:`mrspipe.io.bids`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SimulationError
from .session import (
    DEFAULT_CONCENTRATIONS,
    DEFAULT_RESPONSE,
    cached_basis,
    simulate_session,
)

__all__ = [
    "simulate_study",
    "simulate_session",
    "DEFAULT_CONCENTRATIONS",
    "DEFAULT_RESPONSE",
]

logger = logging.getLogger("mrspipe")


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
    basis = cached_basis(
        sequence=sequence, field_mhz=field_mhz, te=te, dwell_time=dwell_time, n_points=n_points
    )
    sexes, orders = _design(n_participants, (conditions[0], conditions[1]), rng)
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
