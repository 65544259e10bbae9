"""NIfTI-MRS reading and writing through nibabel.

With :mod:`mrspipe.io.nifti_format` (the reader and the header names the io modules share), the
**only** place where the on-disk frequency convention is converted: NIfTI-MRS stores the complex
conjugate of mrspipe's internal convention (see :mod:`mrspipe.data` and ``docs/conventions.md``),
so both :func:`load_mrs` and :func:`save_mrs` conjugate. :func:`load_mrs` also reads vendor raw
data (through :mod:`mrspipe.io.vendor` and spec2nii).
"""

from __future__ import annotations

import copy
import gzip
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..data import MRSData
from ..errors import MRSFormatError
from ._atomic import atomic_path
from ._limits import MAX_DATA_BYTES, check_data_size, named_input_errors
from ._vendor_files import detect_vendor_kind
from .nifti_format import (
    DIM_NAMES,
    DIM_TAGS,
    MRS_EXT_CODE,
    SPATIAL,
    STANDARD_KEYS,
    TIME_KEYS,
    WRITE_VERSION,
    as_user_defined,
    dim_header_values,
    read_header_extension,
    read_nifti_mrs,
)

__all__ = [
    "load_mrs",
    "save_mrs",
    "read_header_extension",
    "dim_header_values",
    "DIM_NAMES",
    "WRITE_VERSION",
    "MAX_DATA_BYTES",
    "check_data_size",
]


@named_input_errors("NIfTI-MRS file")
def load_mrs(path: str | os.PathLike[str]) -> MRSData:
    """Read a NIfTI-MRS file, or vendor raw data through spec2nii.

    Parameters
    ----------
    path : str or path-like
        A ``.nii`` or ``.nii.gz`` NIfTI-MRS file (any ``mrs_v0_N``, NIfTI-1 or -2, complex64 or
        complex128, 4 to 7 dimensions), or a vendor file :mod:`mrspipe.io.vendor` recognises.

    Returns
    -------
    MRSData
        FIDs in the internal convention, ``(..., n_points)``; singleton spatial axes dropped;
        ``frame_times`` from the dyn dimension header when present.

    Raises
    ------
    MRSFormatError
        Naming the file and what is wrong; every error a malformed file causes is one (the
        data size the header claims is checked before anything is allocated).
    """
    if detect_vendor_kind(path) is not None:
        from .vendor import primary_data  # vendor raw data: through spec2nii

        return primary_data(path)
    return read_nifti_mrs(path)


def _header_extension(data: MRSData, non_spatial: list[str]) -> dict[str, Any]:
    hdr: dict[str, Any] = {
        k: (v if k in STANDARD_KEYS else as_user_defined(v))
        for k, v in copy.deepcopy(data.header).items()
    }
    hdr["SpectrometerFrequency"] = [float(data.spectrometer_frequency)]
    hdr["ResonantNucleus"] = [data.nucleus]
    if data.echo_time is not None:
        hdr["EchoTime"] = float(data.echo_time)
    if data.repetition_time is not None:
        hdr["RepetitionTime"] = float(data.repetition_time)
    hdr["SpectralWidth"] = float(1.0 / data.dwell_time)
    if data.ppm_reference is not None:
        hdr["SpecFreqChemShift"] = float(data.ppm_reference)
    for i, name in enumerate(non_spatial):
        d = 5 + i
        if name not in DIM_TAGS:
            raise MRSFormatError(f"axis {name!r} has no NIfTI-MRS dimension tag", data.source)
        hdr[f"dim_{d}"] = DIM_TAGS[name]
        if name in data.dim_info:
            hdr[f"dim_{d}_info"] = data.dim_info[name]
        dim_header = copy.deepcopy(data.dim_headers.get(name, {}))
        if name == "dyn" and data.frame_times is not None:
            dim_header = {k: v for k, v in dim_header.items() if k not in TIME_KEYS}
            dim_header["time_s"] = {
                "Value": [float(t) for t in data.frame_times],
                "Description": "Acquisition time of each transient from the first, s",
            }
        if dim_header:
            hdr[f"dim_{d}_header"] = {
                k: (v if k in STANDARD_KEYS else as_user_defined(v)) for k, v in dim_header.items()
            }
    return hdr


def save_mrs(
    data: MRSData,
    path: str | os.PathLike[str],
    *,
    overwrite: bool = True,
    validate: bool = False,
    compress_level: int = 1,
) -> Path:
    """Write NIfTI-MRS (``mrs_v0_9``, NIfTI-2), atomically.

    Parameters
    ----------
    data : MRSData
        Leading axes must be NIfTI-MRS dims (``coil``, ``dyn``, ...), optionally preceded by
        spatial ``x, y, z``; at most three non-spatial axes.
    path : str or path-like
        Output file, ``.nii.gz`` or ``.nii``.
    overwrite : bool
        Refuse to replace an existing file when False.
    validate : bool
        Check the result with the ``nifti-mrs`` validator when it is installed.
    compress_level : int
        zlib level of a ``.nii.gz`` (0-9; 0 stores the data in the gzip stream uncompressed:
        noise-dominated floating-point data shrink by only ~8 % at level 1, at ~50x the cost).

    Returns
    -------
    Path
        The file written.
    """
    import nibabel as nib

    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    dims = list(data.dims)
    fids = np.conj(data.fids)  # the one conversion back to the on-disk convention
    if dims[:3] == list(SPATIAL):
        non_spatial = dims[3:]
        arr = fids
    else:
        if any(d in SPATIAL for d in dims):
            raise MRSFormatError(f"spatial axes must come first and all three: {dims}", path)
        non_spatial = dims
        arr = fids.reshape(tuple(data.spatial_shape) + fids.shape)
    if len(non_spatial) > 3:
        raise MRSFormatError(f"NIfTI-MRS holds at most 3 non-spatial axes, got {non_spatial}", path)
    arr = np.moveaxis(arr, -1, 3)
    dtype = np.complex128 if arr.dtype == np.complex128 else np.complex64
    affine = data.affine if data.affine is not None else np.eye(4)
    img = nib.Nifti2Image(arr.astype(dtype, copy=False), affine)
    img.header.set_intent("none", name=WRITE_VERSION)
    img.header.set_xyzt_units(xyz="mm", t="sec")
    zooms = list(img.header.get_zooms())
    zooms[3] = data.dwell_time
    img.header.set_zooms(zooms)
    hdr = _header_extension(data, non_spatial)
    ext = nib.nifti1.Nifti1Extension(MRS_EXT_CODE, json.dumps(hdr).encode("utf-8"))
    img.header.extensions.append(ext)
    with atomic_path(path) as tmp:
        if path.name.endswith(".gz"):
            # no name and time in the gzip header: the same data give the same bytes
            with (
                open(tmp, "wb") as raw,
                gzip.GzipFile(
                    filename="", mode="wb", fileobj=raw, compresslevel=compress_level, mtime=0
                ) as stream,
            ):
                img.to_stream(stream)
        else:
            nib.save(img, tmp)
    if validate:
        _validate(path)
    return path


def _validate(path: Path) -> None:
    """Run the ``nifti-mrs`` validator (when installed) on a written file."""
    try:
        from nifti_mrs import validator
        from nifti_mrs.nifti_mrs import NIFTI_MRS
    except ImportError:  # the validator is a test-time dependency
        return
    try:
        validator.validate_nifti_mrs(NIFTI_MRS(str(path)).image)
    except (validator.Error, ValueError) as exc:
        raise MRSFormatError(f"written file fails NIfTI-MRS validation: {exc}", path) from None
