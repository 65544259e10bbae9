"""mrspipe: time-resolved (functional) MR spectroscopy of glutamate.

The public API is re-exported here and imported lazily, so ``import mrspipe`` stays cheap.

>>> import mrspipe
>>> data = mrspipe.load_mrs("sub-01_ses-1_svs.nii.gz")          # doctest: +SKIP
>>> basis = mrspipe.load_basis("press3T_30ms.BASIS")             # doctest: +SKIP
>>> result = mrspipe.fit_spectra(data, basis)                    # doctest: +SKIP
>>> result.table().head()                                        # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import Any

from ._version import __version__

#: public name -> module that defines it
_API: dict[str, str] = {
    "MRSData": "mrspipe.data",
    "Basis": "mrspipe.data",
    "MRSError": "mrspipe.errors",
    "MRSFormatError": "mrspipe.errors",
    "BasisMismatchError": "mrspipe.errors",
    "load_mrs": "mrspipe.io.nifti_mrs",
    "save_mrs": "mrspipe.io.nifti_mrs",
    "load_basis": "mrspipe.io.basis",
    "save_basis": "mrspipe.io.basis",
    "resample_basis": "mrspipe.spectral",
    "load_vendor": "mrspipe.io.vendor",
    "simulate_basis": "mrspipe.simulate",
    "simulate_spectra": "mrspipe.simulate",
    "simulate_study": "mrspipe.simulate",
    "find_sessions": "mrspipe.io.bids",
    "fit_spectra": "mrspipe.fit",
    "FitResult": "mrspipe.fit",
    "fit_dynamic": "mrspipe.fit.dynamic",
    "DynamicFitResult": "mrspipe.fit.dynamic",
    "preprocess": "mrspipe.preprocess",
}

__all__ = ["__version__", *_API]


def __getattr__(name: str) -> Any:
    if name in _API:
        module = importlib.import_module(_API[name])
        return module if name == module.__name__.rsplit(".", 1)[-1] else getattr(module, name)
    raise AttributeError(f"module 'mrspipe' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
