"""The fitters :func:`~mrspipe.fit.fitting.fit_spectra` dispatches to (:data:`BACKENDS`).

Each takes ``(problem, y_band, theta0, **options)`` and returns ``(theta, conc, converged,
n_iter)``: ``'numpy'`` is the batched variable projection (:mod:`mrspipe.fit.solver`, with a
second pass for the soft MM/lipid priors), ``'lmfit'`` the one-frame-at-a-time cross-check
(:mod:`mrspipe.fit.lmfit_backend`). :func:`single_threaded_blas` is the BLAS thread limit both
the frame-wise and the joint fit run under.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .finish import noise_sd
from .model import FitProblem
from .solver import LinearSolution, levenberg_marquardt

__all__ = ["BACKENDS", "BACKEND_OPTIONS", "fit_numpy", "single_threaded_blas"]


@contextlib.contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Limit BLAS to one thread while fitting, when ``threadpoolctl`` is installed.

    The stacked matrices are small (tens of rows): BLAS threads only add overhead; the FFTs
    run on their own workers.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def fit_numpy(
    problem: FitProblem,
    y: np.ndarray,
    theta0: np.ndarray,
    *,
    max_iter: int,
    ftol: float,
    **_: Any,
) -> tuple[np.ndarray, LinearSolution, np.ndarray, np.ndarray]:
    """Fit by batched variable projection; a second pass with the priors when the problem has them.

    Returns ``(theta, solution, converged, n_iter)``: ``theta`` ``(n_frames, n_params)``, the
    NNLS :class:`~.solver.LinearSolution` at ``theta``, ``converged`` and ``n_iter``
    ``(n_frames,)``.
    """
    theta, sol, converged, n_iter = levenberg_marquardt(
        problem, y, theta0, max_iter=max_iter, ftol=ftol
    )
    if problem.priors is not None:
        # second pass with the soft ratio priors, weighted by the first pass's noise SD and
        # family amplitudes (mrspipe.fit.priors)
        floor = 1e-3 * sol.conc.max(axis=1) + 1e-300
        prior = problem.priors.penalty(sol.conc, noise_sd(problem, sol), floor)
        theta, sol, converged, more = levenberg_marquardt(
            problem, y, theta, max_iter=max_iter, ftol=ftol, prior=prior
        )
        n_iter = n_iter + more
    return theta, sol, converged, n_iter


def _fit_lmfit(
    problem: FitProblem, y: np.ndarray, theta0: np.ndarray, **options: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    from .lmfit_backend import fit_lmfit

    return fit_lmfit(problem, y, theta0, **options)


#: backend name -> fitter(problem, y_band, theta0, **options) -> (theta, conc, converged, n_iter);
#: ``conc`` None means: the NNLS solution at ``theta`` (variable projection); a
#: :class:`~.solver.LinearSolution` is that solution, already computed at ``theta``
BACKENDS: dict[str, Callable[..., tuple[np.ndarray, Any, np.ndarray, np.ndarray]]] = {
    "numpy": fit_numpy,
    "lmfit": _fit_lmfit,
}

#: backend name -> the extra keywords (``**options`` of :func:`fit_spectra`) it takes
BACKEND_OPTIONS: dict[str, tuple[str, ...]] = {"numpy": (), "lmfit": ("method",)}
