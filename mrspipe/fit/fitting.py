"""``fit_spectra``: linear-combination fitting of every frame of a data set."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from .._cores import usable_cores
from ..data import Basis, MRSData
from ..errors import FitError
from .backends import BACKENDS, single_threaded_blas
from .band import band_model
from .finish import build_result, finish_frames, store_chunk
from .init import start_values
from .model import FitProblem
from .options import FitOptions
from .prefit import fold_mean_kernel
from .problem import build_problem, with_default_macromolecules
from .result import FitResult
from .setup import prepare

__all__ = [
    "fit_spectra",
    "lipid_phase_test",
    "build_problem",
    "with_default_macromolecules",
    "BACKENDS",
]

logger = logging.getLogger("mrspipe")

#: the one place of the fit defaults
_DEFAULT = FitOptions()


def _usable_cores() -> int:
    """CPU cores this process may run on, at most 4."""
    return min(usable_cores(), 4)


def _fit_chunks(
    problem: FitProblem,
    fitter: Callable[..., tuple[np.ndarray, np.ndarray | None, np.ndarray, np.ndarray]],
    fids: np.ndarray,
    rows_good: np.ndarray,
    chunk_size: int,
    out: dict[str, np.ndarray],
    converged: np.ndarray,
    n_iter: np.ndarray,
    names: tuple[str, ...],
    *,
    widths: Mapping[str, float],
    threads: int = 1,
    **options: Any,
) -> None:
    """Fit the good frames chunk by chunk (bounded memory), filling ``out`` in place.

    With ``threads > 1`` chunks are fitted concurrently by a thread pool (the numeric kernels
    release the GIL); results do not depend on the number of threads.
    """
    n_f = fids.shape[0]

    def fit_chunk(start: int) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray, np.ndarray]:
        rows = rows_good[start : start + chunk_size]
        y = np.fft.fft(fids[rows], axis=-1)[:, problem.band]
        theta0 = start_values(
            problem,
            y,
            start=widths,
        )
        theta, conc, conv, nit = fitter(problem, y, theta0, **options)
        return rows, finish_frames(problem, y, theta, conc, names), conv, nit

    starts = range(0, rows_good.size, chunk_size)
    with contextlib.ExitStack() as stack:
        if threads > 1 and len(starts) > 1:
            from concurrent.futures import ThreadPoolExecutor

            pool = stack.enter_context(ThreadPoolExecutor(min(threads, len(starts))))
            results: Iterator[Any] = pool.map(fit_chunk, starts)
        else:
            results = map(fit_chunk, starts)
        for rows, part, conv, nit in results:
            store_chunk(out, part, rows, n_f)
            converged[rows] = conv
            n_iter[rows] = nit


def fit_spectra(
    data: MRSData,
    basis: Basis,
    *,
    backend: str = _DEFAULT.backend,
    ppm_range: tuple[float, float] = _DEFAULT.ppm_range,
    baseline: str = _DEFAULT.baseline,
    baseline_order: int = _DEFAULT.baseline_order,
    baseline_knot_spacing: float = _DEFAULT.baseline_knot_spacing,
    baseline_dof: float | None = _DEFAULT.baseline_dof,
    groups: Mapping[str, Sequence[str]] | None = None,
    lineshape: str = _DEFAULT.lineshape,
    chunk_size: int = 64,
    max_iter: int = 30,
    ftol: float = 1e-2,
    lorentz_hz: float | None = None,
    gauss_hz: float | None = None,
    max_shift_hz: float | None = None,
    precision: str = "single",
    default_macromolecules: bool = _DEFAULT.default_macromolecules,
    default_lipids: bool = False,
    mm_priors: bool = _DEFAULT.mm_priors,
    lipid_phase: str = _DEFAULT.lipid_phase,
    baseline_stiffness: str = _DEFAULT.baseline_stiffness,
    threads: int | None = None,
    **options: Any,
) -> FitResult:
    """Fit every frame of ``data`` with a linear combination of ``basis`` spectra.

    Model per frame (see :mod:`mrspipe.fit.model`): the basis spectra, each broadened by a
    lineshape (Voigt by default) and shifted per group, summed with nonnegative
    concentrations, phased (zero and first order), plus a smooth complex baseline, fitted in
    the frequency domain over ``ppm_range``.

    Parameters
    ----------
    data : MRSData
        All leading axes are frames.
    basis : Basis
        Resampled to the data grid when needed (:func:`mrspipe.spectral.resample_basis`).
    backend : {'numpy', 'lmfit'}
        ``'numpy'``: batched variable projection over all frames at once; ``'lmfit'``: the same
        model, one frame at a time with ``lmfit.minimize`` (the cross-check, slow).
    ppm_range : (float, float), ppm
        Fitted band.
    baseline : {'spline', 'poly'}
        Ridge-regularised cubic B-spline (``baseline_knot_spacing`` ppm, ``baseline_dof``
        effective degrees of freedom) or Legendre polynomial of ``baseline_order``.
    baseline_order : int
    baseline_knot_spacing : float, ppm
    baseline_dof : float, optional
        Effective degrees of freedom of the spline baseline over the band (default
        :data:`~mrspipe.fit.model.BASELINE_DOF_PER_PPM` per ppm, i.e. 4 over 0.2-4.2 ppm).
    groups : mapping of str to list of str, optional
        Lineshape groups (metabolites sharing shift and widths); default: macromolecules and
        lipids (``Mac``, ``MM*``, ``Lip*``) in one group, all other metabolites in another.
    lineshape : str
        Lineshape model of every group: a key of
        :data:`mrspipe.fit.lineshape_models.LINESHAPES` (``'voigt'``, ``'lorentz'``,
        ``'kernel'`` or one added with
        :func:`~mrspipe.fit.lineshape_models.register_lineshape`). ``'kernel'``: before the
        frames are fitted, a free lineshape kernel (beyond Voigt) is estimated on the **mean of
        the frames** and folded into the basis (:mod:`mrspipe.fit.lineshape`); every frame then
        gets its own Voigt on top. For frames that share a lineshape (one session); about 6
        extra fits of one spectrum.
    chunk_size : int
        Frames fitted together (bounds memory: about ``chunk_size * n_met * K * 16`` bytes per
        work array, ``K`` the fitted points; larger chunks share the Python overhead, smaller
        ones stay in cache: 64 was fastest for 2048-point frames). Results do not depend on it.
    max_iter : int
        Iterations per frame.
    ftol : float
        A frame stops when its cost would decrease by less than ``ftol`` times the noise
        variance of one point (see :func:`mrspipe.fit.solver.levenberg_marquardt`).
    lorentz_hz, gauss_hz : float, Hz, optional
        Start values of the widths (default: the lineshape model's, 4 Hz each); a lineshape
        without such a width refuses them.
    max_shift_hz : float, Hz, optional
        Bound of the shift (default 0.25 ppm); the start value is searched within it.
    precision : {'single', 'double'}
        Precision of the FFTs of the model (linear algebra is always double): single is
        accurate to about 1e-5 of the largest concentration, far below any noise; double for
        exact noise-free checks.
    default_macromolecules : bool
        When the basis has no macromolecule/lipid spectrum, append LCModel's simulated
        components (:func:`with_default_macromolecules`, with a warning).
    default_lipids : bool
        Also append LCModel's lipid components to a basis that has macromolecules but no
        lipids (spectra with lipid contamination).
    mm_priors : bool
        Tie the appended components by LCModel's expected amplitude ratios (soft priors with
        an SD, :mod:`mrspipe.fit.priors`): a second pass of the numpy backend (the lmfit
        backend fits without them).
    lipid_phase : {'auto', 'free', 'metabolites'}
        Phase of the appended lipid components (:data:`~.lipids.PHASED_LIPIDS`).
        ``'free'``: each gets a free complex amplitude, i.e. a phase of its own, as lipid from
        outside the voxel has (its 90-degree copy is reported as ``<name>_90``; both parts
        may be negative; :mod:`~.lipids`; unless ``groups`` are given, in a lineshape group
        ``lipids`` of their own); ``'metabolites'``: nonnegative and in phase with
        the metabolites; ``'auto'``: when ``ppm_range`` holds the 1.28 ppm lipid, the mean of
        the frames is fitted with the phase free, and it stays free for every frame when that
        lipid is out of phase (p < 0.001, :func:`~.lipids.out_of_phase`; warned, and recorded
        in ``options['lipid_phase_test']``), else ``'metabolites'``. One extra fit of one
        spectrum.
    baseline_stiffness : {'fixed', 'ftest'}
        ``'ftest'``: the spline baseline's effective dimension is chosen on the mean of the
        frames, the stiffest of :data:`mrspipe.fit.stiffness.DOF_PER_PPM` whose fit is not
        significantly worse than the most flexible one's (:mod:`mrspipe.fit.stiffness`;
        overrides ``baseline_dof``). Not with an MM-free basis: the baseline then takes
        glutamate.
    threads : int >= 1, optional
        Chunks fitted concurrently (threads of this process; default: the usable cores, at
        most 4, for ``'numpy'``, 1 for ``'lmfit'``). Results do not depend on it.
    **options
        Start values of a registered lineshape's widths by their reported names (as
        ``lorentz_hz``); the rest passed to the backend (:data:`BACKEND_OPTIONS`; ``lmfit``:
        ``method``, default ``'leastsq'``; ``numpy``: none). Any other keyword is refused (a
        ``ConfigError``), so a misspelt option is not silently ignored.

    Returns
    -------
    FitResult

    Raises
    ------
    BasisMismatchError, ConfigError
        Basis or options do not fit the data.
    FitError
        No frame holds finite, nonzero data.
    """
    args = {k: v for k, v in locals().items() if k not in ("data", "basis")}
    setup = prepare(data, basis, args)
    build, prefit, start, options = setup.build, setup.prefit, setup.start, setup.options
    baseline_dof, lipid_test = setup.baseline_dof, setup.lipid_test
    problem, rbasis = build_problem(
        data, basis, baseline_dof=baseline_dof, precision=precision, **build
    )
    if build["lipid_phase"] == "free" and problem.free is None:
        logger.warning(
            "lipid_phase='free': no lipid component was appended (the basis has its own "
            "macromolecules/lipids, or default_macromolecules is off); fitted without a lipid "
            "phase of its own"
        )
        build["lipid_phase"] = "metabolites"  # recorded as fitted
    fids, good = prefit.fids, prefit.good
    n_f = fids.shape[0]
    if not good.any():
        raise FitError(f"no frame holds finite, nonzero data ({n_f} frames)", data.source)
    if not good.all():
        logger.warning(
            "%d of %d frames hold NaN/Inf or only zeros; not fitted", int((~good).sum()), n_f
        )
    problem.layout.start(1, start)  # refuse a start value the lineshape has no width for
    rows_good = np.flatnonzero(good)
    if problem.priors is not None and backend != "numpy":
        logger.warning("the %s backend fits without the MM/lipid ratio priors", backend)
    kernel: dict[str, Any] = {}
    if problem.layout.lineshape.kernel:
        problem, kernel = fold_mean_kernel(prefit, problem)
    out: dict[str, np.ndarray] = {}
    converged = np.zeros(n_f, bool)
    n_iter = np.zeros(n_f, int)
    fitter = BACKENDS[backend]
    if threads is None:
        threads = _usable_cores() if backend == "numpy" else 1
    if threads > 1:
        band_model(problem)  # build the shared precomputation once, before the threads start
    with single_threaded_blas():
        _fit_chunks(
            problem,
            fitter,
            fids,
            rows_good,
            chunk_size,
            out,
            converged,
            n_iter,
            rbasis.names,
            widths=start,
            threads=threads,
            max_iter=max_iter,
            ftol=ftol,
            **options,
        )
    logger.debug(
        "fitted %d frames; iterations median %d, max %d",
        rows_good.size,
        int(np.median(n_iter[rows_good])),
        int(n_iter.max()),
    )
    return build_result(
        data,
        problem,
        rbasis.names,
        out,
        converged,
        n_iter,
        rows_good,
        fids,
        backend=backend,
        options={
            "ppm_range": tuple(ppm_range),
            "baseline": baseline,
            "groups": groups,
            "max_iter": max_iter,
            "precision": precision,
            "lineshape": lineshape,
            "baseline_dof": baseline_dof,
            "lipid_phase": build["lipid_phase"],
            "lipid_phase_scope": "data" if lipid_phase == "auto" else "fixed",
            **({"lipid_phase_test": lipid_test} if lipid_test else {}),
            **kernel,
            **options,
        },
    )


def lipid_phase_test(data: MRSData, basis: Basis, **kwargs: Any) -> tuple[str, dict[str, float]]:
    """Decide ``lipid_phase="auto"`` for ``data`` without fitting its frames.

    The same fit of the mean of the frames as :func:`fit_spectra` makes (after the F-test
    baseline stiffness when asked for), for a caller that decides once for several data sets
    (the pipeline's ``[fit] lipid_phase_scope``: all sessions of a participant, or the study).

    Parameters
    ----------
    data : MRSData
        All leading axes are frames.
    basis : Basis
        On the data's grid.
    **kwargs
        Keywords of :func:`fit_spectra` (``lipid_phase`` is taken as ``'auto'``).

    Returns
    -------
    choice : {'free', 'metabolites'}
        What ``'auto'`` fits ``data`` with.
    test : dict
        ``phase_rad, chi2, dof, p`` of the mean spectrum; empty when nothing was tested (the
        band lacks the 1.28 ppm lipid, or no lipid component is appended).
    """
    import inspect

    bound = inspect.signature(fit_spectra).bind(data, basis, **{**kwargs, "lipid_phase": "auto"})
    bound.apply_defaults()
    args = {k: v for k, v in bound.arguments.items() if k not in ("data", "basis")}
    setup = prepare(data, basis, args)
    return setup.build["lipid_phase"], setup.lipid_test
