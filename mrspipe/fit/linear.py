"""Batched nonnegative least squares on stacked normal equations.

Every frame has its own small problem ``min_x 1/2 x^T G x - b^T x`` subject to ``x >= 0``; all
frames are solved together with masked :func:`numpy.linalg.solve` calls on
``(n_frames, n, n)`` stacks. The active-set method is Lawson & Hanson's, started from a feasible
point found by dropping negative coefficients (optionally from a previous passive set, which
makes warm starts inside the nonlinear iterations cheap). Coefficients marked ``free`` have no
sign constraint: they stay in the passive set throughout (the active-set method with
unconstrained variables; used for the two parts of a complex amplitude, e.g. a lipid component
with a phase of its own).

References
----------
Lawson CL, Hanson RJ. Solving Least Squares Problems. Prentice-Hall, 1974, ch. 23.
Bro R, De Jong S. A fast non-negativity-constrained least squares algorithm.
J Chemometrics 1997;11:393-401.
"""

from __future__ import annotations

import numpy as np

__all__ = ["masked_solve", "nnls_normal"]


def masked_solve(gram: np.ndarray, rhs: np.ndarray, passive: np.ndarray) -> np.ndarray:
    """Solve ``G x = b`` restricted to the passive set, zero elsewhere.

    Parameters
    ----------
    gram : (n_frames, n, n) float ndarray
    rhs : (n_frames, n) or (n_frames, n, k) float ndarray
    passive : (n_frames, n) bool ndarray

    Returns
    -------
    ndarray shaped like ``rhs``
    """
    mask = passive[:, :, None] & passive[:, None, :]
    diag = np.einsum("fii->fi", gram)
    scale = np.abs(np.where(passive, diag, 0.0)).sum(axis=1, keepdims=True)
    scale = np.where(scale > 0, scale / np.maximum(passive.sum(axis=1, keepdims=True), 1), 1.0)
    g = np.where(mask, gram, 0.0)
    idx = np.arange(gram.shape[1])
    # inactive rows become identity; a tiny ridge keeps exactly collinear columns solvable
    g[:, idx, idx] = np.where(passive, diag + 1e-10 * scale, scale)
    multi = rhs.ndim == 3
    pm = passive[:, :, None] if multi else passive
    b = np.where(pm, rhs, 0.0)
    x = np.linalg.solve(g, b if multi else b[..., None])
    x = x if multi else x[..., 0]
    return np.where(pm, x, 0.0)


def nnls_normal(
    gram: np.ndarray,
    rhs: np.ndarray,
    *,
    passive: np.ndarray | None = None,
    max_iter: int | None = None,
    free: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Nonnegative solution of stacked normal equations.

    Parameters
    ----------
    gram : (n_frames, n, n) float ndarray
        Symmetric positive (semi)definite ``A^T A``.
    rhs : (n_frames, n) float ndarray
        ``A^T y``.
    passive : (n_frames, n) bool ndarray, optional
        Initial guess of the coefficients that are positive (default: all).
    max_iter : int, optional
        Iterations of the active-set loop (default ``3 n``).
    free : (n,) bool ndarray, optional
        Coefficients without a sign constraint (default: none).

    Returns
    -------
    x : (n_frames, n) float ndarray
        ``x >= 0`` except where ``free``; KKT conditions hold to rounding unless ``max_iter``
        was hit.
    passive : (n_frames, n) bool ndarray
        Coefficients that are not at the bound 0 at the solution (every ``free`` one).
    """
    n_f, n = rhs.shape
    max_iter = 3 * n if max_iter is None else max_iter
    bounded = np.ones(n, bool) if free is None else ~np.asarray(free, bool)
    p = np.ones((n_f, n), bool) if passive is None else passive | ~bounded
    # phase 1: drop negative coefficients until the restricted solution is feasible (only the
    # frames that had a negative one are solved again)
    x = masked_solve(gram, rhs, p)
    rows = np.arange(n_f)
    for _ in range(n):
        neg = p[rows] & (x[rows] <= 0.0) & bounded
        bad = neg.any(axis=1)
        if not bad.any():
            break
        rows = rows[bad]
        p[rows] &= ~neg[bad]
        x[rows] = masked_solve(gram[rows], rhs[rows], p[rows])
    else:
        x[rows] = np.where(bounded, np.clip(x[rows], 0.0, None), x[rows])
        p[rows] &= (x[rows] > 0) | ~bounded
    # phase 2: Lawson-Hanson from the feasible point x, on the frames with a candidate
    scale = np.abs(rhs).max(axis=1) + 1e-300
    for _ in range(max_iter):
        grad = rhs - np.einsum("fij,fj->fi", gram, x)
        cand = ~p & (grad > 1e-10 * scale[:, None])
        todo = cand.any(axis=1)
        if not todo.any():
            break
        best = np.argmax(np.where(cand, grad, -np.inf), axis=1)
        p[todo, best[todo]] = True
        rows = np.flatnonzero(todo)
        g_r, b_r, s_r = gram[rows], rhs[rows], scale[rows, None]
        x_r, p_r = x[rows], p[rows]
        for _ in range(n):
            z = masked_solve(g_r, b_r, p_r)
            bad = p_r & (z <= 0.0) & bounded
            if not bad.any():
                x_r = z
                break
            ratio = np.where(bad, x_r / np.where(bad, x_r - z, 1.0), np.inf)
            alpha = np.clip(ratio.min(axis=1, keepdims=True), 0.0, 1.0)
            alpha = np.where(bad.any(axis=1, keepdims=True), alpha, 1.0)
            x_r = x_r + alpha * (z - x_r)
            p_r &= ~(x_r <= 1e-14 * s_r) | ~bounded
            x_r = np.where(p_r, x_r, 0.0)
        x[rows] = x_r
        p[rows] = p_r
    return np.where(bounded, np.clip(x, 0.0, None), x), p
