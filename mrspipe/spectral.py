"""Low-level spectral numerics shared by simulation, preprocessing and fitting.

Every function takes FIDs or spectra as ``(..., n_points)`` arrays with parameters that
broadcast against the batch axes (e.g. ``(n_frames, 1)``); none loops over frames. The frequency
convention is the internal one of :mod:`mrspipe.data`.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .data import Basis, MRSData, ppm_axis
from .errors import BasisMismatchError

__all__ = [
    "to_spectrum",
    "to_fid",
    "apply_lineshape",
    "apply_phase",
    "resample_fids",
    "resample_basis",
    "on_grid",
    "match_basis",
    "orientation_score",
    "is_flipped",
    "GAUSS_FWHM_FACTOR",
    "voigt_decay",
]

#: ``exp(-(pi * fwhm * t)**2 * GAUSS_FWHM_FACTOR)`` has a Gaussian spectrum of FWHM ``fwhm`` Hz.
GAUSS_FWHM_FACTOR = 1.0 / (4.0 * np.log(2.0))


def to_spectrum(fids: np.ndarray) -> np.ndarray:
    """Shifted spectrum of ``fids``.

    Parameters
    ----------
    fids : (..., n_points) complex ndarray

    Returns
    -------
    (..., n_points) complex ndarray
        ``np.fft.fftshift(np.fft.fft(fids, axis=-1), axes=-1)``.
    """
    return np.fft.fftshift(np.fft.fft(fids, axis=-1), axes=-1)


def to_fid(spectra: np.ndarray) -> np.ndarray:
    """Inverse of :func:`to_spectrum`, ``(..., n_points)`` complex."""
    return np.fft.ifft(np.fft.ifftshift(spectra, axes=-1), axis=-1)


def voigt_decay(t: np.ndarray, lorentz_hz: np.ndarray, gauss_sq_hz2: np.ndarray) -> np.ndarray:
    """Voigt decay ``exp(-pi L t - pi^2 G^2 t^2 / (4 ln 2))``: the one Voigt of mrspipe.

    Its spectrum is a Voigt line with Lorentzian FWHM ``L`` and Gaussian FWHM ``G`` (Hz).

    Parameters
    ----------
    t : (n_points,) float ndarray, s
    lorentz_hz : float or (..., 1) ndarray, Hz
        Lorentzian FWHM.
    gauss_sq_hz2 : float or (..., 1) ndarray, Hz^2
        Square of the Gaussian FWHM (the fit's parameter; 0 = Lorentzian).

    Returns
    -------
    (..., n_points) float ndarray
        In the precision of the inputs.
    """
    return np.exp(-np.pi * lorentz_hz * t - (np.pi**2 * GAUSS_FWHM_FACTOR) * gauss_sq_hz2 * (t * t))


def apply_lineshape(
    fids: np.ndarray,
    dwell_time: float,
    *,
    lorentz_hz: float | np.ndarray = 0.0,
    gauss_hz: float | np.ndarray = 0.0,
    shift_hz: float | np.ndarray = 0.0,
    phase0: float | np.ndarray = 0.0,
) -> np.ndarray:
    """Apply Voigt broadening, a frequency shift and a zero-order phase in the time domain.

    ``fid(t) * exp(-pi L t) * exp(-(pi G t)^2 / (4 ln 2)) * exp(2j pi s t) * exp(1j phi0)``:
    a Lorentzian of FWHM ``L`` Hz convolved with a Gaussian of FWHM ``G`` Hz.

    Parameters
    ----------
    fids : (..., n_points) complex ndarray
    dwell_time : float, s
    lorentz_hz : float or ndarray broadcasting to ``fids.shape[:-1] + (1,)``, Hz
        Lorentzian FWHM added.
    gauss_hz : float or ndarray, Hz
        Gaussian FWHM added.
    shift_hz : float or ndarray, Hz
        Frequency shift (positive moves peaks to higher ppm).
    phase0 : float or ndarray, rad
        Zero-order phase.

    Returns
    -------
    (..., n_points) complex ndarray
    """
    n = fids.shape[-1]
    t = np.arange(n) * dwell_time
    lorentz = np.asarray(lorentz_hz, dtype=float)
    gauss = np.asarray(gauss_hz, dtype=float)
    shift = np.asarray(shift_hz, dtype=float)
    phi = np.asarray(phase0, dtype=float)
    return fids * voigt_decay(t, lorentz, gauss**2) * np.exp(1j * (2.0 * np.pi * shift * t + phi))


def apply_phase(
    spectra: np.ndarray,
    freq_hz: np.ndarray,
    *,
    phase0: float | np.ndarray = 0.0,
    phase1: float | np.ndarray = 0.0,
) -> np.ndarray:
    """Apply zero- and first-order phase to shifted spectra.

    ``S(f) * exp(1j * (phi0 + 2 pi f phi1))``.

    Parameters
    ----------
    spectra : (..., n_points) complex ndarray
    freq_hz : (n_points,) float ndarray, Hz
        Frequency of each point (e.g. :attr:`MRSData.freq_hz`).
    phase0 : float or ndarray, rad
    phase1 : float or ndarray, s
        First-order phase as a time delay: the phase at frequency ``f`` is ``2 pi f phase1``.

    Returns
    -------
    (..., n_points) complex ndarray
    """
    p0 = np.asarray(phase0, dtype=float)
    p1 = np.asarray(phase1, dtype=float)
    return spectra * np.exp(1j * (p0 + 2.0 * np.pi * freq_hz * p1))


def resample_fids(
    fids: np.ndarray,
    dwell_in: float,
    dwell_out: float,
    n_out: int,
    *,
    time_scale: float = 1.0,
) -> np.ndarray:
    """Resample FIDs onto a new time grid, band-limited to the new bandwidth.

    The output at time ``t`` is the input at ``t * time_scale``; ``time_scale`` other than 1
    rescales every frequency by that factor (used to move ppm positions to another field).

    Parameters
    ----------
    fids : (..., n_in) complex ndarray
    dwell_in, dwell_out : float, s
    n_out : int
        Number of output points; beyond the input's duration the output is zero.
    time_scale : float
        Factor on the sampling times.

    Returns
    -------
    (..., n_out) complex ndarray
    """
    n_in = fids.shape[-1]
    step = dwell_out * time_scale / dwell_in
    if np.isclose(step, 1.0, rtol=1e-9, atol=0.0):
        out = np.zeros(fids.shape[:-1] + (n_out,), dtype=np.result_type(fids, np.complex64))
        m = min(n_in, n_out)
        out[..., :m] = fids[..., :m]
        return out
    # Exact band-limited (periodic sinc) interpolation through the zero-filled spectrum:
    # zero-fill 2x to avoid wrap-around, low-pass to the output bandwidth, then evaluate the
    # trigonometric polynomial at the requested times with a matrix product (no loops).
    n_pad = 2 * n_in
    spec = np.fft.fft(fids, n=n_pad, axis=-1)
    f_in = np.fft.fftfreq(n_pad, dwell_in)
    nyquist_out = 0.5 / (dwell_out * time_scale)
    keep = np.abs(f_in) < nyquist_out
    spec = spec[..., keep]
    freqs = f_in[keep]
    t_out = np.arange(n_out) * dwell_out * time_scale
    inside = t_out <= (n_in - 1) * dwell_in
    kernel = np.exp(2j * np.pi * np.outer(freqs, t_out[inside])) / n_pad
    out = np.zeros(fids.shape[:-1] + (n_out,), dtype=complex)
    out[..., inside] = spec @ kernel
    return out


def resample_basis(
    basis: Basis,
    *,
    dwell_time: float,
    n_points: int,
    spectrometer_frequency: float | None = None,
    ppm_reference: float | None = None,
) -> Basis:
    """Put a basis on a data set's time grid, field and ppm reference.

    Chemical shifts (ppm) are preserved: moving to another spectrometer frequency rescales the
    frequency offsets (J-couplings change slightly, acceptable for differences of a few %).

    Parameters
    ----------
    basis : Basis
    dwell_time : float, s
        Target dwell time.
    n_points : int
        Target number of points.
    spectrometer_frequency : float, MHz, optional
        Target Larmor frequency (default: the basis's).
    ppm_reference : float, ppm, optional
        Target receiver-centre chemical shift (default: the basis's).

    Returns
    -------
    Basis
        On the new grid; ``meta["resampled_from"]`` records the original grid.
    """
    cf = basis.spectrometer_frequency if spectrometer_frequency is None else spectrometer_frequency
    ref = basis.ppm_reference if ppm_reference is None else ppm_reference
    assert basis.ppm_reference is not None and ref is not None
    if abs(cf / basis.spectrometer_frequency - 1.0) > 0.2:
        raise BasisMismatchError(
            f"basis is for {basis.spectrometer_frequency:.3f} MHz but the data are at "
            f"{cf:.3f} MHz; simulate a basis for this field",
            basis.source,
        )
    scale = cf / basis.spectrometer_frequency
    fids = resample_fids(basis.fids, basis.dwell_time, dwell_time, n_points, time_scale=scale)
    d_ref_hz = (basis.ppm_reference - ref) * cf
    if d_ref_hz != 0.0:
        fids = fids * np.exp(2j * np.pi * d_ref_hz * np.arange(n_points) * dwell_time)
    meta = dict(basis.meta)
    meta["resampled_from"] = {
        "dwell_time": basis.dwell_time,
        "n_points": basis.n_points,
        "spectrometer_frequency": basis.spectrometer_frequency,
        "ppm_reference": basis.ppm_reference,
    }
    return dataclasses.replace(
        basis,
        fids=fids,
        dwell_time=dwell_time,
        spectrometer_frequency=cf,
        ppm_reference=ref,
        meta=meta,
    )


def on_grid(basis: Basis, data: MRSData) -> bool:
    """Whether ``basis`` already has the points, dwell time, field and ppm reference of ``data``.

    The one tolerance of that decision: dwell time 1e-9 and frequency 1e-7 relative, ppm
    reference 1e-8 ppm.
    """
    return bool(
        basis.n_points == data.n_points
        and abs(basis.dwell_time - data.dwell_time) <= 1e-9 * data.dwell_time
        and abs(basis.spectrometer_frequency - data.spectrometer_frequency)
        <= 1e-7 * data.spectrometer_frequency
        and basis.ppm_reference is not None
        and data.ppm_reference is not None
        and abs(basis.ppm_reference - data.ppm_reference) <= 1e-8
    )


def match_basis(basis: Basis, data: MRSData) -> Basis:
    """``basis`` on the grid of ``data``: itself when :func:`on_grid`, else resampled."""
    if on_grid(basis, data):
        return basis
    return resample_basis(
        basis,
        dwell_time=data.dwell_time,
        n_points=data.n_points,
        spectrometer_frequency=data.spectrometer_frequency,
        ppm_reference=data.ppm_reference,
    )


def orientation_score(
    fids: np.ndarray,
    dwell_time: float,
    spectrometer_frequency: float,
    ppm_reference: float,
    *,
    band: tuple[float, float] = (1.8, 4.2),
) -> float:
    """How strongly a 1H spectrum looks correctly oriented.

    Compares the magnitude-spectrum energy in the metabolite band with that in its mirror image
    about the receiver centre. Water (at the centre) is mirror-symmetric and does not count.

    Parameters
    ----------
    fids : (..., n_points) complex ndarray
        Averaged over the batch axes first.
    dwell_time : float, s
    spectrometer_frequency : float, MHz
    ppm_reference : float, ppm
    band : (float, float), ppm
        The band expected to hold metabolite signal.

    Returns
    -------
    float
        In [-1, 1]: positive when the band holds more signal than its mirror (correct), negative
        when flipped, near 0 when undecidable (e.g. pure noise, or the band is out of range).
    """
    fids = np.asarray(fids)
    n = fids.shape[-1]
    mag = np.abs(to_spectrum(fids.reshape(-1, n))).mean(axis=0)
    ppm = ppm_axis(n, dwell_time, spectrometer_frequency, ppm_reference)
    lo, hi = band
    mirror_lo, mirror_hi = 2 * ppm_reference - hi, 2 * ppm_reference - lo
    in_band = (ppm >= lo) & (ppm <= hi)
    in_mirror = (ppm >= mirror_lo) & (ppm <= mirror_hi)
    if not in_band.any() or not in_mirror.any():
        return 0.0
    floor = np.median(mag)
    a = float(np.clip(mag[in_band] - floor, 0, None).sum())
    b = float(np.clip(mag[in_mirror] - floor, 0, None).sum())
    return 0.0 if a + b == 0 else (a - b) / (a + b)


def is_flipped(
    fids: np.ndarray,
    dwell_time: float,
    spectrometer_frequency: float,
    ppm_reference: float,
    *,
    threshold: float = 0.2,
) -> bool:
    """Return True when a 1H spectrum (or basis) appears frequency-flipped (conjugated).

    See :func:`orientation_score`; flipped means a score below ``-threshold``.
    """
    score = orientation_score(fids, dwell_time, spectrometer_frequency, ppm_reference)
    return score < -threshold
