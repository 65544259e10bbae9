"""LCModel's default simulated macromolecule and lipid components, for an MM-free basis.

LCModel adds these Gaussian components (``CHSIMU``) unless told otherwise; each is a sum of
Gaussian lines ``(ppm, FWHM ppm, protons)`` (Provencher, LCModel & LCMgui user's manual,
section 11.7). :func:`mrspipe.fit.problem.with_default_macromolecules` appends them to a basis
without any macromolecule or lipid spectrum.

References
----------
Provencher SW. LCModel & LCMgui user's manual (2021), section 11.7.
"""

from __future__ import annotations

import numpy as np

from ..data import Basis
from ..spectral import GAUSS_FWHM_FACTOR

__all__ = ["LCMODEL_COMPONENTS", "default_components"]

#: component name -> tuple of (ppm, FWHM ppm, protons)
LCMODEL_COMPONENTS: dict[str, tuple[tuple[float, float, float], ...]] = {
    "MM09": ((0.91, 0.14, 3.0),),
    "MM12": ((1.21, 0.15, 2.0),),
    "MM14": ((1.43, 0.17, 2.0),),
    "MM17": ((1.67, 0.15, 2.0),),
    "MM20": ((2.08, 0.15, 1.33), (2.25, 0.20, 0.33), (1.95, 0.15, 0.33), (3.00, 0.20, 0.40)),
    "Lip09": ((0.89, 0.14, 3.0),),
    "Lip13a": ((1.28, 0.15, 2.0),),
    "Lip13b": ((1.28, 0.089, 2.0),),
    "Lip20": ((2.04, 0.15, 1.33), (2.25, 0.15, 0.67), (2.80, 0.20, 0.87)),
}


def default_components(basis: Basis) -> Basis:
    """Build the components on the grid of ``basis`` (one proton at t = 0 -> 1).

    Returns
    -------
    Basis
        Names of :data:`LCMODEL_COMPONENTS`, FIDs ``(9, n_points)`` complex.
    """
    assert basis.ppm_reference is not None
    t = np.arange(basis.n_points) * basis.dwell_time
    fids = []
    for lines in LCMODEL_COMPONENTS.values():
        arr = np.asarray(lines, dtype=float)
        offset = (arr[:, :1] - basis.ppm_reference) * basis.spectrometer_frequency
        fwhm = arr[:, 1:2] * basis.spectrometer_frequency
        decay = np.exp(-((np.pi * fwhm * t) ** 2) * GAUSS_FWHM_FACTOR)
        fids.append((arr[:, 2:3] * decay * np.exp(2j * np.pi * offset * t)).sum(axis=0))
    return Basis(
        names=tuple(LCMODEL_COMPONENTS),
        fids=np.array(fids),
        dwell_time=basis.dwell_time,
        spectrometer_frequency=basis.spectrometer_frequency,
        nucleus=basis.nucleus,
        ppm_reference=basis.ppm_reference,
        source="LCModel default components",
    )
