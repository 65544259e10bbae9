"""Basis sets: read any supported format into a :class:`~mrspipe.data.Basis`, write two.

Readers (``BASIS_READERS``), chosen from what ``path`` is (or forced with ``format=``):

``lcmodel``
    An LCModel ``.BASIS`` file (:mod:`mrspipe.io.lcmodel`).
``lcmodel-raw``
    A folder of LCModel ``.RAW`` files, one metabolite each (name = file stem).
``fsl``
    An FSL-MRS JSON folder (:mod:`mrspipe.io.fsl_basis`).
``jmrui``
    A folder of jMRUI text files (:mod:`mrspipe.io.jmrui`).
``text``
    A folder of plain two-column text FIDs (no header: pass ``dwell_time=`` and
    ``spectrometer_frequency=``).

Every reader converts its format's handedness to mrspipe's internal convention once (see the
format modules and ``docs/conventions.md``). Then :func:`load_basis` checks the orientation with
:func:`mrspipe.spectral.orientation_score`: a basis that clearly looks frequency-flipped
(score below ``-ORIENTATION_THRESHOLD``) is conjugated and a warning is logged; an undecidable
one (e.g. a lactate-only basis, whose peaks lie outside the test band) is kept as the format
convention says, with the score recorded in ``Basis.meta``. It never raises for orientation.
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
from ..data import Basis, MRSData, default_ppm_reference
from ..errors import BasisMismatchError, MRSFormatError
from ..spectral import is_flipped, orientation_score
from ._atomic import atomic_write_text
from .fsl_basis import is_fsl_basis_file, read_fsl_basis_file, write_fsl_basis
from .jmrui import is_jmrui_text, read_jmrui_text, read_text_fid
from .lcmodel import format_lcmodel_basis, read_lcmodel_basis, read_lcmodel_raw

__all__ = [
    "load_basis",
    "save_basis",
    "check_basis_matches",
    "detect_basis_format",
    "BASIS_READERS",
    "BASIS_WRITERS",
    "ORIENTATION_THRESHOLD",
]

#: |orientation score| above which a basis counts as clearly (un)flipped.
ORIENTATION_THRESHOLD = 0.2

_FOLDER_SUFFIXES = {"lcmodel-raw": (".raw",), "fsl": (".json",), "jmrui": (".txt",),
                    "text": (".txt", ".dat", ".csv")}


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
            logger.info("%s: reading the .RAW files; pass %s itself to read it instead",
                        path, others[0])
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
        path = next(p for p in _visible_files(path) if p.suffix.lower() == ".basis")
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
        "meta": {"format": "lcmodel-raw", "files": [p.name for p in files],
                 "ids": [r["id"] for r in recs], "header": recs[0]["header"]},
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
        "meta": {"format": "fsl", "files": [p.name for p in files],
                 "basis_width_hz": [r["width_hz"] for r in recs], "meta": recs[0]["meta"]},
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
        "meta": {"format": "jmrui", "files": [p.name for p in files],
                 "header": recs[0]["header"]},
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


def load_basis(
    path: str | os.PathLike[str],
    *,
    format: str = "auto",
    dwell_time: float | None = None,
    spectrometer_frequency: float | None = None,
    echo_time: float | None = None,
    nucleus: str | None = None,
    ppm_reference: float | None = None,
) -> Basis:
    """Read a basis set in any supported format.

    Parameters
    ----------
    path : str or path-like
        An LCModel ``.BASIS`` file, or a folder of ``.RAW`` / FSL-MRS ``.json`` / jMRUI text /
        plain text FIDs (one metabolite per file, named after the file stem; FSL-MRS files
        use their ``basis_name``).
    format : {'auto', 'lcmodel', 'lcmodel-raw', 'fsl', 'jmrui', 'text'}
        ``'auto'`` picks the reader from ``path`` (:func:`detect_basis_format`).
    dwell_time : float, s, optional
        Overrides (or supplies, for formats without it: text, ``.RAW``) the sampling interval.
    spectrometer_frequency : float, MHz, optional
        Overrides or supplies the Larmor frequency.
    echo_time : float, s, optional
        Overrides or supplies TE.
    nucleus : str, optional
        Default ``'1H'`` (or what the file says).
    ppm_reference : float, ppm, optional
        Chemical shift at 0 Hz; default per format (4.65 for 1H; 4.68 for Osprey ``.BASIS``).

    Returns
    -------
    Basis
        ``fids`` ``(n_metabolites, n_points)`` in mrspipe's convention: NAA at 2.01 ppm in
        ``np.fft.fftshift(np.fft.fft(fids))`` against ``Basis.ppm``. ``meta`` records the format,
        header fields read, the files, ``orientation_score`` and ``conjugated_on_load``.

    Raises
    ------
    MRSFormatError
        Naming the file and the problem (unknown format, garbled header, no basis files,
        missing dwell time or field).
    """
    path = Path(path)
    fmt = detect_basis_format(path) if format == "auto" else format
    if fmt not in BASIS_READERS:
        raise MRSFormatError(
            f"unknown basis format {format!r}; choose from {['auto', *BASIS_READERS]}", path
        )
    if not path.exists():
        raise MRSFormatError("no such file or folder", path)
    rec = BASIS_READERS[fmt](path)
    overrides = {"dwell_time": dwell_time, "spectrometer_frequency": spectrometer_frequency,
                 "echo_time": echo_time}
    for key, value in overrides.items():
        if value is not None:
            if rec.get(key) is not None and not np.isclose(rec[key], value, rtol=1e-6):
                logger.info("%s: %s %g from the file replaced by %g", path, key, rec[key], value)
            rec[key] = float(value)
    for key, kwarg in (("dwell_time", "dwell_time"), ("spectrometer_frequency",
                                                       "spectrometer_frequency")):
        if rec.get(key) is None:
            raise MRSFormatError(
                f"{fmt} basis files do not record the {key.replace('_', ' ')}; "
                f"pass {kwarg}= to load_basis",
                path,
            )
    nuc = nucleus or rec.get("nucleus") or "1H"
    ref = ppm_reference
    if ref is None:
        ref = rec.get("ppm_reference", default_ppm_reference(nuc))
    fids = np.asarray(rec["fids"], dtype=complex)
    meta = dict(rec.get("meta", {}))
    meta["conjugated_on_load"] = False
    if nuc == "1H":
        score = orientation_score(fids, rec["dwell_time"], rec["spectrometer_frequency"], ref)
        meta["orientation_score"] = score
        if score < -ORIENTATION_THRESHOLD:
            logger.warning(
                "%s: basis looks frequency-flipped (orientation score %.2f); conjugated it to "
                "mrspipe's convention", path, score,
            )
            fids = np.conj(fids)
            meta["conjugated_on_load"] = True
        elif abs(score) <= ORIENTATION_THRESHOLD:
            logger.info("%s: basis orientation undecidable (score %.2f); kept the %s "
                        "convention", path, score, fmt)
    return Basis(
        names=tuple(rec["names"]),
        fids=fids,
        dwell_time=float(rec["dwell_time"]),
        spectrometer_frequency=float(rec["spectrometer_frequency"]),
        nucleus=nuc,
        echo_time=rec.get("echo_time"),
        ppm_reference=float(ref),
        meta=meta,
        source=os.fspath(path),
    )


def _rereferenced(basis: Basis) -> np.ndarray:
    """FIDs with 0 Hz moved to the nucleus's default ppm (what LCModel and FSL-MRS assume)."""
    target = default_ppm_reference(basis.nucleus)
    assert basis.ppm_reference is not None
    d_hz = (basis.ppm_reference - target) * basis.spectrometer_frequency
    if d_hz == 0.0:
        return basis.fids
    logger.info("basis re-referenced from %.3f to %.3f ppm at 0 Hz for writing",
                basis.ppm_reference, target)
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
        tmp, basis.names, _rereferenced(basis), file_stems=tuple(stems),
        dwell_time=basis.dwell_time, spectrometer_frequency=basis.spectrometer_frequency,
        echo_time=basis.echo_time, nucleus=basis.nucleus,
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
        basis.names, _rereferenced(basis),
        dwell_time=basis.dwell_time, spectrometer_frequency=basis.spectrometer_frequency,
        echo_time=basis.echo_time, description=f"mrspipe basis {basis.meta.get('id', '')}".strip(),
        linewidth_ppm=float(lw) / basis.spectrometer_frequency if lw else None,
    )
    return atomic_write_text(path, text)


#: format name -> writer(basis, path) -> Path.
BASIS_WRITERS: dict[str, Callable[[Basis, Path], Path]] = {
    "fsl": _write_fsl,
    "lcmodel": _write_lcmodel,
}


def save_basis(
    basis: Basis, path: str | os.PathLike[str], *, format: str, overwrite: bool = True
) -> Path:
    """Write a basis set that :func:`load_basis` reads back losslessly.

    Parameters
    ----------
    basis : Basis
    path : str or path-like
        A folder for ``'fsl'`` (one ``NAME.json`` per metabolite), a ``.BASIS`` file for
        ``'lcmodel'``.
    format : {'fsl', 'lcmodel'}
    overwrite : bool
        Refuse to replace existing output when False.

    Returns
    -------
    Path
        What was written.

    Notes
    -----
    Both formats assume 0 Hz at 4.65 ppm (1H), so a basis with another ``ppm_reference`` is
    re-referenced (its FIDs multiplied by the matching phase ramp) on writing. FSL-MRS JSON
    stores full float64 precision; ``.BASIS`` is written as ``(4E24.15)`` (about 1e-15
    relative). FSL-MRS files are conjugated, ``.BASIS`` spectra are ``fft(conj(fid))``.
    """
    if format not in BASIS_WRITERS:
        raise ValueError(f"unknown basis format {format!r}; choose from {sorted(BASIS_WRITERS)}")
    path = Path(path)
    if path.exists() and not overwrite and (path.is_file() or any(path.iterdir())):
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    return BASIS_WRITERS[format](basis, path)


def check_basis_matches(
    basis: Basis,
    data: MRSData,
    *,
    ppm_range: tuple[float, float] = (0.2, 4.2),
    field_tolerance: float = 0.05,
) -> None:
    """Raise :class:`BasisMismatchError` when ``basis`` cannot fit ``data``.

    Checks the nucleus, the field (relative difference at most ``field_tolerance``), that both
    ppm axes cover ``ppm_range``, and that neither the data nor the basis looks
    frequency-flipped (:func:`mrspipe.spectral.is_flipped`).

    Parameters
    ----------
    basis : Basis
    data : MRSData
    ppm_range : (float, float), ppm
        The fit range that must be covered.
    field_tolerance : float
        Largest allowed ``|basis_cf / data_cf - 1|``.
    """
    src = basis.source or data.source
    if basis.nucleus != data.nucleus:
        raise BasisMismatchError(
            f"basis is for {basis.nucleus} but the data are {data.nucleus}", src
        )
    rel = basis.spectrometer_frequency / data.spectrometer_frequency - 1.0
    if abs(rel) > field_tolerance:
        raise BasisMismatchError(
            f"basis is for {basis.spectrometer_frequency:.3f} MHz but the data are at "
            f"{data.spectrometer_frequency:.3f} MHz ({100 * rel:+.1f} %, more than "
            f"{100 * field_tolerance:.0f} %); use a basis simulated for this field", src,
        )
    lo, hi = sorted(ppm_range)
    for what, ppm in (("basis", basis.ppm), ("data", data.ppm)):
        if ppm.min() > lo or ppm.max() < hi:
            raise BasisMismatchError(
                f"the {what} spans {ppm.min():.2f}-{ppm.max():.2f} ppm, which does not cover "
                f"the fit range {lo}-{hi} ppm", src,
            )
    if data.nucleus == "1H":
        assert data.ppm_reference is not None and basis.ppm_reference is not None
        if is_flipped(data.fids, data.dwell_time, data.spectrometer_frequency,
                      data.ppm_reference, threshold=ORIENTATION_THRESHOLD):
            raise BasisMismatchError(
                "the data look frequency-flipped (metabolites mirrored about the receiver "
                "centre); the file's handedness is wrong or it was conjugated twice",
                data.source,
            )
        if is_flipped(basis.fids, basis.dwell_time, basis.spectrometer_frequency,
                      basis.ppm_reference, threshold=ORIENTATION_THRESHOLD):
            raise BasisMismatchError("the basis looks frequency-flipped", basis.source)

