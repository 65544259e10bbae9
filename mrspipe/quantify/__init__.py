"""Quantification: metabolite ratios and water-scaled concentrations.

* :mod:`~mrspipe.quantify.options`: :class:`QuantifyOptions` (``[quantify]``) and
  :func:`describe`, the report's sentence on how concentrations were quantified.
* :mod:`~mrspipe.quantify.ratio`: :func:`ratios`, concentration ratios to ``tCr`` or ``tNAA``
  (or any metabolite/sum) with their SD propagated from the CRLB covariance.
* :mod:`~mrspipe.quantify.water`: :func:`water_scaled`, millimolar concentrations from an
  unsuppressed water reference (:func:`fit_water`) with T1/T2 relaxation corrections and,
  optionally, GM/WM/CSF volume fractions (Gasparovic et al. 2006).
* :mod:`~mrspipe.quantify.table`: :func:`concentration_table`, the concentration columns of a
  long ``fits.tsv`` table.
"""

from __future__ import annotations

from ..data import GAMMA_1H_MHZ_PER_T as GAMMA_1H_MHZ_PER_T  # its home; kept importable here
from ..uncertainty import ratio_sd
from .options import UNITS, QuantifyOptions, describe
from .ratio import ratios
from .table import concentration_table
from .water import (
    PURE_WATER_MM,
    WATER_DENSITY,
    WATER_RELAXATION_3T,
    fit_water,
    metabolite_relaxation_times,
    relaxation_factor,
    water_scaled,
)

__all__ = [
    "QuantifyOptions",
    "ratio_sd",
    "PURE_WATER_MM",
    "WATER_DENSITY",
    "WATER_RELAXATION_3T",
    "UNITS",
    "metabolite_relaxation_times",
    "concentration_table",
    "describe",
    "ratios",
    "relaxation_factor",
    "fit_water",
    "water_scaled",
]
