"""Fit QC measured on the fitted spectrum: linewidth of a reference singlet, bound flags.

The linewidth reported by LCModel (``FWHM``) and used by the consensus QC thresholds (Wilson et
al. 2019; Kreis 2004) is the full width at half maximum of the spectrum itself, not the
broadening the fit added to the basis (which excludes the basis' own linewidth and, for a Voigt
line, is not a width at all). It is measured here on the fitted component of a reference
singlet (NAA at 2.01 ppm, else tCr at 3.03 ppm): the basis spectrum times the fitted
lineshape of its group, zero-filled four-fold, real part of the absorption; the half-maximum
crossings either side of the peak are interpolated linearly.

References
----------
Provencher SW. LCModel & LCMgui user's manual, FWHM in the output table.
Wilson M, Andronesi O, Barker PB, et al. Methodological consensus on clinical proton MRS of
the brain: review and recommendations. Magn Reson Med 2019;82:527-550.
"""

from __future__ import annotations

import numpy as np

__all__ = ["REFERENCE_SINGLETS", "residual_inflation", "singlet_fwhm", "spectrum_fwhm"]

#: candidate reference singlets for the measured linewidth, in order: (name, ppm)
REFERENCE_SINGLETS: tuple[tuple[str, float], ...] = (("NAA", 2.008), ("Cr", 3.027), ("PCr", 3.029))


def singlet_fwhm(
    fid: np.ndarray,
    lineshape: np.ndarray,
    *,
    dwell_time: float,
    spectrometer_frequency: float,
    ppm_reference: float,
    peak_ppm: float,
    window_ppm: float = 0.1,
    zero_fill: int = 4,
) -> np.ndarray:
    """FWHM of a broadened basis singlet, measured on its spectrum.

    Parameters
    ----------
    fid : (n_points,) complex ndarray
        Basis FID of the reference metabolite.
    lineshape : (n_frames, n_points) complex ndarray
        Fitted lineshape ``h(t)`` of its group per frame (shift included or not: the peak is
        searched within ``window_ppm``).
    dwell_time : float, s
    spectrometer_frequency : float, MHz
    ppm_reference : float, ppm
    peak_ppm : float, ppm
        Nominal position of the singlet.
    window_ppm : float, ppm
        Half-width of the peak search window.
    zero_fill : int
        Zero-filling factor before the FFT.

    Returns
    -------
    (n_frames,) float ndarray, Hz
        NaN when no half-maximum crossing is found on one side within the spectrum.
    """
    n = fid.shape[-1]
    m = zero_fill * n
    spec = np.fft.fftshift(np.fft.fft(fid * lineshape, n=m, axis=-1), axes=-1).real
    freq = np.fft.fftshift(np.fft.fftfreq(m, dwell_time))
    ppm = freq / spectrometer_frequency + ppm_reference
    return spectrum_fwhm(spec, freq, ppm, peak_ppm=peak_ppm, window_ppm=window_ppm)


def spectrum_fwhm(
    spec: np.ndarray,
    freq: np.ndarray,
    ppm: np.ndarray,
    *,
    peak_ppm: float,
    window_ppm: float = 0.1,
) -> np.ndarray:
    """FWHM of the highest peak within ``window_ppm`` of ``peak_ppm`` (see :func:`singlet_fwhm`).

    Parameters
    ----------
    spec : (n_frames, m) float ndarray
        Real spectra on a uniform ascending grid.
    freq : (m,) float ndarray, Hz
    ppm : (m,) float ndarray, ppm
        The grid in both units.
    peak_ppm, window_ppm : float, ppm
        Nominal position of the singlet and half-width of the peak search window.

    Returns
    -------
    (n_frames,) float ndarray, Hz
        Half-maximum crossings interpolated linearly; NaN when one side has none in ``spec``.
    """
    m = spec.shape[-1]
    win = np.abs(ppm - peak_ppm) <= window_ppm
    masked = np.where(win, spec, -np.inf)
    top = np.argmax(masked, axis=1)
    rows = np.arange(spec.shape[0])
    half = 0.5 * spec[rows, top]
    below = spec < half[:, None]
    idx = np.arange(m)
    # nearest point below half maximum on each side of the peak
    left = np.where(below & (idx < top[:, None]), idx, -1).max(axis=1)
    right = np.where(below & (idx > top[:, None]), idx, m).min(axis=1)
    ok = (left >= 0) & (right < m) & (half > 0)
    lc, rc = np.clip(left, 0, m - 2), np.clip(right, 1, m - 1)

    def cross(i0: np.ndarray, i1: np.ndarray) -> np.ndarray:
        y0, y1 = spec[rows, i0], spec[rows, i1]
        frac = (half - y0) / np.where(y1 != y0, y1 - y0, 1.0)
        return freq[i0] + frac * (freq[i1] - freq[i0])

    width = cross(rc - 1, rc) - cross(lc, lc + 1)
    return np.where(ok, np.abs(width), np.nan)


def residual_inflation(resid: np.ndarray, max_lag: np.ndarray | int) -> np.ndarray:
    """Variance inflation of the noise from the correlation of the fit residual.

    A correct model leaves white noise in the spectrum; model mismatch (lineshape, baseline,
    macromolecules, missing metabolites) or correlated noise leaves a residual that is smooth
    along the frequency axis. The variance of an amplitude estimated from a template spanning
    a few points is then larger than ``sigma^2 sum(a^2)``: by the factor ``1 + 2 sum_l w_l
    rho(l)`` of the residual's autocorrelation ``rho`` (Bartlett weights ``w_l = 1 - l /
    (L + 1)``, ``L`` about a linewidth: the long-run variance of a Newey-West estimator). The
    factor is reduced by twice its sampling SD under white noise (so a correct model keeps
    factor 1 up to chance) and never goes below 1.

    Parameters
    ----------
    resid : (n_frames, K) complex ndarray
        Fit residual over the band (baseline removed).
    max_lag : int or (n_frames,) int ndarray
        ``L``, points.

    Returns
    -------
    (n_frames,) float ndarray, >= 1
        Multiply variances (covariances) by it, SDs by its square root.

    References
    ----------
    Newey WK, West KD. A simple, positive semi-definite, heteroskedasticity and autocorrelation
    consistent covariance matrix. Econometrica 1987;55:703-708.
    """
    n_f, n_k = resid.shape
    lag_max = np.broadcast_to(np.asarray(max_lag, dtype=int), (n_f,))
    top = int(min(max(lag_max.max(initial=1), 1), n_k // 4))
    parts = np.stack([resid.real, resid.imag])  # (2, F, K)
    parts = parts - parts.mean(axis=-1, keepdims=True)
    power = (parts**2).sum(axis=(0, 2)) + 1e-300
    factor = np.ones(n_f)
    sum_w2 = np.zeros(n_f)
    for lag in range(1, top + 1):
        rho = (parts[..., lag:] * parts[..., :-lag]).sum(axis=(0, 2)) / power
        w = np.where(lag <= lag_max, 1.0 - lag / (lag_max + 1.0), 0.0)
        factor += 2.0 * w * rho
        sum_w2 += w**2
    null_sd = 2.0 * np.sqrt(sum_w2 / (2.0 * n_k))
    return np.maximum(factor - 2.0 * null_sd, 1.0)
