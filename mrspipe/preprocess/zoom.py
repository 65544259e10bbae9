"""A few contiguous points of a long (zero-filled) DFT, by the chirp z-transform.

The registration's grid search wants 2 x 89 + 1 points of an 8x zero-filled spectrum and the
QC linewidth about 130 points of a 4x zero-filled one: a full FFT of the zero-filled length
computes (and a matrix product of the points costs) far more than needed. Bluestein's
identity ``k n = (k^2 + n^2 - (k - n)^2) / 2`` turns the points into one convolution, done by
FFTs of about the signal's own length (:func:`zoom_dft`).

References
----------
Bluestein L. A linear filtering approach to the computation of discrete Fourier transform.
IEEE Trans Audio Electroacoust 1970;18:451-455.
Rabiner LR, Schafer RW, Rader CM. The chirp z-transform algorithm. IEEE Trans Audio
Electroacoust 1969;17:86-92.
"""

from __future__ import annotations

import functools

import numpy as np
import scipy.fft

__all__ = ["zoom_dft", "zoom_is_cheaper"]


def _chirp(j: np.ndarray, n_fft: int) -> np.ndarray:
    """``exp(-1j pi j^2 / n_fft)`` with ``j^2`` reduced modulo ``2 n_fft`` in integers."""
    j = np.asarray(j, np.int64)
    return np.exp(-1j * np.pi * ((j * j) % (2 * n_fft)) / n_fft)


@functools.lru_cache(maxsize=16)
def _plan(
    n_in: int, n_fft: int, first: int, count: int, dtype: str = "complex128"
) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """FFT length, input weights ``(n_in,)``, kernel spectrum ``(size,)``, output weights.

    Computed in double precision and rounded once to ``dtype``.
    """
    size = scipy.fft.next_fast_len(n_in + count - 1)
    n = np.arange(n_in, dtype=np.int64)
    # exp(-2j pi first n / n_fft) with first * n reduced modulo n_fft in integers
    pre = np.exp(-2j * np.pi * ((first * n) % n_fft) / n_fft) * _chirp(n, n_fft)
    kernel = np.zeros(size, complex)
    kernel[:count] = np.conj(_chirp(np.arange(count), n_fft))
    kernel[size - n_in + 1 :] = np.conj(_chirp(np.arange(-n_in + 1, 0), n_fft))
    spectrum = scipy.fft.fft(kernel)
    post = _chirp(np.arange(count), n_fft)
    pre, spectrum, post = (a.astype(dtype) for a in (pre, spectrum, post))
    for a in (pre, spectrum, post):
        a.flags.writeable = False
    return size, pre, spectrum, post


def zoom_is_cheaper(n_in: int, n_fft: int, count: int) -> bool:
    """Return whether :func:`zoom_dft` costs less than one FFT of ``n_fft`` points.

    It takes two FFTs of about ``n_in + count`` points.
    """
    size = scipy.fft.next_fast_len(n_in + count - 1)
    return 2.5 * size * np.log2(size) < n_fft * np.log2(max(n_fft, 2))


def zoom_dft(
    x: np.ndarray, n_fft: int, first: int, count: int, *, single: bool = False
) -> np.ndarray:
    """Points ``first .. first + count - 1`` of the ``n_fft``-point DFT of ``x`` (zero-filled).

    ``X[k] = sum_n x[n] exp(-2j pi k n / n_fft)`` for ``k = first + m``, ``0 <= m < count``;
    ``first`` may be negative (bins are taken modulo ``n_fft``), so a band around 0 Hz is
    one call. Equal to ``np.fft.fft(x, n_fft)[..., k % n_fft]`` to rounding (about 1e-15 of
    the largest point), in double precision whatever the input's; ``single`` computes in
    complex64 instead (about twice as fast, rounding about 1e-6 of the largest point).

    Parameters
    ----------
    x : (..., n_in) complex ndarray
        ``n_in <= n_fft``.
    n_fft : int
        Length of the (zero-filled) DFT.
    first : int
        First bin.
    count : int
        Number of consecutive bins.
    single : bool
        Single precision (complex64 result).

    Returns
    -------
    (..., count) complex ndarray
    """
    x = np.asarray(x)
    n_in = x.shape[-1]
    dtype = np.complex64 if single else np.complex128
    size, pre, spectrum, post = _plan(n_in, int(n_fft), int(first), int(count), dtype.__name__)
    a = np.multiply(x, pre, dtype=dtype)
    conv = scipy.fft.fft(a, size, axis=-1, overwrite_x=True)
    conv *= spectrum
    conv = scipy.fft.ifft(conv, axis=-1, overwrite_x=True)[..., :count]
    return conv * post
