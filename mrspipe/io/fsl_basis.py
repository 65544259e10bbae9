"""FSL-MRS JSON basis folders: one ``NAME.json`` per metabolite.

Each file is ``{"basis": {"basis_re", "basis_im", "basis_dwell" (s), "basis_centre" (MHz),
"basis_width" (Hz), "basis_name"}, "meta": {...}}``. FSL-MRS stores the complex conjugate of
mrspipe's convention (checked on the fMRS-demo basis: NAA at 7.29 ppm as stored, 2.01 after
conjugation); both directions conjugate here. Basis 0 Hz is at 4.65 ppm.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MRSFormatError
from ._atomic import atomic_write_text

__all__ = ["read_fsl_basis_file", "is_fsl_basis_file", "write_fsl_basis"]

_REQUIRED = ("basis_re", "basis_im", "basis_dwell", "basis_centre")


def is_fsl_basis_file(path: Path) -> bool:
    """Cheap test: a ``.json`` whose first bytes mention ``"basis"``."""
    if path.suffix.lower() != ".json":
        return False
    try:
        with path.open("rb") as f:
            head = f.read(256)
    except OSError:
        return False
    return b'"basis"' in head or b'"meta"' in head


def read_fsl_basis_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read one FSL-MRS basis JSON file.

    Returns
    -------
    dict
        ``name``, ``fid`` ``(n_points,)`` complex in mrspipe's convention, ``dwell_time`` (s),
        ``spectrometer_frequency`` (MHz), ``echo_time`` (s or None), ``width_hz``, ``meta``.

    Raises
    ------
    MRSFormatError
        Invalid JSON, missing keys, or ``basis_re``/``basis_im`` of different lengths.
    """
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MRSFormatError(f"not a readable JSON basis file ({exc})", path) from None
    basis = doc.get("basis") if isinstance(doc, dict) else None
    if not isinstance(basis, dict):
        raise MRSFormatError("JSON has no 'basis' object: not an FSL-MRS basis file", path)
    missing = [k for k in _REQUIRED if k not in basis]
    if missing:
        raise MRSFormatError(f"FSL-MRS basis lacks {', '.join(missing)}", path)
    try:
        re_ = np.asarray(basis["basis_re"], dtype=float)
        im_ = np.asarray(basis["basis_im"], dtype=float)
        dwell = float(basis["basis_dwell"])
        cf = float(basis["basis_centre"])
    except (TypeError, ValueError) as exc:
        raise MRSFormatError(f"non-numeric basis values ({exc})", path) from None
    if re_.ndim != 1 or re_.shape != im_.shape or re_.size == 0:
        raise MRSFormatError(
            f"basis_re {re_.shape} and basis_im {im_.shape} must be equal-length vectors", path
        )
    meta = doc.get("meta") if isinstance(doc.get("meta"), dict) else {}
    te = meta.get("echo_time_s")
    if te is None and isinstance(doc.get("seq"), dict):  # FSL-MRS simulator output, ms
        te_ms = doc["seq"].get("echotime")
        te = float(te_ms) * 1e-3 if isinstance(te_ms, int | float) else None
    return {
        "name": str(basis.get("basis_name") or path.stem),
        "fid": np.conj(re_ + 1j * im_),
        "dwell_time": dwell,
        "spectrometer_frequency": cf,
        "echo_time": float(te) if isinstance(te, int | float) else None,
        "nucleus": meta.get("nucleus"),
        "width_hz": basis.get("basis_width"),
        "meta": meta,
    }


def write_fsl_basis(
    folder: Path,
    names: tuple[str, ...],
    fids: np.ndarray,
    *,
    dwell_time: float,
    spectrometer_frequency: float,
    echo_time: float | None,
    nucleus: str,
    file_stems: tuple[str, ...] | None = None,
    width_hz: float = 0.0,
    extra_meta: dict[str, Any] | None = None,
) -> list[Path]:
    """Write one FSL-MRS JSON per metabolite into ``folder`` (each file atomically).

    FIDs are in mrspipe's convention with 0 Hz at 4.65 ppm; they are conjugated on writing.
    Floats are written with ``repr`` precision, so reading back is exact. ``file_stems``
    (default: the names) are the file names without ``.json``; ``meta.index`` keeps the order.
    """
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    stems = names if file_stems is None else file_stems
    for index, (name, stem, fid) in enumerate(zip(names, stems, fids, strict=True)):
        stored = np.conj(fid)
        doc = {
            "basis": {
                "basis_re": stored.real.tolist(),
                "basis_im": stored.imag.tolist(),
                "basis_dwell": float(dwell_time),
                "basis_centre": float(spectrometer_frequency),
                "basis_width": float(width_hz),
                "basis_name": name,
            },
            "meta": {
                "writer": "mrspipe",
                "index": index,
                "nucleus": nucleus,
                "echo_time_s": None if echo_time is None else float(echo_time),
                **(extra_meta or {}),
            },
        }
        written.append(atomic_write_text(folder / f"{stem}.json", json.dumps(doc)))
    return written
