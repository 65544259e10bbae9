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

import math
import os
from pathlib import Path

import numpy as np

from .._logging import logger
from ..data import Basis, MRSData, default_ppm_reference
from ..errors import BasisMismatchError, MRSFormatError
from ..spectral import is_flipped, orientation_score
from ._limits import named_input_errors
from .basis_formats import BASIS_READERS, BASIS_WRITERS, detect_basis_format

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


@named_input_errors("basis set")
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
    overrides = {
        "dwell_time": dwell_time,
        "spectrometer_frequency": spectrometer_frequency,
        "echo_time": echo_time,
    }
    for key, value in overrides.items():
        if value is not None:
            if rec.get(key) is not None and not np.isclose(rec[key], value, rtol=1e-6):
                logger.info("%s: %s %g from the file replaced by %g", path, key, rec[key], value)
            rec[key] = float(value)
    for key, kwarg in (
        ("dwell_time", "dwell_time"),
        ("spectrometer_frequency", "spectrometer_frequency"),
    ):
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
    bad = [n for n, ok in zip(rec["names"], np.isfinite(fids).all(axis=-1), strict=True) if not ok]
    if bad:
        raise MRSFormatError(f"basis spectra hold NaN or infinite values: {bad}", path)
    for key in ("dwell_time", "spectrometer_frequency"):
        if not (math.isfinite(rec[key]) and rec[key] > 0):
            raise MRSFormatError(f"basis {key.replace('_', ' ')} {rec[key]} is not plausible", path)
    meta = dict(rec.get("meta", {}))
    meta.setdefault("metabolites", list(rec["names"]))
    meta["conjugated_on_load"] = False
    if nuc == "1H":
        grid = (rec["dwell_time"], rec["spectrometer_frequency"], ref)
        score = orientation_score(fids, *grid)
        meta["orientation_score"] = score
        if is_flipped(fids, *grid, threshold=ORIENTATION_THRESHOLD):
            logger.warning(
                "%s: basis looks frequency-flipped (orientation score %.2f); conjugated it to "
                "mrspipe's convention",
                path,
                score,
            )
            fids = np.conj(fids)
            meta["conjugated_on_load"] = True
        elif abs(score) <= ORIENTATION_THRESHOLD:
            logger.info(
                "%s: basis orientation undecidable (score %.2f); kept the %s convention",
                path,
                score,
                fmt,
            )
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
            f"{100 * field_tolerance:.0f} %); use a basis simulated for this field",
            src,
        )
    lo, hi = sorted(ppm_range)
    for what, ppm in (("basis", basis.ppm), ("data", data.ppm)):
        if ppm.min() > lo or ppm.max() < hi:
            raise BasisMismatchError(
                f"the {what} spans {ppm.min():.2f}-{ppm.max():.2f} ppm, which does not cover "
                f"the fit range {lo}-{hi} ppm",
                src,
            )
    if data.nucleus == "1H":
        assert data.ppm_reference is not None and basis.ppm_reference is not None
        if is_flipped(
            data.fids,
            data.dwell_time,
            data.spectrometer_frequency,
            data.ppm_reference,
            threshold=ORIENTATION_THRESHOLD,
        ):
            raise BasisMismatchError(
                "the data look frequency-flipped (metabolites mirrored about the receiver "
                "centre); the file's handedness is wrong or it was conjugated twice",
                data.source,
            )
        if is_flipped(
            basis.fids,
            basis.dwell_time,
            basis.spectrometer_frequency,
            basis.ppm_reference,
            threshold=ORIENTATION_THRESHOLD,
        ):
            raise BasisMismatchError("the basis looks frequency-flipped", basis.source)
