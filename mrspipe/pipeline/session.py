"""One session: load, preprocess, fit, time course, write derivatives; resumable.

A session has two stages, each with a key recorded in ``done.json``:

* ``fit``: inputs (svs, water reference, basis) + preprocessing and fitting options;
* ``dynamic``: the fit key + events file + windows + session labels (condition, sex).

A stage whose key and input fingerprints match what is on disk is not recomputed: changing a
window re-derives the time course from the stored fits without refitting.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import StudyLayoutError
from ..io import derivatives as deriv
from .steps import Steps

__all__ = ["SessionOptions", "SessionResult", "run_session"]

logger = logging.getLogger("mrspipe")


@dataclass(frozen=True)
class SessionOptions:
    """Everything a session needs besides its data; the same for every session of a run.

    Parameters
    ----------
    out : Path
        Output folder of the study run.
    preprocess, fit : dict
        ``[preprocess]`` and ``[fit]`` sections of the configuration.
    event : str or None
        ``trial_type`` (case-insensitive substring) whose first onset is time 0; None = the
        first event whose trial_type contains 'infusion', else the first event.
    baseline_window, response_window : (float, float), s relative to the onset
        ``-inf`` / ``inf`` for open ends.
    basis_fingerprint : dict
        :func:`mrspipe.io.derivatives.file_fingerprint` of the basis set.
    overwrite : bool
        Recompute even when ``done.json`` says the session is up to date.
    version : str
        mrspipe version, part of the fit key.
    """

    out: Path
    preprocess: dict[str, Any]
    fit: dict[str, Any]
    event: str | None = None
    baseline_window: tuple[float, float] = (-math.inf, 0.0)
    response_window: tuple[float, float] = (0.0, math.inf)
    basis_fingerprint: dict[str, Any] = field(default_factory=dict)
    overwrite: bool = False
    version: str = ""


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


def _hash(obj: Any) -> str:
    text = json.dumps(
        obj, sort_keys=True, default=lambda o: list(o) if isinstance(o, tuple) else str(o)
    )
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _window_json(window: tuple[float, float]) -> list[float | None]:
    return [v if math.isfinite(v) else None for v in window]


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
    return out


def _acquisition(data: Any, n_frames: int) -> dict[str, Any]:
    """Acquisition parameters of a session, for the report's checklist."""
    n_dyn = data.size("dyn")
    return {
        "n_points": int(data.n_points),
        "dwell_time_s": float(data.dwell_time),
        "spectral_width_hz": float(1.0 / data.dwell_time),
        "spectrometer_frequency_mhz": float(data.spectrometer_frequency),
        "echo_time_s": data.echo_time,
        "repetition_time_s": data.repetition_time,
        "nucleus": data.nucleus,
        "n_transients_acquired": int(n_dyn),
        "transients_per_frame": float(n_dyn / n_frames) if n_frames else None,
    }


class _StepError(Exception):
    def __init__(self, step: str, error: BaseException) -> None:
        super().__init__(step)
        self.step, self.error = step, error


class _Stage:
    """Context manager tagging any exception with the step it happened in."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self) -> None:
        return None

    def __exit__(self, typ: Any, exc: BaseException | None, tb: Any) -> bool:
        if exc is not None and isinstance(exc, Exception) and not isinstance(exc, _StepError):
            raise _StepError(self.name, exc) from exc
        return False


def run_session(
    session: Any, basis: Any, options: SessionOptions, *, steps: Steps | None = None
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

    Returns
    -------
    SessionResult
        ``failed_step`` and ``error`` set when a step raised; the exception is logged at debug
        level with its traceback.
    """
    steps = steps or Steps()
    start = time.perf_counter()
    pid, sid = session.participant_id, session.session_id
    try:
        computed, summary = _run(session, basis, options, steps)
    except Exception as exc:  # every failure is this session's: the others go on
        step, error = (exc.step, exc.error) if isinstance(exc, _StepError) else ("setup", exc)
        logger.debug("%s %s: %s failed", pid, sid, step, exc_info=error)
        message = str(error) or type(error).__name__
        return SessionResult(
            pid,
            sid,
            failed_step=step,
            error=f"{type(error).__name__}: {message}",
            seconds=time.perf_counter() - start,
        )
    return SessionResult(
        pid, sid, computed=computed, seconds=time.perf_counter() - start, summary=summary
    )


#: basis resampled per data grid, per process (cleared at the start of every study run)
_BASIS_CACHE: dict[tuple[Any, ...], Any] = {}


def clear_basis_cache() -> None:
    """Forget the resampled bases of earlier runs in this process."""
    _BASIS_CACHE.clear()


def _basis_for(basis: Any, frames: Any, options: SessionOptions, steps: Steps) -> Any:
    key = (
        options.basis_fingerprint.get("sha256"),
        id(steps.resample_basis),
        frames.n_points,
        frames.dwell_time,
        frames.spectrometer_frequency,
        frames.ppm_reference,
    )
    if key not in _BASIS_CACHE:
        if len(_BASIS_CACHE) > 8:
            _BASIS_CACHE.clear()
        _BASIS_CACHE[key] = steps.resample_basis(basis, frames)
    return _BASIS_CACHE[key]


def _run(
    session: Any, basis: Any, options: SessionOptions, steps: Steps
) -> tuple[tuple[str, ...], dict[str, Any]]:
    paths = deriv.session_paths(options.out, session.participant_id, session.session_id)
    done = None if options.overwrite else deriv.read_done(paths)
    dynamic_fit = bool(options.fit.get("dynamic"))
    fit_key = _hash(
        {
            "preprocess": options.preprocess,
            "fit": options.fit,
            "basis": options.basis_fingerprint.get("sha256"),
            "version": options.version,
            # the joint dynamic fit's design comes from the infusion event
            **({"event": options.event} if dynamic_fit else {}),
        }
    )
    dyn_key = _hash(
        {
            "fit": fit_key,
            "event": options.event,
            "baseline": _window_json(options.baseline_window),
            "response": _window_json(options.response_window),
            "condition": session.condition,
            "sex": session.sex,
        }
    )
    inputs = {"svs": session.svs_path, "ref": session.ref_path}
    events = {"events": session.events_path}
    recorded = (done or {}).get("inputs", {})

    def inputs_match(names: dict[str, Any]) -> bool:
        for name, path in names.items():
            if (path is None) != (recorded.get(name) is None):
                return False
            if path is not None and not deriv.fingerprint_matches(recorded[name], path):
                return False
        return True

    fit_ok = bool(
        done
        and done.get("fit_key") == fit_key
        and inputs_match(inputs | events if dynamic_fit else inputs)
        and all(paths.table(t).is_file() for t in ("fits", "qc", "qc_transients"))
    )
    dyn_ok = bool(
        fit_ok
        and done
        and done.get("dynamic_key") == dyn_key
        and inputs_match(events)
        and all(paths.table(t).is_file() for t in ("timecourses", "responses"))
    )
    if dyn_ok:
        assert done is not None
        return (), dict(done.get("summary", {}))

    with _Stage("events"):
        if session.events_path is None:
            raise StudyLayoutError(
                "no events.tsv: the infusion onset (time 0) is unknown", session.svs_path
            )
        onset, duration = steps.infusion(
            steps.read_events(session.events_path), event=options.event, source=session.events_path
        )

    computed: list[str] = []
    if fit_ok:
        assert done is not None
        with _Stage("load"):
            fits = deriv.read_session_table(paths, "fits")
            qc_frames = deriv.read_session_table(paths, "qc")
            qc_transients = deriv.read_session_table(paths, "qc_transients")
            frame_times = qc_frames.sort_values("frame")["acquisition_time_s"].to_numpy()
            acquisition = dict(done.get("acquisition", {}))
    else:
        fits, qc_frames, qc_transients, frame_times, acquisition = _fit_stage(
            session, basis, options, steps, paths, infusion=(onset, duration)
        )
        computed.append("fit")

    with _Stage("dynamic"):
        timecourses, responses = steps.dynamics(
            fits,
            frame_times=frame_times,
            onset=onset,
            session=session,
            baseline_window=options.baseline_window,
            response_window=options.response_window,
        )
    computed.append("dynamic")
    with _Stage("write"):
        deriv.write_session_table(paths, "timecourses", timecourses)
        deriv.write_session_table(paths, "responses", responses)
        summary = (
            _summary(qc_transients, qc_frames)
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
                "inputs": record,
                "summary": summary,
                "acquisition": acquisition,
                "version": options.version,
                "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            },
        )
    return tuple(computed), summary


def _fit_stage(
    session: Any,
    basis: Any,
    options: SessionOptions,
    steps: Steps,
    paths: deriv.SessionPaths,
    *,
    infusion: tuple[float, float],
) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
    import pandas as pd

    with _Stage("load"):
        data = steps.load_mrs(session.svs_path)
        water = None if session.ref_path is None else steps.load_mrs(session.ref_path)
    with _Stage("preprocess"):
        pre = steps.preprocess(data, water=water, options=options.preprocess)
        frames = pre.frames
        acquisition = _acquisition(data, frames.size("dyn"))
        del data, water
    with _Stage("fit"):
        fit_options = (
            options.fit | {"infusion": infusion} if options.fit.get("dynamic") else options.fit
        )
        result = steps.fit(frames, _basis_for(basis, frames, options, steps), options=fit_options)
        fits = result.table(source=paths.prefix)
        qc_frames = result.qc_table(source=paths.prefix)
        frame_times = frames.transient_times()
        qc_frames["acquisition_time_s"] = frame_times[qc_frames["frame"].to_numpy()]
    with _Stage("write"):
        paths.done.unlink(missing_ok=True)  # stale until this session finishes again
        qc_transients = pd.DataFrame({k: pre.qc[k] for k in pre.qc})
        provenance = list(getattr(pre, "steps", None) or [])
        if provenance and "ProcessingApplied" not in frames.header:
            frames = dataclasses.replace(
                frames, header={**frames.header, "ProcessingApplied": provenance}
            )
        deriv.save_preprocessed(paths, frames)
        deriv.write_session_table(paths, "qc_transients", qc_transients)
        deriv.write_session_table(paths, "fits", fits)
        deriv.write_session_table(paths, "qc", qc_frames)
        if steps.fit_figure is not None:
            figure = steps.fit_figure(
                frames,
                result,
                path=paths.folder / "fit.png",
                title=f"{paths.prefix}: fit of every frame",
            )
            if figure is not None:
                acquisition["fit_figure"] = str(figure)
    return fits, qc_frames, qc_transients, frame_times, acquisition
