"""What :func:`~mrspipe.fit.fitting.fit_spectra` settles before it fits a frame.

:func:`prepare` checks the keywords, collects the model's build options and makes the choices
taken on the mean of the frames before the frames are fitted (the F-test baseline stiffness,
``lipid_phase='auto'``). :func:`~mrspipe.fit.fitting.lipid_phase_test` stops there: the
decision of ``lipid_phase='auto'`` without fitting the frames (the pipeline's pre-pass, which
decides once for all sessions of a participant or of the study).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..data import Basis, MRSData
from ..errors import ConfigError
from .backends import BACKEND_OPTIONS, BACKENDS
from .lineshape_models import get_lineshape
from .prefit import Prefit, auto_lipid_phase, ftest_dof
from .stiffness import STIFFNESS

__all__ = ["Setup", "prepare", "BUILD_KEYS"]

#: keywords of ``fit_spectra`` that :func:`~mrspipe.fit.problem.build_problem` takes
BUILD_KEYS = (
    "ppm_range",
    "baseline",
    "baseline_order",
    "baseline_knot_spacing",
    "groups",
    "lineshape",
    "max_shift_hz",
    "default_macromolecules",
    "default_lipids",
    "mm_priors",
    "lipid_phase",
)


@dataclass
class Setup:
    """The checked keywords of one ``fit_spectra`` call and the choices made on the mean.

    Attributes
    ----------
    build : dict
        Keywords of :func:`~mrspipe.fit.problem.build_problem` (:data:`BUILD_KEYS`);
        ``lipid_phase`` is ``'free'`` or ``'metabolites'`` after :func:`prepare`.
    prefit : Prefit
        The frames, their mean and how it is fitted.
    start : dict of str to float
        Start values of the widths by their reported names, Hz.
    baseline_dof : float or None
        The spline baseline's effective dimension (chosen by F-test with ``'ftest'``).
    lipid_test : dict
        ``lipid_phase='auto'``'s test on the mean (``phase_rad, chi2, dof, p``; empty: not
        tested).
    options : dict
        The backend's extra options.
    """

    build: dict[str, Any]
    prefit: Prefit
    start: dict[str, float]
    baseline_dof: float | None
    lipid_test: dict[str, float]
    options: dict[str, Any]


def prepare(data: MRSData, basis: Basis, args: Mapping[str, Any]) -> Setup:
    """Check ``fit_spectra``'s keywords (``args``, by name) and decide what the mean decides.

    Raises
    ------
    ConfigError
        An unknown backend, stiffness or option, or a value out of range.
    """
    backend, stiffness = args["backend"], args["baseline_stiffness"]
    options = dict(args.get("options") or {})
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}; choose from {sorted(BACKENDS)}")
    if stiffness not in STIFFNESS:
        raise ConfigError(
            f"unknown baseline_stiffness {stiffness!r}; choose from {list(STIFFNESS)}"
        )
    if stiffness == "ftest" and args["baseline"] != "spline":
        raise ConfigError(
            f"baseline_stiffness='ftest' chooses the spline baseline's stiffness; "
            f"baseline={args['baseline']!r} has none (use baseline='spline' or baseline_order)"
        )
    # start values of a registered lineshape's widths by their reported names (``lor_hz``)
    widths = {w.report for w in get_lineshape(args["lineshape"]).widths}
    start = {k: args[k] for k in ("lorentz_hz", "gauss_hz") if args[k] is not None}
    start.update({k: options.pop(k) for k in sorted(widths & set(options))})
    unknown = sorted(set(options) - set(BACKEND_OPTIONS.get(backend, ())))
    if unknown:  # a misspelt keyword is refused, not silently ignored
        raise ConfigError(
            f"fit_spectra got unknown option(s) {', '.join(map(repr, unknown))} for the "
            f"{backend} backend (extra options it takes: {list(BACKEND_OPTIONS[backend])})"
        )
    if args["chunk_size"] < 1:
        raise ConfigError(f"chunk_size must be >= 1, got {args['chunk_size']}")
    if args["threads"] is not None and args["threads"] < 1:
        raise ConfigError(f"threads must be >= 1, got {args['threads']}")
    build = {k: args[k] for k in BUILD_KEYS}
    prefit = Prefit(data, start, args["max_iter"], args["ftol"])  # fits of the mean
    baseline_dof = args["baseline_dof"]
    if stiffness == "ftest" and args["baseline"] == "spline":
        baseline_dof = ftest_dof(prefit, basis, build)
    lipid_test: dict[str, float] = {}
    if build["lipid_phase"] == "auto":
        build["lipid_phase"], lipid_test = auto_lipid_phase(prefit, basis, build, baseline_dof)
    return Setup(build, prefit, start, baseline_dof, lipid_test, options)
