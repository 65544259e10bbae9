"""Start values of the nonlinear parameters, batched over frames.

Frequency shift and zero-order phase come from a cross-correlation of each frame with every
basis spectrum (broadened to the start lineshape), combined by least squares: for each integer
lag ``l`` (bins of ``1 / (n_points * dwell)`` Hz, within ``max_shift_hz``) the basis spectra
shifted by ``l`` are fitted to the frame with one common zero-order phase and real amplitudes;
the best reduction of the residual over the phase has a closed form (the largest eigenvalue of
a 2 x 2 matrix), and its eigenvector gives the phase. The lag with the largest reduction,
refined by a parabola, is the shift. Shifting by whole bins is exact for the DFT, so the basis
spectra are transformed once for all lags and frames, and their Gram matrix (which changes with
the lag where a spectrum enters or leaves the band) is inverted once per lag, cached on the
problem; the cost per frame is a few small matrix products. The lags searched cover the bound
of the shift, so the fit never starts short of a shift it may reach. Widths start at the
lineshape model's start values (:meth:`~mrspipe.fit.layout.ParameterLayout.start`); the
first-order phase at 0.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping

import numpy as np
import scipy.fft

from .band import rows_matmul
from .model import FitProblem

__all__ = ["start_values"]


def start_values(
    problem: FitProblem,
    y: np.ndarray,
    *,
    start: Mapping[str, float] | None = None,
    max_shift_hz: float | None = None,
) -> np.ndarray:
    """Robust start values for every frame.

    Parameters
    ----------
    problem : FitProblem
    y : (n_frames, K) complex ndarray
        Data over the fit band.
    start : mapping of str to float, optional
        Start widths by reported name (``{"lorentz_hz": 4.0, "gauss_hz": 4.0}``); default the
        lineshape model's.
    max_shift_hz : float, Hz, optional
        Largest frequency offset searched; default the bound of the shift, so the search covers
        every shift the fit may reach.

    Returns
    -------
    (n_frames, n_params) float ndarray
    """
    n_f = y.shape[0]
    theta = problem.layout.start(n_f, start)
    if max_shift_hz is None:
        max_shift_hz = float(problem.upper[problem.layout.index("shift")].min())
    lags, df, templates, ginv, norms = _templates(problem, theta[0], max_shift_hz)
    # metric of the profiled baseline: <a, b> = Re(a^H (I - S) b)
    d = 1.0 - (1.0 - problem.w) ** 2
    r = y - ((y @ problem.u) * d) @ problem.u.T  # (I - S) y
    # one matrix product (BLAS) over all lags and basis spectra: (F, K) x (K, L M), frames
    # as rows (a frame's result does not depend on the others)
    b = rows_matmul(r, templates).reshape(n_f, lags.size, -1)
    br, bi = b.real, b.imag
    xr = np.einsum("flm,lmn->fln", br, ginv)
    xi = np.einsum("flm,lmn->fln", bi, ginv)
    qa = np.einsum("flm,flm->fl", xr, br)
    qb = np.einsum("flm,flm->fl", xr, bi)
    qc = np.einsum("flm,flm->fl", xi, bi)
    gain = 0.5 * (qa + qc) + np.sqrt(0.25 * (qa - qc) ** 2 + qb**2)
    best = np.argmax(gain, axis=1)
    rows = np.arange(n_f)
    inner = np.clip(best, 1, lags.size - 2)
    g_m, g_0, g_p = gain[rows, inner - 1], gain[rows, inner], gain[rows, inner + 1]
    denom = g_m - 2.0 * g_0 + g_p
    safe = np.where(denom < 0, denom, -1.0)
    frac = np.where(
        (denom < 0) & (best == inner), np.clip(0.5 * (g_m - g_p) / safe, -0.5, 0.5), 0.0
    )
    shift = (lags[best] + frac) * df
    phi = 0.5 * np.arctan2(2.0 * qb[rows, best], qa[rows, best] - qc[rows, best])
    # the eigenvector fixes the phase up to pi: take the one with positive total amplitude
    amp = np.cos(phi)[:, None] * xr[rows, best] + np.sin(phi)[:, None] * xi[rows, best]
    phi = np.where((amp * norms[best]).sum(axis=1) < 0, phi + np.pi, phi)
    layout = problem.layout
    theta[:, layout.index("shift")] = shift[:, None]
    theta[:, layout.phase0] = np.angle(np.exp(1j * phi))
    return problem.clip(theta)


_LOCK = threading.Lock()


def _templates(
    problem: FitProblem, start: np.ndarray, max_shift_hz: float
) -> tuple[np.ndarray, float, np.ndarray, np.ndarray, np.ndarray]:
    """Return the basis broadened to the start lineshape, shifted by every lag (cached).

    Returns the lags ``(L,)``, the bin width (Hz), the conjugated templates ``(K, L M)``, the
    regularised inverse of their Gram matrix at every lag ``(L, M, M)`` and their norms
    ``(L, M)``: all the same for every chunk of frames.

    The Gram matrix is computed per lag: a component lying mostly outside the band at one lag
    (MM09 or Lip13 with a band starting at 1.8 ppm) has a small norm there and a larger one at
    another, and the inverse at lag 0 used for all lags inflated its gain there (sub-02 of the
    Osprey Philips pair fitted over 1.8-4.2 ppm started 20 Hz off and ended at Cr = 0).
    """
    key = ("start_templates", start.tobytes(), float(max_shift_hz))
    with _LOCK:
        store = problem.__dict__.setdefault("_store", {})
        if key in store:
            out: tuple[np.ndarray, float, np.ndarray, np.ndarray, np.ndarray] = store[key]
            return out
    n = problem.t.size
    h = problem.lineshapes(start[None], np.complex128)[0]  # (G, N)
    spec = np.fft.fftshift(
        scipy.fft.fft(problem.basis_fids * h[problem.group_of], axis=-1), axes=-1
    )  # (M, N), shifted order
    pos = np.argsort(np.fft.fftshift(np.arange(n)))[problem.band]  # band in shifted order
    df = 1.0 / (n * float(problem.t[1] - problem.t[0]))
    max_lag = max(1, int(np.ceil(max_shift_hz / df)))
    lags = np.arange(-max_lag, max_lag + 1)
    idx = np.clip(pos[None, :] - lags[:, None], 0, n - 1)  # (L, K)
    cols = spec[:, idx].transpose(1, 0, 2)  # (L, M, K): basis shifted by each lag
    d = 1.0 - (1.0 - problem.w) ** 2
    cols_s = cols - ((cols @ problem.u) * d) @ problem.u.T
    gram = np.matmul(cols.conj(), cols_s.transpose(0, 2, 1)).real  # (L, M, M)
    gram = 0.5 * (gram + gram.transpose(0, 2, 1))
    n_m = gram.shape[1]
    ridge = 1e-10 * np.trace(gram, axis1=1, axis2=2) / n_m + 1e-300
    ginv = np.linalg.pinv(gram + ridge[:, None, None] * np.eye(n_m), hermitian=True)
    templates = np.ascontiguousarray(cols.reshape(lags.size * cols.shape[1], -1).conj().T)
    norms = np.sqrt(np.clip(np.diagonal(gram, axis1=1, axis2=2), 0.0, None))
    out = (lags, df, templates, ginv, norms)
    with _LOCK:
        store[key] = out
    return out
