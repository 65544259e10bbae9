"""The adapter layer: every call the pipeline makes into the rest of mrspipe, in one place.

:class:`Steps` holds one callable per step. The defaults below import the real modules lazily
and translate the pipeline's options into their keyword arguments; tests (and power users)
pass their own :class:`Steps` to :func:`mrspipe.pipeline.run_study`. The callables must be
picklable (module-level functions) to run in worker processes.

The signature each step must have is the one of its ``default_*`` function here.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import MRSError

if TYPE_CHECKING:
    from ..dynamic.options import GLMOptions, Windows
    from ..fit.options import FitOptions
    from ..preprocess import PreprocessOptions
    from ..stats.options import StatsOptions

__all__ = ["Steps", "check_modules"]

logger = logging.getLogger("mrspipe")


def default_find_sessions(study: Path, **selection: Any) -> list[Any]:
    """Sessions of an MRS-BIDS study (:func:`mrspipe.io.bids.find_sessions`).

    ``selection``: ``participant_labels`` and ``task`` (the ``--participant-label`` and
    ``--task-id`` choices), passed on.
    """
    from ..io.bids import find_sessions

    return find_sessions(study, **selection)


def default_read_events(path: Path) -> Any:
    """Read an ``events.tsv`` as a DataFrame with ``onset, duration, trial_type``."""
    from ..io.bids import read_events

    return read_events(path)


def default_load_mrs(path: Path) -> Any:
    """One NIfTI-MRS file as :class:`~mrspipe.data.MRSData`, completed from its BIDS sidecar."""
    from ..io.bids_files import load_bids_mrs

    return load_bids_mrs(path)


def default_load_basis(path: Path) -> Any:
    """Load a basis set in any supported format."""
    from ..io.basis import load_basis

    return load_basis(path)


def default_resample_basis(basis: Any, data: Any) -> Any:
    """Put ``basis`` on the grid of ``data`` (dwell time, points, field, ppm reference)."""
    from ..spectral import match_basis

    return match_basis(basis, data)


def default_preprocess(
    data: Any, *, water: Any, options: PreprocessOptions, ecc_reference: Any = None
) -> Any:
    """Preprocess one session (``ecc_reference``: a separate eddy-current reference).

    ``data`` was loaded for this call (:func:`~mrspipe.pipeline.preprocess_files`): the chain
    works in its array (``overwrite_data``), so a session is held once, not twice.

    Returns an object with ``frames`` (MRSData), ``qc`` (dict of per-transient arrays) and
    ``steps`` (provenance), see ``docs/architecture.md``.
    """
    from ..preprocess import preprocess_session

    return preprocess_session(
        data, water=water, options=options, ecc_reference=ecc_reference, overwrite_data=True
    )


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


def default_infusion(events: Any, *, event: str | None, source: Any = None) -> tuple[float, float]:
    """Onset and duration (s, from the first transient) of the infusion in an events table.

    ``event`` is a case-insensitive substring of ``trial_type``; None = the first event whose
    trial_type contains 'infusion', else the first event. Duration is NaN when not recorded.
    """
    from ..dynamic import infusion_event

    return infusion_event(events, trial_type=event, source=source)


def default_dynamics(
    fits: Any,
    *,
    frame_times: Any,
    onset: float,
    session: Any,
    windows: Windows,
    sliding: tuple[int, int] | None = None,
    covariance: Any = None,
) -> tuple[Any, Any]:
    """One session's time course and window responses (the :mod:`mrspipe.dynamic` adapter).

    Parameters
    ----------
    fits : pandas.DataFrame
        ``FitResult.table()``: ``frame, metabolite, estimate, crlb_sd, ...``.
    frame_times : (n_frames,) float ndarray, s
        Frame centre times from the first transient.
    onset : float, s
        Infusion onset from the first transient; time courses are relative to it.
    session : Session
        ``participant_id, session_id, condition, sex`` label the rows (sex may be None).
    windows : Windows
        Baseline and response windows, s relative to the onset.
    sliding : (window, step), transients, optional
        Frames are overlapping sliding windows: the window SEs count the shared transients.
    covariance : pandas.DataFrame, optional
        ``Estimates.covariance_table()``: the ratio SDs include it (else independence).

    Returns
    -------
    timecourses, responses : pandas.DataFrame
        With the contract columns of ``docs/architecture.md``.
    """
    from ..dynamic import session_timecourses, window_responses

    timecourses = session_timecourses(
        fits, session, onset=onset, frame_times=frame_times, covariance=covariance
    )
    responses = window_responses(
        timecourses,
        baseline_window=windows.baseline,
        response_window=windows.response,
        sliding=sliding,
    )
    return timecourses, responses


def default_read_phenotype(study: Path, *, score: str) -> Any:
    """Clinical scores ``study/phenotype/<score>.tsv`` with the score column named ``score``.

    Returns None when the study has no such table.
    """
    from ..io.tables import read_table

    path = Path(study) / "phenotype" / f"{score}.tsv"
    if not path.is_file():
        return None
    table = read_table(path)
    if "score" not in table.columns and score in table.columns:
        table = table.rename(columns={score: "score"})
    return table


def default_stats(
    timecourses: Any,
    responses: Any,
    *,
    contrast: tuple[str, ...],
    options: StatsOptions,
    windows: Windows,
    phenotype: Any = None,
    glm: Any = None,
    sessions: Any = None,
) -> Any:
    """Group statistics (:func:`mrspipe.stats.crossover_stats`): the ``stats`` table.

    ``sessions`` (``participant_id, session_id, acq_time, infusion_duration_s``) gives the
    session order and the infusion ends.

    An empty ``contrast`` is a design without drug conditions (task fMRS): response against
    baseline, overall and by sex (:func:`mrspipe.stats.task.task_stats`).
    """
    from ..stats import crossover_stats

    if not contrast:
        from ..stats.task import task_stats

        return task_stats(responses, alpha=1.0 - options.ci_level)

    return crossover_stats(
        responses,
        conditions=contrast,
        timecourses=timecourses,
        phenotype=phenotype,
        options=options,
        baseline_window=windows.baseline,
        response_window=windows.response,
        glm=glm,
        sessions=sessions,
    )


def default_glm(
    timecourses: Any, *, durations: dict[tuple[str, str | None], float], options: GLMOptions
) -> Any:
    """Per-session GLM of the time courses (:func:`mrspipe.dynamic.glm_timecourses`).

    ``durations`` maps ``(participant_id, session_id)`` to the infusion duration (s; NaN or
    missing = until the end of the scan). Returns the ``glm`` table.
    """
    import pandas as pd

    from ..dynamic import glm_timecourses

    kind = options.regressor
    regressor: Any = {"kind": kind, "tau": options.tau_s} if kind == "exponential" else kind
    noise = options.noise
    bounded = options.until_infusion_end
    parts = []
    keys = ["participant_id", "session_id"]
    for (pid, sid), session in timecourses.groupby(keys, sort=False, dropna=False):
        # a session without a session id groups as NaN; the durations know it as None
        duration = durations.get((pid, None if pd.isna(sid) else sid), math.nan)
        finite = math.isfinite(duration)
        try:
            parts.append(
                glm_timecourses(
                    session,
                    regressors=(regressor,),
                    duration=duration if finite else math.inf,
                    drift_order=options.drift_order,
                    noise=noise,
                    until=duration if (bounded and finite) else None,
                )
            )
        except (MRSError, ValueError, ArithmeticError) as exc:  # this session only
            logger.warning("GLM skipped for %s %s: %s", pid, sid, exc)
    glm = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()
    glm.attrs["method"] = {
        "ar1": "AR(1) errors per time course (REML), GLS on the Prais-Winsten-whitened course; "
        "t-tests with Satterthwaite df (residual df frames - regressors - 1, reduced for the "
        "uncertainty of the AR coefficient; column df)",
        "ols": "ordinary least squares, independent frames; df = frames - regressors",
    }[noise]
    glm.attrs["frames"] = (
        "frames before the end of the infusion (events.tsv duration)" if bounded else "every frame"
    )
    if not glm.empty:
        glm.attrs["df_median"] = float(glm["df"].median())
        glm.attrs["ar1_median"] = float(glm["ar1"].median())
    return glm


def default_report(out: Path, **tables: Any) -> Path:
    """Write ``out/report.html`` (:func:`mrspipe.report.write_report`)."""
    from ..report import write_report

    return write_report(out, **tables)


def default_fit_figure(frames: Any, fit: Any, *, path: Path, title: str) -> Path:
    """One PNG of a session's fit: data, model, baseline and residual averaged over frames."""
    from ..report.fit_figure import plot_fit

    return plot_fit(fit, path, title=title)


@dataclass(frozen=True)
class Steps:
    """The callables the pipeline uses; replace any of them to inject your own.

    Each field's signature is that of the matching ``default_*`` function of this module.
    """

    find_sessions: Any = default_find_sessions
    read_events: Any = default_read_events
    load_mrs: Any = default_load_mrs
    load_basis: Any = default_load_basis
    resample_basis: Any = default_resample_basis
    preprocess: Any = default_preprocess
    fit: Any = default_fit
    infusion: Any = default_infusion
    dynamics: Any = default_dynamics
    read_phenotype: Any = default_read_phenotype
    stats: Any = default_stats
    glm: Any = default_glm
    report: Any = default_report
    #: ``fit_figure(frames, fit, *, path, title) -> Path | None`` writing one PNG of a
    #: session's fit (data, model, baseline, residual) for the report's fit examples; None =
    #: no fit figures
    fit_figure: Any = default_fit_figure


#: default step -> the module it needs
_MODULES: dict[Any, str] = {
    default_find_sessions: "mrspipe.io.bids",
    default_read_events: "mrspipe.io.bids",
    default_load_basis: "mrspipe.io.basis",
    default_preprocess: "mrspipe.preprocess",
    default_fit: "mrspipe.fit",
    default_infusion: "mrspipe.dynamic",
    default_dynamics: "mrspipe.dynamic",
    default_stats: "mrspipe.stats",
    default_glm: "mrspipe.dynamic",
    default_report: "mrspipe.report",
    default_fit_figure: "mrspipe.report.fit_figure",
}


def check_modules(steps: Steps, extra: tuple[str, ...] = ()) -> None:
    """Fail early, before any work, if a module a default step needs is not installed.

    Raises
    ------
    MissingExtraError
        Naming the missing modules.
    """
    import importlib.util

    from ..errors import MissingExtraError

    needed = {_MODULES[f] for f in vars(steps).values() if f in _MODULES} | set(extra)
    missing = sorted(m for m in needed if importlib.util.find_spec(m) is None)
    if missing:
        raise MissingExtraError(
            f"this mrspipe installation lacks {', '.join(missing)}; reinstall mrspipe"
        )
