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
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..data import MRSData
from ..errors import ConfigError, MissingExtraError, MRSFormatError
from ._vendor_files import (
    _DICOM_BY_MANUFACTURER,
    MAPPING_COLUMNS,
    VENDOR_KINDS,
    _is_dicom_file,
    detect_vendor_kind,
    find_vendor_sources,
    read_mapping,
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

_NOTE = "MRSPIPE-NOTE:"
_OUT_STEM = "data"

# Runs spec2nii's command line in a fresh interpreter. Its one patch makes the orientation of
# enhanced Philips DICOM optional: spec2nii 0.8 assumes three VolumeLocalizationSequence items
# and crashes on files with fewer; the spectra are read by spec2nii as usual and the default
# affine spec2nii uses for unknown orientations is written instead (reported as a note).
_DRIVER = """
import sys, warnings
warnings.simplefilter("ignore")
try:
    if sys.argv[1] not in ("philips_dcm", "philips_dl"):
        raise ImportError  # only these reach the patched function; skip the slow imports
    import numpy as np
    from spec2nii.Philips import philips_dcm
    from spec2nii.nifti_orientation import NIFTIOrient
    _orig = philips_dcm._enhanced_dcm_svs_to_orientation
    def _tolerant(img, verbose=False):
        try:
            return _orig(img, verbose)
        except (IndexError, AttributeError, KeyError) as exc:
            sys.stderr.write("%s voxel orientation unreadable (%r); default affine written\\n"
                             % (NOTE, exc))
            return NIFTIOrient(np.diag([10000.0, 10000.0, 10000.0, 1.0]))
    philips_dcm._enhanced_dcm_svs_to_orientation = _tolerant
except Exception:
    pass
from spec2nii.spec2nii import main
sys.argv = ["spec2nii"] + sys.argv[1:]
sys.exit(main())
""".replace("NOTE", repr(_NOTE))


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


def _require_spec2nii() -> None:
    try:
        import spec2nii  # noqa: F401
    except ImportError:
        raise MissingExtraError(
            'vendor raw data need spec2nii: pip install "mrspipe[vendor]"'
        ) from None


def _resolve_dicom(path: Path) -> str:
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


def _run_spec2nii(args: list[str], out_dir: Path, source: Path, timeout: float) -> list[str]:
    cmd = [sys.executable, "-c", _DRIVER, *args, "-o", str(out_dir), "-f", _OUT_STEM]
    logger.debug("running spec2nii %s", " ".join(args))
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise MRSFormatError(f"spec2nii {args[0]} took longer than {timeout:g} s", source) from None
    notes = [ln[len(_NOTE) :].strip() for ln in proc.stderr.splitlines() if ln.startswith(_NOTE)]
    if proc.returncode != 0:
        lines = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip()]
        reason = lines[-1] if lines else f"exit status {proc.returncode}"
        raise MRSFormatError(f"spec2nii {args[0]} could not convert it: {reason}", source)
    return notes


def fix_dim_tags(path: str | os.PathLike[str]) -> list[str]:
    """Make the dimension tags of a converted NIfTI-MRS file fit fMRS, rewriting it in place.

    The one unambiguous repair: adjacent higher dimensions that are *both* tagged ``DIM_DYN``
    (spec2nii's twix defaults map Siemens ``Ave``, ``Rep`` and ``Set`` all to ``DIM_DYN``) are
    merged into one ``DIM_DYN`` of all transients, the earlier dimension varying fastest
    (NIfTI order). Coils are already on ``DIM_COIL`` in every spec2nii converter. Other
    duplicated tags cannot be resolved and raise.

    Parameters
    ----------
    path : str or path-like
        A temporary NIfTI-MRS file (never an input: it is overwritten).

    Returns
    -------
    list of str
        What was changed, for the log (empty when nothing was).
    """
    import nibabel as nib
    import numpy as np

    from .nifti_format import DEFAULT_TAGS, MRS_EXT_CODE, read_header_extension

    img: Any = nib.load(os.fspath(path))
    hdr = read_header_extension(img, os.fspath(path))
    ndim = len(img.shape)
    tags = [hdr.get(f"dim_{d}", DEFAULT_TAGS[d]) for d in range(5, ndim + 1)]
    notes: list[str] = []
    data = None
    i = 0
    while i < len(tags) - 1:
        if tags[i] == tags[i + 1] == "DIM_DYN":
            if data is None:
                data = np.asanyarray(img.dataobj)
            axis = 4 + i
            shape = data.shape
            merged = shape[:axis] + (shape[axis] * shape[axis + 1],) + shape[axis + 2 :]
            data = data.reshape(merged, order="F")
            d = 5 + i
            notes.append(
                f"dim_{d} and dim_{d + 1} were both DIM_DYN ({shape[axis]} x {shape[axis + 1]}); "
                f"merged into one DIM_DYN of {merged[axis]} transients, dim_{d} varying fastest"
            )
            for key in (
                f"dim_{d + 1}",
                f"dim_{d + 1}_info",
                f"dim_{d + 1}_header",
                f"dim_{d}_header",
            ):
                hdr.pop(key, None)
            for later in range(d + 2, ndim + 1):  # shift the higher dims down by one
                for suffix in ("", "_info", "_header"):
                    if f"dim_{later}{suffix}" in hdr:
                        hdr[f"dim_{later - 1}{suffix}"] = hdr.pop(f"dim_{later}{suffix}")
            del tags[i + 1]
            ndim -= 1
        else:
            i += 1
    if len(set(tags)) != len(tags):
        raise MRSFormatError(
            f"spec2nii tagged the dimensions {tags}; a tag is repeated and mrspipe cannot tell "
            "which axis is which: convert with spec2nii directly, choosing the tags",
            path,
        )
    if data is not None:
        import json

        new = nib.Nifti2Image(data, img.affine, header=img.header)
        new.header.extensions.clear()
        new.header.extensions.append(
            nib.nifti1.Nifti1Extension(MRS_EXT_CODE, json.dumps(hdr).encode("utf-8"))
        )
        nib.save(new, os.fspath(path))
    return notes


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
        kind = _resolve_dicom(source)
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
