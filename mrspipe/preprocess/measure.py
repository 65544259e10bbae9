"""Per-spectrum measurements shared by the preprocessing steps: ppm masks, noise, SNR, FWHM.

Every function works on ``(..., n_points)`` FIDs in the internal frequency convention of
:mod:`mrspipe.data` and returns one value per leading index; none loops over spectra.
"""

from __future__ import annotations

import numpy as np
import scipy.fft

from ..data import ppm_axis
from ..errors import PreprocessError
from .zoom import zoom_dft, zoom_is_cheaper

__all__ = [
    "ppm_mask",
    "noise_sd",
    "estimate_snr",
    "estimate_fwhm",
    "peak_position",
    "tail_slice",
    "row_blocks",
    "nonzero_finite",
    "dft_band",
    "snr_of_height",
    "NAA_RANGE",
]

#: the NAA singlet's range (ppm), where the SNR height and the linewidth are measured
NAA_RANGE = (1.9, 2.1)

#: fraction of the very last FID points skipped by noise estimates (digital-filter ringing)
TAIL_GUARD = 0.03


def tail_slice(n_points: int, tail_fraction: float) -> slice:
    """Return the FID points for noise estimates: the last ``tail_fraction``, less a 3 % guard.

    Vendor digital filters often corrupt the final points (a rising edge); they are skipped.
    """
    guard = int(round(n_points * TAIL_GUARD)) if tail_fraction < 1 else 0
    m = max(8, int(round(n_points * tail_fraction)))
    stop = n_points - guard
    return slice(max(0, stop - m), stop)


def ppm_mask(
    n_points: int,
    dwell_time: float,
    spectrometer_frequency: float,
    ppm_reference: float,
    ppm_range: tuple[float, float],
) -> np.ndarray:
    """Boolean mask of the spectral points inside ``ppm_range``.

    Parameters
    ----------
    n_points : int
    dwell_time : float, s
    spectrometer_frequency : float, MHz
    ppm_reference : float, ppm
    ppm_range : (float, float), ppm
        Inclusive bounds, in either order.

    Returns
    -------
    (n_points,) bool ndarray

    Raises
    ------
    PreprocessError
        If fewer than 3 points fall in the range (it lies outside the spectral window).
    """
    ppm = ppm_axis(n_points, dwell_time, spectrometer_frequency, ppm_reference)
    lo, hi = sorted(ppm_range)
    mask = (ppm >= lo) & (ppm <= hi)
    if mask.sum() < 3:
        raise PreprocessError(
            f"ppm range {lo:g}-{hi:g} holds {int(mask.sum())} points of the spectral window "
            f"{ppm[0]:.2f}-{ppm[-1]:.2f} ppm"
        )
    return mask


def noise_sd(fids: np.ndarray, *, tail_fraction: float = 0.25) -> np.ndarray:
    """Noise standard deviation of each FID from its tail.

    Parameters
    ----------
    fids : (..., n_points) complex ndarray
    tail_fraction : float
        Fraction of the last points used (signal assumed decayed there), see
        :func:`tail_slice`.

    Returns
    -------
    (...) float ndarray
        Standard deviation of the real (equivalently imaginary) part of the time-domain
        noise, after removing the tail's mean and linear trend.
    """
    fids = np.asarray(fids)
    tail = fids[..., tail_slice(fids.shape[-1], tail_fraction)]
    m = tail.shape[-1]
    x = np.arange(m) - (m - 1) / 2.0
    flat = tail.reshape(-1, m)
    # the residual of the least-squares line (x centred: mean and slope are orthogonal) from
    # the sums: sum |t|^2 - |sum t|^2 / m - |sum x t|^2 / sum x^2, all in double precision
    resid = np.empty(flat.shape[0])
    for blk in row_blocks(flat.shape[0], 16 * m):  # a block at a time
        t = flat[blk].astype(np.complex128)
        v = t.view(np.float64)  # (rows, 2 m): re, im, re, ...
        power = np.einsum("ij,ij->i", v, v)
        total = np.abs(t.sum(-1)) ** 2
        trend = ((v.reshape(v.shape[0], m, 2).transpose(0, 2, 1) @ x) ** 2).sum(-1)
        resid[blk] = power - total / m - trend / (x**2).sum()
    return np.sqrt(np.maximum(resid, 0.0) / (2.0 * (m - 2))).reshape(tail.shape[:-1])


#: bytes of work arrays held at once by the blocked functions here (memory bound)
_CHUNK_BYTES = 8 * 2**20


def row_blocks(n_rows: int, row_bytes: int, budget: int | None = None) -> list[slice]:
    """Slices of at most ``budget // row_bytes`` rows (at least one) covering ``n_rows``."""
    rows = max(1, (_CHUNK_BYTES if budget is None else budget) // max(int(row_bytes), 1))
    return [slice(i, min(i + rows, n_rows)) for i in range(0, n_rows, rows)]


def nonzero_finite(fids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per FID: whether any point is non-zero, and whether every point is finite.

    A block of FIDs at a time (no session-sized temporaries).

    Parameters
    ----------
    fids : (..., n_points) complex ndarray

    Returns
    -------
    nonzero, finite : (...) bool ndarray
        ``nonzero``: some point is not 0 (a NaN counts: combine with ``finite``).
    """
    fids = np.asarray(fids)
    flat = fids.reshape(-1, fids.shape[-1])
    nonzero = np.empty(flat.shape[0], bool)
    finite = np.empty(flat.shape[0], bool)
    # real and imaginary parts as one real row when the points are contiguous
    as_real = np.iscomplexobj(flat) and flat.strides[-1] == flat.itemsize
    real = flat.view(flat.real.dtype) if as_real else flat
    for blk in row_blocks(flat.shape[0], 8 * fids.shape[-1]):
        # one sum of magnitudes in double: infinite or NaN exactly when a point is (no
        # overflow from finite single or double values of MRS data), 0 when every point is
        size = np.abs(real[blk]).sum(-1, dtype=np.float64)
        finite[blk] = np.isfinite(size)
        nonzero[blk] = size != 0
    return nonzero.reshape(fids.shape[:-1]), finite.reshape(fids.shape[:-1])


def _spectrum_points(fids: np.ndarray, idx: np.ndarray, zero_fill: int = 1) -> np.ndarray:
    """Return points ``idx`` (consecutive) of the shifted, zero-filled spectrum."""
    nz = fids.shape[-1] * zero_fill
    return dft_band(fids, nz, int(idx[0]) - nz // 2, idx.size)


def dft_band(
    fids: np.ndarray, n_fft: int, first: int, count: int, *, single: bool = False
) -> np.ndarray:
    """Bins ``first .. first + count - 1`` of each FID's ``n_fft``-point DFT (zero-filled).

    ``first`` may be negative (bins modulo ``n_fft``: the shifted spectrum's index ``i`` is bin
    ``i - n_fft // 2``). A narrow band of a long zero-filled DFT comes from the chirp
    z-transform (:func:`~.zoom.zoom_dft`, FFTs of about the FID's length), else from FFTs;
    the two agree to rounding. Double precision (``single``: complex64, about 1e-6 of the
    largest point), a block of FIDs at a time.

    Returns
    -------
    (..., count) complex ndarray
    """
    n = fids.shape[-1]
    if not zoom_is_cheaper(n, n_fft, count):
        points = (first + np.arange(count)) % n_fft
        return fft_points(fids, points, n_fft=n_fft, single=single)
    flat = fids.reshape(-1, n)
    dtype = np.complex64 if single else np.result_type(flat.dtype, np.complex128)
    out = np.empty((flat.shape[0], count), dtype)
    for blk in row_blocks(flat.shape[0], out.itemsize * 2 * (n + count)):
        out[blk] = zoom_dft(flat[blk], n_fft, first, count, single=single)
    return out.reshape(fids.shape[:-1] + (count,))


def fft_points(
    fids: np.ndarray, points: np.ndarray, *, n_fft: int | None = None, single: bool = False
) -> np.ndarray:
    """``np.fft.fft(fids, n_fft, axis=-1)[..., points]``, a block of FIDs at a time.

    Each FID's FFT is independent, so the result is the same as one call, with memory bounded
    by ``_CHUNK_BYTES`` instead of the whole (zero-filled) session. Double precision whatever
    the input's, unless ``single`` (complex64: rounding at about 1e-7 of the largest point).
    """
    nz = fids.shape[-1] if n_fft is None else int(n_fft)
    flat = fids.reshape(-1, fids.shape[-1])
    dtype = np.complex64 if single else np.result_type(flat.dtype, np.complex128)
    out = np.empty((flat.shape[0], points.size), dtype)
    for blk in row_blocks(flat.shape[0], out.itemsize * nz):
        out[blk] = scipy.fft.fft(flat[blk].astype(dtype), n=nz, axis=-1)[:, points]
    return out.reshape(fids.shape[:-1] + (points.size,))


def estimate_snr(
    fids: np.ndarray,
    dwell_time: float,
    spectrometer_frequency: float,
    ppm_reference: float,
    *,
    peak_range: tuple[float, float] = NAA_RANGE,
    tail_fraction: float = 0.25,
) -> np.ndarray:
    """Signal-to-noise ratio of a peak: its height over the spectral noise SD.

    The height is the maximum of the magnitude spectrum in ``peak_range`` (NAA by default);
    the noise is the SD of the real part of the spectrum, derived from the FID tail (the FFT
    of white noise of SD ``sigma`` per point has SD ``sigma * sqrt(n_points)``).

    Parameters
    ----------
    fids : (..., n_points) complex ndarray
    dwell_time : float, s
    spectrometer_frequency : float, MHz
    ppm_reference : float, ppm
    peak_range : (float, float), ppm
    tail_fraction : float
        Part of the FID used for the noise (see :func:`noise_sd`).

    Returns
    -------
    (...) float ndarray
        ``inf`` where the noise is zero, 0 for all-zero FIDs.
    """
    n = fids.shape[-1]
    mask = ppm_mask(n, dwell_time, spectrometer_frequency, ppm_reference, peak_range)
    height = np.abs(_spectrum_points(fids, np.flatnonzero(mask))).max(axis=-1)
    return snr_of_height(height, fids, tail_fraction=tail_fraction)


def snr_of_height(
    height: np.ndarray, fids: np.ndarray, *, tail_fraction: float = 0.25
) -> np.ndarray:
    """:func:`estimate_snr` from peak heights already measured (``(...)``, spectral units).

    ``inf`` where the noise is zero, 0 where the height is.
    """
    noise = noise_sd(fids, tail_fraction=tail_fraction) * np.sqrt(fids.shape[-1])
    with np.errstate(divide="ignore", invalid="ignore"):
        snr = np.where(noise > 0, height / np.where(noise > 0, noise, 1.0), np.inf)
    return np.where(height > 0, snr, 0.0)


def peak_position(
    fids: np.ndarray,
    dwell_time: float,
    spectrometer_frequency: float,
    ppm_reference: float,
    *,
    peak_range: tuple[float, float],
    zero_fill: int = 8,
) -> np.ndarray:
    """Chemical shift of the highest peak in ``peak_range``.

    The zero-filled spectrum is phased so that its magnitude maximum in the range is real
    (zero-order phase from the peak itself) and the maximum of the real part (absorption,
    less pulled by the dispersion tails of neighbours than the magnitude) is refined by
    parabolic interpolation.

    Parameters
    ----------
    fids : (..., n_points) complex ndarray
    dwell_time : float, s
    spectrometer_frequency : float, MHz
    ppm_reference : float, ppm
    peak_range : (float, float), ppm
    zero_fill : int
        Factor of zero filling before the search.

    Returns
    -------
    (...) float ndarray, ppm
    """
    n = fids.shape[-1] * zero_fill
    mask = ppm_mask(n, dwell_time, spectrometer_frequency, ppm_reference, peak_range)
    idx = np.flatnonzero(mask)
    spec = _spectrum_points(fids, np.arange(idx[0] - 1, idx[-1] + 2), zero_fill)
    top = np.argmax(np.abs(spec[..., 1:-1]), axis=-1)[..., None] + 1
    phase = np.angle(np.take_along_axis(spec, top, -1))
    seg = (spec * np.exp(-1j * phase)).real
    k = np.argmax(seg[..., 1:-1], axis=-1)[..., None] + 1
    y0 = np.take_along_axis(seg, k - 1, -1)[..., 0]
    y1 = np.take_along_axis(seg, k, -1)[..., 0]
    y2 = np.take_along_axis(seg, k + 1, -1)[..., 0]
    denom = y0 - 2 * y1 + y2
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = np.where(denom < 0, 0.5 * (y0 - y2) / np.where(denom < 0, denom, -1.0), 0.0)
    delta = np.clip(delta, -0.5, 0.5)
    ppm = ppm_axis(n, dwell_time, spectrometer_frequency, ppm_reference)
    step = ppm[1] - ppm[0]
    return ppm[idx[0] - 1] + (k[..., 0] + delta) * step


def estimate_fwhm(
    fids: np.ndarray,
    dwell_time: float,
    spectrometer_frequency: float,
    ppm_reference: float,
    *,
    peak_range: tuple[float, float] = NAA_RANGE,
    window_ppm: float = 0.15,
    zero_fill: int = 4,
) -> np.ndarray:
    """Full width at half maximum of the highest peak in ``peak_range`` (NAA by default).

    The spectrum is zero-filled, phased to make the peak maximum real (zero-order phase from
    the peak itself) and the half-height crossings of the real part are found on each side
    by linear interpolation, within ``window_ppm`` of the peak.

    Parameters
    ----------
    fids : (..., n_points) complex ndarray
    dwell_time : float, s
    spectrometer_frequency : float, MHz
    ppm_reference : float, ppm
    peak_range : (float, float), ppm
    window_ppm : float, ppm
        How far from the peak to look for the half-height points.
    zero_fill : int

    Returns
    -------
    (...) float ndarray, Hz
        NaN where no half-height crossing is found on a side (pure noise, no peak).
    """
    idx, ppm = fwhm_points(
        fids.shape[-1],
        dwell_time,
        spectrometer_frequency,
        ppm_reference,
        peak_range=peak_range,
        window_ppm=window_ppm,
        zero_fill=zero_fill,
    )
    spec = _spectrum_points(fids, idx, zero_fill)
    return fwhm_of_points(spec, ppm, spectrometer_frequency, peak_range, window_ppm)


def fwhm_points(
    n_points: int,
    dwell_time: float,
    spectrometer_frequency: float,
    ppm_reference: float,
    *,
    peak_range: tuple[float, float] = NAA_RANGE,
    window_ppm: float = 0.15,
    zero_fill: int = 4,
) -> tuple[np.ndarray, np.ndarray]:
    """Return the zero-filled spectral points :func:`estimate_fwhm` looks at: indices, ppm.

    Indices into the shifted spectrum of ``n_points * zero_fill`` points (for
    :func:`_spectrum_points`), and their chemical shifts.
    """
    n = n_points * zero_fill
    lo, hi = sorted(peak_range)
    mask = ppm_mask(
        n, dwell_time, spectrometer_frequency, ppm_reference, (lo - window_ppm, hi + window_ppm)
    )
    idx = np.flatnonzero(mask)
    return idx, ppm_axis(n, dwell_time, spectrometer_frequency, ppm_reference)[idx]


def fwhm_of_points(
    spec: np.ndarray,
    ppm: np.ndarray,
    spectrometer_frequency: float,
    peak_range: tuple[float, float] = NAA_RANGE,
    window_ppm: float = 0.15,
) -> np.ndarray:
    """:func:`estimate_fwhm` on spectral points already computed (:func:`fwhm_points`).

    The points are linear in the FID, so e.g. a moving average over transients can be taken
    on them instead of on the FIDs (the same result, far fewer numbers).
    """
    lo, hi = sorted(peak_range)
    inner = (ppm >= lo) & (ppm <= hi)
    mag = np.where(inner, np.abs(spec), -np.inf)
    k = np.argmax(mag, axis=-1)[..., None]
    peak = np.take_along_axis(spec, k, -1)
    real = (spec * np.exp(-1j * np.angle(peak))).real
    half = np.abs(peak) / 2.0
    pos = np.arange(len(ppm))
    hz_step = (ppm[1] - ppm[0]) * spectrometer_frequency
    width_pts = int(np.ceil(window_ppm / (ppm[1] - ppm[0])))
    near = np.abs(pos - k) <= width_pts

    def _side(right: bool) -> tuple[np.ndarray, np.ndarray]:
        below = (real < half) & near & ((pos > k) if right else (pos < k))
        if right:
            j = np.argmax(below, axis=-1)[..., None]
            other = j - 1
        else:
            j = (len(pos) - 1 - np.argmax(below[..., ::-1], axis=-1))[..., None]
            other = j + 1
        found = np.take_along_axis(below, j, -1)[..., 0]
        yj = np.take_along_axis(real, j, -1)[..., 0]
        yo = np.take_along_axis(real, other.clip(0, len(pos) - 1), -1)[..., 0]
        with np.errstate(divide="ignore", invalid="ignore"):
            frac = np.where(yo != yj, (yo - half[..., 0]) / (yo - yj), 0.0)
        crossing = other[..., 0] + np.clip(frac, 0, 1) * (j[..., 0] - other[..., 0])
        return crossing, found

    right, ok_r = _side(True)
    left, ok_l = _side(False)
    width = (right - left) * hz_step
    return np.where(ok_r & ok_l & (half[..., 0] > 0), width, np.nan)
