"""Start values of the nonlinear parameters, batched over frames.

* Frequency shift: cross-correlation of the magnitude spectrum of every frame with the
  magnitude of the summed basis (broadened to the start linewidth), over lags within
  ``max_shift_hz``, refined by a parabola through the peak.
* Zero-order phase: the angle of the inner product of the data with the shifted template of the
  large singlets (NAA 2.008, Cr/PCr 3.03, Cho 3.2 ppm; the whole template if none of them is in
  the basis) in windows around them.
* Widths: the ``lorentz_hz``/``gauss_hz`` given; first-order phase 0.
"""

from __future__ import annotations

import numpy as np

from .model import N_GROUP_PARAMS, FitProblem

__all__ = ["start_values", "SINGLETS"]

#: singlet name aliases -> chemical shift of the singlet, ppm
SINGLETS: dict[tuple[str, ...], float] = {
    ("NAA",): 2.008,
    ("Cr", "PCr", "tCr"): 3.027,
    ("GPC", "PCho", "PCh", "PC", "Cho", "tCho"): 3.21,
}


def start_values(
    problem: FitProblem,
    y: np.ndarray,
    names: tuple[str, ...],
    *,
    lorentz_hz: float = 4.0,
    gauss_hz: float = 4.0,
    max_shift_hz: float = 20.0,
    spectrometer_frequency: float,
) -> np.ndarray:
    """Robust start values for every frame.

    Parameters
    ----------
    problem : FitProblem
    y : (n_frames, K) complex ndarray
        Data over the fit band.
    names : tuple of str
        Basis metabolite names (to find the singlets).
    lorentz_hz, gauss_hz : float, Hz
        Start Lorentzian and Gaussian FWHM.
    max_shift_hz : float, Hz
        Largest frequency offset searched.
    spectrometer_frequency : float, MHz

    Returns
    -------
    (n_frames, n_params) float ndarray
    """
    n_f, n_k = y.shape
    theta = np.zeros((n_f, problem.n_params))
    for g in range(problem.n_groups):
        theta[:, N_GROUP_PARAMS * g + 1] = lorentz_hz
        theta[:, N_GROUP_PARAMS * g + 2] = gauss_hz**2
    ref = problem.columns(theta[:1], np.complex128)[0]  # (M, K) at zero shift and phase
    metab = problem.group_of == 0
    template = ref[metab].sum(axis=0)
    df = float(problem.freq[1] - problem.freq[0])
    max_lag = max(1, min(int(np.ceil(max_shift_hz / df)), n_k // 4))
    lags = np.arange(-max_lag, max_lag + 1)
    mag_t = np.abs(template)
    mag_t = mag_t - mag_t.mean()
    mag_y = np.abs(y)
    mag_y = mag_y - mag_y.mean(axis=1, keepdims=True)
    # shifted copies of the template (zero where it leaves the band): (n_lags, K)
    shifted = np.zeros((lags.size, n_k))
    for i, lag in enumerate(lags):
        if lag >= 0:
            shifted[i, lag:] = mag_t[: n_k - lag]
        else:
            shifted[i, :lag] = mag_t[-lag:]
    corr = mag_y @ shifted.T  # (F, n_lags)
    best = np.argmax(corr, axis=1)
    inner = np.clip(best, 1, lags.size - 2)
    rows = np.arange(n_f)
    c_m, c_0, c_p = corr[rows, inner - 1], corr[rows, inner], corr[rows, inner + 1]
    denom = c_m - 2 * c_0 + c_p
    frac = np.where(denom < 0, 0.5 * (c_m - c_p) / np.where(denom < 0, denom, -1.0), 0.0)
    frac = np.where(best == inner, np.clip(frac, -0.5, 0.5), 0.0)
    shift = (lags[best] + frac) * df
    for g in range(problem.n_groups):
        theta[:, N_GROUP_PARAMS * g] = shift

    # zero-order phase from the singlets, with the template moved to the estimated shift
    rows_s = [i for i, n in enumerate(names) if any(n in al for al in SINGLETS) and metab[i]]
    tmpl = ref[rows_s].sum(axis=0) if rows_s else template
    windows = np.zeros(n_k, bool)
    if rows_s:
        for aliases, ppm0 in SINGLETS.items():
            if any(n in aliases for n in names):
                windows |= np.abs(problem.ppm - ppm0) < 0.1
    else:
        windows[:] = True
    k = np.arange(n_k)
    moved = np.zeros((n_f, n_k), complex)
    # move the template by the (fractional) shift with linear interpolation, per frame
    pos = k[None, :] - shift[:, None] / df
    lo = np.clip(np.floor(pos).astype(int), 0, n_k - 1)
    hi = np.clip(lo + 1, 0, n_k - 1)
    w = pos - np.floor(pos)
    inside = (pos >= 0) & (pos <= n_k - 1)
    moved = np.where(inside, (1 - w) * tmpl[lo] + w * tmpl[hi], 0.0)
    win = np.where(inside, windows[lo], False)
    theta[:, -2] = np.angle(np.einsum("fk,fk->f", np.where(win, y, 0.0), moved.conj()))
    return problem.clip(theta)
