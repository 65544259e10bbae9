"""Permutation p-values for crossover contrasts, right by construction and vectorised.

Under the sharp null hypothesis "the condition changes nobody's response", a participant's two
sessions would have given the same values had the conditions been given the other way round:
swapping the condition labels within a participant flips the sign of its paired difference and
its sequence (AB <-> BA) and leaves the period structure untouched. Every relabelling the
randomisation could have produced is then equally likely, so the rank of the observed statistic
among the relabelled ones is an exact p-value, whatever the distribution of the data, the
period effect or the number of participants.

* :func:`sign_flips`: all ``2^n`` sign patterns when ``2^n <= max_exhaustive`` (default 10^5),
  else ``n_draws`` (>= 10,000) seeded random patterns plus the observed one.
* :func:`sequence_relabellings`: relabellings that keep the sequence group sizes (the
  randomisation of a 2x2 crossover allocates a fixed number of participants to AB): all
  ``C(n, n_AB)`` of them when at most ``max_exhaustive``, else seeded draws.
* :func:`group_relabellings`: permutations of a between-participant label (sex), optionally
  within strata (sequence); the test of the condition x sex interaction, whose null ("the same
  effect in men and women") does not make within-participant swaps exchangeable.

The p-value counts the observed relabelling itself: ``p = #{|T*| >= |T|} / M`` over the ``M``
relabellings (exhaustive), or ``(1 + #{|T*| >= |T|}) / (1 + M)`` over ``M`` random draws, so it
is never 0 and is exact (valid) in both cases.

References
----------
Good P. Permutation, Parametric and Bootstrap Tests of Hypotheses, 3rd ed. Springer 2005.

The relabellings are cached (returned arrays are shared: do not modify them), so every metabolite
of a study is tested against the same seeded draws.
Phipson B, Smyth GK. Permutation p-values should never be zero. Stat Appl Genet Mol Biol 2010.
"""

from __future__ import annotations

import math
from functools import lru_cache
from itertools import combinations
from typing import Any

import numpy as np

__all__ = [
    "MAX_EXHAUSTIVE",
    "N_DRAWS",
    "sign_flips",
    "sequence_relabellings",
    "group_relabellings",
    "permutation_p",
]

#: enumerate every relabelling when there are at most this many
MAX_EXHAUSTIVE = 100_000
#: random relabellings drawn otherwise
N_DRAWS = 10_000


@lru_cache(maxsize=32)
def _all_signs(n: int) -> np.ndarray:
    codes = np.arange(2**n, dtype=np.int64)[:, None]
    return np.where((codes >> np.arange(n)) & 1, -1.0, 1.0)


@lru_cache(maxsize=64)
def _all_subsets(n: int, k: int) -> np.ndarray:
    out = np.zeros((math.comb(n, k), n), dtype=bool)
    for i, combo in enumerate(combinations(range(n), k)):  # <= MAX_EXHAUSTIVE, cached
        out[i, list(combo)] = True
    return out


def sign_flips(
    n: int, *, n_draws: int = N_DRAWS, max_exhaustive: int = MAX_EXHAUSTIVE, rng: int = 0
) -> tuple[np.ndarray, bool]:
    """Sign patterns of ``n`` within-participant label swaps.

    Returns
    -------
    signs : (M, n) float ndarray of +-1
        Row 0 is the observed labelling (all +1).
    exhaustive : bool
        Whether the rows are every pattern (else random draws after row 0).
    """
    if 2**n <= max_exhaustive:
        return _all_signs(n), True
    return _drawn_signs(n, n_draws, rng), False


@lru_cache(maxsize=32)
def _drawn_signs(n: int, n_draws: int, rng: int) -> np.ndarray:
    gen = np.random.default_rng(rng)
    draws = np.where(gen.random((n_draws, n)) < 0.5, -1.0, 1.0)
    return np.vstack([np.ones((1, n)), draws])


def _subsets(
    n: int, k: int, *, n_draws: int, max_exhaustive: int, gen: np.random.Generator
) -> tuple[np.ndarray, bool]:
    if math.comb(n, k) <= max_exhaustive:
        return _all_subsets(n, k), True
    keys = gen.random((n_draws, n))
    ranks = np.argsort(np.argsort(keys, axis=1), axis=1)
    return ranks < k, False


def sequence_relabellings(
    first: np.ndarray,
    *,
    n_draws: int = N_DRAWS,
    max_exhaustive: int = MAX_EXHAUSTIVE,
    rng: int = 0,
) -> tuple[np.ndarray, bool]:
    """Relabellings of who received the active condition first, group sizes kept.

    Parameters
    ----------
    first : (n,) bool array
        True where the active condition came first (sequence AB).

    Returns
    -------
    signs : (M, n) float ndarray of +-1
        -1 where the relabelling swaps that participant's conditions; row 0 is the observed one
        when drawn (exhaustive enumerations contain it somewhere).
    exhaustive : bool
    """
    key = tuple(bool(v) for v in np.asarray(first, dtype=bool))
    return _sequence_cached(key, n_draws, max_exhaustive, rng)


@lru_cache(maxsize=64)
def _sequence_cached(
    first_key: tuple[bool, ...], n_draws: int, max_exhaustive: int, rng: int
) -> tuple[np.ndarray, bool]:
    """Compute :func:`sequence_relabellings` once per pattern (same draws for every metabolite)."""
    first = np.array(first_key, dtype=bool)
    gen = np.random.default_rng(rng)
    ab, exhaustive = _subsets(
        first.size, int(first.sum()), n_draws=n_draws, max_exhaustive=max_exhaustive, gen=gen
    )
    signs = np.where(ab == first[None, :], 1.0, -1.0)
    if not exhaustive:
        signs = np.vstack([np.ones((1, first.size)), signs])
    return signs, exhaustive


def group_relabellings(
    labels: np.ndarray,
    *,
    strata: np.ndarray | None = None,
    n_draws: int = N_DRAWS,
    max_exhaustive: int = MAX_EXHAUSTIVE,
    rng: int = 0,
) -> tuple[np.ndarray, bool]:
    """Permutations of a two-valued between-participant label, within strata.

    Parameters
    ----------
    labels : (n,) bool array
        E.g. True for men.
    strata : (n,) array, optional
        Labels are permuted only among participants of the same stratum (e.g. sequence), so
        every relabelling keeps the count of each label in each stratum.

    Returns
    -------
    relabelled : (M, n) bool ndarray
        Row 0 is the observed labelling when drawn.
    exhaustive : bool
    """
    lab = tuple(bool(v) for v in np.asarray(labels, dtype=bool))
    st = (0,) * len(lab) if strata is None else tuple(np.asarray(strata).tolist())
    return _group_cached(lab, st, n_draws, max_exhaustive, rng)


@lru_cache(maxsize=64)
def _group_cached(
    lab: tuple[bool, ...], st: tuple[Any, ...], n_draws: int, max_exhaustive: int, rng: int
) -> tuple[np.ndarray, bool]:
    """Compute :func:`group_relabellings` once per labelling."""
    labels = np.array(lab, dtype=bool)
    n = labels.size
    strata = np.array(st)
    groups = [np.flatnonzero(strata == s) for s in np.unique(strata)]
    total = math.prod(math.comb(g.size, int(labels[g].sum())) for g in groups)
    gen = np.random.default_rng(rng)
    exhaustive = total <= max_exhaustive
    parts = []
    for g in groups:
        sub, _ = _subsets(
            g.size, int(labels[g].sum()), n_draws=n_draws, max_exhaustive=max_exhaustive, gen=gen
        )
        if not exhaustive and sub.shape[0] != n_draws:  # a small stratum enumerated: draw rows
            sub = sub[gen.integers(0, sub.shape[0], n_draws)]
        parts.append(sub)
    if exhaustive:  # Cartesian product of the strata's enumerations
        grids = np.meshgrid(*[np.arange(p.shape[0]) for p in parts], indexing="ij")
        idx = [g.ravel() for g in grids]
        parts = [p[i] for p, i in zip(parts, idx, strict=True)]
    m = parts[0].shape[0]
    out = np.zeros((m, n), dtype=bool)
    for g, p in zip(groups, parts, strict=True):
        out[:, g] = p
    if not exhaustive:
        out = np.vstack([labels[None, :], out])
    return out, exhaustive


def permutation_p(observed: float, permuted: np.ndarray, exhaustive: bool) -> float:
    """Two-sided p-value of ``observed`` among the statistics of the relabellings.

    Parameters
    ----------
    observed : float
        The statistic of the observed labelling.
    permuted : (M,) float array
        The statistic of every relabelling (including the observed one: row 0 when drawn).
        Non-finite values (a relabelling where the statistic is undefined) count as extreme.
    exhaustive : bool
        Every relabelling (``p = k / M``) or random draws (``p = (1 + k) / (1 + M)`` over the
        draws after the observed row 0).
    """
    if not np.isfinite(observed):
        return math.nan
    stat = np.abs(np.asarray(permuted, dtype=float))
    tol = 1e-9 * max(1.0, abs(observed))
    hits = ~(stat < abs(observed) - tol)  # NaN counts as a hit (conservative)
    if exhaustive:
        return float(hits.mean())
    return float((1 + hits[1:].sum()) / stat.size)
