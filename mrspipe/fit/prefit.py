"""Fits of the mean of the frames that set up the fit of every frame.

Before :func:`~mrspipe.fit.fitting.fit_spectra` fits the frames, up to three choices are made on
one spectrum, the mean of the good (finite, nonzero) frames:

* :func:`ftest_dof`: the spline baseline's effective dimension (``baseline_stiffness='ftest'``,
  :mod:`~mrspipe.fit.stiffness`);
* :func:`auto_lipid_phase`: ``lipid_phase='auto'`` (:mod:`~mrspipe.fit.lipids`);
* :func:`fold_mean_kernel`: the free lineshape kernel (``lineshape='kernel'``,
  :mod:`~mrspipe.fit.lineshape`).

Each fits the mean the same way (:meth:`Prefit.fit`): start values, then the numpy backend.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from ..data import Basis, MRSData
from .backends import fit_numpy
from .finish import finish_frames
from .init import start_values
from .lineshape import fold_kernel
from .lipids import LIPID_PPM, choose_lipid_phase
from .model import FitProblem
from .problem import build_problem
from .stiffness import choose_dof

__all__ = ["Prefit", "good_frames", "ftest_dof", "auto_lipid_phase", "fold_mean_kernel"]

logger = logging.getLogger("mrspipe")


def good_frames(fids: np.ndarray) -> np.ndarray:
    """Frames that hold finite, nonzero data.

    Parameters
    ----------
    fids : (n_frames, n_points) complex ndarray

    Returns
    -------
    (n_frames,) bool ndarray
    """
    return np.isfinite(fids).all(axis=1) & (np.abs(fids).max(axis=1, initial=0.0) > 0)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Only errors from the mrspipe logger: a build's warnings come again with the real fit."""
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


@dataclass(frozen=True, eq=False)
class Prefit:
    """The frames of a data set, their mean and how it is fitted.

    Parameters
    ----------
    data : MRSData
        All leading axes are frames.
    start : mapping of str to float
        Start values of the widths by their reported names (``lorentz_hz``), Hz.
    max_iter : int
    ftol : float
        As for :func:`~mrspipe.fit.fitting.fit_spectra`.
    """

    data: MRSData
    start: Mapping[str, float]
    max_iter: int
    ftol: float

    @cached_property
    def fids(self) -> np.ndarray:
        """(n_frames, n_points) complex ndarray: the frames."""
        return self.data.fids.reshape(-1, self.data.n_points)

    @cached_property
    def good(self) -> np.ndarray:
        """(n_frames,) bool ndarray: :func:`good_frames`."""
        return good_frames(self.fids)

    @cached_property
    def mean(self) -> MRSData | None:
        """The mean of the good frames (no frame axes); None when no frame is good."""
        if not self.good.any():
            return None
        return self.data.with_fids(self.fids[self.good].mean(axis=0), dims=())

    def fit(
        self, problem: FitProblem, y: np.ndarray, theta0: np.ndarray | None = None
    ) -> tuple[np.ndarray, Any]:
        """Fit ``y`` ((1, K) complex, the fitted band) with the numpy backend.

        ``theta0`` None: start values are found (:func:`~mrspipe.fit.init.start_values`).
        Returns the parameters and the solution (:func:`~mrspipe.fit.backends.fit_numpy`).
        """
        if theta0 is None:
            theta0 = start_values(problem, y, start=self.start)
        theta, sol, _, _ = fit_numpy(problem, y, theta0, max_iter=self.max_iter, ftol=self.ftol)
        return theta, sol


def _band(mean: MRSData, problem: FitProblem) -> np.ndarray:
    return np.fft.fft(mean.fids)[None, problem.band]


def ftest_dof(prefit: Prefit, basis: Basis, build: dict[str, Any]) -> float:
    """Choose the spline baseline's effective dimension (:func:`~.stiffness.choose_dof`).

    Returns NaN when no frame is good (:func:`~mrspipe.fit.fitting.fit_spectra` raises its own
    error).
    """
    mean = prefit.mean
    if mean is None:
        return float("nan")

    def fit_mean(dof: float) -> tuple[float, float]:
        problem, _ = build_problem(mean, basis, baseline_dof=dof, precision="double", **build)
        _, sol = prefit.fit(problem, _band(mean, problem))
        cost = sol.cost if sol.penalty is None else sol.cost - sol.penalty
        model_df = problem.d2.sum() + (sol.conc != 0).sum() + problem.n_params
        return float(cost[0]), float(model_df)

    lo, hi = (float(v) for v in build["ppm_range"])
    inside = (mean.ppm >= lo) & (mean.ppm <= hi)
    span = float(np.ptp(mean.ppm[inside]))
    with _quiet():  # the candidates repeat the build's warnings
        dof, p_values = choose_dof(fit_mean, span, 2 * int(np.count_nonzero(inside)))
    logger.info(
        "baseline stiffness by F-test: effective dimension %.1f (p %s)",
        dof,
        ", ".join(f"{k:.1f}: {v:.2g}" for k, v in p_values.items()),
    )
    return dof


def auto_lipid_phase(
    prefit: Prefit, basis: Basis, build: dict[str, Any], baseline_dof: float | None
) -> tuple[str, dict[str, float]]:
    """Decide ``lipid_phase='auto'`` on the mean of the frames (:mod:`~.lipids`)."""
    lo, hi = (float(v) for v in build["ppm_range"])
    mean = prefit.mean
    if not (lo <= LIPID_PPM <= hi and mean is not None):
        return "metabolites", {}

    def fit_mean() -> tuple[tuple[str, ...], np.ndarray, np.ndarray, np.ndarray]:
        # decided with the lipids on the lineshape they have in phase (lipid_group False):
        # a lineshape of their own would trade their amplitudes against their widths.
        # (Not groups={}: that counts as user groups, and a basis with its own MM then
        # gets no lipids appended with default_lipids, so nothing would be tested.)
        with _quiet():
            problem, rbasis = build_problem(
                mean,
                basis,
                baseline_dof=baseline_dof,
                lipid_group=False,
                **{**build, "lipid_phase": "free"},
            )
        if problem.free is None:  # no lipid component appended: nothing to decide
            empty = np.zeros((1, problem.n_met))
            return rbasis.names, problem.basis_fids, empty, empty[:, None] * empty[..., None]
        y = _band(mean, problem)
        theta, sol = prefit.fit(problem, y)
        part = finish_frames(problem, y, theta, sol, rbasis.names)
        return rbasis.names, problem.basis_fids, part["estimates"], part["covariance"]

    return choose_lipid_phase(fit_mean, prefit.data.source or "data")


def fold_mean_kernel(prefit: Prefit, problem: FitProblem) -> tuple[FitProblem, dict[str, Any]]:
    """Estimate the lineshape kernel on the mean of the frames and fold it into ``problem``.

    Returns
    -------
    problem : FitProblem
        See :func:`~mrspipe.fit.lineshape.fold_kernel`.
    options : dict
        ``{"lineshape_kernel": {"offsets_hz": [...], "weights": [...]}}`` for the result.
    """
    assert prefit.mean is not None  # fit_spectra refuses data without a good frame

    def fit_one(p: FitProblem, y: np.ndarray, theta0: np.ndarray | None) -> Any:
        theta, sol = prefit.fit(p, y, theta0)
        return theta, sol.conc

    problem, offsets, coef = fold_kernel(problem, prefit.mean.fids, fit_one)
    return problem, {"lineshape_kernel": {"offsets_hz": offsets.tolist(), "weights": coef.tolist()}}
