"""The session's inputs before the chain: reference checks, coil combination, bad values.

Used by :func:`~.chain.preprocess_session`: a water (or eddy-current) reference must share the
data's grid and nucleus; coils are combined with weights from the water reference; a transient
holding a NaN or infinite value is zeroed (and later rejected as empty).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from ..data import MRSData
from ..errors import PreprocessError
from . import coil, measure

__all__ = ["check_reference", "water_for", "combine_ref", "combine", "zero_nonfinite"]

logger = logging.getLogger("mrspipe")


def check_reference(data: MRSData, water: MRSData) -> None:
    """Check that a reference shares the data's points, dwell time, field and nucleus.

    Raises :class:`PreprocessError` naming the reference's file otherwise.
    """
    src = water.source or "water reference"
    if water.n_points != data.n_points:
        raise PreprocessError(
            f"water reference has {water.n_points} points, the data {data.n_points}", src
        )
    if not np.isclose(water.dwell_time, data.dwell_time, rtol=1e-6):
        raise PreprocessError(
            f"water reference dwell time {water.dwell_time:g} s differs from the data's "
            f"{data.dwell_time:g} s",
            src,
        )
    if not np.isclose(water.spectrometer_frequency, data.spectrometer_frequency, rtol=1e-5):
        raise PreprocessError(
            f"water reference is at {water.spectrometer_frequency:.4f} MHz, the data at "
            f"{data.spectrometer_frequency:.4f} MHz",
            src,
        )
    if water.nucleus != data.nucleus:
        raise PreprocessError(f"water reference nucleus {water.nucleus} vs {data.nucleus}", src)


def water_for(dims: tuple[str, ...], shape: tuple[int, ...], water: MRSData) -> np.ndarray:
    """Average the water over its own axes and shape it to broadcast against ``dims``."""
    w = water.fids
    wdims = list(water.dims)
    for name in list(wdims):
        if (
            name not in dims
            or shape[dims.index(name)] != w.shape[wdims.index(name)]
            or (name == "dyn")
        ):
            w = w.mean(axis=wdims.index(name))
            wdims.remove(name)
    order = [wdims.index(d) for d in dims if d in wdims]
    w = np.transpose(w, order + [w.ndim - 1])
    return w.reshape(tuple(shape[i] if d in wdims else 1 for i, d in enumerate(dims)) + (-1,))


def combine_ref(ref: MRSData | None, weights: np.ndarray, n_coils: int) -> MRSData | None:
    """Combine a reference's coils with the data's weights (None passes through)."""
    if ref is None:
        return None
    if "coil" not in ref.dims or ref.size("coil") != n_coils:
        raise PreprocessError(
            f"data have {n_coils} coils; the reference must have the same coil axis "
            f"(it has dims {ref.dims})",
            ref.source,
        )
    combined = np.tensordot(weights.conj(), np.moveaxis(ref.fids, ref.axis("coil"), 0), (0, 0))
    return ref.with_fids(combined, dims=tuple(d for d in ref.dims if d != "coil"))


def combine(
    data: MRSData, water: MRSData | None, method: str
) -> tuple[MRSData, MRSData | None, np.ndarray]:
    """Combine the data's coils (weights from the water reference when given, else the data).

    Returns the combined data, the water reference combined with the same weights, and the
    weights ``(n_coils,)``.
    """
    ax = data.axis("coil")
    ref = None
    if water is not None:
        if "coil" not in water.dims or water.size("coil") != data.size("coil"):
            raise PreprocessError(
                f"data have {data.size('coil')} coils; the water reference must have the same "
                f"coil axis (it has dims {water.dims})",
                water.source,
            )
        ref = np.moveaxis(water.fids, water.axis("coil"), 0)
    fids, w = coil.combine_coils(data.fids, coil_axis=ax, reference=ref, method=method)
    dims = tuple(d for d in data.dims if d != "coil")
    strip = {k: v for k, v in data.dim_headers.items() if k != "coil"}
    info = {k: v for k, v in data.dim_info.items() if k != "coil"}
    data = data.with_fids(fids, dims=dims, dim_headers=strip, dim_info=info)
    return data, combine_ref(water, w, len(w)), w


def zero_nonfinite(data: MRSData, src: Any) -> MRSData:
    """Zero every transient holding a NaN or infinite value (then rejected as "empty").

    One corrupt transient costs that transient, not the session; a transient is zeroed across
    all its coils. Raises :class:`PreprocessError` when no transient is finite.
    """
    finite: np.ndarray = measure.nonzero_finite(data.fids)[1]
    if finite.all():
        return data
    if "coil" in data.dims:
        finite = np.all(finite, axis=data.axis("coil"), keepdims=True)
    if not finite.any():
        raise PreprocessError("data contain NaN or infinite values in every transient", src)
    n_bad = int((~finite).sum())
    logger.warning(
        "%s: %d transient(s) hold NaN or infinite values; rejected", src or "data", n_bad
    )
    return data.with_fids(np.where(finite[..., None], data.fids, 0))
