"""Vendor raw data (Siemens, Philips, GE, Bruker, UIH) converted through spec2nii.

mrspipe has no hand-written vendor readers: every vendor file goes through spec2nii, the field's
converter (``pip install "mrspipe[vendor]"``), run as a subprocess into a temporary folder, and
the NIfTI-MRS it writes is read back with :func:`mrspipe.io.nifti_mrs.load_mrs`. A subprocess is
more robust than spec2nii's Python entry point, which parses ``sys.argv``, prints to stdout,
emits warnings and may call ``sys.exit``; it also isolates crashes of the vendor readers.

After conversion the dimension tags are checked (transients on ``DIM_DYN``, coils on
``DIM_COIL``), fixed where unambiguous, and :func:`mrspipe.io.sanity.check_mrs` runs on every
result.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..data import MRSData
from ..errors import ConfigError, MRSFormatError
from ._spec2nii import _OUT_STEM, _require_spec2nii, _run_spec2nii, fix_dim_tags
from ._vendor_files import (
    MAPPING_COLUMNS,
    VENDOR_KINDS,
    detect_vendor_kind,
    find_vendor_sources,
    read_mapping,
    resolve_dicom,
)
from .sanity import Finding, check_mrs, errors_of, looks_like_water

__all__ = [
    "VENDOR_KINDS",
    "VendorPart",
    "detect_vendor_kind",
    "find_vendor_sources",
    "load_vendor",
    "load_vendor_parts",
    "apply_overrides",
    "part_role",
    "primary_data",
    "fix_dim_tags",
    "read_mapping",
    "MAPPING_COLUMNS",
]

logger = logging.getLogger("mrspipe")


@dataclass(frozen=True, eq=False)
class VendorPart:
    """One NIfTI-MRS data set converted from a vendor source.

    Parameters
    ----------
    name : str
        spec2nii's name for this part without the base name: ``""`` for the main data set,
        e.g. ``"ref"`` for an embedded water reference.
    role : {'svs', 'mrsref', 'ecc', 'other'}
        What the part holds (see :func:`part_role`).
    data : MRSData
        The data, ``source`` set to the vendor path.
    findings : list of Finding
        Sanity-check results and notes on what was fixed.
    """

    name: str
    role: str
    data: MRSData
    findings: list[Finding] = field(default_factory=list)


def part_role(name: str) -> str:
    """Classify a converted part from its spec2nii name suffix.

    Returns ``'ecc'`` for eddy-current references (``_ecc``), ``'mrsref'`` for water
    references (``ref``, ``quant`` or ``water`` in the name), otherwise ``'svs'``.
    """
    lowered = name.lower()
    if "ecc" in lowered:
        return "ecc"
    if any(key in lowered for key in ("ref", "quant", "water")):
        return "mrsref"
    return "svs"


def load_vendor_parts(
    path: str | os.PathLike[str],
    *,
    kind: str | None = None,
    check: bool = True,
    strict: bool = True,
    timeout: float = 600.0,
    echo_time: float | None = None,
    repetition_time: float | None = None,
) -> list[VendorPart]:
    """Convert a vendor source with spec2nii and return every data set it holds.

    Parameters
    ----------
    path : str or path-like
        A vendor file, a Philips pair (either file), a Bruker folder or a DICOM series folder.
        Never modified.
    kind : {'twix', 'rda', 'siemens_dicom', 'philips_dicom', 'uih_dicom', 'philips',
            'philips_dl', 'ge', 'bruker', 'dicom'}, optional
        Format; detected from the extension or content when omitted.
    check : bool
        Run :func:`mrspipe.io.sanity.check_mrs` on each part (findings in ``VendorPart``).
    strict : bool
        Raise on error-level findings (data that cannot be right); else only log them.
    timeout : float, s
        Limit for the spec2nii run.
    echo_time, repetition_time : float, s, optional
        Supply or override the header's values (some exports lack them or get them wrong,
        e.g. Siemens CSA spectroscopy DICOMs without an EchoTime); a changed value is noted
        in the findings, naming both.

    Returns
    -------
    list of VendorPart
        The main data set first, then references, in spec2nii's order.

    Raises
    ------
    MissingExtraError
        spec2nii is not installed.
    MRSFormatError
        Unrecognised or unconvertible input, or data that cannot be right (``check``).
    """
    source = Path(path)
    if not source.exists():
        raise MRSFormatError("no such file or folder", source)
    _require_spec2nii()
    kind = kind or detect_vendor_kind(source)
    if kind is None:
        raise MRSFormatError(
            f"not a recognised vendor format (known: {', '.join(sorted(VENDOR_KINDS))})", source
        )
    if kind == "dicom":
        kind = resolve_dicom(source)
    if kind not in VENDOR_KINDS:
        raise ConfigError(f"unknown vendor kind {kind!r}; choose from {sorted(VENDOR_KINDS)}")
    args = VENDOR_KINDS[kind](source)

    from .nifti_format import read_nifti_mrs

    parts: list[VendorPart] = []
    with tempfile.TemporaryDirectory(prefix="mrspipe-spec2nii-") as tmp:
        notes = _run_spec2nii(args, Path(tmp), source, timeout)
        outputs = sorted(Path(tmp).glob("*.nii*"), key=lambda p: (len(p.name), p.name))
        if not outputs:
            raise MRSFormatError(f"spec2nii {args[0]} wrote no data", source)
        for out in outputs:
            name = out.name.split(".nii")[0][len(_OUT_STEM) :].lstrip("_")
            part_notes = notes + fix_dim_tags(out)
            data = replace(read_nifti_mrs(out), source=os.fspath(source))
            data, set_notes = apply_overrides(
                data, echo_time=echo_time, repetition_time=repetition_time
            )
            part_notes += set_notes
            role = part_role(name) if name else ("mrsref" if looks_like_water(data) else "svs")
            findings = [Finding("info", "conversion", n) for n in part_notes]
            for note in part_notes:
                logger.info("%s%s: %s", source, f" [{name}]" if name else "", note)
            if check:
                findings += check_mrs(data, role=role, label=f"{source}{f' [{name}]' * bool(name)}")
            parts.append(VendorPart(name=name, role=role, data=data, findings=findings))
    if check and strict:
        problems = [f.message for p in parts for f in errors_of(p.findings)]
        if problems:
            hint = " (to load them anyway: check=False, or mrspipe convert --no-check)"
            raise MRSFormatError("; ".join(problems) + hint, source)
    return parts


def apply_overrides(
    data: MRSData, *, echo_time: float | None = None, repetition_time: float | None = None
) -> tuple[MRSData, list[str]]:
    """Set TE/TR given by the user, noting each change against the header's value.

    Parameters
    ----------
    data : MRSData
    echo_time, repetition_time : float, s, optional
        None keeps the header's value.

    Returns
    -------
    data : MRSData
    notes : list of str
    """
    notes = []
    for field_name, value, label in (
        ("echo_time", echo_time, "EchoTime"),
        ("repetition_time", repetition_time, "RepetitionTime"),
    ):
        if value is None:
            continue
        if not value > 0:
            raise ConfigError(f"{label} must be positive, got {value} s")
        old = getattr(data, field_name)
        if old is None:
            notes.append(f"{label} {value:g} s given (the header had none)")
        elif not np.isclose(old, value, rtol=1e-6):
            notes.append(f"{label} {value:g} s given overrides the header's {old:g} s")
        changes: dict[str, Any] = {field_name: float(value)}
        data = replace(data, **changes)
        header = dict(data.header)
        header[label] = float(value)
        data = replace(data, header=header)
    return data, notes


def load_vendor(
    path: str | os.PathLike[str], *, kind: str | None = None, check: bool = True
) -> MRSData | list[MRSData]:
    """Read vendor raw data through spec2nii.

    Parameters
    ----------
    path : str or path-like
        See :func:`load_vendor_parts`.
    kind : str, optional
        See :func:`load_vendor_parts`.
    check : bool
        Run the sanity checks (:mod:`mrspipe.io.sanity`) and raise where the data cannot be
        right; warnings are logged.

    Returns
    -------
    MRSData or list of MRSData
        One data set, or a list (main data first, then references) when the source holds
        several, e.g. Philips DICOM or GE P-files with an embedded water reference.
    """
    parts = load_vendor_parts(path, kind=kind, check=check)
    return parts[0].data if len(parts) == 1 else [p.data for p in parts]


def primary_data(path: str | os.PathLike[str]) -> MRSData:
    """Return the main (non-reference) data set of a vendor source, for ``load_mrs``."""
    parts = load_vendor_parts(path)
    main = [p for p in parts if p.role == "svs"] or parts
    if len(main) > 1:
        raise MRSFormatError(
            f"holds {len(main)} data sets ({', '.join(p.name or 'main' for p in main)}); "
            "use mrspipe.io.vendor.load_vendor to get them all",
            path,
        )
    others = [p.name for p in parts if p is not main[0]]
    if others:
        logger.info("%s also holds %s; load_vendor returns them too", path, ", ".join(others))
    return main[0].data
