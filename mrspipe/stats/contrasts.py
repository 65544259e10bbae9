"""Vectorised cell-mean contrasts of per-participant values, for many relabellings at once.

Every crossover test of :mod:`mrspipe.stats.crossover` is a contrast of cell means with a pooled
residual variance (plain paired t: one cell; Jones-Kenward period-adjusted effect: the two
sequence groups; condition x sex adjusted for period: sex x sequence cells) or a Welch
two-group difference. Written for an ``(M, n)`` stack of relabelled data so that the observed
statistic (row 0) and every permutation come out of the same few array operations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

__all__ = ["ContrastStats", "cell_contrast", "welch_contrast"]


@dataclass(frozen=True)
class ContrastStats:
    """Statistics of a contrast for ``M`` relabellings (row 0 = the data as observed).

    Attributes
    ----------
    estimate, se, df, t : (M,) float ndarray
    """

    estimate: np.ndarray
    se: np.ndarray
    df: np.ndarray
    t: np.ndarray

    def ci(self, alpha: float) -> tuple[float, float]:
        """Student-t interval of row 0."""
        q = sps.t.ppf(1 - alpha / 2, self.df[0]) if self.df[0] > 0 else np.nan
        return float(self.estimate[0] - q * self.se[0]), float(self.estimate[0] + q * self.se[0])

    def p_value(self) -> float:
        """Two-sided t-test p-value of row 0."""
        if not (self.df[0] > 0 and self.se[0] > 0):
            return float("nan")
        return float(2 * sps.t.sf(abs(self.t[0]), self.df[0]))


def cell_contrast(y: np.ndarray, cells: np.ndarray, weights: np.ndarray) -> ContrastStats:
    """``sum_k w_k mean_k`` with the pooled within-cell variance, for each row.

    Parameters
    ----------
    y : (M, n) or (n,) float array
        Per-participant values (relabelled rows).
    cells : (M, n) or (n,) int array
        Cell of each participant, ``0 .. K-1`` (``K = len(weights)``).
    weights : (K,) float array

    Returns
    -------
    ContrastStats
        ``se = s sqrt(sum_k w_k^2 / n_k)`` with ``s^2`` the pooled within-cell variance on
        ``df = n - K``; rows with an empty cell get NaN.
    """
    w = np.asarray(weights, dtype=float)
    y2 = np.atleast_2d(np.asarray(y, dtype=float))
    c2 = np.atleast_2d(np.asarray(cells))
    m = max(y2.shape[0], c2.shape[0])
    y2 = np.broadcast_to(y2, (m, y2.shape[1]))
    c2 = np.broadcast_to(c2, (m, c2.shape[1]))
    onehot = c2[:, None, :] == np.arange(w.size)[None, :, None]  # (M, K, n)
    counts = onehot.sum(axis=2).astype(float)
    sums = np.einsum("mkn,mn->mk", onehot, y2)
    with np.errstate(invalid="ignore", divide="ignore"):
        means = sums / counts
        ss = np.einsum("mn,mn->m", y2, y2) - np.sum(np.where(counts > 0, sums * means, 0), 1)
        df = np.full(m, y2.shape[1] - w.size, dtype=float)
        s2 = np.clip(ss, 0, None) / df
        est = means @ w
        se = np.sqrt(s2 * np.sum(w**2 / counts, axis=1))
        t = est / se
    bad = np.any(counts == 0, axis=1) | ~(df > 0)
    est, se, t = (np.where(bad, np.nan, a) for a in (est, se, t))
    return ContrastStats(est, se, df, t)


def welch_contrast(y: np.ndarray, first: np.ndarray) -> ContrastStats:
    """Welch difference ``mean(y[first]) - mean(y[~first])`` for each row of ``first``.

    Parameters
    ----------
    y : (n,) float array
    first : (M, n) or (n,) bool array
    """
    yv = np.asarray(y, dtype=float)
    g = np.atleast_2d(np.asarray(first, dtype=bool))
    n1, n2 = g.sum(1).astype(float), (~g).sum(1).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        s1, s2 = g @ yv, (~g) @ yv
        q1, q2 = g @ yv**2, (~g) @ yv**2
        m1, m2 = s1 / n1, s2 / n2
        v1 = (q1 - n1 * m1**2) / (n1 - 1) / n1
        v2 = (q2 - n2 * m2**2) / (n2 - 1) / n2
        v1, v2 = np.clip(v1, 0, None), np.clip(v2, 0, None)
        se = np.sqrt(v1 + v2)
        df = (v1 + v2) ** 2 / (v1**2 / (n1 - 1) + v2**2 / (n2 - 1))
        est = m1 - m2
        t = est / se
    bad = (n1 < 2) | (n2 < 2)
    est, se, t, df = (np.where(bad, np.nan, a) for a in (est, se, t, df))
    return ContrastStats(est, se, df, t)
