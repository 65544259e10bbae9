"""LCModel text formats: ``.BASIS`` basis sets and ``.RAW`` time-domain files.

Conventions (worked out on the real files in the test data, see ``docs/conventions.md``):

* A ``.RAW`` file holds an FID in LCModel's handedness, the complex conjugate of mrspipe's.
* A ``.BASIS`` file holds, per metabolite, the *unshifted* spectrum ``fft(fid_lcmodel)`` with
  its points rolled by ``ISHIFT``. So ``fid = conj(ifft(roll(spectrum, -ISHIFT)))`` in mrspipe's
  convention; its 0 Hz sits at 4.65 ppm (LCModel's ``PPMCEN``), except in files written by
  Osprey (``IDBASI`` mentions Osprey), which centre their basis at 4.68 ppm.

Namelists (``$NAME ... $END``, ``&NAME ... /``) are parsed into dicts of Python values;
numbers may use Fortran ``D`` exponents. The numeric blocks are converted with one
``np.array`` call per metabolite, never per number.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import MRSFormatError

__all__ = [
    "parse_namelist_text",
    "read_lcmodel_basis",
    "read_lcmodel_raw",
    "format_lcmodel_basis",
    "OSPREY_PPM_REFERENCE",
    "LCMODEL_PPM_REFERENCE",
]

#: 0 Hz of an LCModel basis is at this chemical shift (LCModel's default PPMCEN).
LCMODEL_PPM_REFERENCE = 4.65
#: Osprey writes its LCModel basis sets centred here (io_writelcmBASIS shifts to 4.68 ppm).
OSPREY_PPM_REFERENCE = 4.68

_NAMELIST_START = re.compile(r"[$&]([A-Za-z]\w*)")
# Tokens inside a namelist: quoted strings (with '' escapes), terminators, "NAME =", values.
_NL_TOKEN = re.compile(
    r"'(?:[^']|'')*'"  # quoted string
    r"|[$&]END\b"  # $END / &END
    r"|(?<![\w.])/"  # "/" terminator
    r"|[A-Za-z]\w*(?:\(\s*\d+\s*\))?\s*="  # NAME = (optionally NAME(1) =)
    r"|[^\s,=']+",  # bare value token
    re.IGNORECASE,
)
_FLOAT_RE = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[EeDd][-+]?\d+)?")
_TRUE = {"T", ".TRUE.", "TRUE", ".T."}
_FALSE = {"F", ".FALSE.", "FALSE", ".F."}


@dataclass
class LCModelRecord:
    """What one LCModel file held: namelists and complex arrays, before any convention change."""

    namelists: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    blocks: list[np.ndarray] = field(default_factory=list)


def _convert_value(token: str) -> Any:
    if token.startswith("'"):
        return token[1:-1].replace("''", "'").strip()
    upper = token.upper()
    if upper in _TRUE:
        return True
    if upper in _FALSE:
        return False
    try:
        if re.fullmatch(r"[-+]?\d+", token):
            return int(token)
        return float(upper.replace("D", "E"))
    except ValueError:
        return token


def _parse_namelist_at(text: str, pos: int, path: str) -> tuple[str, dict[str, Any], int]:
    """Parse the namelist starting at ``text[pos]`` (a ``$`` or ``&``); return its end."""
    m = _NAMELIST_START.match(text, pos)
    if m is None:
        raise MRSFormatError(f"expected a namelist at character {pos}", path)
    name = m.group(1).upper()
    values: dict[str, Any] = {}
    key: str | None = None
    for tok in _NL_TOKEN.finditer(text, m.end()):
        s = tok.group(0)
        if s.upper() in ("$END", "&END") or s == "/":
            for k, v in values.items():
                values[k] = v[0] if len(v) == 1 else v
            return name, values, tok.end()
        if s.endswith("=") and not s.startswith("'"):
            key = re.sub(r"\s+", "", s[:-1]).upper()
            values[key] = []
        elif key is None:
            raise MRSFormatError(
                f"namelist ${name} has a value {s!r} before any 'NAME =' (garbled header?)", path
            )
        else:
            values[key].append(_convert_value(s))
    raise MRSFormatError(f"namelist ${name} has no $END", path)


def parse_namelist_text(text: str, path: str | os.PathLike[str] = "") -> LCModelRecord:
    """Split LCModel text into namelists and the numeric blocks that follow them.

    Parameters
    ----------
    text : str
        The whole file.
    path : str or path-like
        For error messages.

    Returns
    -------
    LCModelRecord
        ``namelists`` in file order as ``(NAME, {KEY: value})``; ``blocks[i]`` the complex
        values (pairs of reals) that follow namelist ``i`` (empty when none).

    Raises
    ------
    MRSFormatError
        If a namelist is unterminated or a numeric block cannot be read.
    """
    path = os.fspath(path)
    record = LCModelRecord()
    pos = 0
    first = _NAMELIST_START.search(text)
    if first is None:
        raise MRSFormatError(
            "no LCModel namelist ($NAME ... $END) found: not an LCModel file", path
        )
    if text[: first.start()].strip():
        raise MRSFormatError("text before the first namelist: not an LCModel file", path)
    pos = first.start()
    while pos < len(text):
        name, values, end = _parse_namelist_at(text, pos, path)
        nxt = _NAMELIST_START.search(text, end)
        stop = nxt.start() if nxt else len(text)
        record.namelists.append((name, values))
        record.blocks.append(_read_block(text[end:stop], path, name))
        pos = stop
    return record


def _read_block(chunk: str, path: str, after: str) -> np.ndarray:
    """Complex values of a numeric block (pairs of reals), vectorised."""
    if not chunk.strip():
        return np.zeros(0, dtype=complex)
    if "D" in chunk or "d" in chunk:
        chunk = chunk.replace("D", "E").replace("d", "e")
    try:
        values = np.array(chunk.split(), dtype=float)
    except ValueError:
        # fixed-width fields may run together ("0.1E+00-0.2E+00"): split by pattern
        tokens = _FLOAT_RE.findall(chunk)
        leftover = _FLOAT_RE.sub(" ", chunk).split()
        if leftover:
            raise MRSFormatError(
                f"non-numeric text {leftover[0]!r} in the data after ${after}", path
            ) from None
        values = np.array(tokens, dtype=float)
    if values.size % 2:
        raise MRSFormatError(
            f"odd number of values ({values.size}) after ${after}: not real/imaginary pairs", path
        )
    return values[0::2] + 1j * values[1::2]


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise MRSFormatError(f"cannot read ({exc.strerror})", path) from None
    if b"\x00" in raw[:4096]:
        raise MRSFormatError("binary file, not LCModel text", path)
    return raw.decode("latin-1")


def _lookup(namelists: list[tuple[str, dict[str, Any]]], key: str) -> Any:
    for _, values in namelists:
        if key in values:
            return values[key]
    return None


def read_lcmodel_basis(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read an LCModel ``.BASIS`` file.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    dict
        ``names`` (tuple of str), ``fids`` ``(n_metabolites, n_points)`` complex in mrspipe's
        convention, ``dwell_time`` (s), ``spectrometer_frequency`` (MHz or None),
        ``echo_time`` (s or None), ``ppm_reference`` (ppm), ``meta`` (the header namelists,
        each entry's ``$BASIS`` namelist and the metabolite list).

    Raises
    ------
    MRSFormatError
        For a missing ``$BASIS1``/``NDATAB``/``BADELT``, no ``$BASIS`` entries, or a data
        block of the wrong length.
    """
    path = Path(path)
    record = parse_namelist_text(_read_text(path), path)
    names_found = [n for n, _ in record.namelists]
    header = [(n, v) for n, v in record.namelists if n != "BASIS"]
    ndatab = _lookup(header, "NDATAB")
    badelt = _lookup(header, "BADELT")
    if "BASIS1" not in names_found and ndatab is None:
        raise MRSFormatError(
            f"no $BASIS1 namelist (found {', '.join('$' + n for n in names_found) or 'none'}): "
            "not an LCModel .BASIS file or a garbled header",
            path,
        )
    if not isinstance(ndatab, int) or ndatab <= 0:
        raise MRSFormatError(f"NDATAB {ndatab!r} is missing or not a positive integer", path)
    if not isinstance(badelt, int | float) or not badelt > 0:
        raise MRSFormatError(f"BADELT {badelt!r} is missing or not a positive number", path)
    hzpppm = _lookup(header, "HZPPPM")
    echot = _lookup(header, "ECHOT")
    names: list[str] = []
    spectra: list[np.ndarray] = []
    entries: list[dict[str, Any]] = []
    for (name, values), block in zip(record.namelists, record.blocks, strict=True):
        if name != "BASIS":
            continue
        metabo = values.get("METABO") or values.get("ID")
        if not isinstance(metabo, str) or not metabo:
            raise MRSFormatError(f"$BASIS entry {len(names) + 1} has no METABO name", path)
        if block.size != ndatab:
            raise MRSFormatError(
                f"entry {metabo!r} has {block.size} complex points, NDATAB says {ndatab} "
                "(truncated file or wrong FMTBAS?)",
                path,
            )
        if metabo in names:
            raise MRSFormatError(f"metabolite {metabo!r} appears twice", path)
        ishift = values.get("ISHIFT", 0)
        ishift = int(ishift) if isinstance(ishift, int | float) else 0
        spectra.append(np.roll(block, -ishift))
        names.append(metabo)
        entries.append(values)
    if not names:
        raise MRSFormatError("no $BASIS entries (metabolite spectra) in the file", path)
    fids = np.conj(np.fft.ifft(np.asarray(spectra), axis=-1))
    idbasi = str(_lookup(header, "IDBASI") or "")
    osprey = "osprey" in idbasi.lower()
    meta = {
        "format": "lcmodel",
        "header": {n: v for n, v in header if n != "NMUSED"},
        "nmused": [v for n, v in header if n == "NMUSED"],
        "entries": entries,
        "metabolites": list(names),
        "ppm_reference_source": "Osprey (IDBASI)" if osprey else "LCModel default PPMCEN",
    }
    return {
        "names": tuple(names),
        "fids": fids,
        "dwell_time": float(badelt),
        "spectrometer_frequency": float(hzpppm) if isinstance(hzpppm, int | float) else None,
        "echo_time": float(echot) * 1e-3 if isinstance(echot, int | float) and echot > 0 else None,
        "ppm_reference": OSPREY_PPM_REFERENCE if osprey else LCMODEL_PPM_REFERENCE,
        "meta": meta,
    }


def read_lcmodel_raw(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read one LCModel ``.RAW``/``.H2O`` file (``$NMID`` header, then the FID).

    Returns
    -------
    dict
        ``fid`` ``(n_points,)`` complex in mrspipe's convention (conjugated), ``id`` (str),
        ``dwell_time`` / ``spectrometer_frequency`` / ``echo_time`` when the header has them
        (``DELTAT``/``BADELT`` s, ``HZPPPM`` MHz, ``ECHOT`` ms -> s), else None; ``header``.
    """
    path = Path(path)
    record = parse_namelist_text(_read_text(path), path)
    names = [n for n, _ in record.namelists]
    if "NMID" not in names:
        raise MRSFormatError(
            f"no $NMID namelist (found {', '.join('$' + n for n in names)}): not an LCModel .RAW",
            path,
        )
    fid = np.concatenate(record.blocks)
    if fid.size == 0:
        raise MRSFormatError("no data points after the $NMID header", path)
    nl = record.namelists
    dwell = _lookup(nl, "DELTAT") or _lookup(nl, "BADELT")
    cf = _lookup(nl, "HZPPPM")
    te = _lookup(nl, "ECHOT")
    return {
        "fid": np.conj(fid),
        "id": str(_lookup(nl, "ID") or ""),
        "dwell_time": float(dwell) if isinstance(dwell, int | float) and dwell > 0 else None,
        "spectrometer_frequency": float(cf) if isinstance(cf, int | float) and cf > 0 else None,
        "echo_time": float(te) * 1e-3 if isinstance(te, int | float) and te > 0 else None,
        "header": {n: v for n, v in nl},
    }


def _fortran_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def format_lcmodel_basis(
    names: tuple[str, ...],
    fids: np.ndarray,
    *,
    dwell_time: float,
    spectrometer_frequency: float,
    echo_time: float | None,
    description: str = "written by mrspipe",
    linewidth_ppm: float | None = None,
) -> str:
    """Text of an LCModel ``.BASIS`` file for FIDs in mrspipe's convention (0 Hz = 4.65 ppm).

    Numbers are written as ``(4E24.15)`` so reading back is exact to ~1e-15 relative.
    """
    spectra = np.fft.fft(np.conj(fids), axis=-1)
    n = fids.shape[-1]
    lines = [
        " $SEQPAR",
        f" FWHMBA = {-1.0 if linewidth_ppm is None else linewidth_ppm!r},",
        f" HZPPPM = {float(spectrometer_frequency)!r},",
        f" ECHOT = {-1.0 if echo_time is None else float(echo_time) * 1e3!r},",
        " SEQ = ' '",
        " $END",
        " $BASIS1",
        f" IDBASI = {_fortran_str(description)},",
        " FMTBAS = '(4E24.15)',",
        f" BADELT = {float(dwell_time)!r},",
        f" NDATAB = {n}",
        " $END",
    ]
    out = ["\n".join(lines) + "\n"]
    for name, spec in zip(names, spectra, strict=True):
        out.append(
            f" $BASIS\n ID = {_fortran_str(name)},\n METABO = {_fortran_str(name)},\n"
            " CONC = 1.,\n TRAMP = 1.,\n VOLUME = 1.,\n ISHIFT = 0\n $END\n"
        )
        flat = np.empty(2 * n)
        flat[0::2] = spec.real
        flat[1::2] = spec.imag
        body = "\n".join(
            "".join(f"{v:24.15E}" for v in flat[i : i + 4]) for i in range(0, flat.size, 4)
        )
        out.append(body + "\n")
    return "".join(out)
