"""Spectral registration of transients to a reference: one frequency shift and phase each.

A least-squares fit of a frequency shift and a complex amplitude (phase) over a ppm range,
the amplitude eliminated in closed form (variable projection), started by a global grid
search of the band-limited cross-correlation (chirp z-transform) and refined by Newton steps
with analytic derivatives, every transient at once. :func:`~.align.align_transients` runs
it over a session (reference, drift following, blocks).

References
----------
Near J, Edden R, Evans CJ, Paquin R, Harris A, Jezzard P. Frequency and phase drift correction
of magnetic resonance spectroscopy data by spectral registration in the time domain.
Magn Reson Med 2015;73:44-50.
"""

from __future__ import annotations

import numpy as np
import scipy.fft

from ..errors import PreprocessError
from .zoom import zoom_dft

__all__ = ["register_to_reference"]


def _taper(freqs: np.ndarray, lo: float, hi: float, width: float) -> np.ndarray:
    """Window over [lo, hi] Hz with raised-cosine edges ``width`` Hz wide (inside the range)."""
    w = np.clip(np.minimum(freqs - lo, hi - freqs) / max(width, 1e-12), 0.0, 1.0)
    return np.sin(0.5 * np.pi * w) ** 2


def _modulation(
    shift_hz: np.ndarray, dwell_time: float, n: int, dtype: type = np.complex128
) -> np.ndarray:
    """``exp(-2j pi s t)`` for ``t = k dwell_time``, ``k < n``: ``(..., n)`` of ``dtype``.

    Built as the outer product of two short exponentials (``k = 32 a + b``, each computed in
    double precision and rounded once to ``dtype``), which is several times cheaper than
    ``np.exp`` on every point and exact to rounding (of ``dtype``: about 1e-7 for complex64).
    """
    s = np.asarray(shift_hz, float)[..., None]
    fine: np.ndarray = np.exp(-2j * np.pi * dwell_time * s * np.arange(32)).astype(dtype)
    coarse = np.exp(-2j * np.pi * dwell_time * 32 * s * np.arange(-(-n // 32)))
    out = coarse.astype(dtype, copy=False)[..., :, None] * fine[..., None, :]
    return out.reshape(s.shape[:-1] + (-1,))[..., :n]


def register_to_reference(
    fids: np.ndarray,
    reference: np.ndarray,
    dwell_time: float,
    freq_range_hz: tuple[float, float],
    *,
    lb_hz: float = 0.0,
    max_shift_hz: float = 20.0,
    n_fit: int | None = None,
    initial: np.ndarray | None = None,
    centre_hz: np.ndarray | float = 0.0,
    max_iter: int = 20,
    tol_hz: float = 1e-4,
    taper_hz: float | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Frequency shift and phase of each FID relative to a reference (spectral registration).

    For every FID ``y`` the least-squares problem
    ``min_{s, phi} sum_{f in range} |R(f) - Y_s(f) exp(-1j phi)|^2``, with ``Y_s`` the spectrum
    of ``y(t) exp(-2j pi s t)``, is solved (Near et al. 2015, in the frequency domain over the
    range). The phase is eliminated in closed form (variable projection:
    ``phi = arg C(s)``, ``C(s) = sum conj(R) Y_s``), leaving
    ``g(s) = sum |Y_s|^2 - 2 |C(s)|``, which is minimised by Newton steps with its analytic
    first and second derivatives (spectra of ``t^k y(t) exp(-2j pi s t)``), all FIDs at once.
    The start is a global grid search of the cross-correlation of the band-limited reference
    with each FID, one zero-filled FFT per FID, within ``max_shift_hz``. Both signals are
    apodised by ``exp(-pi lb_hz t)`` and truncated to ``n_fit`` points, which stabilises and
    speeds up low-SNR registration.

    Parameters
    ----------
    fids : (..., n_points) complex ndarray
        Transients ``y``.
    reference : complex ndarray broadcasting against ``fids``
        Reference FID(s) ``r``.
    dwell_time : float, s
    freq_range_hz : (float, float), Hz
        Frequencies (relative to the receiver) compared, e.g. 1.8-4.2 ppm converted to Hz.
    lb_hz : float, Hz
        Exponential line broadening applied to both before registration.
    max_shift_hz : float, Hz
        Search half-width around ``centre_hz``; a result at its edge or beyond is flagged
        (``converged`` False).
    n_fit : int, optional
        Number of leading FID points used (default all).
    initial : (...) float ndarray, Hz, optional
        Start values of the shift (skips the grid search; e.g. from a previous pass).
    centre_hz : float or (...) float ndarray, Hz
        Centre of the search (broadcasting against the transients), e.g. the running drift
        estimate of neighbouring transients; default 0.
    max_iter : int
    tol_hz : float, Hz
        Convergence when the Newton update, or ten times the distance to the optimum that
        Newton's quadratic convergence predicts from the last two updates, falls below this.
    taper_hz : float, Hz, optional
        Width of the raised-cosine edges of the range (default a tenth of the range).

    Returns
    -------
    shift_hz : (...) float ndarray, Hz
        ``y ~ r * exp(+2j pi s t)``: positive means the transient sits at higher frequency.
    phase_rad : (...) float ndarray, rad
        ``y ~ r * exp(+1j phi)``, wrapped to (-pi, pi].
    converged : (...) bool ndarray

    References
    ----------
    Near J, et al. Magn Reson Med 2015;73:44-50.
    Golub G, Pereyra V. Separable nonlinear least squares: the variable projection method and
    its applications. Inverse Problems 2003;19:R1-R26.
    """
    fids = np.asarray(fids)
    n = fids.shape[-1] if n_fit is None else min(int(n_fit), fids.shape[-1])
    t = np.arange(n) * dwell_time
    apod = np.exp(-np.pi * lb_hz * t)
    # the transients in single precision (the Newton steps' and the grid's; see below)
    y = np.multiply(fids[..., :n], apod.astype(np.float32), dtype=np.complex64)
    freqs = np.fft.fftfreq(n, dwell_time)
    lo, hi = sorted(freq_range_hz)
    inside = (freqs >= lo) & (freqs <= hi)
    if inside.sum() < 3:
        raise PreprocessError(
            f"registration range {lo:.1f}-{hi:.1f} Hz holds {int(inside.sum())} spectral points"
        )
    window = _taper(freqs, lo, hi, (hi - lo) / 10 if taper_hz is None else taper_hz)
    ref_spec = np.fft.fft(np.asarray(reference)[..., :n] * apod, axis=-1)
    batch = y.shape[:-1]
    centre = np.broadcast_to(np.asarray(centre_hz, float), batch)
    # Newton steps (and the grid search) in single precision: the transforms and products
    # of the FIDs in complex64 (about half the cost), the band's sums in double. Rounding
    # moves the optimum by ~1e-7 Hz (tested), against a shift error of ~0.1 Hz from noise.
    y_f = y.reshape(-1, n)
    if initial is None:
        # C(s) of the band-limited reference on a grid of shifts: the bins of an 8x
        # zero-filled DFT of each FID times it, within the search range (chirp z-transform)
        band_ref = np.conj(np.fft.ifft(ref_spec * window, axis=-1)).astype(np.complex64)
        h = np.multiply(y, band_ref)
        if np.any(centre != 0):
            h *= _modulation(centre, dwell_time, n, np.complex64)  # lags from the centre
        upsample = 8
        n_pad = n * upsample
        bin_hz = 1.0 / (n_pad * dwell_time)
        max_lag = max(2, int(np.ceil(max_shift_hz / bin_hz)))
        lags = np.arange(-max_lag, max_lag + 1)
        c_grid = np.abs(zoom_dft(h, n_pad, -max_lag, lags.size, single=True))
        k = np.argmax(c_grid, axis=-1)
        s = centre + lags[k] * bin_hz
    else:
        s = np.broadcast_to(np.asarray(initial, float), batch).copy()
    sel = np.flatnonzero(inside)
    r_m = np.broadcast_to(ref_spec[..., sel], batch + (sel.size,))
    step_cap = 0.5 / (n * dwell_time)  # at most half a spectral point per Newton step
    # Newton steps on the FIDs not yet converged only (flattened over the batch)
    t32 = t.astype(np.float32)
    r_f = np.broadcast_to(r_m, batch + (sel.size,)).reshape(-1, sel.size)
    s_f = s.reshape(-1).copy()
    err_f = np.full(s_f.size, np.inf)  # bound on the distance to the optimum (Hz)
    act = np.arange(s_f.size)
    last = np.full(s_f.size, np.inf)  # the previous Newton step (Hz)
    for _ in range(max_iter):
        # spectra of z, t z and t^2 z over the range; the factors -2j pi of the derivatives
        # are applied there (the spectra of ``t^k z (-2j pi)^k``: real products in time)
        stack = np.empty((3, act.size, n), np.complex64)
        z = np.multiply(y_f[act], _modulation(s_f[act], dwell_time, n, np.complex64), out=stack[0])
        np.multiply(z, t32, out=stack[1])
        np.multiply(stack[1], t32, out=stack[2])
        spec = scipy.fft.fft(stack, axis=-1, overwrite_x=True)[..., sel].astype(complex)
        y0 = spec[0]
        y1 = spec[1] * (-2j * np.pi)
        y2 = spec[2] * (-4 * np.pi**2)
        rc = np.conj(r_f[act])
        c0 = (rc * y0).sum(-1)
        c1 = (rc * y1).sum(-1)
        c2 = (rc * y2).sum(-1)
        mag = np.maximum(np.abs(c0), 1e-100)  # zero transients: no division by 0 (mag**3)
        re01 = (np.conj(c0) * c1).real
        d_mag = re01 / mag
        dd_mag = (np.abs(c1) ** 2 + (np.conj(c0) * c2).real) / mag - re01**2 / mag**3
        d_pow = 2 * (np.conj(y0) * y1).real.sum(-1)
        dd_pow = 2 * (np.abs(y1) ** 2 + (np.conj(y0) * y2).real).sum(-1)
        grad = d_pow - 2 * d_mag
        curv = dd_pow - 2 * dd_mag
        newton = -grad / np.where(curv > 0, curv, 1.0)
        st = np.where(curv > 0, newton, -np.sign(grad) * step_cap)
        st = np.clip(st, -step_cap, step_cap)
        s_f[act] += st
        # Newton converges quadratically, ``|step_k| ~ K step_{k-1}^2``: after this step the
        # distance left is about ``K st^2 = |st|^3 / last^2`` (K from the last two steps; a
        # capped step or a non-positive curvature promises nothing). Stopping when 10x that
        # is below ``tol_hz`` saves the last one or two FFT rounds of a fixed step tolerance
        # and still leaves every shift within ``tol_hz`` of the optimum (tested)
        size = np.abs(st)
        newtonian = (curv > 0) & (size < step_cap) & (last[act] < np.inf)
        with np.errstate(divide="ignore", invalid="ignore"):
            left = np.where(newtonian, size**3 / last[act] ** 2, np.inf)
        err_f[act] = np.where(size < tol_hz, size, 10 * left)
        last[act] = size
        act = act[err_f[act] >= tol_hz]
        if act.size == 0:
            break
    s = s_f.reshape(batch)
    err = err_f.reshape(batch)
    # C(s) = sum over the range of conj(R) Y_s = sum over time of y_s g, g the DFT of the
    # range's conj(R): no FFT per transient (products in single precision, summed in double:
    # the phase to ~1e-6 rad)
    g = np.fft.fft(np.where(inside, np.conj(ref_spec), 0), axis=-1).astype(np.complex64)
    z = np.multiply(y, _modulation(s, dwell_time, n, np.complex64))
    c0 = (z * g).sum(-1, dtype=np.complex128)
    converged = (err < 10 * tol_hz) & (np.abs(s - centre) < max_shift_hz) & (np.abs(c0) > 0)
    return s, np.angle(c0), converged
