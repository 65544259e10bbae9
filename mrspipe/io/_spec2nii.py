"""Running spec2nii in a subprocess and repairing the dimension tags of what it writes.

Part of :mod:`mrspipe.io.vendor` (import from there).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from ..errors import MissingExtraError, MRSFormatError

__all__ = ["fix_dim_tags"]

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


def _require_spec2nii() -> None:
    try:
        import spec2nii  # noqa: F401
    except ImportError:
        raise MissingExtraError(
            'vendor raw data need spec2nii: pip install "mrspipe[vendor]"'
        ) from None


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
