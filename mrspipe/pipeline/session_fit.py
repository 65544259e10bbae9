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
from .jobs import fit_frames, preprocess_files
from .session_options import SessionOptions
from .steps import Steps
from .water_scaling import water_scale

__all__ = ["Stage", "StepError", "fit_stage"]

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


def fit_stage(
    session: Any,
    basis: Any,
    options: SessionOptions,
    steps: Steps,
    paths: deriv.SessionPaths,
    *,
    infusion: tuple[float, float],
) -> tuple[Any, Any, Any, Any, Any, dict[str, Any]]:
    """Preprocess and fit one session, write its tables and fit figure.

    Returns ``fits, qc_frames, qc_transients, frame_times, covariance, acquisition`` (the
    tables as written; ``acquisition`` gains ``fit_figure`` and the water scaling's record).
    """
    import pandas as pd

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
    with Stage("fit"):
        result = fit_frames(frames, basis, options=options.fit, infusion=infusion, steps=steps)
        fits = result.table(source=paths.prefix)
        qc_frames = result.qc_table(source=paths.prefix)
        frame_times = frames.transient_times()
        qc_frames["acquisition_time_s"] = frame_times[qc_frames["frame"].to_numpy()]
        # the estimates with their covariance: the pairs the time-course ratios need
        estimates = result.to_estimates(frame_times) if hasattr(result, "to_estimates") else None
        covariance = None if estimates is None else estimates.covariance_table(_RATIO_NAMES)
    if options.quantify.water_scaling and session.ref_path is not None:
        with Stage("quantify"):
            fits = water_scale(fits, session, frames, acquisition, options.quantify, steps)
    with Stage("write"):
        paths.done.unlink(missing_ok=True)  # stale until this session finishes again
        qc_transients = pd.DataFrame({k: transient_qc[k] for k in transient_qc})
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
