"""Averaging transients into frames (blocks and sliding windows) and linewidth matching.

Frames are means of consecutive transients: blocks of ``width`` (``step == width``) or
sliding windows (``step < width``). Rejected transients are left out of the mean (each frame
records how many it holds). Frame times are the mean acquisition time of the transients the
window spans. Blocks are summed directly; sliding windows come from running sums.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError, PreprocessError
from ..spectral import apply_lineshape
from .measure import estimate_fwhm

__all__ = [
    "frame_windows",
    "average_frames",
    "masked_mean",
    "moving_average",
    "match_linewidths",
    "LINESHAPES",
]

#: transients summed at once (bounds the work arrays to this many transients in double)
_BLOCK = 256
#: positions of :func:`moving_average` computed at once (their running sums are in double)
_MOVING_BLOCK = 128


def masked_mean(
    fids: np.ndarray, keep: np.ndarray | bool, *, axis: int, keepdims: bool = False
) -> np.ndarray:
    """Mean of the kept FIDs along ``axis``, summed in double precision a block at a time.

    Parameters
    ----------
    fids : (..., n_points) complex ndarray
    keep : bool ndarray broadcasting to ``fids.shape[:-1]``
        FIDs included (a group with none gives zeros).
    axis : int
        The averaged axis (not the last).
    keepdims : bool

    Returns
    -------
    complex ndarray (at least double precision)
    """
    fids = np.asarray(fids)
    axis = axis % fids.ndim
    x = np.moveaxis(fids, axis, 0)
    k = np.moveaxis(np.broadcast_to(keep, fids.shape[:-1]), axis, 0)[..., None]
    total = np.zeros(x.shape[1:], np.result_type(x.dtype, np.complex128))
    # numpy's own sums, not a BLAS product with 0/1 weights (twice as fast, but its rounding
    # may depend on the memory layout, so a run would not repeat bit for bit)
    for b in range(0, x.shape[0], _BLOCK):
        total += np.where(k[b : b + _BLOCK], x[b : b + _BLOCK], 0).sum(0, dtype=total.dtype)
    mean = total / np.maximum(k.sum(0), 1)
    return np.expand_dims(mean, axis) if keepdims else mean


def moving_average(
    x: np.ndarray, width: int, axis: int, *, start: int = 0, stop: int | None = None
) -> np.ndarray:
    """Centred moving average along ``axis`` with windows shrunk at the edges.

    Only the averages of positions ``start:stop`` along ``axis`` (default all) are returned;
    the running sums are taken (in double precision) over the slab of rows those windows
    span, a block of rows at a time, so memory is bounded by the block, not the session.
    """
    x = np.moveaxis(np.asarray(x), axis, 0)
    n = x.shape[0]
    stop = n if stop is None else min(stop, n)
    out = np.empty((max(stop - start, 0),) + x.shape[1:], np.result_type(x.dtype, np.complex128))
    half = width // 2
    shape = (-1,) + (1,) * (x.ndim - 1)
    for b in range(start, stop, _MOVING_BLOCK):
        idx = np.arange(b, min(b + _MOVING_BLOCK, stop))
        lo = np.clip(idx - half, 0, n)
        hi = np.clip(idx - half + width, 0, n)
        first = int(lo.min())
        # cs[k] = sum of rows first..first+k: the running sums over this block's slab only
        cs = np.cumsum(x[first : int(hi.max())], axis=0, dtype=out.dtype)
        before = np.where((lo > first).reshape(shape), cs[np.maximum(lo - first - 1, 0)], 0)
        out[b - start : b - start + idx.size] = (cs[hi - first - 1] - before) / (hi - lo).reshape(
            shape
        )
    return np.moveaxis(out, 0, axis)


def frame_windows(n_transients: int, width: int, step: int | None = None) -> np.ndarray:
    """Start and stop index of each frame.

    Parameters
    ----------
    n_transients : int
    width : int
        Transients per frame.
    step : int, optional
        Distance between frame starts (default ``width``: non-overlapping blocks). A trailing
        incomplete window is dropped.

    Returns
    -------
    (n_frames, 2) int ndarray
        ``[start, stop)`` per frame.

    Raises
    ------
    ConfigError
        For a width or step below 1, or a width larger than the series.
    """
    step = width if step is None else step
    if width < 1 or step < 1:
        raise ConfigError(f"frame width and step must be >= 1, got width={width}, step={step}")
    if width > n_transients:
        raise PreprocessError(
            f"frame width {width} is larger than the number of transients ({n_transients})"
        )
    starts = np.arange(0, n_transients - width + 1, step)
    return np.stack([starts, starts + width], axis=1)


def average_frames(
    fids: np.ndarray,
    times: np.ndarray,
    *,
    width: int,
    step: int | None = None,
    axis: int = -2,
    rejected: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Average transients into frames.

    Parameters
    ----------
    fids : (..., n_transients, ..., n_points) complex ndarray
        Transients along ``axis``.
    times : (n_transients,) float ndarray, s
        Acquisition time of each transient.
    width : int
        Transients per frame.
    step : int, optional
        Frame step (default ``width``, i.e. blocks); smaller gives sliding windows.
    axis : int
        The transient axis.
    rejected : bool ndarray broadcasting to ``fids.shape[:-1]``, optional
        Transients left out of the means.

    Returns
    -------
    frames : complex ndarray
        ``fids`` with the transient axis replaced by the frame axis (``n_frames``).
    frame_times : (n_frames,) float ndarray, s
        Mean time of the transients in each window (all of them, rejected or not).
    n_averaged : int ndarray, ``frames.shape[:-1]``
        Transients actually averaged into each frame (0 gives an all-zero frame).
    """
    fids = np.asarray(fids)
    ax = axis % fids.ndim
    n_tr = fids.shape[ax]
    times = np.asarray(times, dtype=float)
    if times.shape != (n_tr,):
        raise PreprocessError(f"{times.shape[0] if times.ndim else 0} times for {n_tr} transients")
    win = frame_windows(n_tr, width, step)
    x = np.moveaxis(fids, ax, -2)
    keep = np.ones(x.shape[:-1], bool)
    if rejected is not None:
        keep = ~np.moveaxis(np.broadcast_to(rejected, fids.shape[:-1]), ax, -1)
    cnt = np.concatenate([np.zeros(keep.shape[:-1] + (1,), int), np.cumsum(keep, axis=-1)], axis=-1)
    counts = cnt[..., win[:, 1]] - cnt[..., win[:, 0]]
    dtype = np.result_type(x.dtype, np.complex128)
    if step is None or step == width:
        frames = _block_sums(x, keep, width, len(win), dtype)
        frames /= np.maximum(counts, 1)[..., None]
        return (
            np.moveaxis(frames, -2, ax),
            _frame_times(times, win, width),
            np.moveaxis(counts, -1, ax),
        )
    # frame sums = S[stop] - S[start], S[i] = sum of the first i kept transients: the running
    # sums are taken in double precision a block of transients at a time and only those at
    # window edges are kept (memory: the blocks and the frames, never the session)
    edges, where = np.unique(win, return_inverse=True)
    where = where.reshape(win.shape)
    at_edges = np.zeros(x.shape[:-2] + (edges.size, x.shape[-1]), dtype)
    carry = np.zeros(x.shape[:-2] + (1, x.shape[-1]), dtype)
    for b in range(0, n_tr, _BLOCK):
        part = np.where(keep[..., b : b + _BLOCK, None], x[..., b : b + _BLOCK, :], 0)
        cs = np.cumsum(part, axis=-2, dtype=dtype)
        cs += carry
        hit = np.flatnonzero((edges > b) & (edges <= b + part.shape[-2]))
        at_edges[..., hit, :] = cs[..., edges[hit] - b - 1, :]
        carry = cs[..., -1:, :]
    frames = np.empty(x.shape[:-2] + (len(win), x.shape[-1]), dtype)
    for b in range(0, len(win), _BLOCK):
        f = slice(b, b + _BLOCK)
        np.subtract(
            at_edges[..., where[f, 1], :], at_edges[..., where[f, 0], :], out=frames[..., f, :]
        )
    del at_edges
    frames /= np.maximum(counts, 1)[..., None]
    return np.moveaxis(frames, -2, ax), _frame_times(times, win, width), np.moveaxis(counts, -1, ax)


def _block_sums(
    x: np.ndarray, keep: np.ndarray, width: int, n_frames: int, dtype: np.dtype
) -> np.ndarray:
    """Sum the kept transients of consecutive blocks of ``width`` (axis -2) in ``dtype``.

    Each frame is summed directly (the blocks do not overlap: no running sums), a few
    blocks of transients at a time.
    """
    frames = np.empty(x.shape[:-2] + (n_frames, x.shape[-1]), dtype)
    per = max(1, _BLOCK // width)  # frames summed at once
    for f0 in range(0, n_frames, per):
        f1 = min(f0 + per, n_frames)
        rows = slice(f0 * width, f1 * width)
        part = np.where(keep[..., rows, None], x[..., rows, :], 0)
        part = part.reshape(x.shape[:-2] + (f1 - f0, width, x.shape[-1]))
        np.sum(part, axis=-2, dtype=dtype, out=frames[..., f0:f1, :])
    return frames


def _frame_times(times: np.ndarray, win: np.ndarray, width: int) -> np.ndarray:
    """Mean time of the transients each window spans (rejected or not), s."""
    tcs = np.concatenate([[0.0], np.cumsum(times)])
    return (tcs[win[:, 1]] - tcs[win[:, 0]]) / width


def _lorentz(added: np.ndarray, current: np.ndarray, target: float) -> dict[str, np.ndarray]:
    # Lorentzian widths add
    return {"lorentz_hz": np.clip(added + target - current, 0, None)}


def _gauss(added: np.ndarray, current: np.ndarray, target: float) -> dict[str, np.ndarray]:
    # Gaussian widths add in quadrature
    return {"gauss_hz": np.sqrt(np.clip(added**2 + target**2 - current**2, 0, None))}


#: broadening lineshapes: name -> f(added so far, current fwhm, target) -> apply_lineshape kwargs
LINESHAPES = {"lorentz": _lorentz, "gauss": _gauss}


def match_linewidths(
    fids: np.ndarray,
    dwell_time: float,
    spectrometer_frequency: float,
    ppm_reference: float,
    *,
    lineshape: str = "lorentz",
    target_hz: float | None = None,
    peak_range: tuple[float, float] = (1.9, 2.1),
    n_iter: int = 20,
) -> tuple[np.ndarray, np.ndarray]:
    """Broaden every spectrum to a common linewidth (the broadest by default).

    Against linewidth changes that are not concentration changes (BOLD narrowing in
    functional MRS). Only broadening is applied; spectra already broader than the target
    are left as they are. The width is measured on ``peak_range`` (NAA) with
    :func:`~mrspipe.preprocess.measure.estimate_fwhm` and refined over ``n_iter`` passes
    (the measured line is not an exact Lorentzian or Gaussian).

    Parameters
    ----------
    fids : (..., n_points) complex ndarray
        Frames (averaged spectra with a measurable peak).
    dwell_time : float, s
    spectrometer_frequency : float, MHz
    ppm_reference : float, ppm
    lineshape : {'lorentz', 'gauss'}
    target_hz : float, Hz, optional
        Default: the largest measured width.
    peak_range : (float, float), ppm
    n_iter : int

    Returns
    -------
    fids : (..., n_points) complex ndarray
    added_hz : (...) float ndarray, Hz
        FWHM of the broadening applied to each spectrum (Lorentzian, or Gaussian).
    """
    if lineshape not in LINESHAPES:
        raise ConfigError(f"lineshape must be one of {sorted(LINESHAPES)}, got {lineshape!r}")
    fids = np.asarray(fids)
    fwhm = estimate_fwhm(
        fids, dwell_time, spectrometer_frequency, ppm_reference, peak_range=peak_range
    )
    if not np.isfinite(fwhm).any():
        raise PreprocessError("no measurable peak for linewidth matching")
    target = float(np.nanmax(fwhm)) if target_hz is None else float(target_hz)
    added = np.zeros(fids.shape[:-1])
    out = fids
    current = fwhm
    for _ in range(max(1, n_iter)):
        # fixed-point update of the total broadening from the width still missing (or in
        # excess, e.g. when neighbouring peaks merge): measured lines are not pure shapes
        current = np.where(np.isfinite(current), current, target)
        key, total = next(iter(LINESHAPES[lineshape](added, current, target).items()))
        added = total
        out = apply_lineshape(fids, dwell_time, **{key: added[..., None]})
        current = estimate_fwhm(
            out, dwell_time, spectrometer_frequency, ppm_reference, peak_range=peak_range
        )
    return out, added
