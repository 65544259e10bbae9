"""jMRUI text files and plain text FIDs (one signal per file).

* jMRUI text (``jMRUI Data Textfile`` header, ``Key: value`` lines, then columns ``sig(real)
  sig(imag) [fft(real) fft(imag)]``) stores FIDs in mrspipe's handedness already (checked on the
  ISMRM 2016 fitting-challenge basis: NAA at 2.01 ppm as stored). ``SamplingInterval`` is in
  ms and ``TransmitterFrequency`` in Hz; both are converted.
* Plain text FIDs (columns ``Re Im``, possibly more column pairs, no header, as in the
  challenge's ``basisset_text*`` folders) store the conjugate (LCModel handedness, equal to the
  challenge's ``.RAW`` files), so they are conjugated. They carry no dwell time or field.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MRSFormatError

__all__ = ["is_jmrui_text", "read_jmrui_text", "read_text_fid", "read_text_columns"]

_JMRUI_MAGIC = "jmrui data textfile"
_KEY_LINE = re.compile(r"^\s*([A-Za-z][\w ]*?)\s*:\s*(.*?)\s*$")


def _read(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise MRSFormatError(f"cannot read ({exc.strerror})", path) from None
    if b"\x00" in raw[:4096]:
        raise MRSFormatError("binary file, expected text", path)
    return raw.decode("latin-1")


def is_jmrui_text(path: Path) -> bool:
    """Return True when the file starts with the jMRUI text magic line."""
    try:
        with path.open("rb") as f:
            head = f.read(64).decode("latin-1", errors="replace")
    except OSError:
        return False
    return head.strip().lower().startswith(_JMRUI_MAGIC)


def _columns(body: str, path: Path) -> np.ndarray:
    """Parse whitespace-separated numeric rows into ``(n_rows, n_cols)`` with one np.array."""
    lines = body.strip().splitlines()
    if not lines:
        raise MRSFormatError("no data rows", path)
    n_cols = len(lines[0].split())
    try:
        values = np.array(body.split(), dtype=float)
    except ValueError:
        raise MRSFormatError("non-numeric text in the data rows", path) from None
    if n_cols < 2 or values.size % n_cols:
        raise MRSFormatError(
            f"{values.size} numbers do not fill rows of {n_cols} columns (truncated file?)", path
        )
    return values.reshape(-1, n_cols)


def read_jmrui_text(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a single-signal jMRUI text file.

    Returns
    -------
    dict
        ``fid`` ``(n_points,)`` complex (mrspipe convention), ``dwell_time`` (s),
        ``spectrometer_frequency`` (MHz), ``header`` (the ``Key: value`` pairs, as strings).

    Raises
    ------
    MRSFormatError
        Missing magic line, missing ``SamplingInterval``/``TransmitterFrequency``, more than one
        signal, or a point count that disagrees with ``PointsInDataset``.
    """
    path = Path(path)
    text = _read(path)
    if not text.strip().lower().startswith(_JMRUI_MAGIC):
        raise MRSFormatError("does not start with 'jMRUI Data Textfile'", path)
    marker = re.search(r"^\s*Signal\s+1\s+out\s+of\s+(\d+).*$", text, re.MULTILINE | re.IGNORECASE)
    if marker is None:
        raise MRSFormatError("no 'Signal 1 out of N' line before the data", path)
    if int(marker.group(1)) != 1:
        raise MRSFormatError(
            f"holds {marker.group(1)} signals; a basis needs one signal per file", path
        )
    header: dict[str, str] = {}
    for line in text[: marker.start()].splitlines():
        m = _KEY_LINE.match(line)
        if m:
            header[m.group(1).strip()] = m.group(2)
    cols = _columns(text[marker.end() :], path)
    fid = cols[:, 0] + 1j * cols[:, 1]
    try:
        dwell = float(header["SamplingInterval"]) * 1e-3
        cf = float(header["TransmitterFrequency"]) * 1e-6
    except KeyError as exc:
        raise MRSFormatError(f"jMRUI header lacks {exc.args[0]}", path) from None
    except ValueError as exc:
        raise MRSFormatError(f"unreadable jMRUI header value ({exc})", path) from None
    points = header.get("PointsInDataset")
    if points and points.split()[0].isdigit() and int(points.split()[0]) != fid.size:
        raise MRSFormatError(
            f"PointsInDataset says {points.split()[0]} but {fid.size} rows were read", path
        )
    return {
        "fid": fid,
        "dwell_time": dwell if dwell > 0 else None,
        "spectrometer_frequency": cf if cf > 0 else None,
        "header": header,
    }


def read_text_columns(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a headerless text file of numbers as ``(n_rows, n_cols)`` float columns.

    Raises
    ------
    MRSFormatError
        Naming the file: unreadable, binary, no rows, non-numeric text or ragged rows.
    """
    path = Path(path)
    return _columns(_read(path), path)


def read_text_fid(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a plain text FID (first two columns are Re, Im); conjugated to mrspipe's convention.

    Returns
    -------
    dict
        ``fid`` ``(n_points,)`` complex and ``n_columns``.
    """
    cols = read_text_columns(path)
    return {"fid": np.conj(cols[:, 0] + 1j * cols[:, 1]), "n_columns": cols.shape[1]}
