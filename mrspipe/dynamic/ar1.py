"""AR(1) errors of time-course regressions: REML estimate, whitening, Satterthwaite df.

The GLM of :mod:`mrspipe.dynamic.glm` (``noise='ar1'``) estimates each course's AR(1)
coefficient (:func:`ar1_reml`), whitens course and design (:func:`prais_winsten`,
:func:`prais_winsten_design`) and counts the estimate's uncertainty in each coefficient's
degrees of freedom (:func:`satterthwaite_ar1`).

Missing frames are gaps, not neighbours (:func:`frame_gaps`): observed frames with frame
numbers ``t_i`` have ``corr(e_i, e_j) = phi^|t_i - t_j|``, which the exact whitening of the
observed frames keeps: the first observed frame scaled by ``sqrt(1 - phi^2)``, then each next
one ``(y_j - phi^k y_(j-1)) sqrt((1 - phi^2) / (1 - phi^(2k)))`` with ``k = t_j - t_(j-1)``
(in units of the innovation SD). With no gap this is Prais-Winsten.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "ar1_reml",
    "frame_gaps",
    "prais_winsten",
    "prais_winsten_design",
    "satterthwaite_ar1",
]

#: AR(1) coefficients searched by :func:`ar1_reml` before a parabolic refinement
_PHI_GRID = np.linspace(-0.9, 0.98, 189)

#: elements of the (grid, courses, frames, regressors) arrays of :func:`ar1_reml` per batch of
#: courses (16 MiB each): bounds the memory of many courses, results do not depend on it
_BATCH = 2**21

#: ``(prev, gap)`` of :func:`frame_gaps`
Gaps = tuple[np.ndarray, np.ndarray]


def frame_gaps(valid: np.ndarray, frame: np.ndarray | None = None) -> Gaps:
    """Find the previous observed frame of every frame of each course, and the gap to it.

    Parameters
    ----------
    valid : (m, n) bool array
        Observed frames of each course.
    frame : (n,) int array, optional
        Increasing frame numbers of the ``n`` columns (default ``0 .. n - 1``): a missing
        number is a gap as much as a missing (invalid) frame.

    Returns
    -------
    prev : (m, n) int ndarray
        Column of the previous observed frame (0 where there is none).
    gap : (m, n) int ndarray
        Frame-number difference to it: ``0`` at a course's first observed frame, ``-1`` at a
        missing frame.
    """
    valid = np.asarray(valid, dtype=bool)
    m, n = valid.shape
    f = np.arange(n) if frame is None else np.asarray(frame).astype(np.int64)
    if f.shape != (n,) or np.any(np.diff(f) <= 0):
        raise ValueError("frame numbers must be one per column and increasing")
    pos = np.where(valid, np.arange(n), -1)
    prev = np.full((m, n), -1)
    prev[:, 1:] = np.maximum.accumulate(pos, axis=1)[:, :-1]
    prev0 = np.clip(prev, 0, None)
    gap = np.where(prev >= 0, f - f[prev0], 0)
    return prev0, np.where(valid, gap, -1)


def _all_observed(shape: tuple[int, int]) -> Gaps:
    m, n = shape
    prev = np.broadcast_to(np.clip(np.arange(n) - 1, 0, None), (m, n))
    gap = np.broadcast_to(np.minimum(np.arange(n), 1), (m, n))
    return prev, gap


def _tables(phi: np.ndarray, gap: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-gap whitening ``a0 y_j + a1 y_(j-1)`` and ``log`` scale terms, indexed by ``gap``.

    ``phi`` any shape, ``gap`` (m, n): each of shape ``phi.shape + (k_max + 2,)``; entry ``k``
    for a gap of ``k`` frames (``0``: first frame), the last for missing frames (``gap = -1``).
    A one-frame gap gives exactly ``1`` and ``-phi`` (Prais-Winsten, bit for bit).
    """
    ph = np.asarray(phi, dtype=float)[..., None]
    k = np.arange(max(int(gap.max(initial=0)), 1) + 2)
    powers = np.ones(ph.shape[:-1] + k.shape)  # phi^k by repeated products (k = 0 .. K-1)
    powers[..., 1:] = np.cumprod(np.broadcast_to(ph, ph.shape[:-1] + k[1:].shape), axis=-1)
    pk = np.where(k == 1, ph, powers)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (1 - ph**2) / (1 - pk**2)
    scale = np.where(k == 1, 1.0, np.sqrt(ratio))
    missing = k == k[-1]
    a0 = np.where(k == 0, np.sqrt(1 - ph**2), np.where(missing, 0.0, scale))
    a1 = np.where((k >= 1) & ~missing, -scale * pk, 0.0)
    log_scale2 = np.where((k > 1) & ~missing, np.log(np.where(k > 1, ratio, 1.0)), 0.0)
    return a0, a1, log_scale2


def _gather(table: np.ndarray, gap: np.ndarray) -> np.ndarray:
    """Look up each frame's entry: (..., m, n).

    ``table[..., m, gap[m, j]]`` for a table (..., m, K), ``table[g, gap]`` for a table (G, K)
    (one row per grid value, shared by the courses).
    """
    if table.ndim == 2 and table.shape[0] != gap.shape[0]:
        return np.take(table, gap, axis=-1)
    shape = table.shape[:-1] + gap.shape[-1:]
    return np.take_along_axis(table, np.broadcast_to(gap, shape), axis=-1)


def _gap_counts(gap: np.ndarray, size: int) -> np.ndarray:
    """How many frames of each course have each gap (the last column: missing): (m, size)."""
    m = gap.shape[0]
    counts = np.zeros((m, size))
    np.add.at(counts, (np.broadcast_to(np.arange(m)[:, None], gap.shape), gap), 1.0)
    return counts


def _whiten(
    a: np.ndarray,
    phi: np.ndarray,
    gaps: Gaps | None,
    coefficients: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Whiten ``a`` (m, n) or (m, n, p) for each ``phi`` (..., m): (..., m, n[, p])."""
    m, n = a.shape[:2]
    prev, gap = _all_observed((m, n)) if gaps is None else gaps
    if coefficients is None:
        coefficients = _coefficients(np.asarray(phi, dtype=float), gap)
    a0, a1 = coefficients
    a = np.where((gap < 0).reshape(gap.shape + (1,) * (a.ndim - 2)), 0.0, a)
    shifted = a[np.arange(m)[:, None], prev]
    if a.ndim == 3:
        a0, a1 = a0[..., None], a1[..., None]
    # C order (fancy indexing may not give it: sums over frames keep their order), and one
    # temporary of the output's size (the (grid, m, n, p) designs of ar1_reml are large)
    out = np.empty(np.broadcast_shapes(a0.shape, a.shape))
    np.multiply(a0, a, out=out)
    out += a1 * shifted
    return out


def _coefficients(phi: np.ndarray, gap: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``a0, a1`` of every frame: each ``phi.shape + (n,)``."""
    a0, a1, _ = _tables(phi, gap)
    return _gather(a0, gap), _gather(a1, gap)


def prais_winsten(y: np.ndarray, phi: np.ndarray, *, gaps: Gaps | None = None) -> np.ndarray:
    """Whiten AR(1) series: ``sqrt(1 - phi^2) y_0`` then ``y_t - phi y_(t-1)``.

    With ``gaps`` (:func:`frame_gaps`), missing frames give ``0`` and a gap of ``k`` frames
    ``(y_j - phi^k y_(j-1)) sqrt((1 - phi^2) / (1 - phi^(2k)))``.

    Parameters
    ----------
    y : (m, n) float array
    phi : (m,) float array
    gaps : (prev, gap), each (m, n) int array, optional
        Default: every frame observed, consecutive.

    Returns
    -------
    (m, n) float ndarray
    """
    return _whiten(np.asarray(y, dtype=float), phi, gaps)


def prais_winsten_design(x: np.ndarray, phi: np.ndarray, *, gaps: Gaps | None = None) -> np.ndarray:
    """:func:`prais_winsten` of a design for each ``phi``.

    Parameters
    ----------
    x : (n, p) or (m, n, p) float array
        A shared design or one per course.
    phi : (m,) float array
    gaps : (prev, gap), each (m, n) int array, optional

    Returns
    -------
    (m, n, p) float ndarray
    """
    ph = np.asarray(phi, dtype=float)
    xb = np.broadcast_to(np.asarray(x, dtype=float), (ph.shape[0], *np.shape(x)[-2:]))
    return _whiten(xb, ph, gaps)


def _log_det_gaps(phi: np.ndarray, gap: np.ndarray) -> np.ndarray:
    """``sum_j log((1 - phi^2) / (1 - phi^(2 k_j)))`` over gaps ``k_j > 1`` of each course.

    ``phi`` (m,) (one per course) or (G, 1) (grid values shared by the courses): (m,) or (G, m).
    """
    log_scale2 = _tables(phi, gap)[2]
    counts = _gap_counts(gap, log_scale2.shape[-1])
    if log_scale2.ndim == 3:  # (G, 1, K)
        return log_scale2[:, 0] @ counts.T
    return np.sum(log_scale2 * counts, axis=-1)


def satterthwaite_ar1(
    xs: np.ndarray, phi: np.ndarray, df: np.ndarray, *, gaps: Gaps | None = None
) -> np.ndarray:
    """Satterthwaite df of each GLS coefficient with an estimated AR(1) coefficient.

    ``var(beta_j) = s2 c_j(phi)``; with ``var(s2) = 2 s2^2 / df`` and
    ``var(phi) = (1 - phi^2) / n_eff``, ``df_j = 2 / (2 / df + (d ln c_j / d phi)^2 var(phi))``.
    ``n_eff`` is the frame count with every observed frame after a gap of ``k`` frames counted
    by its share of the information on ``phi``, ``(1 - phi^2) k^2 phi^(2k-2) / (1 - phi^(2k))``
    (1 for consecutive frames, so ``n_eff = n`` without gaps). Courses with ``phi = 0`` (not
    estimated) keep ``df``.

    Parameters
    ----------
    xs : (m, n, p) float array
        Designs (weighted; zero rows at missing frames).
    phi, df : (m,) float array
    gaps : (prev, gap), each (m, n) int array, optional

    Returns
    -------
    (m, p) float ndarray

    References
    ----------
    Satterthwaite FE. Biometrics Bulletin 1946. Box GEP, Jenkins GM. Time Series Analysis
    (the large-sample variance of the AR(1) estimate).
    """
    h = 1e-4
    m, n = xs.shape[:2]
    gap = _all_observed((m, n))[1] if gaps is None else gaps[1]

    def log_c(ph: np.ndarray) -> np.ndarray:
        xw = prais_winsten_design(xs, np.clip(ph, -0.999, 0.999), gaps=gaps)
        return np.log(np.einsum("mpp->mp", np.linalg.inv(np.einsum("mnp,mnq->mpq", xw, xw))))

    ph = phi[:, None]
    k = np.maximum(gap, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = (1 - ph**2) * k**2 * ph ** (2 * k - 2) / (1 - ph ** (2 * k))
    share = np.where(gap == 1, 1.0, np.where(gap > 1, np.nan_to_num(share), 0.0))
    n_eff = np.sum(np.where(gap == 0, 1.0, share), axis=1)
    slope = (log_c(phi + h) - log_c(phi - h)) / (2 * h)
    out = 2.0 / (2.0 / df[:, None] + slope**2 * (1 - ph**2) / n_eff[:, None])
    return np.where(ph != 0, out, df[:, None].astype(float))


def ar1_reml(y: np.ndarray, x: np.ndarray, *, gaps: Gaps | None = None) -> np.ndarray:
    """Restricted-maximum-likelihood AR(1) coefficient of each course's regression errors.

    ``-2 log L_R(phi) = (n - p) log RSS_w(phi) - log |W|^2 + log |X_w' X_w|`` (the innovation
    variance profiled out), ``_w`` = whitened by ``W`` (:func:`prais_winsten`; ``n`` the
    observed frames, ``log |W|^2 = log(1 - phi^2) + sum_j log((1 - phi^2) / (1 - phi^(2 k_j)))``
    over gaps ``k_j > 1``); minimised over a grid of ``phi`` (the design is whitened once per
    grid value for all courses) and refined by a parabola through the best grid point and its
    neighbours.

    Parameters
    ----------
    y : (m, n) float array
    x : (n, p) or (m, n, p) float array
    gaps : (prev, gap), each (m, n) int array, optional
        From :func:`frame_gaps`; missing frames are ignored. Default: every frame observed.

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
    per = max(1, _BATCH // (grid.size * n * p))
    if m > per:  # batches of courses (each course's estimate is computed on its own)
        parts = [slice(i, i + per) for i in range(0, m, per)]
        return np.concatenate(
            [
                ar1_reml(y[s], xs[s], gaps=None if gaps is None else (gaps[0][s], gaps[1][s]))
                for s in parts
            ]
        )
    gap = _all_observed((m, n))[1] if gaps is None else gaps[1]
    n_obs = np.sum(gap >= 0, axis=1)
    g2 = np.broadcast_to(grid[:, None], (grid.size, m))
    # whiten every course's design at every grid value: (G, m, n, p)
    a0, a1, _ = _tables(grid, gap)  # (G, K): the same for every course
    coefficients = (_gather(a0, gap), _gather(a1, gap))
    xw = _whiten(xs, g2, gaps, coefficients)
    q, r = np.linalg.qr(xw)
    logdet = 2 * np.sum(np.log(np.abs(np.einsum("gmpp->gmp", r))), axis=2)  # (G, m)
    yw = _whiten(np.asarray(y, dtype=float), g2, gaps, coefficients)
    proj = np.einsum("gmnp,gmn->gmp", q, yw)
    rss = np.sum(yw**2, axis=2) - np.sum(proj**2, axis=2)  # (G, m)
    crit = (n_obs - p) * np.log(np.clip(rss, 1e-300, None)) - np.log(1 - grid**2)[:, None]
    crit -= _log_det_gaps(grid[:, None], gap)
    crit += logdet
    k = np.clip(np.argmin(crit, axis=0), 1, grid.size - 2)
    cols = np.arange(y.shape[0])
    f0, f1, f2 = crit[k - 1, cols], crit[k, cols], crit[k + 1, cols]
    h = grid[1] - grid[0]
    curv = f0 - 2 * f1 + f2
    with np.errstate(invalid="ignore", divide="ignore"):
        shift = np.where(curv > 0, 0.5 * h * (f0 - f2) / curv, 0.0)
    return np.clip(grid[k] + np.clip(shift, -h, h), grid[0], grid[-1])
