"""``fit_dynamic``: one spectro-temporal model for all frames (or transients) of a session.

The frame model is the one of :func:`mrspipe.fit.fit_spectra` (:mod:`mrspipe.fit.model`:
basis x Voigt lineshape per group x shift x zero/first-order phase + a smooth baseline profiled
out per frame). Across frames every parameter class is ``fixed``, ``free`` or a linear
``design`` over named regressors (:mod:`mrspipe.fit.dynamic_design`); the concentrations are
``c_fm = sum_k X_fk beta_km``. All frames are fitted together by Gauss-Newton /
Levenberg-Marquardt with analytic derivatives, solved by the Schur complement on the global
unknowns (:mod:`mrspipe.fit.dynamic_solver`); the free per-frame parameters are marginalised in
the covariance of the betas. The design betas are **not** constrained to give nonnegative
per-frame concentrations (a response is a signed quantity; a negative implied concentration
in some frame is a sign of a bad model, not something to clip).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ..data import Basis, MRSData
from ..errors import ConfigError, FitError
from .backends import single_threaded_blas
from .crlb import sum_weights
from .dynamic_design import as_design, build_layout, parse_model
from .dynamic_result import DynamicFitResult
from .dynamic_solver import joint_covariance, levenberg_marquardt_joint
from .layout import ParameterLayout
from .lineshape_models import DEFAULT_LINESHAPE, get_lineshape
from .options import FitOptions
from .problem import build_problem
from .result import FitResult

__all__ = ["fit_dynamic", "DynamicFitResult"]

logger = logging.getLogger("mrspipe")

#: the one place of the fit defaults
_DEFAULT = FitOptions()


def _frame_values(fit: FitResult, layout: ParameterLayout) -> np.ndarray:
    """Per-frame columns ``(F, n_theta + n_met)`` from a frame-wise fit."""
    if fit.lineshape != layout.lineshape.name:
        raise ConfigError(
            f"init was fitted with the {fit.lineshape!r} lineshape, the joint fit uses "
            f"{layout.lineshape.name!r}"
        )
    theta = layout.from_params(fit.params)
    theta[:, layout.phase0] = np.unwrap(theta[:, layout.phase0])
    return np.concatenate([theta, fit.estimates], axis=1)


def _start_global(layout: Any, vals: np.ndarray) -> np.ndarray:
    """Global unknowns by least squares of their frame matrices on the frame-wise values."""
    gamma = np.zeros(layout.n_global)
    for c in np.unique(layout.global_column):
        idx = np.flatnonzero(layout.global_column == c)
        z = layout.frame_map[:, idx, c]
        v = vals[:, c]
        ok = np.isfinite(v)
        gamma[idx] = np.linalg.lstsq(z[ok], v[ok], rcond=None)[0]
    return gamma


def fit_dynamic(
    data: MRSData,
    basis: Basis,
    design: pd.DataFrame | Mapping[str, Any],
    *,
    model: Mapping[str, Any] | str | None = None,
    init: FitResult | None = None,
    ppm_range: tuple[float, float] = _DEFAULT.ppm_range,
    baseline: str = _DEFAULT.baseline,
    baseline_order: int = _DEFAULT.baseline_order,
    baseline_knot_spacing: float = _DEFAULT.baseline_knot_spacing,
    baseline_dof: float | None = _DEFAULT.baseline_dof,
    groups: Mapping[str, Sequence[str]] | None = None,
    lineshape: str = DEFAULT_LINESHAPE,
    default_macromolecules: bool = _DEFAULT.default_macromolecules,
    max_iter: int = 30,
    ctol: float = 0.01,
    precision: str = "single",
    chunk_size: int = 128,
) -> DynamicFitResult:
    """Fit every frame of a session with one spectro-temporal model.

    Parameters
    ----------
    data : MRSData
        All leading axes are frames (e.g. ``(n_transients, n_points)``), in time order.
    basis : Basis
        Resampled to the data grid when needed.
    design : DataFrame or mapping of str to (n_frames,) array
        Named regressors (e.g. from :func:`mrspipe.dynamic.design_matrix`: ``intercept``,
        ``ramp``, ``drift1``, a centred ``bold`` nuisance). ``const`` is read as ``intercept``;
        an intercept is added when missing. Checked before fitting
        (:func:`mrspipe.dynamic.check_design`): constant or collinear regressors, or more
        regressors than frames, raise :class:`~mrspipe.errors.ConfigError`.
    model : mapping or TOML str, optional
        Parameter class -> ``'fixed' | 'free' | 'design'`` or ``{'kind': 'design',
        'regressors': [...]}``; classes ``conc, lorentz, gauss, shift, phase0, phase1,
        baseline`` for the Voigt (see :data:`mrspipe.fit.dynamic_design.PARAMETER_CLASSES`;
        another lineshape brings the classes of its widths). Default
        :data:`~mrspipe.fit.dynamic_design.DEFAULT_MODEL`: concentrations on the whole design,
        Lorentzian width, shift and zero-order phase free per frame, Gaussian width on the
        design (so that neither a Lorentzian nor a Gaussian BOLD narrowing reads as
        concentration),
        first-order phase fixed, baseline free (profiled per frame).
    init : FitResult, optional
        A frame-wise fit of the same frames (default: :func:`mrspipe.fit.fit_spectra` is run)
        giving the start values.
    ppm_range, baseline, baseline_order, baseline_knot_spacing, baseline_dof, groups, lineshape
        As in :func:`mrspipe.fit.fit_spectra`.
    default_macromolecules : bool
        As in :func:`mrspipe.fit.fit_spectra` (LCModel's simulated components appended to an
        MM-free basis).
    max_iter : int
        Gauss-Newton iterations.
    ctol : float
        Stop when a step moves every global parameter by less than ``ctol`` standard errors.
    precision : {'single', 'double'}
        FFT precision of the model (as in ``fit_spectra``).
    chunk_size : int
        Frames per vectorised block (bounds memory only).

    Returns
    -------
    DynamicFitResult

    Raises
    ------
    ConfigError
        Unknown parameter class, kind or regressor, a bad design, or more unknowns than data,
        all before any fitting.
    FitError
        Frames with non-finite or all-zero data.
    """
    if get_lineshape(lineshape).kernel:
        raise ConfigError(
            f"the joint fit has no {lineshape!r} lineshape (a kernel folded into the basis is "
            "for frame-wise fits)"
        )
    spec = parse_model(model, lineshape=lineshape)
    n = data.n_points
    fids = data.fids.reshape(-1, n)
    n_f = fids.shape[0]
    design = as_design(design, n_f)
    good = np.isfinite(fids).all(axis=1) & (np.abs(fids).max(axis=1, initial=0.0) > 0)
    if not good.all():
        raise FitError(
            f"{int((~good).sum())} of {n_f} frames hold NaN/Inf or only zeros; "
            "drop them (and their design rows) before a joint fit",
            data.source,
        )
    problem, rbasis = build_problem(
        data,
        basis,
        ppm_range=ppm_range,
        baseline=baseline,
        baseline_order=baseline_order,
        baseline_knot_spacing=baseline_knot_spacing,
        baseline_dof=baseline_dof,
        groups=groups,
        lineshape=lineshape,
        precision=precision,
        default_macromolecules=default_macromolecules,
        lipid_phase="metabolites",
    )
    layout = build_layout(
        spec,
        design,
        parameters=problem.layout,
        met_names=rbasis.names,
        n_baseline=problem.baseline.shape[1],
    )
    extra = penalty = None
    if layout.n_extra:
        problem, extra, penalty = _shared_baseline(problem, layout)
    n_band = problem.band.size
    n_data = n_f * (2.0 * n_band - problem.d2.sum())
    n_unknown = layout.n_global + n_f * layout.local.size
    if n_unknown >= n_data:
        raise ConfigError(
            f"the model has {n_unknown} unknowns for {n_data:.0f} effective data "
            f"points ({n_f} frames): declare fewer classes 'free'"
        )
    if init is None:
        init = _frame_fit(
            data,
            basis,
            ppm_range=ppm_range,
            baseline=baseline,
            baseline_order=baseline_order,
            groups=groups,
            lineshape=lineshape,
            baseline_knot_spacing=baseline_knot_spacing,
            baseline_dof=baseline_dof,
            precision=precision,
            default_macromolecules=default_macromolecules,
            lipid_phase="metabolites",
        )
    if init.n_frames != n_f:
        raise ConfigError(f"init has {init.n_frames} frames, the data {n_f}")
    vals0 = _frame_values(init, problem.layout)
    vals0 = np.where(np.isfinite(vals0), vals0, np.nanmedian(vals0, axis=0))
    vals0 = np.concatenate([vals0, np.zeros((n_f, layout.n_extra))], axis=1)
    gamma0 = _start_global(layout, vals0)
    y = np.fft.fft(fids, axis=-1)[:, problem.band]
    with single_threaded_blas():
        gamma, local, asm, converged, n_iter = levenberg_marquardt_joint(
            problem,
            layout,
            y,
            gamma0,
            vals0[:, layout.local],
            max_iter=max_iter,
            ctol=ctol,
            chunk=chunk_size,
            extra=extra,
            penalty=penalty,
        )
        vals = layout.values(gamma, local)
        vals[:, : layout.n_theta] = problem.clip(vals[:, : layout.n_theta])
        from .dynamic_solver import assemble

        final = assemble(problem, layout, y, vals, middle=True, chunk=chunk_size, extra=extra)
    sigma = float(np.sqrt(final.cost.sum() / max(n_data - n_unknown, 1.0)))
    lo, hi = problem.lower, problem.upper
    gcol = layout.global_column
    th = np.minimum(gcol, layout.n_theta - 1)
    at_bound = (
        (gcol < layout.n_theta)
        & np.array([r == "fixed" for r in layout.global_regressor], dtype=bool)
        & ((gamma <= lo[th]) | (gamma >= hi[th]))
    )
    conc_cols = np.arange(layout.n_theta, layout.n_theta + layout.n_met)
    cov, tc_cov = joint_covariance(final, layout, sigma, at_bound, penalty, columns=conc_cols)
    if not converged:
        logger.warning(
            "%s: joint dynamic fit did not converge in %d iterations (its estimates are "
            "reported; QC column converged/joint_converged false)",
            data.source or "data",
            n_iter,
        )
    return _result(
        layout,
        rbasis,
        design,
        spec,
        gamma,
        cov,
        tc_cov,
        vals,
        final.cost,
        sigma,
        converged,
        n_iter,
        init,
    )


def _shared_baseline(problem: Any, layout: Any) -> tuple[Any, np.ndarray, np.ndarray]:
    """Plain metric, baseline columns and penalty for a baseline shared by all frames.

    The columns are ``B_j`` and ``1j B_j`` (real and imaginary coefficient) of the frame
    fitter's baseline basis; the penalty is ``F lam R`` per part, the frame fitter's ridge
    (recovered from its smoother, 0 for a polynomial) summed over the frames, so the shared
    baseline is as smooth as the frame fitter's baseline of the mean spectrum.
    """
    import dataclasses

    basis = problem.baseline  # (K, nb)
    gram = basis.T @ basis
    ridge = gram @ np.linalg.inv(problem.baseline_solve @ basis) - gram
    ridge = 0.5 * (ridge + ridge.T)
    nb = basis.shape[1]
    extra = np.empty((2 * nb, basis.shape[0]), complex)
    extra[0::2] = basis.T
    extra[1::2] = 1j * basis.T
    n_f = layout.n_frames
    penalty = np.zeros((layout.n_global, layout.n_global))
    idx = np.flatnonzero(layout.global_column >= layout.n_theta + layout.n_met)
    penalty[np.ix_(idx, idx)] = n_f * np.kron(ridge, np.eye(2))
    plain = dataclasses.replace(problem, w=np.zeros_like(problem.w))
    return plain, extra, penalty


def _frame_fit(data: MRSData, basis: Basis, **options: Any) -> FitResult:
    from .fitting import fit_spectra

    return fit_spectra(data, basis, **options)


def _result(
    layout: Any,
    rbasis: Basis,
    design: pd.DataFrame,
    spec: dict[str, Any],
    gamma: np.ndarray,
    cov: np.ndarray,
    tc_cov: np.ndarray | None,
    vals: np.ndarray,
    cost: np.ndarray,
    sigma: float,
    converged: bool,
    n_iter: int,
    init: FitResult | None,
) -> DynamicFitResult:
    names = rbasis.names
    p = layout.n_theta
    gcol = layout.global_column
    conc_idx = np.flatnonzero((gcol >= p) & (gcol < p + len(names)))
    conc_reg = [
        "intercept" if r == "fixed" else r
        for r in np.array(layout.global_regressor, dtype=object)[conc_idx]
    ]
    # union of the regressors of all metabolites, in design order (intercept first)
    regs = tuple(c for c in design.columns if c in set(conc_reg))
    n_r = len(regs)
    # metabolites without a regressor have a zero beta (held at 0) with zero variance
    flat = (gcol[conc_idx] - p) * n_r + np.array([regs.index(r) for r in conc_reg], dtype=int)
    beta_flat = np.zeros(len(names) * n_r)
    beta_flat[flat] = gamma[conc_idx]
    beta = beta_flat.reshape(len(names), n_r)
    beta_cov = np.zeros((len(names) * n_r,) * 2)
    beta_cov[np.ix_(flat, flat)] = cov[np.ix_(conc_idx, conc_idx)]
    modelled = np.zeros((len(names), n_r), bool)
    modelled.reshape(-1)[flat] = True
    assert tc_cov is not None
    tc_cov = np.where(np.isfinite(tc_cov), tc_cov, 0.0)  # a frozen (at-bound) unknown: known
    sum_names, weights = sum_weights(names)
    global_names = tuple(
        f"{layout.column_names[c]}:{r}" for c, r in zip(gcol, layout.global_regressor, strict=True)
    )
    return DynamicFitResult(
        names=names,
        regressors=regs,
        beta=beta,
        beta_cov=beta_cov,
        modelled=modelled,
        sum_names=sum_names,
        sum_weights=weights,
        global_names=global_names,
        global_estimates=gamma,
        covariance=cov,
        timecourses=vals[:, p : p + len(names)],
        timecourse_sd=np.sqrt(np.clip(np.einsum("fmm->fm", tc_cov), 0, None)),
        timecourse_cov=tc_cov,
        theta=vals[:, :p],
        column_names=layout.column_names,
        residual_norm=np.sqrt(np.clip(cost, 0.0, None)),
        noise_sd=sigma,
        converged=bool(converged),
        n_iter=int(n_iter),
        design=design,
        model=spec,
        frame_fit=init,
    )
