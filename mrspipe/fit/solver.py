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

import numpy as np

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
        Squared norm of the whitened residual.
    columns_w : (n_frames, n_met, 2K) float ndarray
        Whitened phased metabolite columns.
    gram : (n_frames, n_met, n_met) float ndarray
    resid_w : (n_frames, 2K) float ndarray
    model : (n_frames, K) complex ndarray
        Phased metabolite model (without baseline).
    columns : (n_frames, n_met, K) complex ndarray
        Phased metabolite columns.
    """

    conc: np.ndarray
    passive: np.ndarray
    cost: np.ndarray
    columns_w: np.ndarray
    gram: np.ndarray
    resid_w: np.ndarray
    model: np.ndarray
    columns: np.ndarray

    def take(self, rows: np.ndarray) -> LinearSolution:
        """The solution of a subset of frames."""
        return LinearSolution(*(getattr(self, f)[rows] for f in self.__dataclass_fields__))

    def put(self, rows: np.ndarray, other: LinearSolution) -> None:
        """Overwrite the frames ``rows`` with ``other`` (in place)."""
        for f in self.__dataclass_fields__:
            getattr(self, f)[rows] = getattr(other, f)


def solve_linear(
    problem: FitProblem,
    theta: np.ndarray,
    y_w: np.ndarray,
    *,
    passive: np.ndarray | None = None,
    dtype: type | None = None,
) -> LinearSolution:
    """Nonnegative concentrations at fixed nonlinear parameters.

    Parameters
    ----------
    problem : FitProblem
    theta : (n_frames, n_params) float ndarray
    y_w : (n_frames, 2K) float ndarray
        Whitened data (:meth:`FitProblem.whiten`).
    passive : (n_frames, n_met) bool ndarray, optional
        Warm start of the active set.
    dtype : complex dtype, optional
        FFT precision (default: the problem's).

    Returns
    -------
    LinearSolution
    """
    cols = problem.columns(theta, dtype) * problem.phase(theta)[:, None, :]
    cols_w = problem.whiten(cols)
    gram = cols_w @ cols_w.transpose(0, 2, 1)
    rhs = np.einsum("fmk,fk->fm", cols_w, y_w)
    conc, passive = nnls_normal(gram, rhs, passive=passive)
    resid_w = y_w - np.einsum("fm,fmk->fk", conc, cols_w)
    model = np.einsum("fm,fmk->fk", conc, cols)
    cost = np.einsum("fk,fk->f", resid_w, resid_w)
    return LinearSolution(conc, passive, cost, cols_w, gram, resid_w, model, cols)


def _step(
    problem: FitProblem, theta: np.ndarray, sol: LinearSolution, lam: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Damped Gauss-Newton step of the projected problem.

    Returns the step ``(n_frames, n_params)``, the predicted cost reduction ``(n_frames,)``
    and the projected gradient norm proxy.
    """
    d = problem.derivatives(theta, sol.conc, sol.model)
    d_w = problem.whiten(d)  # (F, P, 2K)
    cross = d_w @ sol.columns_w.transpose(0, 2, 1)  # (F, P, M)
    proj = masked_solve(sol.gram, cross.transpose(0, 2, 1), sol.passive)  # (F, M, P)
    jtj = d_w @ d_w.transpose(0, 2, 1) - cross @ proj
    grad = np.einsum("fpk,fk->fp", d_w, sol.resid_w)
    # freeze parameters sitting on a bound that the gradient pushes beyond
    frozen = ((theta <= problem.lower) & (grad < 0)) | ((theta >= problem.upper) & (grad > 0))
    diag = np.abs(np.einsum("fii->fi", jtj))
    floor = 1e-12 * diag.max(axis=1, keepdims=True) + 1e-300
    damped = jtj.copy()
    idx = np.arange(jtj.shape[1])
    damped[:, idx, idx] += lam[:, None] * np.maximum(diag, floor) + floor
    step = masked_solve(damped, grad, ~frozen)
    pred = 2.0 * np.einsum("fp,fp->f", step, grad) - np.einsum("fp,fpq,fq->f", step, jtj, step)
    return step, pred, grad


def levenberg_marquardt(
    problem: FitProblem,
    y: np.ndarray,
    theta0: np.ndarray,
    *,
    max_iter: int = 50,
    ftol: float = 1e-7,
    lam0: float = 1e-2,
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
        A frame stops when the predicted or achieved relative decrease of its cost is below
        ``ftol``.
    lam0 : float
        Initial Marquardt damping.

    Returns
    -------
    theta : (n_frames, n_params) float ndarray
    solution : LinearSolution
        At ``theta`` (in the problem's working precision).
    converged : (n_frames,) bool ndarray
    n_iter : (n_frames,) int ndarray
    """
    y_w = problem.whiten(y)
    theta = problem.clip(np.array(theta0, dtype=float))
    sol = solve_linear(problem, theta, y_w)
    n_f = len(theta)
    lam = np.full(n_f, lam0)
    active = np.ones(n_f, bool)
    converged = np.zeros(n_f, bool)
    n_iter = np.zeros(n_f, int)
    # cost reachable by rounding alone (noise-free data): stop there
    floor = 1e-12 * np.einsum("fk,fk->f", y_w, y_w)
    for _ in range(max_iter):
        rows = np.flatnonzero(active)
        if rows.size == 0:
            break
        sub = sol.take(rows)
        th = theta[rows]
        step, pred, _ = _step(problem, th, sub, lam[rows])
        small = pred <= ftol * sub.cost + floor[rows]
        done = small | (sub.cost <= floor[rows])
        trial_rows = np.flatnonzero(~done)
        if trial_rows.size:
            th_trial = problem.clip(th[trial_rows] + step[trial_rows])
            trial = solve_linear(
                problem, th_trial, y_w[rows[trial_rows]], passive=sub.passive[trial_rows]
            )
            old_cost = sub.cost[trial_rows]
            better = trial.cost < old_cost
            acc = trial_rows[better]
            glob = rows[acc]
            theta[glob] = th_trial[better]
            sol.put(glob, trial.take(np.flatnonzero(better)))
            rel = (old_cost - trial.cost) / np.maximum(old_cost, 1e-300)
            lam_sub = lam[rows[trial_rows]]
            lam[rows[trial_rows]] = np.where(better, lam_sub * 0.2, lam_sub * 5.0)
            done[trial_rows] |= (better & (rel < ftol)) | (lam[rows[trial_rows]] > 1e10)
        n_iter[rows] += 1
        converged[rows[done]] = True
        active[rows[done]] = False
    return theta, sol, converged, n_iter
