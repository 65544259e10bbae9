"""Spectra exchanged as text: LCModel ``.RAW``/``.H2O`` and jMRUI / plain ``.txt`` FIDs.

Many labs still pass single spectra around in these formats (the ISMRM 2016 fitting challenge
ships its data in all of them). They carry little acquisition metadata:

* LCModel ``.RAW``/``.H2O``: a ``$NMID`` namelist, sometimes ``$SEQPAR`` with ``HZPPPM`` and
  ``ECHOT``; the dwell time (``DELTAT``) and field (``HZPPPM``) usually live in the LCModel
  control file, which is read when one sits beside the data (a file holding ``$LCMODL``).
* jMRUI text: ``SamplingInterval`` (ms) and ``TransmitterFrequency`` (Hz) in the header.
* Plain text columns: nothing; 2 columns are one FID (Re, Im), 4 columns are the
  water-suppressed FID and its water reference (as in the challenge's ``datasets_text``).

Whatever the file lacks must be given (``dwell_time``, ``spectrometer_frequency``; the CLI's
``--dwell`` and ``--frequency``); a given value that contradicts the file wins, with a warning
naming both. Conventions are those worked out in :mod:`.lcmodel` and :mod:`.jmrui`.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..data import MRSData
from ..errors import MRSFormatError
from .jmrui import is_jmrui_text, read_jmrui_text
from .lcmodel import parse_namelist_text, read_lcmodel_raw

__all__ = ["TEXT_SUFFIXES", "TextPart", "is_text_data", "load_text_data"]

logger = logging.getLogger("mrspipe")

#: suffixes (lower case) of the text exchange formats -> format name
TEXT_SUFFIXES = {".raw": "lcmodel", ".h2o": "lcmodel", ".txt": "text"}

_CONTROL_KEYS = {"deltat": "dwell_time", "hzpppm": "spectrometer_frequency"}


@dataclass(frozen=True)
class TextPart:
    """One spectrum read from a text exchange file.

    Attributes
    ----------
    name : str
        ``""`` for the file's main signal, ``"ref"`` for a water reference held beside it.
    role : {'svs', 'mrsref'}
    data : MRSData
    notes : list of str
        Where the dwell time and field came from, conflicts resolved.
    """

    name: str
    role: str
    data: MRSData
    notes: tuple[str, ...] = ()


def is_text_data(path: str | os.PathLike[str]) -> bool:
    """Tell whether ``path`` looks like one of the text exchange formats (by suffix and content).

    ``.RAW``/``.H2O``: an ``$NMID`` namelist near the start; ``.txt``: the jMRUI magic line or
    a first line of at least two numbers.
    """
    p = Path(path)
    if not p.is_file() or p.suffix.lower() not in TEXT_SUFFIXES:
        return False
    try:
        with p.open("rb") as fh:
            head = fh.read(4096).decode("latin-1", errors="replace")
    except OSError:
        return False
    if TEXT_SUFFIXES[p.suffix.lower()] == "lcmodel":
        return "$nmid" in head.lower() or "&nmid" in head.lower()
    if is_jmrui_text(p):
        return True
    first = next((line.split() for line in head.splitlines() if line.strip()), [])
    try:
        return len(first) >= 2 and all(np.isfinite(float(v)) for v in first)
    except ValueError:
        return False


def _control_values(path: Path) -> tuple[dict[str, float], Path | None]:
    """``deltat``/``hzpppm`` from an LCModel control file beside ``path`` (one naming it first)."""
    found: list[tuple[int, dict[str, float], Path]] = []
    for candidate in sorted(path.parent.iterdir()):  # a loop over the folder's few files
        if not candidate.is_file() or candidate == path or candidate.stat().st_size > 1_000_000:
            continue
        if candidate.suffix.lower() in (".raw", ".h2o", ".basis", ".txt"):
            continue
        try:
            text = candidate.read_text("latin-1")
        except OSError:
            continue
        if "$lcmodl" not in text.lower():
            continue
        try:
            record = parse_namelist_text(text, candidate)
        except MRSFormatError:
            continue
        for name, values in record.namelists:
            if name.upper() != "LCMODL":
                continue
            lowered = {k.lower(): v for k, v in values.items()}
            got = {
                field: float(lowered[key])
                for key, field in _CONTROL_KEYS.items()
                if isinstance(lowered.get(key), int | float) and lowered[key] > 0
            }
            names_it = Path(str(lowered.get("filraw", ""))).name.lower() == path.name.lower()
            found.append((0 if names_it else 1, got, candidate))
    if not found:
        return {}, None
    found.sort(key=lambda item: item[0])
    return found[0][1], found[0][2]


def _resolve(
    path: Path,
    key: str,
    from_file: float | None,
    given: float | None,
    origin: str,
    option: str,
    notes: list[str],
) -> float:
    unit = "s" if key == "dwell_time" else "MHz"
    label = "dwell time" if key == "dwell_time" else "spectrometer frequency"
    if given is not None:
        if from_file is not None and not np.isclose(given, from_file, rtol=1e-6):
            message = f"{label} {given:g} {unit} given overrides {from_file:g} {unit} in {origin}"
            logger.warning("%s: %s", path, message)
            notes.append(message)
        return float(given)
    if from_file is None:
        raise MRSFormatError(
            f"the file holds no {label}; give it with {option} (e.g. {option} "
            f"{'0.00025' if key == 'dwell_time' else '123.2'})",
            path,
        )
    notes.append(f"{label} {from_file:g} {unit} from {origin}")
    return float(from_file)


def _read_fids(path: Path) -> tuple[list[tuple[str, np.ndarray]], dict[str, Any], str]:
    """Read the FIDs (mrspipe convention), what the header says and where that came from."""
    suffix = path.suffix.lower()
    if suffix in (".raw", ".h2o"):
        rec = read_lcmodel_raw(path)
        info = {k: rec.get(k) for k in ("dwell_time", "spectrometer_frequency", "echo_time")}
        origin = "the .RAW header"
        if info["dwell_time"] is None or info["spectrometer_frequency"] is None:
            control, where = _control_values(path)
            for key, value in control.items():
                if info.get(key) is None:
                    info[key] = value
                    origin = f"the LCModel control file {where.name if where else ''}"
        return [("", rec["fid"])], info, origin
    if is_jmrui_text(path):
        rec = read_jmrui_text(path)
        info = {k: rec.get(k) for k in ("dwell_time", "spectrometer_frequency")}
        return [("", rec["fid"])], info, "the jMRUI header"
    from .jmrui import read_text_columns

    cols = read_text_columns(path)
    if cols.shape[1] % 2:
        raise MRSFormatError(f"{cols.shape[1]} columns; expected Re Im pairs", path)
    # plain text stores LCModel handedness (see mrspipe.io.jmrui): conjugate
    fids = np.conj(cols[:, 0::2] + 1j * cols[:, 1::2]).T
    if len(fids) > 2:
        raise MRSFormatError(
            f"{len(fids)} column pairs; expected one FID, or an FID and its water reference",
            path,
        )
    names = ["", "ref"][: len(fids)]
    return list(zip(names, fids, strict=True)), {}, "the file"


def load_text_data(
    path: str | os.PathLike[str],
    *,
    dwell_time: float | None = None,
    spectrometer_frequency: float | None = None,
    echo_time: float | None = None,
    repetition_time: float | None = None,
) -> list[TextPart]:
    """Read a spectrum (and a water reference held with it) from a text exchange file.

    Parameters
    ----------
    path : str or path-like
        ``.RAW``/``.H2O`` (LCModel), ``.txt`` (jMRUI text or plain Re/Im columns).
    dwell_time : float, s, optional
        Required when the file (and a control file beside it) has none; overrides it else.
    spectrometer_frequency : float, MHz, optional
        Same.
    echo_time, repetition_time : float, s, optional
        Written to the header (a ``.RAW`` ``ECHOT`` is used when no echo time is given).

    Returns
    -------
    list of TextPart
        The main signal first; a ``.H2O`` file's role is ``'mrsref'``.

    Raises
    ------
    MRSFormatError
        Unreadable file, or no dwell time / field from either source, naming the file.
    """
    p = Path(path)
    if not p.is_file():
        raise MRSFormatError("no such file", p)
    if p.suffix.lower() not in TEXT_SUFFIXES:
        raise MRSFormatError(
            f"not a text exchange format (known suffixes: {', '.join(TEXT_SUFFIXES)})", p
        )
    fids, info, origin = _read_fids(p)
    notes: list[str] = []
    dwell = _resolve(p, "dwell_time", info.get("dwell_time"), dwell_time, origin, "--dwell", notes)
    cf = _resolve(
        p,
        "spectrometer_frequency",
        info.get("spectrometer_frequency"),
        spectrometer_frequency,
        origin,
        "--frequency",
        notes,
    )
    te = echo_time if echo_time is not None else info.get("echo_time")
    from .peaks import looks_like_water

    parts = []
    for name, fid in fids:
        data = MRSData(
            np.ascontiguousarray(fid, dtype=complex),
            dwell,
            cf,
            echo_time=te,
            repetition_time=repetition_time,
            header={"OriginalFile": [p.name], "ConversionMethod": "mrspipe (text exchange)"},
            source=os.fspath(p),
        )
        water = name == "ref" or p.suffix.lower() == ".h2o" or looks_like_water(data)
        parts.append(TextPart(name, "mrsref" if water else "svs", data, tuple(notes)))
    return parts
