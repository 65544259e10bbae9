"""AR(1) errors of time-course regressions: REML estimate, whitening, Satterthwaite df.

The GLM of :mod:`mrspipe.dynamic.glm` (``noise='ar1'``) estimates each course's AR(1)
coefficient (:func:`ar1_reml`), whitens course and design (:func:`prais_winsten`,
:func:`prais_winsten_design`) and counts the estimate's uncertainty in each coefficient's
degrees of freedom (:func:`satterthwaite_ar1`).
"""

from __future__ import annotations

import numpy as np

__all__ = ["ar1_reml", "prais_winsten", "prais_winsten_design", "satterthwaite_ar1"]

#: AR(1) coefficients searched by :func:`ar1_reml` before a parabolic refinement
_PHI_GRID = np.linspace(-0.9, 0.98, 189)


def prais_winsten(y: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """Whiten AR(1) series: ``sqrt(1 - phi^2) y_0`` then ``y_t - phi y_(t-1)``.

    Parameters
    ----------
    y : (m, n) float array
    phi : (m,) float array

    Returns
    -------
    (m, n) float ndarray
    """
    ph = np.asarray(phi, dtype=float)[:, None]
    out = np.empty_like(y, dtype=float)
    out[:, :1] = np.sqrt(1 - ph**2) * y[:, :1]
    out[:, 1:] = y[:, 1:] - ph * y[:, :-1]
    return out


def prais_winsten_design(x: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """:func:`prais_winsten` of a design for each ``phi``.

    Parameters
    ----------
    x : (n, p) or (m, n, p) float array
        A shared design or one per course.
    phi : (m,) float array

    Returns
    -------
    (m, n, p) float ndarray
    """
    ph = np.asarray(phi, dtype=float)[:, None, None]
    xb = np.broadcast_to(x, (ph.shape[0], *np.shape(x)[-2:]))
    out = np.empty(xb.shape)
    out[:, :1] = np.sqrt(1 - ph**2) * xb[:, :1]
    out[:, 1:] = xb[:, 1:] - ph * xb[:, :-1]
    return out


def satterthwaite_ar1(
    xs: np.ndarray, phi: np.ndarray, df: np.ndarray, n: int, p: int
) -> np.ndarray:
    """Satterthwaite df of each GLS coefficient with an estimated AR(1) coefficient.

    ``var(beta_j) = s2 c_j(phi)``; with ``var(s2) = 2 s2^2 / df`` and
    ``var(phi) = (1 - phi^2) / n``, ``df_j = 2 / (2 / df + (d ln c_j / d phi)^2 (1 - phi^2) / n)``.
    Courses with ``phi = 0`` (not estimated) keep ``df``.

    References
    ----------
    Satterthwaite FE. Biometrics Bulletin 1946. Box GEP, Jenkins GM. Time Series Analysis
    (the large-sample variance of the AR(1) estimate).
    """
    h = 1e-4

    def log_c(ph: np.ndarray) -> np.ndarray:
        xw = prais_winsten_design(xs, np.clip(ph, -0.999, 0.999))
        return np.log(np.einsum("mpp->mp", np.linalg.inv(np.einsum("mnp,mnq->mpq", xw, xw))))

    slope = (log_c(phi + h) - log_c(phi - h)) / (2 * h)
    out = 2.0 / (2.0 / df[:, None] + slope**2 * (1 - phi[:, None] ** 2) / n)
    return np.where(phi[:, None] != 0, out, df[:, None].astype(float))


def ar1_reml(y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Restricted-maximum-likelihood AR(1) coefficient of each course's regression errors.

    ``-2 log L_R(phi) = (n - p) log RSS_w(phi) - log(1 - phi^2) + log |X_w' X_w|`` (the
    innovation variance profiled out), ``_w`` = Prais-Winsten-whitened; minimised over a grid
    of ``phi`` (the design is whitened once per grid value for all courses) and refined by a
    parabola through the best grid point and its neighbours.

    Parameters
    ----------
    y : (m, n) float array
    x : (n, p) or (m, n, p) float array

    Returns
    -------
    (m,) float ndarray

    References
    ----------
    Cooper DM, Thompson R. A note on the estimation of the parameters of the
    autoregressive-moving average process. Biometrika 1977. Worsley KJ et al. A general
    statistical analysis for fMRI data. NeuroImage 2002.
    """
    n, p = np.shape(x)[-2:]
    grid = _PHI_GRID
    m = y.shape[0]
    xs = np.broadcast_to(x, (m, n, p))
    # whiten every course's design at every grid value: (G, m, n, p)
    xw = np.empty((grid.size, m, n, p))
    g4 = grid[:, None, None, None]
    xw[:, :, :1] = np.sqrt(1 - g4**2) * xs[None, :, :1]
    xw[:, :, 1:] = xs[None, :, 1:] - g4 * xs[None, :, :-1]
    q, r = np.linalg.qr(xw)
    logdet = 2 * np.sum(np.log(np.abs(np.einsum("gmpp->gmp", r))), axis=2)  # (G, m)
    g3 = grid[:, None, None]
    yw = np.empty((grid.size, m, n))
    yw[:, :, :1] = np.sqrt(1 - g3**2) * y[None, :, :1]
    yw[:, :, 1:] = y[None, :, 1:] - g3 * y[None, :, :-1]
    proj = np.einsum("gmnp,gmn->gmp", q, yw)
    rss = np.sum(yw**2, axis=2) - np.sum(proj**2, axis=2)  # (G, m)
    crit = (n - p) * np.log(np.clip(rss, 1e-300, None)) - np.log(1 - grid**2)[:, None]
    crit += logdet
    k = np.clip(np.argmin(crit, axis=0), 1, grid.size - 2)
    cols = np.arange(y.shape[0])
    f0, f1, f2 = crit[k - 1, cols], crit[k, cols], crit[k + 1, cols]
    h = grid[1] - grid[0]
    curv = f0 - 2 * f1 + f2
    with np.errstate(invalid="ignore", divide="ignore"):
        shift = np.where(curv > 0, 0.5 * h * (f0 - f2) / curv, 0.0)
    return np.clip(grid[k] + np.clip(shift, -h, h), grid[0], grid[-1])
