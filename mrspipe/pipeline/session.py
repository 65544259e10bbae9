"""One session: load, preprocess, fit, time course, write derivatives; resumable.

A session has two stages, each with a key recorded in ``done.json``:

* ``fit``: inputs (svs, water reference, basis) + preprocessing and fitting options;
* ``dynamic``: the fit key + events file + windows + session labels (condition, sex).

A stage whose key and input fingerprints match what is on disk is not recomputed: changing a
window re-derives the time course from the stored fits without refitting.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

from ..dynamic.options import Windows
from ..errors import StudyLayoutError
from ..fit.lipids import LIPID_RECORD
from ..io import derivatives as deriv
from .jobs import clear_basis_cache
from .lipid_scope import LipidPlan
from .session_fit import Stage, StepError, fit_stage, prepare_stage
from .session_keys import fit_key_of, hash_of, inputs_match, session_inputs
from .session_options import SessionOptions
from .steps import Steps
from .water_scaling import tissue_fractions

__all__ = [
    "SessionOptions",
    "SessionResult",
    "run_session",
    "prepare_session",
    "clear_basis_cache",
    "tissue_fractions",
]

logger = logging.getLogger("mrspipe")


@dataclass(frozen=True)
class SessionResult:
    """What happened to one session (small: it travels back from worker processes).

    Attributes
    ----------
    participant_id : str
    session_id : str or None
    computed : tuple of str
        Stages run this time (``("fit", "dynamic")``, ``("dynamic",)`` or ``()`` = resumed).
    failed_step : str or None
        Step that raised (``load``, ``preprocess``, ``fit``, ``events``, ``dynamic``, ``write``).
    error : str or None
        The error message.
    seconds : float
        Wall time spent.
    summary : dict
        QC summary for the report (``n_frames, n_transients, n_rejected, snr_median,
        fwhm_hz_median, shift_hz_range, fit_*_median, onset_s, infusion_duration_s``) and
        the acquisition parameters (``n_points, spectrometer_frequency_mhz, echo_time_s``, ...).
    """

    participant_id: str
    session_id: str | None
    computed: tuple[str, ...] = ()
    failed_step: str | None = None
    error: str | None = None
    seconds: float = 0.0
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True if the session finished."""
        return self.failed_step is None


def _summary(qc_transients: Any, qc_frames: Any) -> dict[str, Any]:
    """Summarise QC for the report: medians over transients, drift range, fit medians."""
    out: dict[str, Any] = {"n_frames": int(len(qc_frames)), "n_transients": int(len(qc_transients))}
    if "rejected" in qc_transients:
        out["n_rejected"] = int(qc_transients["rejected"].astype(bool).sum())
    for col in ("snr", "fwhm_hz"):
        if col in qc_transients and len(qc_transients):
            out[f"{col}_median"] = float(qc_transients[col].median())
    if "shift_hz" in qc_transients and len(qc_transients):
        out["shift_hz_range"] = float(
            qc_transients["shift_hz"].max() - qc_transients["shift_hz"].min()
        )
    for col in ("snr", "fwhm_hz", "residual_rel"):
        if col in qc_frames and len(qc_frames):
            out[f"fit_{col}_median"] = float(qc_frames[col].median())
    for col in LIPID_RECORD:  # the lipid model: one per session
        if col in qc_frames and len(qc_frames):
            value = qc_frames[col].iloc[0]
            out[col] = value.item() if hasattr(value, "item") else value
    if "converged" in qc_frames and len(qc_frames):  # a joint fit's: every frame or none
        converged = qc_frames["converged"].astype(str).str.lower().isin(("true", "1", "1.0"))
        out["fit_not_converged_percent"] = float(100.0 * (~converged).mean())
    return out


def unconverged_frames(qc_frames: Any) -> list[int]:
    """Frames whose frame-wise fit did not converge (frames QC ``converged`` false; read or fresh).

    A joint dynamic fit (QC column ``joint_converged``) has no fit per frame: every frame's
    estimate comes from the one joint solution, so whether it converged is a session finding
    (warned, flagged in the tables and the report) and its estimates are kept. Its iteration
    limit is usually met while only a nuisance lineshape still moves (Glu, Gln and GABA moved a
    median 0.02-0.07 SD from 30 to 300 iterations on low-SNR simulated sessions); dropping the
    session would lose a crossover pair for that.
    """
    if "converged" not in qc_frames or not len(qc_frames) or "joint_converged" in qc_frames:
        return []
    converged = qc_frames["converged"].astype(str).str.lower().isin(("true", "1", "1.0"))
    return sorted(int(f) for f in qc_frames.loc[~converged.to_numpy(), "frame"])


def sliding_frames(preprocess: Any) -> dict[str, Any]:
    """``{'sliding': (window, step)}`` when frames are overlapping sliding windows, else {}."""
    window = int(getattr(preprocess, "window", None) or 0)
    step = int(getattr(preprocess, "step", None) or 1)
    return {"sliding": (window, step)} if window and step < window else {}


def bounded_windows(windows: Windows, duration: float) -> Windows:
    """End an open-ended response window with the infusion (its events.tsv duration).

    A configured end (any finite number) is kept; without a recorded duration the window stays
    open (to the end of the scan).
    """
    start, end = windows.response
    if end is None and math.isfinite(duration) and duration > max(start or 0.0, 0.0):
        return dataclasses.replace(windows, response=(start, float(duration)))
    return windows


def run_session(
    session: Any,
    basis: Any,
    options: SessionOptions,
    *,
    steps: Steps | None = None,
    lipid: LipidPlan | None = None,
) -> SessionResult:
    """Process one session, or resume it from ``done.json``; never raises for a data problem.

    Parameters
    ----------
    session : Session
        From :func:`mrspipe.io.bids.find_sessions`.
    basis : Basis
        Loaded once per run; resampled to the data grid here (cached per grid in the process).
    options : SessionOptions
    steps : Steps, optional
        The step callables (default: the real modules).
    lipid : LipidPlan, optional
        The lipid model decided for the session's participant or the study
        (:mod:`~.lipid_scope`): fitted and recorded, from the frames :func:`prepare_session`
        stored.

    Returns
    -------
    SessionResult
        ``failed_step`` and ``error`` set when a step raised; the exception is logged at debug
        level with its traceback.
    """
    steps = steps or Steps()
    start = time.perf_counter()
    try:
        computed, summary = _run(session, basis, options, steps, lipid)
    except Exception as exc:  # every failure is this session's: the others go on
        return _failed(session, exc, start)
    return SessionResult(
        session.participant_id,
        session.session_id,
        computed=computed,
        seconds=time.perf_counter() - start,
        summary=summary,
    )


def prepare_session(
    session: Any, basis: Any, options: SessionOptions, *, steps: Steps | None = None
) -> SessionResult:
    """First pass of ``lipid_phase_scope`` participant/study: preprocess once and test the lipid.

    Nothing is done when ``done.json`` or ``prepared.json`` already hold the test for these
    inputs and options. Never raises for a data problem (as :func:`run_session`).

    Returns
    -------
    SessionResult
        ``summary['lipid_test']``: the session's own test of ``lipid_phase='auto'``
        (:func:`mrspipe.fit.lipid_phase_test`); ``computed`` ``("preprocess",)`` or ``()``.
    """
    steps = steps or Steps()
    start = time.perf_counter()
    try:
        paths = deriv.session_paths(options.out, session.participant_id, session.session_id)
        key, inputs = fit_key_of(session, options), session_inputs(session)
        done = None if options.overwrite else deriv.read_done(paths)
        if done and done.get("prepare_key") == key and "lipid_test" in done:
            if inputs_match(done.get("inputs", {}), inputs):
                return _prepared(session, (), done["lipid_test"], start)
        state = None if options.overwrite else deriv.read_prepared(paths)
        if state and state.get("key") == key and paths.preprocessed.is_file():
            if inputs_match(state.get("inputs", {}), inputs):
                return _prepared(session, (), state.get("lipid_test", {}), start)
        record = {
            k: None if p is None else deriv.file_fingerprint(p, digest=False)
            for k, p in inputs.items()
        }
        test = prepare_stage(session, basis, options, steps, paths, key=key, inputs=record)
    except Exception as exc:  # this session's failure: the others go on
        return _failed(session, exc, start)
    return _prepared(session, ("preprocess",), test, start)


def _prepared(
    session: Any, computed: tuple[str, ...], test: dict[str, Any], start: float
) -> SessionResult:
    return SessionResult(
        session.participant_id,
        session.session_id,
        computed=computed,
        seconds=time.perf_counter() - start,
        summary={"lipid_test": dict(test)},
    )


def _failed(session: Any, exc: Exception, start: float) -> SessionResult:
    pid, sid = session.participant_id, session.session_id
    step, error = (exc.step, exc.error) if isinstance(exc, StepError) else ("setup", exc)
    logger.debug("%s %s: %s failed", pid, sid, step, exc_info=error)
    message = str(error) or type(error).__name__
    return SessionResult(
        pid,
        sid,
        failed_step=step,
        error=f"{type(error).__name__}: {message}",
        seconds=time.perf_counter() - start,
    )


def _run(
    session: Any, basis: Any, options: SessionOptions, steps: Steps, lipid: LipidPlan | None
) -> tuple[tuple[str, ...], dict[str, Any]]:
    paths = deriv.session_paths(options.out, session.participant_id, session.session_id)
    done = None if options.overwrite else deriv.read_done(paths)
    dynamic_fit = options.fit.dynamic
    prepare_key = fit_key_of(session, options)
    # a lipid model decided for the participant/study is part of what the fit depends on
    fit_key = (
        prepare_key if lipid is None else hash_of({"fit": prepare_key, "lipid": lipid.record()})
    )
    dyn_key = hash_of(
        {
            "fit": fit_key,
            "windows": options.windows,
            "condition": session.condition,
            "sex": session.sex,
        }
    )
    inputs = session_inputs(session)
    events = {"events": session.events_path}
    recorded = (done or {}).get("inputs", {})

    def matches(names: dict[str, Any]) -> bool:
        return inputs_match(recorded, names)

    fit_ok = bool(
        done
        and done.get("fit_key") == fit_key
        and matches(inputs | events if dynamic_fit else inputs)
        and all(paths.table(t).is_file() for t in ("fits", "qc", "qc_transients"))
    )
    dyn_ok = bool(
        fit_ok
        and done
        and done.get("dynamic_key") == dyn_key
        and matches(events)
        and all(paths.table(t).is_file() for t in ("timecourses", "responses"))
    )
    if dyn_ok:
        assert done is not None
        return (), dict(done.get("summary", {}))

    with Stage("events"):
        if session.events_path is None:
            raise StudyLayoutError(
                "no events.tsv: the infusion onset (time 0) is unknown", session.svs_path
            )
        onset, duration = steps.infusion(
            steps.read_events(session.events_path),
            event=options.windows.event,
            source=session.events_path,
        )

    computed: list[str] = []
    if fit_ok:
        assert done is not None
        with Stage("load"):
            fits = deriv.read_session_table(paths, "fits")
            qc_frames = deriv.read_session_table(paths, "qc")
            qc_transients = deriv.read_session_table(paths, "qc_transients")
            frame_times = qc_frames.sort_values("frame")["acquisition_time_s"].to_numpy()
            covariance = (
                deriv.read_session_table(paths, "covariance")
                if paths.table("covariance").is_file()
                else None
            )
            acquisition = dict(done.get("acquisition", {}))
    else:
        fits, qc_frames, qc_transients, frame_times, covariance, acquisition = fit_stage(
            session,
            basis,
            options,
            steps,
            paths,
            infusion=(onset, duration),
            lipid=lipid,
            prepared=None if lipid is None else prepare_key,
        )
        computed.append("fit")

    with Stage("dynamic"):
        # frames whose fit did not converge: left out of the time courses (NaN) by default
        excluded = unconverged_frames(qc_frames) if options.windows.exclude_unconverged else []
        if excluded:
            logger.warning(
                "%s %s: %d of %d frames whose fit did not converge left out of the time courses",
                session.participant_id,
                session.session_id,
                len(excluded),
                len(qc_frames),
            )
        timecourses, responses = steps.dynamics(
            fits,
            frame_times=frame_times,
            onset=onset,
            session=session,
            windows=bounded_windows(options.windows, duration),
            **sliding_frames(options.preprocess),
            covariance=covariance,
            **({"excluded_frames": excluded} if excluded else {}),
        )
    computed.append("dynamic")
    with Stage("write"):
        if done is not None and paths.done.is_file():
            # withdraw done.json's word for the tables about to be replaced: a crash while
            # they are rewritten must not leave them vouched for (the fit still resumes)
            deriv.write_done(paths, {k: v for k, v in done.items() if k != "dynamic_key"})
        deriv.write_session_table(paths, "timecourses", timecourses)
        deriv.write_session_table(paths, "responses", responses)
        summary = (
            _summary(qc_transients, qc_frames)
            | {"n_frames_excluded": len(excluded)}
            | acquisition
            | {
                "onset_s": float(onset),
                "infusion_duration_s": None if math.isnan(duration) else float(duration),
            }
        )
        # inputs of a resumed fit were just verified: keep their records, hash only the rest
        record = {
            name: None
            if p is None
            else recorded[name] | deriv.file_fingerprint(p, digest=False)
            if fit_ok and name in inputs
            else deriv.file_fingerprint(p)
            for name, p in (inputs | events).items()
        }
        deriv.write_done(
            paths,
            {
                "participant_id": session.participant_id,
                "session_id": session.session_id,
                "fit_key": fit_key,
                "dynamic_key": dyn_key,
                **(
                    {"prepare_key": prepare_key, "lipid_test": lipid.test}
                    if lipid is not None
                    else {}
                ),
                "inputs": record,
                "summary": summary,
                "acquisition": acquisition,
                "version": options.version,
                "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            },
        )
        paths.prepared.unlink(missing_ok=True)  # done.json holds what it held
    return tuple(computed), summary
