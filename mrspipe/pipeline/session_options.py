"""Options of a session run: everything a session needs besides its data."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..dynamic.options import Windows
from ..fit.options import FitOptions
from ..preprocess.options import PreprocessOptions
from ..quantify import QuantifyOptions

__all__ = ["SessionOptions"]


@dataclass(frozen=True)
class SessionOptions:
    """Everything a session needs besides its data; the same for every session of a run.

    Parameters
    ----------
    out : Path
        Output folder of the study run.
    preprocess : PreprocessOptions
    fit : FitOptions
    windows : Windows
        Time 0 (``event``) and the baseline and response windows.
    quantify : QuantifyOptions
        Water scaling of the estimates (needs the session's water reference).
    basis_fingerprint : dict
        :func:`mrspipe.io.derivatives.file_fingerprint` of the basis set.
    overwrite : bool
        Recompute even when ``done.json`` says the session is up to date.
    version : str
        mrspipe version, part of the fit key.
    covariance_names : tuple of str
        Metabolites whose covariances ``covariance.tsv`` keeps besides the time-course
        ratios' (the ``[pooling]`` metabolites).
    """

    out: Path
    preprocess: PreprocessOptions = field(default_factory=PreprocessOptions)
    fit: FitOptions = field(default_factory=FitOptions)
    windows: Windows = field(default_factory=Windows)
    quantify: QuantifyOptions = field(default_factory=QuantifyOptions)
    basis_fingerprint: dict[str, Any] = field(default_factory=dict)
    overwrite: bool = False
    version: str = ""
    covariance_names: tuple[str, ...] = ()
