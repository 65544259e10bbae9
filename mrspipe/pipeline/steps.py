"""The adapter layer: every call the pipeline makes into the rest of mrspipe.

:class:`Steps` holds one callable per step. The defaults import the real modules lazily and
translate the pipeline's options into their keyword arguments; tests (and power users) pass
their own :class:`Steps` to :func:`mrspipe.pipeline.run_study`. The callables must be
picklable (module-level functions) to run in worker processes.

The defaults of the reading, preprocessing, time-course and report steps are here; the fit
step is in :mod:`mrspipe.pipeline.fit_step` and the group steps (clinical scores, GLM,
statistics) in :mod:`mrspipe.pipeline.group_steps`, all re-exported here. The signature each
step must have is the one of its ``default_*`` function.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .fit_step import DynamicFitTables, default_fit, default_lipid_test, joint_fit_options
from .group_steps import default_glm, default_read_phenotype, default_stats

if TYPE_CHECKING:
    from ..dynamic.options import Windows
    from ..preprocess import PreprocessOptions

__all__ = [
    "Steps",
    "check_modules",
    "default_fit",
    "default_lipid_test",
    "joint_fit_options",
    "DynamicFitTables",
    "default_read_phenotype",
    "default_stats",
    "default_glm",
]


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
    excluded_frames: Any = (),
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
    excluded_frames : sequence of int, optional
        Frames left out of the time courses (NaN there): those whose fit did not converge,
        with ``[windows] exclude_unconverged``. Passed only when there are some, so a
        replacement step need not take it otherwise.

    Returns
    -------
    timecourses, responses : pandas.DataFrame
        With the contract columns of ``docs/architecture.md``.
    """
    from ..dynamic import session_timecourses, window_responses

    timecourses = session_timecourses(
        fits,
        session,
        onset=onset,
        frame_times=frame_times,
        covariance=covariance,
        excluded_frames=excluded_frames,
    )
    responses = window_responses(
        timecourses,
        baseline_window=windows.baseline,
        response_window=windows.response,
        sliding=sliding,
    )
    return timecourses, responses


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
    #: ``lipid_test(frames, basis, *, options) -> (choice, test)``: ``lipid_phase='auto'``'s
    #: test of one session, for a decision per participant/study (``lipid_phase_scope``)
    lipid_test: Any = default_lipid_test
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
    default_lipid_test: "mrspipe.fit",
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
