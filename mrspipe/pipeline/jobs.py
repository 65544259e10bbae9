"""One path per job: preprocess one session, fit one set of frames.

``mrspipe preproc``, ``mrspipe fit``, ``mrspipe run`` (through :func:`run_session`) and the
Python API call these functions, so a job gives the same result whichever face started it.
No numerics and no file formats here: every call goes through :class:`~.steps.Steps`.

>>> from mrspipe.pipeline import preprocess_files, fit_frames
>>> pre, acquisition = preprocess_files("sub-01_ses-1_svs.nii.gz")     # doctest: +SKIP
>>> result = fit_frames(pre.frames, basis)                            # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from ..errors import ConfigError
from ..fit.options import FitOptions
from ..preprocess.chain import PreprocessOptions
from .steps import Steps

__all__ = [
    "preprocess_files",
    "fit_frames",
    "lipid_test_frames",
    "select_metabolites",
    "acquisition_summary",
]

Stage = Callable[[str], AbstractContextManager[Any]]


def _no_stage(name: str) -> AbstractContextManager[Any]:
    return contextlib.nullcontext()


def acquisition_summary(data: Any, n_frames: int) -> dict[str, Any]:
    """Acquisition parameters of a session (report checklist), from its raw data."""
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
        # where the transient times come from; None: nowhere (times would be index x 1 s)
        "time_source": "header"
        if data.frame_times is not None
        else "RepetitionTime"
        if data.repetition_time is not None and data.repetition_time > 0
        else None,
        # NIfTI-MRS header keys (from the file or its BIDS sidecar), for the report
        **{
            key: str(data.header[name])
            for key, name in (
                ("sequence", "SequenceName"),
                ("manufacturer", "Manufacturer"),
                ("scanner_model", "ManufacturersModelName"),
            )
            if data.header.get(name) not in (None, "")
        },
    }


def preprocess_files(
    svs: str | os.PathLike[str],
    ref: str | os.PathLike[str] | None = None,
    *,
    ecc: str | os.PathLike[str] | None = None,
    options: PreprocessOptions | None = None,
    steps: Steps | None = None,
    stage: Stage = _no_stage,
) -> tuple[Any, dict[str, Any]]:
    """Load one session's data (and water reference) and preprocess every transient.

    Parameters
    ----------
    svs : path-like
        NIfTI-MRS with the transients on ``DIM_DYN``.
    ref : path-like, optional
        Water reference.
    ecc : path-like, optional
        Separate unsuppressed reference for the eddy-current correction (default ``ref``).
    options : PreprocessOptions, optional
    steps : Steps, optional
    stage : callable, optional
        ``stage(name)`` context manager around ``load`` and ``preprocess`` (the session runner
        tags errors with it).

    Returns
    -------
    result : PreprocessResult
        ``frames`` carry the processing steps in ``header["ProcessingApplied"]``.
    acquisition : dict
        :func:`acquisition_summary` of the raw data.
    """
    steps = steps or Steps()
    options = options or PreprocessOptions()
    with stage("load"):
        data = steps.load_mrs(svs)
        water = None if ref is None else steps.load_mrs(ref)
        ecc_reference = None if ecc is None else steps.load_mrs(ecc)
    with stage("preprocess"):
        pre = steps.preprocess(data, water=water, options=options, ecc_reference=ecc_reference)
        frames = pre.frames
        provenance = list(getattr(pre, "steps", None) or [])
        if provenance and "ProcessingApplied" not in frames.header:
            frames = dataclasses.replace(
                frames, header={**frames.header, "ProcessingApplied": provenance}
            )
            pre = dataclasses.replace(pre, frames=frames)
        acquisition = acquisition_summary(data, frames.size("dyn"))
    return pre, acquisition


def select_metabolites(basis: Any, options: FitOptions, source: Any = None) -> Any:
    """Restrict the basis to ``options.metabolites`` (all when empty).

    Raises
    ------
    ConfigError
        A named metabolite is not in the basis.
    """
    if not options.metabolites:
        return basis
    unknown = [m for m in options.metabolites if m not in basis.names]
    if unknown:
        raise ConfigError(
            f"[fit] metabolites {unknown} are not in the basis ({', '.join(basis.names)})",
            source,
        )
    return basis.select(list(options.metabolites))


#: (basis object, grid) -> basis on that grid, per process
_BASIS_CACHE: dict[tuple[Any, ...], tuple[Any, Any]] = {}


def clear_basis_cache() -> None:
    """Forget the resampled bases of earlier runs in this process."""
    _BASIS_CACHE.clear()


def basis_for(basis: Any, frames: Any, steps: Steps) -> Any:
    """``basis`` on the grid of ``frames`` (``steps.resample_basis``, cached per grid)."""
    key = (
        id(basis),
        id(steps.resample_basis),
        frames.n_points,
        frames.dwell_time,
        frames.spectrometer_frequency,
        frames.ppm_reference,
    )
    hit = _BASIS_CACHE.get(key)
    if hit is not None and hit[0] is basis:
        return hit[1]
    if len(_BASIS_CACHE) > 8:
        _BASIS_CACHE.clear()
    resampled = steps.resample_basis(basis, frames)
    _BASIS_CACHE[key] = (basis, resampled)
    return resampled


def fit_frames(
    frames: Any,
    basis: Any,
    *,
    options: FitOptions | None = None,
    infusion: tuple[float, float] | None = None,
    steps: Steps | None = None,
) -> Any:
    """Fit every frame of ``frames`` with ``basis`` (already restricted to the fitted names).

    Parameters
    ----------
    frames : MRSData
        All leading axes are frames.
    basis : Basis
        Put on the frames' grid here (:func:`mrspipe.spectral.match_basis`, cached).
    options : FitOptions, optional
    infusion : (float, float), s, optional
        ``(onset, duration)`` from the first transient; needed by the joint dynamic fit.
    steps : Steps, optional

    Returns
    -------
    FitResult
        (or the joint fit's frame view when ``options.dynamic``).
    """
    steps = steps or Steps()
    options = options or FitOptions()
    return steps.fit(frames, basis_for(basis, frames, steps), options=options, infusion=infusion)


def lipid_test_frames(
    frames: Any,
    basis: Any,
    *,
    options: FitOptions | None = None,
    steps: Steps | None = None,
) -> tuple[str, dict[str, float]]:
    """``lipid_phase='auto'``'s decision for ``frames`` without fitting them.

    The test on the mean of the frames (:func:`mrspipe.fit.lipid_phase_test`), for a caller that
    fits several data sets with one model (``mrspipe run``'s ``lipid_phase_scope``) or keeps a
    data set's decision its own when it is fitted with others (``mrspipe fit``).

    Returns
    -------
    choice : {'free', 'metabolites'}
    test : dict
        ``phase_rad, chi2, dof, p``; empty when nothing was tested.
    """
    steps = steps or Steps()
    options = options or FitOptions()
    return steps.lipid_test(frames, basis_for(basis, frames, steps), options=options)
