"""Reference fitting path: the same model, one frame at a time with ``lmfit.minimize``.

This is the cross-check of the batched solver, not the production path: every frame is a
separate least-squares problem over all parameters at once (nonlinear parameters and the
nonnegative concentrations as bounded lmfit parameters, those of ``problem.free`` unbounded;
the baseline profiled out exactly as in the numpy backend, through the whitened residual of
:class:`~.model.FitProblem`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .model import FitProblem
from .solver import solve_linear

__all__ = ["fit_lmfit"]


#: a concentration below this fraction of its frame's largest one is at the bound 0
AT_BOUND_REL = 1e-6


def fit_lmfit(
    problem: FitProblem,
    y: np.ndarray,
    theta0: np.ndarray,
    *,
    max_iter: int = 30,
    method: str = "leastsq",
    **_: Any,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fit each frame separately with lmfit.

    Parameters
    ----------
    problem : FitProblem
    y : (n_frames, K) complex ndarray
        Data over the fit band.
    theta0 : (n_frames, n_params) float ndarray
        Start values of the nonlinear parameters (concentrations start at the NNLS solution
        for them).
    max_iter : int
        Scales lmfit's ``max_nfev`` (``max_iter * 10 * n_parameters`` evaluations).
    method : str
        lmfit minimisation method.

    Returns
    -------
    theta : (n_frames, n_params) float ndarray
    conc : (n_frames, n_met) float ndarray
    converged : (n_frames,) bool ndarray
    n_iter : (n_frames,) int ndarray
        Function evaluations.
    """
    import lmfit

    theta_names = problem.layout.names()
    is_width = problem.layout.is_width
    n_p, n_m = problem.n_params, problem.n_met
    free = np.zeros(n_m, bool) if problem.free is None else problem.free
    start = solve_linear(problem, problem.clip(theta0), y, dtype=np.complex128)
    theta_out = np.zeros_like(theta0, dtype=float)
    conc_out = np.zeros((len(y), n_m))
    converged = np.zeros(len(y), bool)
    n_eval = np.zeros(len(y), int)
    for f in range(len(y)):  # the reference path fits one frame at a time by design
        params = lmfit.Parameters()
        for j, name in enumerate(theta_names):
            lo, hi = problem.lower[j], problem.upper[j]
            value = float(np.clip(theta0[f, j], lo, hi))
            if is_width[j]:
                value = min(max(value, lo + 1e-6), hi)  # strictly inside for lmfit
            params.add(name, value=value, min=lo, max=hi)
        for m in range(n_m):
            if free[m]:  # no sign constraint (a part of a lipid's complex amplitude)
                params.add(f"c{m}", value=float(start.conc[f, m]))
                continue
            params.add(
                f"c{m}", value=max(float(start.conc[f, m]), 1e-9 * start.conc[f].max()), min=0.0
            )
        y_f = y[f : f + 1]

        def residual(pars: lmfit.Parameters, y_f: np.ndarray = y_f) -> np.ndarray:
            values = pars.valuesdict()
            theta = np.array([[values[n] for n in theta_names]])
            conc = np.array([[values[f"c{m}"] for m in range(n_m)]])
            cols = problem.columns(theta, np.complex128) * problem.phase(theta)[:, None, :]
            model = np.einsum("fm,fmk->fk", conc, cols)
            return problem.whiten(y_f - model)[0]

        out = lmfit.minimize(residual, params, method=method, max_nfev=max_iter * 10 * (n_p + n_m))
        values = out.params.valuesdict()
        theta_out[f] = [values[n] for n in theta_names]
        conc_out[f] = [values[f"c{m}"] for m in range(n_m)]
        # lmfit's bounded transform leaves a component at its bound ~1e-12..1e-6 above 0: call
        # it 0, as the NNLS of the numpy backend does (same at_bound flags, same passive set)
        small = conc_out[f] <= AT_BOUND_REL * np.abs(conc_out[f]).max(initial=0.0)
        conc_out[f][small & ~free] = 0.0
        converged[f] = bool(out.success)
        n_eval[f] = int(out.nfev)
    return theta_out, conc_out, converged, n_eval
