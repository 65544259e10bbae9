"""The per-transient QC table of :func:`~.chain.preprocess_session`: SNR, linewidth, flags."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..data import MRSData
from . import measure
from .average import moving_average

__all__ = ["QC_COLUMNS", "NOT_ASSESSED", "qc_table", "snr_and_fwhm"]

#: per-transient QC keys, in table order
QC_COLUMNS = (
    "transient",
    "time_s",
    "shift_hz",
    "phase_rad",
    "snr",
    "fwhm_hz",
    "rejected",
    "reason",
)

#: the QC ``reason`` of a transient that was not assessed (scanner-averaged data)
NOT_ASSESSED = "single averaged spectrum: alignment and rejection do not apply"

#: zero filling of the spectra the QC linewidth is measured on (as :func:`.estimate_fwhm`)
_QC_ZERO_FILL = 4


def qc_table(
    data: MRSData,
    shift: np.ndarray,
    phase: np.ndarray,
    snr: np.ndarray,
    fwhm: np.ndarray,
    rejected: np.ndarray,
    resid_z: np.ndarray,
    reason: np.ndarray,
) -> dict[str, Any]:
    """One entry per transient (flattened over the other leading axes, transient-major).

    :data:`QC_COLUMNS` plus ``residual_z`` and the index of every axis but ``dyn``; each
    argument broadcasts to ``data.fids.shape[:-1]``.
    """
    ax = data.axis("dyn")
    times = data.transient_times()
    lead = data.fids.shape[:-1]

    def flat(a: np.ndarray) -> np.ndarray:
        return np.moveaxis(np.broadcast_to(a, lead), ax, 0).reshape(-1)

    idx = np.indices(lead)
    qc = {
        "transient": flat(idx[ax]).astype(int),
        "time_s": np.asarray(times, float)[flat(idx[ax])],
        "shift_hz": flat(shift),
        "phase_rad": flat(phase),
        "snr": flat(snr),
        "fwhm_hz": flat(fwhm),
        "rejected": flat(rejected).astype(bool),
        "reason": flat(reason).astype(str),
        "residual_z": flat(resid_z),
    }
    for i, name in enumerate(data.dims):
        if name != "dyn":
            qc[name] = flat(idx[i]).astype(int)
    return qc


def snr_and_fwhm(
    fids: np.ndarray, args: tuple[float, float, float], *, width: int, axis: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each transient's NAA SNR and the NAA FWHM of its centred moving average.

    The same numbers as :func:`.estimate_snr` on every transient and :func:`.estimate_fwhm`
    on the centred moving averages of ``width`` transients (to rounding), from one set of
    spectral points: the zero-filled points around NAA (the FWHM's) include every fourth
    one, the unfilled spectrum's points the SNR height is taken from. The points are linear
    in the FIDs, so they are averaged over transients, not the FIDs.

    Parameters
    ----------
    fids : (..., n_points) complex ndarray
    args : (dwell_time, spectrometer_frequency, ppm_reference)
        s, MHz, ppm.
    width : int
        Transients in each moving average (1: each transient alone).
    axis : int
        The transient axis.

    Returns
    -------
    snr, fwhm_hz : (...) float ndarray
    """
    n = fids.shape[-1]
    n_fill = n * _QC_ZERO_FILL
    idx, ppm = measure.fwhm_points(n, *args, zero_fill=_QC_ZERO_FILL)
    # bins of the zero-filled DFT (signed): the FWHM's, and those of the SNR's unfilled points
    fwhm_bins = idx - n_fill // 2
    snr_bins = _QC_ZERO_FILL * (
        np.flatnonzero(measure.ppm_mask(n, *args, measure.NAA_RANGE)) - n // 2
    )
    first = int(min(fwhm_bins[0], snr_bins[0]))
    last = int(max(fwhm_bins[-1], snr_bins[-1]))
    points = measure.dft_band(fids, n_fill, first, last - first + 1, single=True)
    snr = measure.snr_of_height(np.abs(points[..., snr_bins - first]).max(axis=-1), fids)
    spec = points[..., fwhm_bins - first]
    del points
    if width > 1:
        spec = moving_average(spec, width, axis)
    return snr, measure.fwhm_of_points(spec, ppm, args[1])
