"""The shapes a scanner gives, brought to the one shape the chain works on.

:func:`~mrspipe.preprocess.chain.preprocess_session` processes transients on a ``dyn`` axis,
optionally with a ``coil`` axis and other axes treated as independent series. Scanners also
deliver a single averaged spectrum (no ``dyn`` axis, or one of length 1), coils without
transients, and edited (MEGA) data; this module normalises the first two and refuses the last
with a clear message.
"""

from __future__ import annotations

import numpy as np

from ..data import MRSData
from ..errors import PreprocessError

__all__ = ["prepare_shape", "UNSUPPORTED_AXES"]

#: axes the chain cannot process, with the reason given to the user
UNSUPPORTED_AXES = {
    "edit": "edited MRS is not supported (the data have a DIM_EDIT axis of {n} sub-spectra); "
    "mrspipe fits unedited spectra: select one sub-spectrum or use an editing-aware tool",
}


def prepare_shape(data: MRSData) -> tuple[MRSData, bool]:
    """Give ``data`` a ``dyn`` axis and refuse axes the chain cannot process.

    Parameters
    ----------
    data : MRSData
        Any shape: ``(n_points,)``, ``(coil, n_points)``, ``(dyn, n_points)``,
        ``(coil, dyn, n_points)``, with optional further axes.

    Returns
    -------
    data : MRSData
        With a ``dyn`` axis (length 1 appended after the other axes when there was none);
        an ``edit`` axis of length 1 is dropped.
    averaged : bool
        True when there is a single transient per series (a scanner-averaged spectrum):
        alignment and rejection do not apply.

    Raises
    ------
    PreprocessError
        For an ``edit`` axis with more than one sub-spectrum, naming the file.
    """
    for name, message in UNSUPPORTED_AXES.items():
        if name in data.dims:
            n = data.size(name)
            if n > 1:
                raise PreprocessError(message.format(n=n), data.source)
            ax = data.axis(name)
            data = data.with_fids(
                np.take(data.fids, 0, axis=ax),
                dims=tuple(d for d in data.dims if d != name),
                dim_headers={k: v for k, v in data.dim_headers.items() if k != name},
                dim_info={k: v for k, v in data.dim_info.items() if k != name},
                frame_times=data.frame_times,
            )
    if "dyn" not in data.dims:
        data = data.with_fids(
            data.fids[..., None, :], dims=(*data.dims, "dyn"), frame_times=np.zeros(1)
        )
    return data, data.size("dyn") == 1
