"""The fit step of a session: the frame-wise fit or the joint dynamic fit.

:func:`default_fit` is the default :attr:`Steps.fit <mrspipe.pipeline.steps.Steps>`; with
``[fit] dynamic`` it fits the session jointly (:func:`_fit_dynamic_session`) and hands the
session stage a :class:`DynamicFitTables`, the joint fit seen as a frame fit.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..fit.options import FitOptions

__all__ = ["default_fit", "default_lipid_test", "joint_fit_options", "DynamicFitTables"]

logger = logging.getLogger("mrspipe")


def joint_fit_options(options: FitOptions) -> FitOptions:
    """Return the fit options the joint dynamic fit really uses (a warning per change).

    The joint fit has no MM/lipid ratio priors, no free lineshape kernel (Voigt instead), a
    fixed baseline stiffness and lipid components in phase with the metabolites;
    :func:`~mrspipe.pipeline.study.run_study` applies this once before the sessions start, so
    ``run.json`` and the report record what was fitted, not what was asked for.
    """
    import dataclasses

    from ..fit.lineshape_models import get_lineshape

    changes: dict[str, Any] = {}
    if options.mm_priors:
        logger.warning("the joint dynamic fit has no MM/lipid ratio priors (mm_priors is ignored)")
        changes["mm_priors"] = False
    if get_lineshape(options.lineshape).kernel:
        logger.warning(
            "the joint dynamic fit has no %r lineshape: Voigt instead", options.lineshape
        )
        changes["lineshape"] = "voigt"
    if options.lipid_phase == "free":
        logger.warning(
            "the joint dynamic fit keeps the lipid components in phase with the metabolites "
            "(lipid_phase='free' is ignored)"
        )
    if options.lipid_phase != "metabolites":
        changes["lipid_phase"] = "metabolites"
    if options.baseline_stiffness != "fixed":
        logger.warning(
            "the joint dynamic fit has a fixed baseline stiffness (baseline_stiffness=%r is "
            "ignored)",
            options.baseline_stiffness,
        )
        changes["baseline_stiffness"] = "fixed"
    return dataclasses.replace(options, **changes) if changes else options


def default_fit(
    frames: Any,
    basis: Any,
    *,
    options: FitOptions,
    infusion: tuple[float, float] | None = None,
) -> Any:
    """Fit every frame: returns a FitResult (``table(source=)``, ``qc_table(source=)``).

    With ``options.dynamic`` the session is fitted jointly (:func:`_fit_dynamic_session`) on
    the design of its ``infusion = (onset, duration)`` (s from the first transient).
    """
    kwargs = options.spectra_kwargs()
    if options.constant_metabolites and not options.dynamic:
        from ..errors import ConfigError

        raise ConfigError(
            "[fit] constant_metabolites needs the joint fit ([fit] dynamic = true, or --dynamic)"
        )
    if options.dynamic:
        if infusion is None:
            from ..errors import ConfigError

            raise ConfigError("the joint dynamic fit needs the infusion event (events.tsv)")
        kwargs = joint_fit_options(options).spectra_kwargs()
        kwargs.pop("backend", None)
        kwargs.pop("mm_priors", None)
        kwargs.pop("baseline_stiffness", None)
        kwargs.pop("lipid_phase", None)
        return _fit_dynamic_session(
            frames, basis, infusion=infusion, constant=options.constant_metabolites, **kwargs
        )
    from ..fit import fit_spectra

    return fit_spectra(frames, basis, **kwargs)


def default_lipid_test(
    frames: Any, basis: Any, *, options: FitOptions
) -> tuple[str, dict[str, float]]:
    """``lipid_phase='auto'``'s test on the mean of one session's frames, without their fit.

    :func:`mrspipe.fit.lipid_phase_test` with the session's fit options: ``(choice, test)``.
    The pipeline's first pass when ``[fit] lipid_phase_scope`` is participant or study.
    """
    from ..fit import lipid_phase_test

    return lipid_phase_test(frames, basis, **options.spectra_kwargs())


@dataclass(frozen=True)
class DynamicFitTables:
    """A joint dynamic fit seen as a frame fit: what the session stage reads from a fit.

    ``table`` gives the jointly fitted concentrations of every frame (so ``mrspipe.dynamic``
    turns them into the same ``timecourses`` and window ``responses`` as a frame-wise fit);
    ``qc_table`` the QC of the frame-wise fit that started it, with the joint fit's convergence
    (``DynamicFitResult.qc_table``); ``result`` the
    :class:`~mrspipe.fit.DynamicFitResult` (betas, % of baseline, covariance). Any other
    attribute is the frame-wise start fit's (a :class:`~mrspipe.fit.FitResult`), so a step that
    draws a fit (``Steps.fit_figure``) shows that fit.
    """

    result: Any

    def table(self, source: str | None = None) -> Any:
        """Per-frame concentrations (``DynamicFitResult.frame_table``)."""
        return self.result.frame_table(source=source)

    def qc_table(self, source: str | None = None) -> Any:
        """Per-frame QC of the start fit; ``converged`` the joint fit's (``joint_converged``)."""
        return self.result.qc_table(source=source)

    def to_estimates(self, frame_times: Any = None) -> Any:
        """Per-frame estimates with covariance (``DynamicFitResult.to_estimates``)."""
        return self.result.to_estimates(frame_times)

    def __getattr__(self, name: str) -> Any:
        # everything else (spectra, params, ppm, ... for the fit figure) is the frame-wise
        # start fit's: a FitResult stand-in for steps that draw a fit
        if name == "result" or name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.result.frame_fit, name)


def _fit_dynamic_session(
    frames: Any,
    basis: Any,
    *,
    infusion: tuple[float, float],
    constant: tuple[str, ...] = (),
    **kwargs: Any,
) -> DynamicFitTables:
    """Joint fit of one session: concentrations per frame, Gaussian width on the design.

    ``infusion`` is the session's ``(onset, duration)`` (s from the first transient; the event
    chosen by ``[windows] event``), time 0 of the design. The concentrations are free per
    frame, so the window means the session stage takes are unbiased whatever the shape of the
    response (a ramp or any other parametric course would bias them when the truth has
    another shape: -1.8 pp on a study whose response saturates with tau = 300 s, see
    ``bench/study_bold.py``). The frames share the Gaussian width through the design
    (intercept, a step over the infusion and a ramp rising over it: a Gaussian BOLD narrowing
    is not read as concentration) and the first-order phase; Lorentzian width, shift and
    zero-order phase stay free per frame. The metabolites named in ``constant`` have one
    concentration for the whole session (``[fit] constant_metabolites``).
    """
    from ..dynamic import design_matrix
    from ..fit.dynamic import fit_dynamic

    onset, duration = infusion
    times = frames.transient_times() - onset
    regressors: tuple[Any, ...] = ({"kind": "boxcar", "name": "step"},)
    if math.isnan(duration):
        duration = math.inf
    else:
        regressors += ("ramp",)
    design = design_matrix(times, onset=0.0, duration=duration, regressors=regressors)
    conc = {"kind": "free", "metabolites": {name: "fixed" for name in constant}}
    model = {"conc": conc, "gauss": {"kind": "design", "regressors": list(design.columns)}}
    return DynamicFitTables(fit_dynamic(frames, basis, design, model=model, **kwargs))
