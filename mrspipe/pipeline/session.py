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

from ..dynamic import DEFAULT_RATIOS
from ..dynamic.options import Windows
from ..errors import MRSFormatError, StudyLayoutError
from ..fit.options import FitOptions
from ..io import derivatives as deriv
from ..preprocess.chain import PreprocessOptions
from ..quantify import QuantifyOptions
from .jobs import clear_basis_cache, fit_frames, preprocess_files
from .steps import Steps

__all__ = ["SessionOptions", "SessionResult", "run_session", "clear_basis_cache"]

logger = logging.getLogger("mrspipe")

#: metabolites whose covariances are kept (``covariance.tsv``): those of the time-course ratios
_RATIO_NAMES = tuple(dict.fromkeys(n for pair in DEFAULT_RATIOS.values() for n in pair))


@dataclass(frozen=True)
class SessionOptions:
    """Everything a session needs besides its data; the same for every session of a run.

    Parameters
    ----------
    out : Path
        Output folder of the study run.
    preprocess : PreprocessOptions
    fit : FitOptions
    windows : Windows
        Time 0 (``event``) and the baseline and response windows.
    quantify : QuantifyOptions
        Water scaling of the estimates (needs the session's water reference).
    basis_fingerprint : dict
        :func:`mrspipe.io.derivatives.file_fingerprint` of the basis set.
    overwrite : bool
        Recompute even when ``done.json`` says the session is up to date.
    version : str
        mrspipe version, part of the fit key.
    """

    out: Path
    preprocess: PreprocessOptions = field(default_factory=PreprocessOptions)
    fit: FitOptions = field(default_factory=FitOptions)
    windows: Windows = field(default_factory=Windows)
    quantify: QuantifyOptions = field(default_factory=QuantifyOptions)
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
    def plain(o: Any) -> Any:
        if dataclasses.is_dataclass(o) and not isinstance(o, type):
            return dataclasses.asdict(o)
        return list(o) if isinstance(o, tuple) else str(o)

    text = json.dumps(obj, sort_keys=True, default=plain)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


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
    if "converged" in qc_frames and len(qc_frames):  # a joint fit's: every frame or none
        converged = qc_frames["converged"].astype(str).str.lower().isin(("true", "1", "1.0"))
        out["fit_not_converged_percent"] = float(100.0 * (~converged).mean())
    return out


class _StepError(Exception):
    def __init__(self, step: str, error: BaseException) -> None:
        super().__init__(step)
        self.step, self.error = step, error


def _sliding(preprocess: Any) -> dict[str, Any]:
    """``{'sliding': (window, step)}`` when frames are overlapping sliding windows, else {}."""
    window = int(getattr(preprocess, "window", None) or 0)
    step = int(getattr(preprocess, "step", None) or 1)
    return {"sliding": (window, step)} if window and step < window else {}


def _bounded(windows: Windows, duration: float) -> Windows:
    """End an open-ended response window with the infusion (its events.tsv duration).

    A configured end (any finite number) is kept; without a recorded duration the window stays
    open (to the end of the scan).
    """
    start, end = windows.response
    if end is None and math.isfinite(duration) and duration > max(start or 0.0, 0.0):
        return dataclasses.replace(windows, response=(start, float(duration)))
    return windows


class _Stage:
    """Context manager tagging any exception with the step it happened in."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self) -> None:
        return None

    def __exit__(self, typ: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is not None and isinstance(exc, Exception) and not isinstance(exc, _StepError):
            raise _StepError(self.name, exc) from exc


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


def _run(
    session: Any, basis: Any, options: SessionOptions, steps: Steps
) -> tuple[tuple[str, ...], dict[str, Any]]:
    paths = deriv.session_paths(options.out, session.participant_id, session.session_id)
    done = None if options.overwrite else deriv.read_done(paths)
    dynamic_fit = options.fit.dynamic
    fit_key = _hash(
        {
            "preprocess": options.preprocess,
            "fit": options.fit,
            "quantify": options.quantify,
            "basis": options.basis_fingerprint.get("sha256"),
            "version": options.version,
            # the joint dynamic fit's design comes from the infusion event
            **({"event": options.windows.event} if dynamic_fit else {}),
        }
    )
    dyn_key = _hash(
        {
            "fit": fit_key,
            "windows": options.windows,
            "condition": session.condition,
            "sex": session.sex,
        }
    )
    inputs = {"svs": session.svs_path, "ref": session.ref_path}
    if getattr(session, "ecc_path", None) is not None:
        inputs["ecc"] = session.ecc_path
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
            steps.read_events(session.events_path),
            event=options.windows.event,
            source=session.events_path,
        )

    computed: list[str] = []
    if fit_ok:
        assert done is not None
        with _Stage("load"):
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
        fits, qc_frames, qc_transients, frame_times, covariance, acquisition = _fit_stage(
            session, basis, options, steps, paths, infusion=(onset, duration)
        )
        computed.append("fit")

    with _Stage("dynamic"):
        timecourses, responses = steps.dynamics(
            fits,
            frame_times=frame_times,
            onset=onset,
            session=session,
            windows=_bounded(options.windows, duration),
            **_sliding(options.preprocess),
            covariance=covariance,
        )
    computed.append("dynamic")
    with _Stage("write"):
        if done is not None and paths.done.is_file():
            # withdraw done.json's word for the tables about to be replaced: a crash while
            # they are rewritten must not leave them vouched for (the fit still resumes)
            deriv.write_done(paths, {k: v for k, v in done.items() if k != "dynamic_key"})
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
) -> tuple[Any, Any, Any, Any, Any, dict[str, Any]]:
    import pandas as pd

    pre, acquisition = preprocess_files(
        session.svs_path,
        session.ref_path,
        ecc=getattr(session, "ecc_path", None),
        options=options.preprocess,
        steps=steps,
        stage=_Stage,
    )
    frames, transient_qc = pre.frames, pre.qc
    del pre  # the session's corrected transients are not needed past this point
    with _Stage("load"):
        if "time_source" in acquisition and acquisition["time_source"] is None:
            raise MRSFormatError(
                "no transient times: RepetitionTime is missing or 0 and the dyn dimension header "
                "has no time_s, so the event onsets (s) cannot be placed",
                session.svs_path,
            )
    with _Stage("fit"):
        result = fit_frames(frames, basis, options=options.fit, infusion=infusion, steps=steps)
        fits = result.table(source=paths.prefix)
        qc_frames = result.qc_table(source=paths.prefix)
        frame_times = frames.transient_times()
        qc_frames["acquisition_time_s"] = frame_times[qc_frames["frame"].to_numpy()]
        # the estimates with their covariance: the pairs the time-course ratios need
        estimates = result.to_estimates(frame_times) if hasattr(result, "to_estimates") else None
        covariance = None if estimates is None else estimates.covariance_table(_RATIO_NAMES)
    if options.quantify.water_scaling and session.ref_path is not None:
        with _Stage("quantify"):
            fits = _water_scale(fits, session, frames, acquisition, options.quantify, steps)
    with _Stage("write"):
        paths.done.unlink(missing_ok=True)  # stale until this session finishes again
        qc_transients = pd.DataFrame({k: transient_qc[k] for k in transient_qc})
        deriv.save_preprocessed(paths, frames)
        deriv.write_session_table(paths, "qc_transients", qc_transients)
        deriv.write_session_table(paths, "fits", fits)
        deriv.write_session_table(paths, "qc", qc_frames)
        if covariance is not None:
            deriv.write_session_table(paths, "covariance", covariance)
        else:
            paths.table("covariance").unlink(missing_ok=True)
        if steps.fit_figure is not None:
            figure = steps.fit_figure(
                frames,
                result,
                path=paths.figure("fit"),
                title=f"{paths.prefix}: fit of every frame",
            )
            if figure is not None:
                acquisition["fit_figure"] = str(figure)
    return fits, qc_frames, qc_transients, frame_times, covariance, acquisition


def _water_scale(
    fits: Any,
    session: Any,
    frames: Any,
    acquisition: dict[str, Any],
    options: QuantifyOptions,
    steps: Steps,
) -> Any:
    """``fits`` with concentration columns from the session's water reference (mrspipe.quantify).

    The reference's frames are averaged and fitted as one Voigt line; tissue fractions come from
    ``options.tissue_tsv`` or the session's participants/sessions columns (none: no tissue
    correction). Records the water amplitude and fractions in ``acquisition``.
    """
    import numpy as np

    from ..quantify import GAMMA_1H_MHZ_PER_T, concentration_table, fit_water

    water = steps.load_mrs(session.ref_path)
    if any(d not in ("dyn",) for d in getattr(water, "dims", ())):
        logger.warning(
            "%s: water reference has dimensions %s; only a coil-combined reference is scaled",
            session.ref_path,
            water.dims,
        )
        return fits
    area = float(np.nanmean(fit_water(water)))
    if not np.isfinite(area) or area <= 0:
        logger.warning("%s: the water peak could not be fitted; no mM", session.ref_path)
        return fits
    fractions = tissue_fractions(session, options)
    field_t = frames.spectrometer_frequency / GAMMA_1H_MHZ_PER_T
    columns = concentration_table(
        fits,
        area,
        te=frames.echo_time or 0.0,
        tr=frames.repetition_time or None,
        water_te=water.echo_time if water.echo_time is not None else frames.echo_time,
        water_tr=water.repetition_time or frames.repetition_time or None,
        field_t=field_t,
        fractions=fractions,
        options=options,
    )
    acquisition["water_amplitude"] = area
    acquisition["tissue_fractions"] = fractions
    return fits.assign(**columns)


def tissue_fractions(session: Any, options: QuantifyOptions) -> dict[str, float] | None:
    """GM/WM/CSF volume fractions of a session (sum 1; percentages are divided by 100).

    From ``options.tissue_tsv`` (rows by ``participant_id`` and, if present, ``session_id``)
    else from the session's ``participants.tsv``/``sessions.tsv`` columns; None when absent.
    """
    names = options.tissue_columns
    row: dict[str, Any] = dict(getattr(session, "extra", {}) or {})
    if options.tissue_tsv:
        from ..io.tables import read_table

        table = read_table(Path(options.tissue_tsv))
        if "participant_id" not in table:
            raise StudyLayoutError("tissue_tsv has no participant_id column", options.tissue_tsv)
        hit = table[table["participant_id"].map(_label) == _label(session.participant_id)]
        if "session_id" in hit and session.session_id is not None:
            hit = hit[hit["session_id"].map(_label) == _label(session.session_id)]
        row = hit.iloc[0].to_dict() if len(hit) else {}
    values = [row.get(n) for n in names]
    if any(v is None or (isinstance(v, float) and math.isnan(v)) for v in values):
        return None
    fr = [float(v) for v in values]  # type: ignore[arg-type]
    total = sum(fr)
    if 90.0 < total < 110.0:  # percentages
        fr = [v / 100.0 for v in fr]
        total /= 100.0
    fr = [v / total for v in fr] if abs(total - 1.0) < 0.05 else fr
    return dict(zip(("gm", "wm", "csf"), fr, strict=True))


def _label(value: Any) -> str:
    """``sub-01``/``01``/``1`` -> ``'1'`` (a TSV reader may have made the label a number)."""
    text = str(value).removeprefix("sub-").removeprefix("ses-")
    return (text.lstrip("0") or "0") if text.isdigit() else text
