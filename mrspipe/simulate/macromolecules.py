"""Macromolecule components as parameterised Gaussians at published 3 T positions.

Each component is a sum of Gaussian lines ``(ppm, fwhm_ppm, protons)``. MM09-MM20 follow the
LCModel defaults (Provencher, LCModel & LCMgui user's manual, section on simulated
macromolecules and lipids, ``CHSIMU``); MM30, MM32 and MM38 are the smaller resonances near
3.0, 3.2 and 3.8 ppm reported by Behar et al. 1994 and in the experts' consensus (Cudalbu et
al. 2021). Widths are in ppm so the same set serves any field.

References
----------
Behar KL, Rothman DL, Spencer DD, Petroff OAC. Analysis of macromolecule resonances in 1H NMR
spectra of human brain. Magn Reson Med 1994;32:294-302.
Cudalbu C, Behar KL, Bhattacharyya PK, et al. Contribution of macromolecules to brain 1H MR
spectra: experts' consensus recommendations. NMR Biomed 2021;34:e4393.
Provencher SW. LCModel & LCMgui user's manual (2021), section 11.7.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from ..data import Basis, default_ppm_reference
from ..errors import SimulationError
from ..spectral import GAUSS_FWHM_FACTOR

__all__ = [
    "MACROMOLECULES",
    "LIPIDS",
    "DEFAULT_MM_AMPLITUDES",
    "macromolecule_basis",
    "gaussian_fids",
]

#: component name -> tuple of (ppm, FWHM ppm, protons)
MACROMOLECULES: dict[str, tuple[tuple[float, float, float], ...]] = {
    "MM09": ((0.91, 0.14, 3.0),),
    "MM12": ((1.21, 0.15, 2.0),),
    "MM14": ((1.43, 0.17, 2.0),),
    "MM17": ((1.67, 0.15, 2.0),),
    "MM20": ((2.08, 0.15, 1.33), (2.25, 0.20, 0.33), (1.95, 0.15, 0.33)),
    "MM30": ((3.00, 0.20, 0.40),),
    "MM32": ((3.20, 0.15, 0.30),),
    "MM38": ((3.80, 0.20, 1.00),),
}

#: LCModel's lipid components (``CHSIMU`` defaults; Provencher, LCModel manual section 11.7),
#: for simulating lipid contamination; same format.
LIPIDS: dict[str, tuple[tuple[float, float, float], ...]] = {
    "Lip09": ((0.89, 0.14, 3.0),),
    "Lip13a": ((1.28, 0.15, 2.0),),
    "Lip13b": ((1.28, 0.089, 2.0),),
    "Lip20": ((2.04, 0.15, 1.33), (2.25, 0.15, 0.67), (2.80, 0.20, 0.87)),
}

#: Amplitudes (mM-equivalent, per the basis normalisation) giving an in-vivo-like 3 T
#: short-TE macromolecule baseline relative to NAA ~ 12 mM.
DEFAULT_MM_AMPLITUDES: dict[str, float] = {
    "MM09": 3.0,
    "MM12": 3.0,
    "MM14": 3.5,
    "MM17": 2.0,
    "MM20": 6.0,
    "MM30": 2.0,
    "MM32": 1.5,
    "MM38": 2.0,
}


def gaussian_fids(
    lines: Sequence[tuple[float, float, float]],
    *,
    field_mhz: float,
    dwell_time: float,
    n_points: int,
    ppm_reference: float = 4.65,
) -> np.ndarray:
    """FID of a sum of Gaussian lines, ``(n_points,)`` complex, one proton at t = 0 -> 1.

    Parameters
    ----------
    lines : sequence of (ppm, fwhm_ppm, protons)
    field_mhz : float, MHz
    dwell_time : float, s
    n_points : int
    ppm_reference : float, ppm

    Returns
    -------
    (n_points,) complex ndarray
    """
    t = np.arange(n_points) * dwell_time
    arr = np.asarray(lines, dtype=float).reshape(-1, 3)
    offset = (arr[:, :1] - ppm_reference) * field_mhz
    fwhm = arr[:, 1:2] * field_mhz
    decay = np.exp(-((np.pi * fwhm * t) ** 2) * GAUSS_FWHM_FACTOR)
    return (arr[:, 2:3] * decay * np.exp(2j * np.pi * offset * t)).sum(axis=0)


def macromolecule_basis(
    names: Sequence[str] | None = None,
    *,
    field_mhz: float = 123.2,
    dwell_time: float = 2.5e-4,
    n_points: int = 2048,
    components: Mapping[str, Sequence[tuple[float, float, float]]] | None = None,
    ppm_reference: float | None = None,
) -> Basis:
    """Basis spectra of the macromolecule components.

    Parameters
    ----------
    names : sequence of str, optional
        Components of :data:`MACROMOLECULES` (default all).
    field_mhz : float, MHz
    dwell_time : float, s
    n_points : int
    components : mapping of name to lines, optional
        The component table (default :data:`MACROMOLECULES` and :data:`LIPIDS`).
    ppm_reference : float, ppm, optional
        Receiver reference (default 4.65).

    Returns
    -------
    Basis
        One Gaussian-sum FID per component, ppm reference 4.65.

    Raises
    ------
    SimulationError
        For an unknown component name or a non-positive field, dwell time or size.
    """
    table = {**MACROMOLECULES, **LIPIDS} if components is None else components
    names = list(MACROMOLECULES if names is None else names)
    unknown = [n for n in names if n not in table]
    if unknown:
        raise SimulationError(
            f"unknown macromolecule component(s) {', '.join(unknown)}; known: {', '.join(table)}"
        )
    if not (field_mhz > 0 and dwell_time > 0 and n_points > 0):
        raise SimulationError("field_mhz, dwell_time and n_points must be positive")
    ref = default_ppm_reference("1H") if ppm_reference is None else float(ppm_reference)
    fids = (
        np.stack(
            [
                gaussian_fids(
                    table[n],
                    field_mhz=field_mhz,
                    dwell_time=dwell_time,
                    n_points=int(n_points),
                    ppm_reference=ref,
                )
                for n in names
            ]
        )
        if names
        else np.zeros((0, int(n_points)), complex)
    )
    return Basis(
        names=tuple(names),
        fids=fids,
        dwell_time=float(dwell_time),
        spectrometer_frequency=float(field_mhz),
        ppm_reference=ref,
        meta={"simulated": True, "macromolecules": {n: tuple(table[n]) for n in names}},
        source="mrspipe.simulate.macromolecules",
    )
