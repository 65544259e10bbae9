"""Truth on the pipeline's terms for :func:`~mrspipe.simulate.simulate_study`'s studies.

:func:`study_basis` is the basis that describes the simulated spectra (metabolites and the
macromolecule spectrum); :func:`true_window_change` turns a session's per-transient truth into
the % change the pipeline measures (same frames, same windows).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..data import Basis
from ..errors import SimulationError
from .macromolecules import DEFAULT_MM_AMPLITUDES, macromolecule_basis
from .session import cached_basis

__all__ = ["study_basis", "true_window_change"]


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
    basis = cached_basis(
        sequence=sequence, field_mhz=field_mhz, te=te, dwell_time=dwell_time, n_points=n_points
    )
    if not macromolecules:
        return basis
    mm = macromolecule_basis(
        list(DEFAULT_MM_AMPLITUDES), field_mhz=field_mhz, dwell_time=dwell_time, n_points=n_points
    )
    weights = np.array([DEFAULT_MM_AMPLITUDES[n] for n in mm.names])
    mm_fid = (weights / weights.sum()) @ mm.fids
    return dataclasses.replace(
        basis,
        names=basis.names + ("MM",),
        fids=np.concatenate([basis.fids, mm_fid[None].astype(basis.fids.dtype)]),
    )


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
