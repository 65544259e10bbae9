"""Linear-combination fitting of MRS spectra, batched over frames.

:func:`fit_spectra` fits every frame of an :class:`~mrspipe.data.MRSData` with a basis set
(batched variable projection on numpy arrays, or one frame at a time with lmfit as the
cross-check) and returns a :class:`FitResult` with concentrations, CRLBs (with covariance and
the sums tNAA, tCr, tCho, Glx) and per-frame QC. :func:`fit_dynamic` fits all frames of a
session with one spectro-temporal model (concentrations and lineshapes on named regressors).
A lineshape model is one entry of :data:`LINESHAPES` (:func:`register_lineshape`,
:mod:`mrspipe.fit.lineshape_models`).
"""

from typing import Any

from .estimates import Estimates
from .fitting import BACKENDS, fit_spectra, lipid_phase_test
from .lineshape_models import LINESHAPES, LineshapeModel, WidthParameter, register_lineshape
from .options import FitOptions
from .result import FitResult

__all__ = [
    "fit_spectra",
    "lipid_phase_test",
    "Estimates",
    "FitOptions",
    "FitResult",
    "BACKENDS",
    "LINESHAPES",
    "LineshapeModel",
    "WidthParameter",
    "register_lineshape",
    "fit_dynamic",
    "DynamicFitResult",
]


def __getattr__(name: str) -> Any:
    # the joint dynamic fitter needs pandas: import it only when asked for
    if name in ("fit_dynamic", "DynamicFitResult"):
        from . import dynamic

        return getattr(dynamic, name)
    raise AttributeError(f"module 'mrspipe.fit' has no attribute {name!r}")
