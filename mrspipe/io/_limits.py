"""Limits checked before data are allocated: a header must not claim more than its file holds."""

from __future__ import annotations

import functools
import math
import os
import zlib
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from ..errors import MRSError, MRSFormatError

__all__ = ["MAX_DATA_BYTES", "check_data_size", "read_image_data", "named_input_errors"]


#: Largest data array (bytes) :func:`load_mrs` allocates: 8 GiB. A header claiming more is
#: refused before anything is allocated (a 16 KB file must not claim gigabytes).
MAX_DATA_BYTES = 8 * 2**30


def _payload_bytes(path: str, need: int, *, trust_trailer: bool = False) -> int:
    """Bytes of (uncompressed) file content, counted up to ``need`` with bounded memory.

    With ``trust_trailer``, a gzip file whose trailer (ISIZE: the uncompressed length modulo
    2**32) equals ``need`` modulo 2**32 is taken at its word without decompressing (a truncated
    file almost never ends in those four bytes; a crafted one can, so only callers that do not
    go on to read the data use it); any other gzip file is streamed and counted.
    """
    import gzip

    with open(path, "rb") as fh:
        magic = fh.read(2)
        if magic != b"\x1f\x8b":
            return os.path.getsize(path)
        fh.seek(0, os.SEEK_END)
        if (
            trust_trailer and fh.tell() >= 18
        ):  # a 10-byte header, some deflate data and an 8-byte trailer
            fh.seek(-4, os.SEEK_END)
            if int.from_bytes(fh.read(4), "little") == need % 2**32:
                return need
    total = 0
    with gzip.open(path, "rb") as fh:
        while total < need:
            try:
                chunk = fh.read(min(1 << 22, need - total))
            except EOFError:  # the compressed stream stops mid-way: a truncated file
                break
            if not chunk:
                break
            total += len(chunk)
    return total


def check_data_size(
    img: Any, path: str, *, limit: int | None = None, trust_trailer: bool = False
) -> int:
    """Check the data size a NIfTI header claims against the file and a limit, unallocated.

    Parameters
    ----------
    img : nibabel image
        Loaded lazily (header only).
    path : str
        Its file (``.nii`` or ``.nii.gz``; gzip content is counted by streaming).
    limit : int, optional
        Largest array in bytes (default :data:`MAX_DATA_BYTES`).
    trust_trailer : bool
        Take a gzip file's length from its trailer when it matches (see :func:`_payload_bytes`);
        for a header-only read, which never allocates the data.

    Returns
    -------
    int
        The claimed data size in bytes.

    Raises
    ------
    MRSFormatError
        The shape has a zero or negative dimension, the claim exceeds ``limit``, or the file
        holds fewer bytes than the header claims (truncated file or corrupt header).
    """
    n_bytes, claim = _claimed_bytes(img, path, limit)
    # where the reader starts (a vox_offset of 0 in a NIfTI file means "after the extensions")
    offset = _data_offset(img)
    available = _payload_bytes(path, offset + n_bytes, trust_trailer=trust_trailer) - offset
    if available < n_bytes:
        raise _short(claim, available, path)
    return n_bytes


def _data_offset(img: Any) -> int:
    return int(getattr(img.dataobj, "offset", img.header["vox_offset"]))


def _claimed_bytes(img: Any, path: str, limit: int | None) -> tuple[int, str]:
    """Return the data size (bytes) a header claims, checked against ``limit``, and its words."""
    limit = MAX_DATA_BYTES if limit is None else limit
    shape = tuple(int(n) for n in img.header.get_data_shape())
    dtype = np.dtype(img.get_data_dtype())
    if not shape or min(shape) < 1:
        raise MRSFormatError(f"header claims an empty or negative data shape {shape}", path)
    n_bytes = math.prod(shape) * dtype.itemsize
    claim = f"header claims {'x'.join(map(str, shape))} {dtype.name} = {n_bytes / 2**20:.1f} MiB"
    if n_bytes > limit:
        raise MRSFormatError(
            f"{claim}, over the limit of {limit / 2**30:g} GiB (mrspipe.io.nifti_mrs."
            "MAX_DATA_BYTES); corrupt header?",
            path,
        )
    return n_bytes, claim


def _short(claim: str, available: int, path: str) -> MRSFormatError:
    return MRSFormatError(
        f"{claim} but the file holds only {max(available, 0)} bytes of data "
        "(truncated file or corrupt header)",
        path,
    )


#: bytes read (and, for gzip, decompressed) at a time by :func:`read_image_data`
_READ_CHUNK = 1 << 22


def read_image_data(img: Any, path: str, *, limit: int | None = None) -> np.ndarray:
    """Read the data array of a lazily loaded NIfTI image once, in bounded chunks.

    The header's claim is checked against ``limit`` first (nothing allocated); the array is
    then reserved (untouched pages cost no memory) and filled a few MiB at a time straight from
    the (decompressing) file, so a truncated file is found without holding more than it has,
    and a compressed file is decompressed once with no whole-file temporary (a size check by
    streaming followed by nibabel's reader decompressed it twice and held it twice).

    Parameters
    ----------
    img : nibabel image
        Loaded lazily (header only).
    path : str
        Its file, for messages.
    limit : int, optional
        Largest array in bytes (default :data:`MAX_DATA_BYTES`).

    Returns
    -------
    ndarray
        Shape and dtype (native byte order) of the header, Fortran order as NIfTI stores it;
        writeable and owned by the caller.

    Raises
    ------
    MRSFormatError
        As :func:`check_data_size`.
    """
    from nibabel.openers import ImageOpener

    proxy = img.dataobj
    plain = (
        getattr(proxy, "is_proxy", False)
        and getattr(proxy, "slope", 1.0) == 1.0
        and getattr(proxy, "inter", 0.0) == 0.0
        and getattr(proxy, "order", "F") == "F"
    )
    if not plain:  # scaled data: nibabel applies the scaling
        check_data_size(img, path, limit=limit)
        return np.array(np.asanyarray(proxy))
    n_bytes, claim = _claimed_bytes(img, path, limit)
    dtype = np.dtype(img.get_data_dtype())
    buffer = np.empty(n_bytes, np.uint8)
    view = buffer.data
    done = 0
    with ImageOpener(proxy.file_like) as fh:
        fh.seek(_data_offset(img))
        while done < n_bytes:
            try:
                got = fh.readinto(view[done : done + _READ_CHUNK])
            except EOFError:  # the compressed stream stops mid-way: a truncated file
                got = 0
            if not got:
                raise _short(claim, done, path)
            done += got
    data = buffer.view(dtype).reshape(tuple(proxy.shape), order="F")
    return data if dtype.isnative else data.astype(dtype.newbyteorder("="))


#: what a malformed file can raise inside nibabel, numpy, json or a parser; reported as an
#: MRSFormatError naming the file (an MRSError passes through unchanged)
BAD_INPUT: tuple[type[BaseException], ...] = (
    ValueError,
    TypeError,
    OverflowError,
    MemoryError,
    KeyError,
    IndexError,
    AttributeError,
    EOFError,
    OSError,
    UnicodeDecodeError,
    zlib.error,
    RecursionError,
)

_F = TypeVar("_F", bound=Callable[..., Any])
#: libraries whose own exception classes (e.g. nibabel's HeaderDataError) mean a bad file
_READER_MODULES = ("nibabel", "scipy.io", "pandas.errors", "json")


def _is_reader_error(exc: BaseException) -> bool:
    return type(exc).__module__.startswith(_READER_MODULES)


def named_input_errors(what: str) -> Callable[[_F], _F]:
    """Decorate a reader ``f(path, ...)`` so every bad-input error is an MRSFormatError.

    The error names the file (the first argument) and keeps the original message, e.g.
    ``"sub-01_svs.nii.gz: malformed NIfTI-MRS file (OverflowError: ...)"``.
    """

    def decorate(func: _F) -> _F:
        @functools.wraps(func)
        def wrapper(path: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return func(path, *args, **kwargs)
            except MRSError:
                raise
            except Exception as exc:
                if not (isinstance(exc, BAD_INPUT) or _is_reader_error(exc)):
                    raise
                raise MRSFormatError(
                    f"malformed {what} ({type(exc).__name__}: {exc})", os.fspath(path)
                ) from None

        return wrapper  # type: ignore[return-value]

    return decorate
