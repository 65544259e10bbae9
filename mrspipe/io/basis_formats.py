"""Per-format basis-set readers and writers behind :mod:`mrspipe.io.basis`.

Readers return a dict of :class:`~mrspipe.data.Basis` fields with the FIDs already in mrspipe's
convention (see the format modules); :func:`mrspipe.io.basis.load_basis` adds overrides and the
orientation check. Writers take a :class:`~mrspipe.data.Basis` and a path.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .._logging import logger
from ..data import Basis, default_ppm_reference
from ..errors import MRSFormatError
from ._atomic import atomic_write_text
from .fsl_basis import is_fsl_basis_file, read_fsl_basis_file, write_fsl_basis
from .jmrui import is_jmrui_text, read_jmrui_text, read_text_fid
from .lcmodel import format_lcmodel_basis, read_lcmodel_basis, read_lcmodel_raw

__all__ = ["detect_basis_format", "BASIS_READERS", "BASIS_WRITERS"]

_FOLDER_SUFFIXES = {
    "lcmodel-raw": (".raw",),
    "fsl": (".json",),
    "jmrui": (".txt",),
    "text": (".txt", ".dat", ".csv"),
}


def _visible_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


def detect_basis_format(path: str | os.PathLike[str]) -> str:
    """Name the reader (a key of :data:`BASIS_READERS`) for ``path``.

    Raises
    ------
    MRSFormatError
        If ``path`` does not exist or holds no recognisable basis files.
    """
    path = Path(path)
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix == ".basis":
            return "lcmodel"
        if suffix == ".raw":
            return "lcmodel-raw"
        if is_fsl_basis_file(path):
            return "fsl"
        if is_jmrui_text(path):
            return "jmrui"
        try:
            with path.open("rb") as f:
                head = f.read(512).decode("latin-1").lstrip().upper()
        except OSError as exc:
            raise MRSFormatError(f"cannot read ({exc.strerror})", path) from None
        if head.startswith(("$SEQPAR", "$BASIS1", "&SEQPAR", "&BASIS1")):
            return "lcmodel"
        if suffix in (".txt", ".dat"):
            return "text"
        raise MRSFormatError(
            "not a basis file mrspipe knows (.BASIS, .RAW, FSL-MRS .json, jMRUI or text)", path
        )
    if not path.is_dir():
        raise MRSFormatError("no such file or folder", path)
    files = _visible_files(path)
    raw = [p for p in files if p.suffix.lower() == ".raw"]
    if raw:
        others = [p.name for p in files if p.suffix.lower() == ".basis"]
        if others:
            logger.info(
                "%s: reading the .RAW files; pass %s itself to read it instead", path, others[0]
            )
        return "lcmodel-raw"
    if any(is_fsl_basis_file(p) for p in files):
        return "fsl"
    txt = [p for p in files if p.suffix.lower() == ".txt"]
    if txt:
        return "jmrui" if is_jmrui_text(txt[0]) else "text"
    basis_files = [p for p in files if p.suffix.lower() == ".basis"]
    if len(basis_files) == 1:
        return "lcmodel"
    raise MRSFormatError(
        "folder holds no basis files (.RAW, FSL-MRS .json, jMRUI/text .txt or one .BASIS)", path
    )


def _member_files(path: Path, fmt: str) -> list[Path]:
    if path.is_file():
        return [path]
    files = [p for p in _visible_files(path) if p.suffix.lower() in _FOLDER_SUFFIXES[fmt]]
    if fmt == "fsl":
        files = [p for p in files if is_fsl_basis_file(p)]
    if not files:
        raise MRSFormatError(f"folder holds no {fmt} basis files", path)
    return files


def _stack(path: Path, names: list[str], fids: list[np.ndarray], what: str) -> np.ndarray:
    lengths = {f.size for f in fids}
    if len(lengths) != 1:
        raise MRSFormatError(f"{what} files differ in length ({sorted(lengths)} points)", path)
    if len(set(names)) != len(names):
        raise MRSFormatError(f"duplicate metabolite names in {what} files: {names}", path)
    return np.stack(fids)


def _common(path: Path, values: list[Any], label: str, rtol: float = 1e-6) -> Any:
    known = [v for v in values if v is not None]
    if not known:
        return None
    if not np.allclose(known, known[0], rtol=rtol, atol=0.0):
        raise MRSFormatError(f"files disagree on {label}: {sorted(set(known))}", path)
    return known[0]


def _read_lcmodel(path: Path) -> dict[str, Any]:
    if path.is_dir():
        found = [p for p in _visible_files(path) if p.suffix.lower() == ".basis"]
        if len(found) != 1:
            raise MRSFormatError(f"folder holds {len(found)} .BASIS files; name one", path)
        path = found[0]
    return read_lcmodel_basis(path)


def _read_raw_folder(path: Path) -> dict[str, Any]:
    files = _member_files(path, "lcmodel-raw")
    recs = [read_lcmodel_raw(p) for p in files]
    names = [p.stem for p in files]
    return {
        "names": tuple(names),
        "fids": _stack(path, names, [r["fid"] for r in recs], ".RAW"),
        "dwell_time": _common(path, [r["dwell_time"] for r in recs], "dwell time"),
        "spectrometer_frequency": _common(
            path, [r["spectrometer_frequency"] for r in recs], "field"
        ),
        "echo_time": _common(path, [r["echo_time"] for r in recs], "echo time"),
        "meta": {
            "format": "lcmodel-raw",
            "files": [p.name for p in files],
            "ids": [r["id"] for r in recs],
            "header": recs[0]["header"],
        },
    }


def _read_fsl_folder(path: Path) -> dict[str, Any]:
    files = _member_files(path, "fsl")
    recs = [read_fsl_basis_file(p) for p in files]
    order = [r["meta"].get("index") for r in recs]
    if all(isinstance(i, int) for i in order) and len(set(order)) == len(order):
        files = [files[i] for i in np.argsort(order)]  # the order mrspipe wrote them in
        recs = [recs[i] for i in np.argsort(order)]
    names = [r["name"] for r in recs]
    nuclei = {r["nucleus"] for r in recs if r["nucleus"]}
    return {
        "names": tuple(names),
        "fids": _stack(path, names, [r["fid"] for r in recs], "JSON"),
        "dwell_time": _common(path, [r["dwell_time"] for r in recs], "basis_dwell"),
        "spectrometer_frequency": _common(
            path, [r["spectrometer_frequency"] for r in recs], "basis_centre"
        ),
        "echo_time": _common(path, [r["echo_time"] for r in recs], "echo time"),
        "nucleus": nuclei.pop() if len(nuclei) == 1 else None,
        "meta": {
            "format": "fsl",
            "files": [p.name for p in files],
            "basis_width_hz": [r["width_hz"] for r in recs],
            "meta": recs[0]["meta"],
        },
    }


def _read_jmrui_folder(path: Path) -> dict[str, Any]:
    files = _member_files(path, "jmrui")
    recs = [read_jmrui_text(p) for p in files]
    names = [p.stem for p in files]
    return {
        "names": tuple(names),
        "fids": _stack(path, names, [r["fid"] for r in recs], "jMRUI"),
        "dwell_time": _common(path, [r["dwell_time"] for r in recs], "SamplingInterval"),
        "spectrometer_frequency": _common(
            path, [r["spectrometer_frequency"] for r in recs], "TransmitterFrequency"
        ),
        "meta": {"format": "jmrui", "files": [p.name for p in files], "header": recs[0]["header"]},
    }


def _read_text_folder(path: Path) -> dict[str, Any]:
    files = _member_files(path, "text")
    recs = [read_text_fid(p) for p in files]
    names = [p.stem for p in files]
    return {
        "names": tuple(names),
        "fids": _stack(path, names, [r["fid"] for r in recs], "text"),
        "meta": {"format": "text", "files": [p.name for p in files]},
    }


#: format name -> reader(path) returning a dict of Basis fields (fids already converted).
BASIS_READERS: dict[str, Callable[[Path], dict[str, Any]]] = {
    "lcmodel": _read_lcmodel,
    "lcmodel-raw": _read_raw_folder,
    "fsl": _read_fsl_folder,
    "jmrui": _read_jmrui_folder,
    "text": _read_text_folder,
}


def _rereferenced(basis: Basis) -> np.ndarray:
    """FIDs with 0 Hz moved to the nucleus's default ppm (what LCModel and FSL-MRS assume)."""
    target = default_ppm_reference(basis.nucleus)
    assert basis.ppm_reference is not None
    d_hz = (basis.ppm_reference - target) * basis.spectrometer_frequency
    if d_hz == 0.0:
        return basis.fids
    logger.info(
        "basis re-referenced from %.3f to %.3f ppm at 0 Hz for writing", basis.ppm_reference, target
    )
    return basis.fids * np.exp(2j * np.pi * d_hz * basis.time_s)


def _safe_name(name: str) -> str:
    return re.sub(r"[^\w.+-]", "_", name) or "metabolite"


def _write_fsl(basis: Basis, path: Path) -> Path:
    if path.exists() and not path.is_dir():
        raise MRSFormatError("FSL-MRS basis output must be a folder, a file is in the way", path)
    if path.is_dir():
        for old in _visible_files(path):
            if is_fsl_basis_file(old):
                old.unlink()
    stems = [_safe_name(n) for n in basis.names]
    if len(set(stems)) != len(stems):
        raise MRSFormatError(f"metabolite names collide as file names: {basis.names}", path)
    tmp = path.with_name(f".{path.name}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    write_fsl_basis(
        tmp,
        basis.names,
        _rereferenced(basis),
        file_stems=tuple(stems),
        dwell_time=basis.dwell_time,
        spectrometer_frequency=basis.spectrometer_frequency,
        echo_time=basis.echo_time,
        nucleus=basis.nucleus,
        width_hz=float(basis.meta.get("linewidth_hz", 0.0) or 0.0),
    )
    path.mkdir(parents=True, exist_ok=True)
    for f in sorted(tmp.iterdir()):
        os.replace(f, path / f.name)
    tmp.rmdir()
    return path


def _write_lcmodel(basis: Basis, path: Path) -> Path:
    if basis.nucleus != "1H":
        raise MRSFormatError(f"LCModel .BASIS holds 1H only, basis is {basis.nucleus}", path)
    lw = basis.meta.get("linewidth_hz")
    text = format_lcmodel_basis(
        basis.names,
        _rereferenced(basis),
        dwell_time=basis.dwell_time,
        spectrometer_frequency=basis.spectrometer_frequency,
        echo_time=basis.echo_time,
        description=f"mrspipe basis {basis.meta.get('id', '')}".strip(),
        linewidth_ppm=float(lw) / basis.spectrometer_frequency if lw else None,
    )
    return atomic_write_text(path, text)


#: format name -> writer(basis, path) -> Path.
BASIS_WRITERS: dict[str, Callable[[Basis, Path], Path]] = {
    "fsl": _write_fsl,
    "lcmodel": _write_lcmodel,
}
