"""Batched variable-projection Levenberg-Marquardt solver.

All frames of a chunk iterate together on ``(n_frames, ...)`` arrays. The concentrations are
eliminated (variable projection): at every trial value of the few nonlinear parameters
(shift, Lorentzian and Gaussian width per group, zero- and first-order phase) the nonnegative
concentrations are solved in closed form by a batched active-set NNLS on the stacked normal
equations, with the baseline profiled out by the whitening of :class:`~.model.FitProblem`.
The Jacobian of the projected residual uses Kaufman's approximation with analytic derivatives;
every frame has its own damping and stops on its own (converged frames are masked out).

References
----------
Golub GH, Pereyra V. The differentiation of pseudo-inverses and nonlinear least squares
problems whose variables separate. SIAM J Numer Anal 1973;10:413-432.
Kaufman L. A variable projection method for solving separable nonlinear least squares
problems. BIT 1975;15:49-57.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .band import band_columns, band_derivatives
from .linear import masked_solve, nnls_normal
from .model import FitProblem

__all__ = ["LinearSolution", "solve_linear", "levenberg_marquardt"]


@dataclass
class LinearSolution:
    """Concentrations and residual at fixed nonlinear parameters (arrays over frames).

    Attributes
    ----------
    conc : (n_frames, n_met) float ndarray
    passive : (n_frames, n_met) bool ndarray
    cost : (n_frames,) float ndarray
        ``Re(e^H (I - S) e)`` of the residual ``e`` (baseline profiled out).
    columns : (n_frames, n_met, K) complex ndarray
        Phased metabolite columns.
    proj : (n_frames, n_met, 2 n_baseline) float ndarray
        Their projections on the baseline eigenvectors.
    gram : (n_frames, n_met, n_met) float ndarray
    resid : (n_frames, K) complex ndarray
        ``y - model`` (baseline not subtracted).
    resid_proj : (n_frames, 2 n_baseline) float ndarray
    model : (n_frames, K) complex ndarray
        Phased metabolite model (without baseline).
    coef, lag : (n_frames, n_groups, J) complex64, (n_frames, n_groups) int ndarray or None
        Lineshape coefficients of :class:`~.band.BandModel` (None on the exact FFT path).
    prior : (n_frames, n_prior, n_met) float ndarray or None
        Penalty rows ``P`` of the linear problem (:mod:`~.priors`; None without priors).
    penalty : (n_frames,) float ndarray or None
        ``|P c|^2``, the part of ``cost`` from the prior rows: the data part is
        ``cost - penalty``. ``gram`` includes ``P^T P``.
    """

    conc: np.ndarray
    passive: np.ndarray
    cost: np.ndarray
    columns: np.ndarray
    proj: np.ndarray
    gram: np.ndarray
    resid: np.ndarray
    resid_proj: np.ndarray
    model: np.ndarray
    coef: np.ndarray | None = None
    lag: np.ndarray | None = None
    prior: np.ndarray | None = None
    penalty: np.ndarray | None = None

    def take(self, rows: np.ndarray) -> LinearSolution:
        """Return the solution of a subset of frames."""
        values: dict[str, Any] = {}
        for f in self.__dataclass_fields__:
            value = getattr(self, f)
            values[f] = None if value is None else value[rows]
        return LinearSolution(**values)

    def put(self, rows: np.ndarray, other: LinearSolution) -> None:
        """Overwrite the frames ``rows`` with ``other`` (in place)."""
        for f in self.__dataclass_fields__:
            if getattr(self, f) is not None:
                getattr(self, f)[rows] = getattr(other, f)

    @property
    def shape(self) -> tuple[np.ndarray, np.ndarray] | None:
        """``(coef, lag)`` for :func:`~.band.band_derivatives`, or None."""
        return None if self.coef is None or self.lag is None else (self.coef, self.lag)


def solve_linear(
    problem: FitProblem,
    theta: np.ndarray,
    y: np.ndarray,
    *,
    passive: np.ndarray | None = None,
    dtype: type | None = None,
    conc: np.ndarray | None = None,
    prior: np.ndarray | None = None,
) -> LinearSolution:
    """Nonnegative concentrations at fixed nonlinear parameters.

    Parameters
    ----------
    problem : FitProblem
    theta : (n_frames, n_params) float ndarray
    y : (n_frames, K) complex ndarray
        Data over the fit band.
    passive : (n_frames, n_met) bool ndarray, optional
        Warm start of the active set.
    dtype : complex dtype, optional
        FFT precision (default: the problem's).
    conc : (n_frames, n_met) float ndarray, optional
        Use these concentrations instead of solving for them.
    prior : (n_frames, n_prior, n_met) float ndarray, optional
        Penalty rows ``P`` (target 0) appended to the least-squares problem: the cost gains
        ``|P c|^2`` and the normal equations ``P^T P`` (:mod:`~.priors`).

    Returns
    -------
    LinearSolution
    """
    cols, shape = band_columns(problem, theta, dtype)
    x = problem.stack(cols)
    p = problem.project(x)
    gram = problem.inner(x, p, x, p)
    if prior is not None:
        gram = gram + prior.transpose(0, 2, 1) @ prior
    y_x = problem.stack(y)
    y_p = problem.project(y_x)
    if conc is None:
        rhs = problem.inner(x, p, y_x[:, None], y_p[:, None])[..., 0]
        conc, passive = nnls_normal(gram, rhs, passive=passive, free=problem.free)
    elif passive is None:
        passive = conc != 0 if problem.free is None else (conc != 0) | problem.free
    # real concentrations times the stacked (re, im) columns: one real product per frame
    model = (conc[:, None, :] @ x)[:, 0].view(np.complex128)
    resid = y - model
    r_x = problem.stack(resid)
    r_p = y_p - (conc[:, None, :] @ p)[:, 0]
    cost = np.einsum("fk,fk->f", r_x, r_x) - np.einsum("fb,b,fb->f", r_p, problem.d2, r_p)
    penalty = None
    if prior is not None:
        pc = np.einsum("fkm,fm->fk", prior, conc)
        penalty = np.einsum("fk,fk->f", pc, pc)
        cost = cost + penalty
    coef, lag = (None, None) if shape is None else shape
    return LinearSolution(
        conc, passive, cost, cols, p, gram, resid, r_p, model, coef, lag, prior, penalty
    )


def _step(
    problem: FitProblem, theta: np.ndarray, sol: LinearSolution, lam: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[np.ndarray, ...]]:
    """Damped Gauss-Newton step of the projected problem (Kaufman's Jacobian).

    Returns the step ``(n_frames, n_params)``, the predicted cost reduction ``(n_frames,)``,
    the parameter scales ``sqrt(diag(J^T J))`` ``(n_frames, n_params)`` and the Jacobian's
    parts ``(d_x, d_p, jtj, inv)`` (``inv``: the inverse of the Gram matrix over the passive
    set, zero elsewhere, ``(n_frames, n_met, n_met)``).
    """
    d_x = problem.stack(band_derivatives(problem, theta, sol.conc, sol.model, shape=sol.shape))
    d_p = problem.project(d_x)
    x = problem.stack(sol.columns)
    cross = problem.inner(d_x, d_p, x, sol.proj)  # (F, P, M)
    eye = np.broadcast_to(np.eye(problem.n_met), sol.gram.shape)
    inv = masked_solve(sol.gram, eye, sol.passive)
    proj = inv @ cross.transpose(0, 2, 1)  # (F, M, P)
    jtj = problem.inner(d_x, d_p, d_x, d_p) - cross @ proj
    r_x = problem.stack(sol.resid)
    grad = problem.inner(d_x, d_p, r_x[:, None], sol.resid_proj[:, None])[..., 0]
    step, pred, scale = _damped_step(problem, theta, jtj, grad, lam)
    return step, pred, scale, (d_x, d_p, jtj, inv)


def _damped_step(
    problem: FitProblem, theta: np.ndarray, jtj: np.ndarray, grad: np.ndarray, lam: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Step, predicted cost reduction and scales from ``J^T J`` and the gradient ``J^T r``."""
    # freeze parameters sitting on a bound that the gradient pushes beyond
    frozen = ((theta <= problem.lower) & (grad < 0)) | ((theta >= problem.upper) & (grad > 0))
    # Jacobi scaling (parameters have very different units: Hz, Hz^2, rad, s), Marquardt damping
    diag = np.abs(np.einsum("fii->fi", jtj))
    floor = 1e-14 * diag.max(axis=1, keepdims=True) + 1e-300
    scale = 1.0 / np.sqrt(np.maximum(diag, floor))
    damped = jtj * scale[:, :, None] * scale[:, None, :]
    idx = np.arange(jtj.shape[1])
    damped[:, idx, idx] += lam[:, None] + 1e-12
    step = scale * masked_solve(damped, grad * scale, ~frozen)
    pred = 2.0 * np.einsum("fp,fp->f", step, grad) - np.einsum("fp,fpq,fq->f", step, jtj, step)
    return step, pred, 1.0 / scale


def levenberg_marquardt(
    problem: FitProblem,
    y: np.ndarray,
    theta0: np.ndarray,
    *,
    max_iter: int = 30,
    ftol: float = 1e-2,
    ctol: float = 0.02,
    lam0: float = 1e-2,
    prior: np.ndarray | None = None,
) -> tuple[np.ndarray, LinearSolution, np.ndarray, np.ndarray]:
    """Fit all frames of ``y`` together.

    Parameters
    ----------
    problem : FitProblem
    y : (n_frames, K) complex ndarray
        Data over the fit band.
    theta0 : (n_frames, n_params) float ndarray
        Start values.
    max_iter : int
        Maximum iterations per frame.
    ftol : float
        A frame stops when the predicted or achieved decrease of its cost is below ``ftol``
        times the mean squared whitened residual of one point (about the noise variance): such
        a decrease moves the estimates by a negligible fraction of their SD.
    ctol : float
        A frame also stops after an accepted step that moved every concentration of the
        metabolite group (group 0) by less than ``ctol`` of its standard error (weakly
        determined macromolecule lineshapes otherwise creep for many iterations).
    lam0 : float
        Initial Marquardt damping.
    prior : (n_frames, n_prior, n_met) float ndarray, optional
        Penalty rows of the linear problem (:func:`solve_linear`); they do not depend on
        ``theta``, so the projected Jacobian only sees them through the Gram matrix.

    Returns
    -------
    theta : (n_frames, n_params) float ndarray
    solution : LinearSolution
        At ``theta`` (in the problem's working precision).
    converged : (n_frames,) bool ndarray
    n_iter : (n_frames,) int ndarray
    """
    theta = problem.clip(np.array(theta0, dtype=float))
    sol = solve_linear(problem, theta, y, prior=prior)
    n_f = len(theta)
    lam = np.full(n_f, lam0)
    converged = np.zeros(n_f, bool)
    n_iter = np.zeros(n_f, int)
    # cost reachable by rounding alone (noise-free data): stop there
    eps = np.finfo(np.dtype(problem.dtype)).eps
    floor = (10.0 * eps) ** 2 * (y.real**2 + y.imag**2).sum(axis=1)
    n_stack = 2 * y.shape[1]
    metab = problem.group_of == 0
    prev = np.zeros_like(theta)
    beta = np.ones(n_f)
    # the frames still iterating (global rows) and their current solution: ``sol`` itself
    # while every frame iterates, then a copy; a frame that stops is written back to ``sol``
    # and dropped from the working set
    rows = np.arange(n_f)
    cur = sol
    for _ in range(max_iter):
        if rows.size == 0:
            break
        th = theta[rows]
        step, pred, scale, (d_x, d_p, jtj, inv) = _step(problem, th, cur, lam[rows])
        # step doubling along a persistent direction: Gauss-Newton overestimates the
        # curvature of weakly determined lineshape parameters (large-residual directions), so
        # successive accepted steps point the same way; lengthen them (each trial is checked)
        u_now = step * scale
        u_prev = prev[rows] * scale
        cos = np.einsum("fp,fp->f", u_now, u_prev) / np.maximum(
            np.linalg.norm(u_now, axis=1) * np.linalg.norm(u_prev, axis=1), 1e-300
        )
        beta[rows] = np.where(cos > 0.9, np.minimum(beta[rows] * 2.0, 16.0), 1.0)
        prev[rows] = step
        tol = ftol * cur.cost / n_stack
        small = pred <= tol + floor[rows]
        done = small | (cur.cost <= floor[rows])
        trial_rows = np.flatnonzero(~done)
        if trial_rows.size:
            th_trial = problem.clip(
                th[trial_rows] + beta[rows[trial_rows], None] * step[trial_rows]
            )
            trial = solve_linear(
                problem,
                th_trial,
                y[rows[trial_rows]],
                passive=cur.passive[trial_rows],
                prior=None if prior is None else prior[rows[trial_rows]],
            )
            old_cost = cur.cost[trial_rows]
            old_conc = cur.conc[trial_rows]
            better = trial.cost < old_cost
            acc = trial_rows[better]
            theta[rows[acc]] = th_trial[better]
            if acc.size == rows.size:  # every frame tried and improved: no copy
                cur = trial
            else:
                cur.put(acc, trial.take(np.flatnonzero(better)))
            gain = old_cost - trial.cost
            # change of the metabolite-group concentrations relative to their standard error
            # (the Gram matrix's inverse at the old point, from the step)
            var = np.einsum("fii->fi", inv[trial_rows])
            se = np.sqrt(np.clip(var, 1e-300, None) * (old_cost / n_stack)[:, None])
            moved = np.where(metab, np.abs(trial.conc - old_conc) / se, 0.0).max(axis=1)
            lam_sub = lam[rows[trial_rows]]
            lam[rows[trial_rows]] = np.where(better, lam_sub * 0.2, lam_sub * 5.0)
            prev[rows[trial_rows[~better]]] = 0.0
            done[trial_rows] |= (
                better & ((gain < tol[trial_rows]) | ((moved < ctol) & (gain < old_cost / n_stack)))
            ) | (lam[rows[trial_rows]] > 1e10)
            # the next step's predicted decrease from this step's Jacobian and the new
            # residual: below the tolerance, the frame stops without a new Jacobian (near the
            # solution the Jacobian barely moves; the full test would spend one just to stop)
            left = acc[~done[acc]]
            if left.size:
                r_x = problem.stack(cur.resid[left])
                g_new = problem.inner(
                    d_x[left], d_p[left], r_x[:, None], cur.resid_proj[left][:, None]
                )[..., 0]
                _, pred_new, _ = _damped_step(
                    problem, theta[rows[left]], jtj[left], g_new, lam[rows[left]]
                )
                tol_new = ftol * cur.cost[left] / n_stack
                done[left] |= pred_new <= tol_new + floor[rows[left]]
        n_iter[rows] += 1
        converged[rows[done]] = True
        if done.any():
            if cur is not sol:
                sol.put(rows[done], cur.take(np.flatnonzero(done)))
                cur = cur.take(np.flatnonzero(~done))
            else:
                cur = sol.take(rows[~done])
            rows = rows[~done]
    if rows.size and cur is not sol:
        sol.put(rows, cur)
    return theta, sol, converged, n_iter
