"""NIfTI-MRS on disk: header constants, the header extension, and the reader.

The public internal module the io modules share (:mod:`mrspipe.io.nifti_mrs` writes and
dispatches, :mod:`mrspipe.io.vendor` fixes spec2nii output with these names). With
:func:`mrspipe.io.nifti_mrs.save_mrs`, the **only** place where the on-disk frequency
convention is converted: NIfTI-MRS stores the complex conjugate of mrspipe's internal convention
(see :mod:`mrspipe.data` and ``docs/conventions.md``), so :func:`read_nifti_mrs` conjugates.
"""

from __future__ import annotations

import copy
import json
import os
import re
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from ..data import MRSData
from ..errors import MRSFormatError
from ._limits import check_data_size, named_input_errors, read_image_data

__all__ = [
    "read_nifti_mrs",
    "read_header_extension",
    "dim_header_values",
    "as_user_defined",
    "DIM_NAMES",
    "DIM_TAGS",
    "DEFAULT_TAGS",
    "MRS_EXT_CODE",
    "SPATIAL",
    "STANDARD_KEYS",
    "TIME_KEYS",
    "WRITE_VERSION",
]

#: NIfTI-MRS version written.
WRITE_VERSION = "mrs_v0_9"
MRS_EXT_CODE = 44
SPATIAL = ("x", "y", "z")

#: NIfTI-MRS dimension tag -> mrspipe axis name.
DIM_NAMES: dict[str, str] = {
    "DIM_COIL": "coil",
    "DIM_DYN": "dyn",
    "DIM_EDIT": "edit",
    "DIM_MEAS": "meas",
    "DIM_PHASE_CYCLE": "phase_cycle",
    "DIM_ISIS": "isis",
    "DIM_METCYCLE": "metcycle",
    "DIM_INDIRECT_0": "indirect_0",
    "DIM_INDIRECT_1": "indirect_1",
    "DIM_INDIRECT_2": "indirect_2",
    "DIM_USER_0": "user_0",
    "DIM_USER_1": "user_1",
    "DIM_USER_2": "user_2",
}
DIM_TAGS = {v: k for k, v in DIM_NAMES.items()}
#: Plausible header values; outside them a file is refused (a corrupt header, not a scan).
MAX_FREQUENCY = 5000.0  # MHz: above any spectrometer (1H at 28 T is 1.2 GHz)
MIN_DWELL = 1e-7  # s: a 10 MHz spectral width
#: Default tags of dims 5-7 when a file omits them (NIfTI-MRS standard).
DEFAULT_TAGS = {5: "DIM_COIL", 6: "DIM_DYN", 7: "DIM_INDIRECT_0"}
#: Header keys the NIfTI-MRS standard defines; any other key is "user-defined" and must be
#: written as ``{"Value": ..., "Description": ...}``.
STANDARD_KEYS = frozenset(
    "SpectrometerFrequency ResonantNucleus SpectralWidth EchoTime RepetitionTime InversionTime "
    "MixingTime AcquisitionStartTime ExcitationFlipAngle TxOffset RxOffset SpecFreqChemShift VOI "
    "WaterSuppressed WaterSuppressionType SequenceTriggered Manufacturer ManufacturersModelName "
    "DeviceSerialNumber SoftwareVersions InstitutionName InstitutionAddress TxCoil RxCoil "
    "SequenceName ProtocolName PatientPosition PatientName PatientID PatientWeight PatientDoB "
    "PatientSex ConversionMethod ConversionTime OriginalFile kSpace EditCondition EditPulse "
    "ProcessingApplied".split()
)
_USER_DESCRIPTION = "Carried over unchanged from the source file by mrspipe"


def as_user_defined(value: Any) -> Any:
    """Wrap a non-standard header value in the ``Value``/``Description`` form if needed."""
    if isinstance(value, dict) and "Description" in value:
        return value
    return {"Value": value, "Description": _USER_DESCRIPTION}


#: Keys of a dyn-dimension header that hold per-transient acquisition times (s).
TIME_KEYS = ("time_s", "AcquisitionTime", "acquisition_time", "Time", "time")


def _expand_dim_header_value(value: Any, n: int) -> list[Any] | None:
    """Expand a dim-header value (list, ``{"start", "increment"}`` or ``{"Value": ...}``)."""
    if isinstance(value, dict) and "Value" in value:
        value = value["Value"]
    if isinstance(value, dict) and "start" in value and "increment" in value:
        return [value["start"] + i * value["increment"] for i in range(n)]
    if isinstance(value, list | tuple):
        return list(value)
    return None


def dim_header_values(data: MRSData, axis: str, key: str) -> list[Any] | None:
    """Per-index values of a dimension-header key, whatever form the file used.

    Parameters
    ----------
    data : MRSData
    axis : str
        Axis name, e.g. ``"user_0"`` or ``"dyn"``.
    key : str
        Header key, e.g. ``"Bval"``.

    Returns
    -------
    list or None
        One value per index of ``axis`` (a list, a ``{"start", "increment"}`` object or a
        user-defined ``{"Value": ..., "Description": ...}`` wrapper of either), or None when the
        key is absent or does not match the axis length.
    """
    header = data.dim_headers.get(axis, {})
    if key not in header or axis not in data.dims:
        return None
    n = data.size(axis)
    values = _expand_dim_header_value(header[key], n)
    return values if values is not None and len(values) == n else None


def read_header_extension(img: Any, path: str) -> dict[str, Any]:
    """Return the NIfTI-MRS JSON header extension of a nibabel image.

    Raises
    ------
    MRSFormatError
        If there is no MRS extension (code 44) or it is not a JSON object.
    """
    exts = [e for e in img.header.extensions if e.get_code() == MRS_EXT_CODE]
    if not exts:
        raise MRSFormatError(
            "NIfTI file has no NIfTI-MRS header extension (code 44); is it an image, not MRS?",
            path,
        )
    content = exts[0].get_content()
    if isinstance(content, bytes):
        content = content.decode("utf-8", errors="replace")
    try:
        hdr = json.loads(content) if isinstance(content, str) else dict(content)
    except (json.JSONDecodeError, TypeError, ValueError) as exc:
        raise MRSFormatError(f"header extension is not valid JSON ({exc})", path) from None
    if not isinstance(hdr, dict):
        raise MRSFormatError("NIfTI-MRS header extension is not a JSON object", path)
    return hdr


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list | tuple) and value else value


def _number(value: Any) -> float | None:
    """Return a header number (or the one in a one-element list), else None."""
    value = _first(value)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _open_image(
    path: str, *, header_only: bool = False
) -> tuple[Any, dict[str, Any], float, float, str]:
    """Open a NIfTI-MRS file lazily and check its header: ``(img, extension, dwell, MHz, nucleus)``.

    With ``header_only`` the data size the header claims is checked against the file (and the
    size limit) without allocating the data, trusting a matching gzip trailer; a full read
    checks both as it reads (:func:`~mrspipe.io._limits.read_image_data`).
    """
    import nibabel as nib
    from nibabel.filebasedimages import ImageFileError

    if not Path(path).is_file():
        raise MRSFormatError("no such file", path)
    try:
        img = nib.load(path)
    except (ImageFileError, OSError, EOFError, ValueError) as exc:
        raise MRSFormatError(f"not a readable NIfTI file ({exc})", path) from None
    if not isinstance(img, nib.Nifti1Image | nib.Nifti2Image):
        raise MRSFormatError(f"not a NIfTI file (read as {type(img).__name__})", path)
    hdr = read_header_extension(img, path)
    intent = img.header.get_intent()[2] if hasattr(img.header, "get_intent") else ""
    if intent and not re.match(r"mrs_v\d+_\d+", intent):
        # Tolerated: some converters leave the intent empty; a foreign intent is suspicious.
        raise MRSFormatError(f"intent name {intent!r} is not 'mrs_vMAJOR_MINOR'", path)
    if not np.issubdtype(img.get_data_dtype(), np.complexfloating):
        raise MRSFormatError(
            f"data type {img.get_data_dtype()} is real; NIfTI-MRS data must be complex", path
        )
    if header_only:  # a full read finds a short file itself, decompressing it once
        check_data_size(img, path, trust_trailer=True)
    ndim = len(img.header.get_data_shape())
    if ndim < 4 or ndim > 7:
        raise MRSFormatError(f"NIfTI-MRS data must have 4 to 7 dimensions, got {ndim}", path)
    for key in ("SpectrometerFrequency", "ResonantNucleus"):
        if key not in hdr:
            raise MRSFormatError(f"header extension lacks the required field {key!r}", path)
    try:
        cf = float(_first(hdr["SpectrometerFrequency"]))
    except (TypeError, ValueError):
        raise MRSFormatError(
            f"SpectrometerFrequency {hdr['SpectrometerFrequency']!r} is not a number", path
        ) from None
    nucleus = str(_first(hdr["ResonantNucleus"]))
    dwell = float(img.header["pixdim"][4])
    units = img.header.get_xyzt_units()[1]
    dwell *= {"msec": 1e-3, "usec": 1e-6}.get(units, 1.0)
    if not MIN_DWELL <= dwell < 1:
        raise MRSFormatError(
            f"dwell time pixdim[4] = {dwell} s is not plausible (expected {MIN_DWELL:g} to 1 s)",
            path,
        )
    if not 0 < cf <= MAX_FREQUENCY:
        raise MRSFormatError(
            f"SpectrometerFrequency {cf} MHz is not plausible (expected 0 to {MAX_FREQUENCY:g})",
            path,
        )
    return img, hdr, dwell, cf, nucleus


def _read_first_fid(img: Any, path: str) -> None:
    """Decode the file's first FID (a few KB): the data section is readable complex numbers."""
    shape = img.header.get_data_shape()
    index = (0, 0, 0, slice(None)) + (0,) * (len(shape) - 4)
    try:
        first = np.asarray(img.dataobj[index])
    except (OSError, EOFError, ValueError, zlib.error) as exc:
        raise MRSFormatError(f"data could not be read (truncated file?): {exc}", path) from None
    if first.shape != (shape[3],):
        raise MRSFormatError(f"first FID has shape {first.shape}, expected ({shape[3]},)", path)


@named_input_errors("NIfTI-MRS file")
def read_nifti_mrs(path: str | os.PathLike[str], *, header_only: bool = False) -> MRSData:
    """Read a NIfTI-MRS file (no vendor formats: :func:`mrspipe.io.nifti_mrs.load_mrs` reads both).

    Parameters
    ----------
    path : str or path-like
        A ``.nii`` or ``.nii.gz`` NIfTI-MRS file (any ``mrs_v0_N``, NIfTI-1 or -2, complex64 or
        complex128, 4 to 7 dimensions).
    header_only : bool
        Read the header, check the data size against the file and decode only the first FID
        (``mrspipe info``: seconds and gigabytes less on a large file). ``fids`` is then a
        read-only array of zeros of the right shape and dtype that holds no memory; use it for
        its shape only.

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
    path = os.fspath(path)
    img, hdr, dwell, cf, nucleus = _open_image(path, header_only=header_only)
    if header_only:
        _read_first_fid(img, path)
        dtype = np.dtype(img.get_data_dtype()).newbyteorder("=")
        data = np.broadcast_to(np.zeros((), dtype), img.header.get_data_shape())
    else:
        try:
            data = read_image_data(img, path)
        except (OSError, EOFError, ValueError, zlib.error) as exc:
            raise MRSFormatError(f"data could not be read (truncated file?): {exc}", path) from None

    n_tagged = max([d for d in range(5, 8) if f"dim_{d}" in hdr], default=0)
    if n_tagged > data.ndim:  # trailing singleton dims dropped by the writer: restore them
        data = data.reshape(data.shape + (1,) * (n_tagged - data.ndim))
    spatial_shape = tuple(int(s) for s in data.shape[:3])
    dims: list[str] = []
    dim_info: dict[str, str] = {}
    dim_headers: dict[str, dict[str, Any]] = {}
    for d in range(5, data.ndim + 1):
        tag = hdr.get(f"dim_{d}", DEFAULT_TAGS[d])
        if tag not in DIM_NAMES:
            raise MRSFormatError(f"dim_{d} has unknown tag {tag!r}", path)
        name = DIM_NAMES[tag]
        if name in dims:
            raise MRSFormatError(f"dimension tag {tag} is used twice", path)
        dims.append(name)
        if f"dim_{d}_info" in hdr:
            dim_info[name] = str(hdr[f"dim_{d}_info"])
        if f"dim_{d}_header" in hdr:
            dim_headers[name] = copy.deepcopy(hdr[f"dim_{d}_header"])

    if not header_only:  # the one conversion to the internal convention, in the reader's array
        data = np.conjugate(data, out=data)
    fids = np.moveaxis(data, 3, -1)
    if spatial_shape == (1, 1, 1):
        fids = fids.reshape(fids.shape[3:])
    else:
        dims = list(SPATIAL) + dims

    frame_times = None
    if "dyn" in dim_headers:
        n_dyn = fids.shape[dims.index("dyn")]
        for key in TIME_KEYS:
            if key in dim_headers["dyn"]:
                values = _expand_dim_header_value(dim_headers["dyn"][key], n_dyn)
                if values is not None and len(values) == n_dyn:
                    try:
                        frame_times = np.asarray(values, dtype=float)
                    except (TypeError, ValueError):
                        continue
                    if not np.all(np.isfinite(frame_times)):
                        raise MRSFormatError(
                            f"dim header {key!r} holds non-finite transient times", path
                        )
                    break

    te = _number(hdr.get("EchoTime"))
    tr = _number(hdr.get("RepetitionTime"))
    ppm_ref = _number(hdr.get("SpecFreqChemShift"))
    field_backed = {"SpectrometerFrequency", "ResonantNucleus", "SpectralWidth"}
    field_backed |= {
        k
        for k, v in (("EchoTime", te), ("RepetitionTime", tr), ("SpecFreqChemShift", ppm_ref))
        if v is not None
    }
    rest = {
        k: v
        for k, v in hdr.items()
        if not re.fullmatch(r"dim_[5-7](_info|_header)?", k) and k not in field_backed
    }
    return MRSData(
        fids=fids,
        dwell_time=dwell,
        spectrometer_frequency=cf,
        nucleus=nucleus,
        dims=tuple(dims),
        echo_time=te,
        repetition_time=tr,
        frame_times=frame_times,
        ppm_reference=ppm_ref,
        dim_info=dim_info,
        dim_headers=dim_headers,
        header=rest,
        affine=np.asarray(img.affine, dtype=float),
        spatial_shape=spatial_shape,
        source=path,
    )
