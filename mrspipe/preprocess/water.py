"""Residual water removal by HLSVD (Hankel Lanczos singular value decomposition).

Each FID is modelled as a sum of exponentially damped sinusoids: the leading points form a
Hankel matrix whose dominant left singular vectors span the signal space; their shift
invariance (matrix pencil) gives the poles ``z_k = exp((-d_k + 2j pi f_k) dt)`` and a linear
least-squares fit gives the amplitudes. Components whose frequency lies in the water band are
subtracted. Everything is batched over FIDs: the truncated SVD is a randomised range finder
with power iterations on stacked Hankel matrices (``np.linalg.qr``/``svd``/``eigvals`` on
stacks), processed in chunks only to bound memory.

References
----------
Pijnappel WWF, van den Boogaart A, de Beer R, van Ormondt D. SVD-based quantification of
magnetic resonance signals. J Magn Reson 1992;97:122-134.
Barkhuijsen H, de Beer R, van Ormondt D. Improved algorithm for noniterative time-domain model
fitting to exponentially damped magnetic resonance signals. J Magn Reson 1987;73:553-557.
"""

from __future__ import annotations

import numpy as np

from ..errors import ConfigError
from .average import masked_mean
from .measure import nonzero_finite

__all__ = ["hlsvd", "hlsvd_model", "remove_water", "remove_water_shared", "WATER_MODELS"]

_CHUNK = 64
#: transients corrected at once by :func:`remove_water_shared` (bounds its work arrays)
_BLOCK = 256


def _as_rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def _hankel_apply(xf: np.ndarray, v: np.ndarray, n_out: int, length: int) -> np.ndarray:
    """``out[..., i, k] = sum_j x[..., i + j] v[..., j, k]`` for ``i < n_out``, by FFT.

    ``xf`` is ``fft(x, length)``; the Hankel matrix of ``x`` is never formed.
    """
    m = v.shape[-2]
    vf = np.fft.fft(v[..., ::-1, :], n=length, axis=-2)
    conv = np.fft.ifft(xf[..., :, None] * vf, axis=-2)
    return conv[..., m - 1 : m - 1 + n_out, :]


def _hlsvd_chunk(
    x: np.ndarray, n_components: int, n_power: int, omega: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    n = x.shape[-1]
    rows = n // 2
    cols = n - rows + 1
    length = 1 << int(np.ceil(np.log2(n + max(rows, cols) - 1)))
    xf = np.fft.fft(x, n=length, axis=-1)
    xcf = np.fft.fft(np.conj(x), n=length, axis=-1)

    def h_mul(v: np.ndarray) -> np.ndarray:  # H v, H is (rows, cols)
        return _hankel_apply(xf, v, rows, length)

    def hh_mul(v: np.ndarray) -> np.ndarray:  # H^H v = conj(H^T conj(v)); H^T is Hankel too
        return _hankel_apply(xcf, v, cols, length)

    y = h_mul(np.broadcast_to(omega, (x.shape[0],) + omega.shape))
    for _ in range(n_power):
        y, _ = np.linalg.qr(y)
        y = h_mul(hh_mul(y))
    q, _ = np.linalg.qr(y)
    small_h = hh_mul(q)  # H^H Q, (B, cols, K+p); the small matrix is its conjugate transpose
    # left singular vectors of Q^H H = eigenvectors of (Q^H H)(Q^H H)^H = small_h^H small_h
    _, vecs = np.linalg.eigh(np.conj(np.swapaxes(small_h, -1, -2)) @ small_h)
    u = q @ vecs[..., ::-1][..., :n_components]  # (B, rows, K), descending singular values
    up, down = u[..., :-1, :], u[..., 1:, :]
    uph = np.conj(np.swapaxes(up, -1, -2))
    gram = uph @ up
    gram += (
        np.eye(n_components) * (1e-12 * np.trace(gram, axis1=-2, axis2=-1).real)[..., None, None]
    )
    z = np.linalg.eigvals(np.linalg.solve(gram, uph @ down))
    mag = np.abs(z)
    z = np.where(mag > 1.0, z / np.where(mag > 1.0, mag, 1.0), z)  # no growing components
    # amplitudes: least squares of the Vandermonde model on the points used
    log_z = np.log(np.where(z == 0, 1e-300, z))
    powers = np.exp(log_z[..., None, :] * np.arange(n)[:, None])  # (B, n, K)
    # least squares by the normal equations with a small relative ridge (batched solves of
    # K x K systems are far cheaper than stacked SVDs); near-duplicate poles are tamed by it
    vh = np.conj(np.swapaxes(powers, -1, -2))
    gram = vh @ powers
    ridge = 1e-9 * np.trace(gram, axis1=-2, axis2=-1).real / n_components
    gram += np.eye(n_components) * ridge[..., None, None]
    amp = np.linalg.solve(gram, vh @ x[..., None])[..., 0]
    return z, amp


def hlsvd(
    fids: np.ndarray,
    dwell_time: float,
    *,
    n_components: int = 20,
    n_fit: int = 256,
    n_power: int = 2,
    rng: np.random.Generator | int | None = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decompose FIDs into damped sinusoids (HLSVD), batched.

    Parameters
    ----------
    fids : (..., n_points) complex ndarray
    dwell_time : float, s
    n_components : int
        Number of sinusoids per FID.
    n_fit : int
        Leading FID points used (Hankel matrix of about ``n_fit/2`` square).
    n_power : int
        Power iterations of the randomised SVD (2 gives the exact subspace in practice).
    rng : numpy.random.Generator or int or None
        For the random test matrix of the range finder (fixed seed by default).

    Returns
    -------
    freq_hz : (..., n_components) float ndarray, Hz
    damping : (..., n_components) float ndarray, 1/s
        Lorentzian FWHM is ``damping / pi``.
    amplitude : (..., n_components) complex ndarray
        Component ``k`` is ``amplitude_k * exp((-damping_k + 2j pi freq_k) t)``.
    """
    fids = np.asarray(fids)
    n = min(int(n_fit), fids.shape[-1])
    if n_components < 1 or 2 * n_components + 4 > n:
        raise ConfigError(f"n_components={n_components} does not fit n_fit={n} points")
    batch = fids.shape[:-1]
    x = fids.reshape(-1, fids.shape[-1])[:, :n].astype(complex)
    cols = n - n // 2 + 1
    k = min(n_components + 10, n // 2)
    omega = _as_rng(rng).standard_normal((cols, k)) + 1j * _as_rng(rng).standard_normal((cols, k))
    live = np.flatnonzero(np.abs(x).sum(-1) > 0)  # all-zero FIDs have no components
    z = np.zeros((x.shape[0], n_components), complex)
    amp = np.zeros((x.shape[0], n_components), complex)
    for start in range(0, live.size, _CHUNK):  # chunks bound memory; each is batched
        rows = live[start : start + _CHUNK]
        z[rows], amp[rows] = _hlsvd_chunk(x[rows], n_components, n_power, omega)
    z_out = z.reshape(batch + (n_components,))
    amp_out = amp.reshape(batch + (n_components,))
    log_z = np.log(np.where(z_out == 0, 1.0, z_out))
    return log_z.imag / (2 * np.pi * dwell_time), -log_z.real / dwell_time, amp_out


def hlsvd_model(
    freq_hz: np.ndarray,
    damping: np.ndarray,
    amplitude: np.ndarray,
    n_points: int,
    dwell_time: float,
    *,
    select: np.ndarray | None = None,
) -> np.ndarray:
    """FIDs ``(..., n_points)`` from HLSVD components (optionally only ``select``-ed ones)."""
    t = np.arange(n_points) * dwell_time
    if select is None:
        select = np.ones(amplitude.shape, bool)
    # put the selected components first so only as many as the most any FID has are built
    order = np.argsort(~select, axis=-1, kind="stable")
    n_used = int(select.sum(-1).max()) if select.size else 0
    sel = np.take_along_axis(select, order, -1)
    amp = np.where(sel, np.take_along_axis(amplitude, order, -1), 0)
    rate = -np.take_along_axis(damping, order, -1) + 2j * np.pi * np.take_along_axis(
        freq_hz, order, -1
    )
    out = np.zeros(amplitude.shape[:-1] + (n_points,), dtype=complex)
    for k in range(n_used):  # loop over components (few), batched over FIDs
        out += amp[..., k, None] * np.exp(rate[..., k, None] * t)
    return out


def remove_water(
    fids: np.ndarray,
    dwell_time: float,
    spectrometer_frequency: float,
    ppm_reference: float,
    *,
    band: tuple[float, float] = (4.5, 4.9),
    n_components: int = 20,
    n_fit: int = 256,
    rng: np.random.Generator | int | None = 0,
) -> np.ndarray:
    """Subtract the HLSVD components inside a ppm band (residual water).

    Parameters
    ----------
    fids : (..., n_points) complex ndarray
    dwell_time : float, s
    spectrometer_frequency : float, MHz
    ppm_reference : float, ppm
    band : (float, float), ppm
        Components with a frequency in this band are removed (water at 4.65-4.7 ppm) unless
        they are broader than the band itself (those model noise or baseline, and their
        tails would reach the metabolites).
    n_components, n_fit, rng
        See :func:`hlsvd`.

    Returns
    -------
    (..., n_points) complex ndarray
    """
    fids = np.asarray(fids)
    freq, damp, amp = hlsvd(fids, dwell_time, n_components=n_components, n_fit=n_fit, rng=rng)
    ppm = ppm_reference + freq / spectrometer_frequency
    lo, hi = sorted(band)
    select = (ppm >= lo) & (ppm <= hi) & (damp / np.pi <= (hi - lo) * spectrometer_frequency)
    return fids - hlsvd_model(freq, damp, amp, fids.shape[-1], dwell_time, select=select)


def _in_band(freq, damp, spectrometer_frequency, ppm_reference, band):
    ppm = ppm_reference + freq / spectrometer_frequency
    lo, hi = sorted(band)
    return (ppm >= lo) & (ppm <= hi) & (damp / np.pi <= (hi - lo) * spectrometer_frequency)


def remove_water_shared(
    fids: np.ndarray,
    dwell_time: float,
    spectrometer_frequency: float,
    ppm_reference: float,
    *,
    axis: int = -2,
    band: tuple[float, float] = (4.5, 4.9),
    n_components: int = 20,
    n_fit: int = 256,
    rng: np.random.Generator | int | None = 0,
    exclude: np.ndarray | None = None,
    extra: np.ndarray | None = None,
    out: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Residual water removal with one HLSVD model per series, refitted per transient.

    HLSVD (:func:`hlsvd`) runs once per series on the mean of its transients (averaging makes
    it far less noisy than a single transient); its frequencies and dampings are then kept
    fixed and every transient's complex amplitudes are re-fitted by linear least squares on
    the same ``n_fit`` leading points (one batched projection, no SVD per transient). The
    in-band components (as in :func:`remove_water`) are subtracted. Use it on transients that
    are already frequency aligned, so that the water of every transient sits where it does in
    the mean.

    Parameters
    ----------
    fids : (..., n_transients, ..., n_points) complex ndarray
        Transients along ``axis``; every other leading axis is a series with its own model.
    dwell_time : float, s
    spectrometer_frequency : float, MHz
    ppm_reference : float, ppm
    axis : int
        The transient axis (not the last).
    band : (float, float), ppm
    n_components, n_fit, rng
        See :func:`hlsvd`.
    exclude : bool ndarray like the transients, optional
        Transients left out of the mean (e.g. all-zero ones); they are still corrected.
    extra : complex ndarray, optional
        More FIDs of the same series, transient axis of length 1 (e.g. an alignment
        reference), corrected with the same model.
    out : complex ndarray like ``fids``, optional
        Where the corrected transients are written (may be ``fids`` itself: in place, a block
        of transients at a time). Default a new double-precision array.

    Returns
    -------
    fids : (..., n_points) complex ndarray
        The corrected transients (``out`` when given).
    extra : complex ndarray or None
        The corrected ``extra``.
    """
    fids = np.asarray(fids)
    ax = axis % fids.ndim
    if ax == fids.ndim - 1:
        raise ConfigError("the transient axis cannot be the spectral (last) axis")
    y = np.moveaxis(fids, ax, -2)
    n = min(int(n_fit), y.shape[-1])
    keep = np.logical_and(*nonzero_finite(y))
    if exclude is not None:
        keep &= ~np.moveaxis(np.broadcast_to(exclude, fids.shape[:-1]), ax, -1)
    template = masked_mean(y, keep, axis=-2, keepdims=True)
    freq, damp, _ = hlsvd(template, dwell_time, n_components=n_components, n_fit=n, rng=rng)
    select = _in_band(freq, damp, spectrometer_frequency, ppm_reference, band)
    rate = -damp + 2j * np.pi * freq  # (..., 1, K)
    basis = np.exp(rate[..., :, None] * (np.arange(y.shape[-1]) * dwell_time))  # (..., 1, K, N)
    basis = np.where(np.isfinite(basis), basis, 0)
    v = basis[..., 0, :, :n]  # (..., K, n): rows are the components on the fitted points
    gram = np.conj(v) @ np.swapaxes(v, -1, -2)  # conj(V^T)... (K, K) = V^H V with V = v^T
    gram += (
        np.eye(n_components)
        * (1e-9 * np.trace(gram, axis1=-2, axis2=-1).real / n_components)[..., None, None]
    )
    proj = np.linalg.solve(gram, np.conj(v))  # (..., K, n): amplitudes = proj @ x
    water = np.where(select[..., 0, :, None], basis[..., 0, :, :], 0)  # (..., K, N)
    if select.ndim == 2:  # one series: only the in-band components' amplitudes are needed
        proj, water = proj[select[0]], water[select[0]]

    def clean(x: np.ndarray, dst: np.ndarray) -> np.ndarray:
        for i in range(0, x.shape[-2], _BLOCK):  # a block of transients at a time
            blk = slice(i, i + _BLOCK)
            amp = x[..., blk, :n] @ np.swapaxes(proj, -1, -2)  # (..., T, K)
            np.subtract(x[..., blk, :], amp @ water, out=dst[..., blk, :], casting="same_kind")
        return dst

    dst = (
        np.empty(y.shape, np.result_type(y.dtype, np.complex128))
        if out is None
        else np.moveaxis(out, ax, -2)
    )
    clean(y, dst)
    result = out if out is not None else np.moveaxis(dst, -2, ax)
    if extra is None:
        return result, None
    e = np.moveaxis(np.broadcast_to(extra, fids.shape[:ax] + (1,) + fids.shape[ax + 1 :]), ax, -2)
    e_out = clean(e, np.empty(e.shape, np.result_type(e.dtype, np.complex128)))
    return result, np.moveaxis(e_out, -2, ax)


#: how the chain removes residual water: one HLSVD per transient, or one shared model per
#: series re-fitted per transient (:func:`remove_water_shared`)
WATER_MODELS = {"per_transient": remove_water, "shared": remove_water_shared}
