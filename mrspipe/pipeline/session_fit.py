"""The fit stage of one session: load, preprocess, fit, water scaling, tables and figure.

:func:`fit_stage` is run by :func:`~.session.run_session` when the session's fit is not
already on disk; every step is tagged (:class:`Stage`) so a failure names it.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any

from ..dynamic import DEFAULT_RATIOS
from ..errors import MRSFormatError
from ..io import derivatives as deriv
from .jobs import fit_frames, lipid_test_frames, preprocess_files
from .session_options import SessionOptions
from .steps import Steps
from .water_scaling import water_scale

__all__ = ["Stage", "StepError", "fit_stage", "prepare_stage", "preprocess_stage"]

#: metabolites whose covariances are kept (``covariance.tsv``): those of the time-course ratios
_RATIO_NAMES = tuple(dict.fromkeys(n for pair in DEFAULT_RATIOS.values() for n in pair))


class StepError(Exception):
    """An exception tagged with the session step it happened in (``step``, ``error``)."""

    def __init__(self, step: str, error: BaseException) -> None:
        super().__init__(step)
        self.step, self.error = step, error


class Stage:
    """Context manager tagging any exception with the step it happened in."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __enter__(self) -> None:
        return None

    def __exit__(self, typ: Any, exc: BaseException | None, tb: Any) -> None:
        if exc is not None and isinstance(exc, Exception) and not isinstance(exc, StepError):
            raise StepError(self.name, exc) from exc


class _ReadOnce:
    """``load_mrs`` that reads one file (the water reference) once and hands out that result.

    The reference is only read from (eddy-current phase, coil weights, water amplitude);
    the session's own data, which preprocessing overwrites, is always read afresh.
    """

    def __init__(self, load: Any, path: Any) -> None:
        self.load, self.key, self.data = load, os.fspath(path), None

    def __call__(self, path: Any) -> Any:
        if os.fspath(path) != self.key:
            return self.load(path)
        if self.data is None:
            self.data = self.load(path)
        return self.data


def preprocess_stage(
    session: Any, options: SessionOptions, steps: Steps
) -> tuple[Any, dict[str, Any], dict[str, Any], Steps, Any]:
    """Load and preprocess one session: ``frames, transient_qc, acquisition, steps, precision``.

    The returned ``steps`` read the water reference once (it serves the water scaling too);
    ``precision`` is the dtype the frames are stored in (the transients').
    """
    if session.ref_path is not None:  # preprocessing and water scaling share one reading
        steps = dataclasses.replace(steps, load_mrs=_ReadOnce(steps.load_mrs, session.ref_path))
    pre, acquisition = preprocess_files(
        session.svs_path,
        session.ref_path,
        ecc=getattr(session, "ecc_path", None),
        options=options.preprocess,
        steps=steps,
        stage=Stage,
    )
    frames, transient_qc = pre.frames, pre.qc
    # the frames are written in the precision of the transients (the input's, at least single)
    precision = getattr(getattr(pre, "transients", None), "fids", frames.fids).dtype
    del pre  # the session's corrected transients are not needed past this point
    with Stage("load"):
        if "time_source" in acquisition and acquisition["time_source"] is None:
            raise MRSFormatError(
                "no transient times: RepetitionTime is missing or 0 and the dyn dimension header "
                "has no time_s, so the event onsets (s) cannot be placed",
                session.svs_path,
            )
    return frames, transient_qc, acquisition, steps, precision


def prepare_stage(
    session: Any,
    basis: Any,
    options: SessionOptions,
    steps: Steps,
    paths: deriv.SessionPaths,
    *,
    key: str,
    inputs: dict[str, Any],
) -> dict[str, float]:
    """Run the first pass of ``lipid_phase_scope`` participant/study: preprocess, test.

    Writes the preprocessed frames, the transients' QC table and ``prepared.json`` (``key``,
    ``inputs`` fingerprints, acquisition, the test) and returns the session's own test of
    ``lipid_phase='auto'`` (:func:`mrspipe.fit.lipid_phase_test` on the mean of its frames).
    """
    frames, transient_qc, acquisition, steps, precision = preprocess_stage(session, options, steps)
    with Stage("fit"):
        _, test = lipid_test_frames(frames, basis, options=options.fit, steps=steps)
    with Stage("write"):
        paths.done.unlink(missing_ok=True)  # its tables are about to be replaced
        paths.prepared.unlink(missing_ok=True)
        deriv.save_preprocessed(paths, frames, dtype=precision)
        qc_transients = pd_frame(transient_qc)
        deriv.write_session_table(paths, "qc_transients", qc_transients)
        deriv.write_prepared(
            paths,
            {"key": key, "inputs": inputs, "acquisition": acquisition, "lipid_test": test},
        )
    return dict(test)


def pd_frame(columns: Any) -> Any:
    """Return the transients' QC (a dict of per-transient arrays) as a table."""
    import pandas as pd

    return pd.DataFrame({k: columns[k] for k in columns})


def _load_prepared(
    session: Any, paths: deriv.SessionPaths, key: str | None
) -> tuple[Any, Any, dict[str, Any]] | None:
    """``frames, qc_transients, acquisition`` stored by :func:`prepare_stage` for ``key``."""
    if key is None:
        return None
    state = deriv.read_prepared(paths)
    if not state or state.get("key") != key:
        return None
    frames = deriv.load_preprocessed(paths, source=session.svs_path)
    qc_transients = deriv.read_session_table(paths, "qc_transients")
    return frames, qc_transients, dict(state.get("acquisition", {}))


def fit_stage(
    session: Any,
    basis: Any,
    options: SessionOptions,
    steps: Steps,
    paths: deriv.SessionPaths,
    *,
    infusion: tuple[float, float],
    lipid: Any = None,
    prepared: str | None = None,
) -> tuple[Any, Any, Any, Any, Any, dict[str, Any]]:
    """Preprocess and fit one session, write its tables and fit figure.

    ``lipid``: the session's :class:`~.lipid_scope.LipidPlan` (its model is fitted and
    recorded); ``prepared``: the key of a :func:`prepare_stage` whose stored frames are fitted
    instead of preprocessing again (when ``prepared.json`` holds that key).

    Returns ``fits, qc_frames, qc_transients, frame_times, covariance, acquisition`` (the
    tables as written; ``acquisition`` gains ``fit_figure`` and the water scaling's record).
    """
    stored = _load_prepared(session, paths, prepared)
    if stored is None:
        frames, transient_qc, acquisition, steps, precision = preprocess_stage(
            session, options, steps
        )
        qc_transients = pd_frame(transient_qc)
    else:
        frames, qc_transients, acquisition = stored
        if session.ref_path is not None:  # the water scaling reads the reference once
            steps = dataclasses.replace(steps, load_mrs=_ReadOnce(steps.load_mrs, session.ref_path))
    fit_options = options.fit
    if lipid is not None:
        fit_options = dataclasses.replace(fit_options, lipid_phase=lipid.model)
    with Stage("fit"):
        result = fit_frames(frames, basis, options=fit_options, infusion=infusion, steps=steps)
        fits = result.table(source=paths.prefix)
        qc_frames = result.qc_table(source=paths.prefix)
        if lipid is not None and "lipid_phase_model" in qc_frames:
            for column, value in lipid.record().items():
                qc_frames[column] = value
        elif fit_options.lipid_phase == "auto" and "lipid_phase_scope" in qc_frames:
            qc_frames["lipid_phase_scope"] = "session"  # decided on this session alone
        frame_times = frames.transient_times()
        qc_frames["acquisition_time_s"] = frame_times[qc_frames["frame"].to_numpy()]
        # the estimates with their covariance: the pairs the time-course ratios need
        estimates = result.to_estimates(frame_times) if hasattr(result, "to_estimates") else None
        kept = tuple(dict.fromkeys((*_RATIO_NAMES, *options.covariance_names)))
        covariance = None if estimates is None else estimates.covariance_table(kept)
    if options.quantify.water_scaling and session.ref_path is not None:
        with Stage("quantify"):
            fits = water_scale(fits, session, frames, acquisition, options.quantify, steps)
    with Stage("write"):
        paths.done.unlink(missing_ok=True)  # stale until this session finishes again
        if stored is None:
            deriv.save_preprocessed(paths, frames, dtype=precision)
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
