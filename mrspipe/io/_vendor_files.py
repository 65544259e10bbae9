"""Finding vendor raw data: formats by extension or content, Philips file pairs, scan folders.

Part of :mod:`mrspipe.io.vendor` (import from there); no spec2nii needed here.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import MRSFormatError

__all__ = [
    "VENDOR_KINDS",
    "MAPPING_COLUMNS",
    "detect_vendor_kind",
    "find_vendor_sources",
    "read_mapping",
]

#: File extension (lower case) -> vendor kind.
_EXTENSIONS = {
    ".dat": "twix",
    ".rda": "rda",
    ".ima": "dicom",
    ".dcm": "dicom",
    ".sdat": "philips",
    ".spar": "philips",
    ".data": "philips_dl",
    ".list": "philips_dl",
    ".7": "ge",
}
_NIFTI_SUFFIXES = (".nii", ".nii.gz")
_BRUKER_FILES = ("fid", "rawdata.job0", "2dseq")


def _partner(path: Path, suffixes: tuple[str, ...], what: str) -> Path:
    """Find the file beside ``path`` with its stem and one of ``suffixes`` (any case)."""
    for candidate in sorted(path.parent.iterdir()):
        if candidate.stem == path.stem and candidate.suffix.lower() in suffixes:
            return candidate
    raise MRSFormatError(f"the matching {what} file ({'/'.join(suffixes)}) is missing", path)


def _args_philips(path: Path) -> list[str]:
    sdat = path if path.suffix.lower() == ".sdat" else _partner(path, (".sdat",), "SDAT")
    spar = path if path.suffix.lower() == ".spar" else _partner(path, (".spar",), "SPAR")
    return ["philips", str(sdat), str(spar)]


def _args_philips_dl(path: Path) -> list[str]:
    data = path if path.suffix.lower() == ".data" else _partner(path, (".data",), ".data")
    lst = path if path.suffix.lower() == ".list" else _partner(path, (".list",), ".list")
    aux = _partner(path, (".spar", ".dcm"), "auxiliary SPAR or DICOM")
    return ["philips_dl", str(data), str(lst), str(aux)]


def _args_bruker(path: Path) -> list[str]:
    folder = path if path.is_dir() else path.parent
    if (folder / "fid").is_file():
        return ["bruker", "-m", "FID", str(folder / "fid")]
    if (folder / "rawdata.job0").is_file():
        return ["bruker", "-m", "RAWDATA", str(folder / "rawdata.job0")]
    seq = sorted(folder.glob("pdata/*/2dseq"))
    if seq:
        return ["bruker", "-m", "2DSEQ", str(seq[0])]
    raise MRSFormatError("Bruker folder holds no fid, rawdata.job0 or pdata/*/2dseq", folder)


#: vendor kind -> builder of the spec2nii arguments (without output options).
VENDOR_KINDS: dict[str, Callable[[Path], list[str]]] = {
    # Siemens raw data are sampled with 2x readout oversampling: removed (as the scanner does
    # for its own exports), so the points and bandwidth are the nominal ones
    "twix": lambda p: ["twix", "-e", "image", "--remove_os", str(p)],
    "rda": lambda p: ["rda", str(p)],
    "siemens_dicom": lambda p: ["dicom", str(p)],
    "philips_dicom": lambda p: ["philips_dcm", str(p)],
    "uih_dicom": lambda p: ["uih", str(p)],
    "philips": _args_philips,
    "philips_dl": _args_philips_dl,
    "ge": lambda p: ["ge", str(p)],
    "bruker": _args_bruker,
}
_DICOM_BY_MANUFACTURER = {
    "siemens": "siemens_dicom",
    "philips": "philips_dicom",
    "uih": "uih_dicom",
}


def _is_dicom_file(path: Path) -> bool:
    """Tell whether ``path`` has the DICOM marker ``DICM`` at byte 128."""
    try:
        with open(path, "rb") as fh:
            fh.seek(128)
            return fh.read(4) == b"DICM"
    except OSError:
        return False


def _is_bruker_folder(folder: Path) -> bool:
    return (folder / "method").is_file() and (folder / "acqp").is_file()


def detect_vendor_kind(path: str | os.PathLike[str]) -> str | None:
    """Name the vendor format of ``path`` from its extension (or content), or None.

    Parameters
    ----------
    path : str or path-like
        A file (``.dat`` twix, ``.rda``, ``.ima``/``.dcm`` or extension-less DICOM, ``.sdat``
        or ``.spar``, ``.data`` or ``.list``, GE ``.7``), a Bruker scan folder (or its ``fid``),
        or a folder holding only DICOM files (a series, e.g. one file per transient).

    Returns
    -------
    str or None
        A key of :data:`VENDOR_KINDS` or ``"dicom"`` (vendor decided on loading); None for
        NIfTI and anything unrecognised.
    """
    path = Path(path)
    name = path.name.lower()
    if name.endswith(_NIFTI_SUFFIXES):
        return None
    if path.is_dir():
        if _is_bruker_folder(path):
            return "bruker"
        files = [f for f in sorted(path.iterdir()) if f.is_file() and not f.name.startswith(".")]
        if files and all(f.suffix.lower() in (".ima", ".dcm") or _is_dicom_file(f) for f in files):
            return "dicom"
        return None
    if name in _BRUKER_FILES and _is_bruker_folder(path.parent):
        return "bruker"
    kind = _EXTENSIONS.get(path.suffix.lower())
    if kind is None and path.is_file() and _is_dicom_file(path):
        kind = "dicom"
    return kind


def resolve_dicom(path: Path) -> str:
    """Choose the DICOM converter of a file or series folder from its ``Manufacturer``."""
    import pydicom

    first = path
    if path.is_dir():
        first = next((f for f in sorted(path.iterdir()) if f.is_file() and _is_dicom_file(f)), path)
    try:
        manufacturer = str(pydicom.dcmread(first, stop_before_pixels=True).Manufacturer)
    except Exception as exc:  # pydicom raises many types on foreign files
        raise MRSFormatError(f"not a readable DICOM file ({exc})", first) from None
    for key, kind in _DICOM_BY_MANUFACTURER.items():
        if key in manufacturer.lower():
            return kind
    raise MRSFormatError(f"spec2nii has no DICOM converter for manufacturer {manufacturer!r}", path)


def find_vendor_sources(paths: list[Path]) -> tuple[list[tuple[Path, str]], list[Path]]:
    """Group files and folders into conversion units.

    A Philips SDAT/SPAR (or data/list) pair is one unit, named by either file; a Bruker scan
    folder and a leaf folder of DICOM files (a series) are one unit each; other folders are
    searched recursively.

    Parameters
    ----------
    paths : list of Path

    Returns
    -------
    sources : list of (Path, str)
        Each unit and its kind (see :func:`detect_vendor_kind`), in input order.
    unknown : list of Path
        Files that are not vendor data (NIfTI, text, ...).
    """
    sources: list[tuple[Path, str]] = []
    unknown: list[Path] = []
    seen: set[tuple[Path, str]] = set()

    def add(path: Path, kind: str) -> None:
        key = (
            (path.parent.resolve(), path.stem)
            if kind in ("philips", "philips_dl")
            else (path.resolve(), "")
        )
        if key not in seen:
            seen.add(key)
            sources.append((path, kind))

    def visit(path: Path) -> None:
        kind = detect_vendor_kind(path)
        if path.is_dir():
            subdirs = [p for p in sorted(path.iterdir()) if p.is_dir()]
            if kind == "dicom" and not subdirs:
                files = [f for f in sorted(path.iterdir()) if not f.name.startswith(".")]
                add(files[0] if len(files) == 1 else path, kind)  # a series: spec2nii stacks it
                return
            if kind == "bruker":
                add(path, kind)
                return
            for child in sorted(path.iterdir()):
                visit(child)
        elif kind is not None:
            add(path, kind)
        elif not path.name.startswith("."):
            unknown.append(path)

    for p in paths:
        visit(Path(p))
    return sources, unknown


#: Columns of a bids-init mapping table (``role`` and ``infusion_onset_s`` are optional).
MAPPING_COLUMNS = ("file", "participant", "session", "condition", "sex")


def read_mapping(path: str | os.PathLike[str]) -> Any:
    """Read a bids-init mapping table (TSV) with every value kept as text (``"01"`` stays).

    Raises
    ------
    StudyLayoutError
        If the file is missing, unreadable or lacks a required column.
    """
    import pandas as pd

    from ..errors import StudyLayoutError

    path = Path(path)
    if not path.is_file():
        raise StudyLayoutError("mapping table not found", path)
    try:
        table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, comment="#")
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise StudyLayoutError(f"not a readable TSV table ({exc})", path) from None
    table.columns = [str(c).strip() for c in table.columns]
    missing = [c for c in MAPPING_COLUMNS if c not in table.columns]
    if missing:
        raise StudyLayoutError(
            f"mapping lacks the column(s) {missing}; needs {list(MAPPING_COLUMNS)} "
            "(+ optional role, infusion_onset_s)",
            path,
        )
    return table.apply(lambda col: col.str.strip())
