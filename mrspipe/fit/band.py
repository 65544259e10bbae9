"""The model's columns over the fit band, through the low-rank :class:`~.lowrank.BandModel`.

:func:`band_columns` and :func:`band_derivatives` use the problem's band model in single
precision (the default) and the exact FFTs of :class:`~.model.FitProblem` in double precision
or when the band model does not apply; :func:`band_model` builds it once per problem and reuses
it between problems with the same basis, grid, band and bounds (every session of a study).
"""

from __future__ import annotations

import hashlib
import logging

import numpy as np

from .lowrank import LOCK, BandModel, NotLowRank, rows_matmul
from .model import FitProblem

__all__ = ["BandModel", "band_columns", "band_derivatives", "band_model", "rows_matmul"]

logger = logging.getLogger("mrspipe")

#: fingerprint -> BandModel, most recently used last
_MODELS: dict[str, BandModel] = {}


def band_columns(
    problem: FitProblem, theta: np.ndarray, dtype: type | None = None
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
    """Phased columns ``phase * FitProblem.columns`` ``(F, n_met, K)`` complex128.

    Through :class:`BandModel` in single precision (the problem's default); ``dtype``
    complex128 keeps the exact FFT path.

    Returns
    -------
    columns : (n_frames, n_met, K) complex128 ndarray
    shape : tuple of ndarray or None
        :meth:`BandModel.coefficients` at ``theta`` (None on the FFT path).
    """
    dt = np.dtype(problem.dtype if dtype is None else dtype)
    model = band_model(problem) if dt == np.complex64 else None
    phase = problem.phase(theta)
    if model is None:
        cols = problem.columns(theta, dtype)
        cols *= phase[:, None, :]
        return cols, None
    shape = model.coefficients(theta)
    return model.columns(theta, phase, shape), shape


def band_model(problem: FitProblem) -> BandModel | None:
    """Return the problem's :class:`BandModel`, built once.

    None: the band is not contiguous, or the lineshape family is not of low rank; the exact
    FFT path of :class:`~.model.FitProblem` is used instead.
    """
    with LOCK:
        store = problem.__dict__.setdefault("_store", {})
        if "band_model" not in store:
            pos = problem.band_positions
            model = None
            if pos.size > 1 and bool(np.all(np.diff(pos) == 1)):
                # the same basis, grid, band and bounds (every session of a study): reuse
                key = _fingerprint(problem)
                try:
                    model = _MODELS.pop(key, None) or BandModel(problem)
                except NotLowRank as exc:
                    logger.debug("band model not used: %s; exact FFTs instead", exc)
                else:
                    _MODELS[key] = model
                    while len(_MODELS) > 4:
                        _MODELS.pop(next(iter(_MODELS)))
            store["band_model"] = model
        out: BandModel | None = store["band_model"]
    return out


def _fingerprint(problem: FitProblem) -> str:
    """Digest of everything a :class:`BandModel` depends on."""
    digest = hashlib.sha1()
    for array in (
        problem.basis_fids,
        problem.t,
        problem.band,
        problem.group_of,
        problem.upper[: problem.layout.n_group_params],
    ):
        a = np.ascontiguousarray(array)
        digest.update(f"{a.dtype}{a.shape}".encode())
        digest.update(a.tobytes())
    digest.update(repr(problem.layout.lineshape).encode())
    return digest.hexdigest()


def band_derivatives(
    problem: FitProblem,
    theta: np.ndarray,
    conc: np.ndarray,
    model: np.ndarray,
    dtype: type | None = None,
    *,
    exact: bool = False,
    full: bool = False,
    shape: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """:meth:`FitProblem.derivatives`, through :class:`BandModel` in single precision.

    ``exact``, ``full`` and ``shape``: see :meth:`BandModel.derivatives`.
    """
    dt = np.dtype(problem.dtype if dtype is None else dtype)
    bm = band_model(problem) if dt == np.complex64 else None
    if bm is None:
        return problem.derivatives(theta, conc, model, dtype)
    return bm.derivatives(
        theta, conc, model, problem.phase(theta), exact=exact, full=full, shape=shape
    )
