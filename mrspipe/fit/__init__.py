"""Linear-combination fitting of MRS spectra, batched over frames.

:func:`fit_spectra` fits every frame of an :class:`~mrspipe.data.MRSData` with a basis set
(batched variable projection on numpy arrays, or one frame at a time with lmfit as the
cross-check) and returns a :class:`FitResult` with concentrations, CRLBs (with covariance and
the sums tNAA, tCr, tCho, Glx) and per-frame QC.
"""

from .dynamic import DynamicFitResult, fit_dynamic
from .fitting import BACKENDS, fit_spectra
from .result import FitResult

__all__ = ["fit_spectra", "FitResult", "BACKENDS", "fit_dynamic", "DynamicFitResult"]
