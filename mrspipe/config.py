"""Study configuration: ``study.toml`` parsed with :mod:`tomllib` and checked against a registry.

Every key mrspipe understands is listed once in :data:`REGISTRY` with its default, a checker
and a one-line description (``docs/config.md`` is the same list in prose). Unknown sections,
unknown keys and bad values raise :class:`~mrspipe.errors.ConfigError` naming the file and the
key, before any work starts.

>>> from mrspipe.config import config_from_dict
>>> cfg = config_from_dict({"preprocess": {"block": 16}, "windows": {"baseline": [-600, 0]}})
>>> cfg.preprocess["block"], cfg.windows["baseline"]
(16, (-600.0, 0.0))
"""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ConfigError

__all__ = ["Option", "REGISTRY", "StudyConfig", "load_config", "config_from_dict", "defaults"]

Checker = Callable[[Any], Any]


@dataclass(frozen=True)
class Option:
    """One configuration key.

    Parameters
    ----------
    default : object
        Value used when the key is absent (``None`` = "not set", described in ``doc``).
    check : callable
        ``check(value) -> value`` normalises a TOML value or raises ``ValueError`` with the
        reason.
    doc : str
        One-line description, with units.
    """

    default: Any
    check: Checker
    doc: str


# -- checkers -------------------------------------------------------------------------------


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def _int(minimum: int) -> Checker:
    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"expected an integer >= {minimum}, got {value!r}")
        return int(value)

    return check


def _float(minimum: float = -math.inf, maximum: float = math.inf) -> Checker:
    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"expected a number, got {value!r}")
        if not (minimum <= value <= maximum) or math.isnan(value):
            raise ValueError(f"expected a number in [{minimum}, {maximum}], got {value!r}")
        return float(value)

    return check


def _choice(*choices: str) -> Checker:
    def check(value: Any) -> str:
        if value not in choices:
            raise ValueError(f"expected one of {', '.join(map(repr, choices))}, got {value!r}")
        return str(value)

    return check


def _string(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"expected a non-empty string, got {value!r}")
    return value.strip()


def _optional_string(value: Any) -> str | None:
    return None if value is None else _string(value)


def _strings(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"expected a list of names, got {value!r}")
    if len(set(value)) != len(value):
        raise ValueError(f"names repeat in {value!r}")
    return tuple(value)


def _interval(value: Any) -> tuple[float, float] | None:
    """Check a pair ``[a, b]`` with ``a < b`` (s or ppm); ``None`` stays unset."""
    if value is None:
        return None
    if (
        not isinstance(value, list | tuple)
        or len(value) != 2
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    ):
        raise ValueError(f"expected two numbers [start, end], got {value!r}")
    a, b = float(value[0]), float(value[1])
    if not a < b:
        raise ValueError(f"start must be before end, got [{a:g}, {b:g}]")
    return (a, b)


def _pair(value: Any) -> tuple[str, str] | None:
    if value is None:
        return None
    names = _strings(value)
    if len(names) != 2:
        raise ValueError(f"expected two condition names [active, control], got {value!r}")
    return (names[0], names[1])


# -- the registry ---------------------------------------------------------------------------

#: section -> key -> Option. The single list of every study.toml key.
REGISTRY: dict[str, dict[str, Option]] = {
    "preprocess": {
        "coil_method": Option(
            "svd",
            _choice("svd", "water", "sum"),
            "coil combination (when the data have a coil axis): noise-whitened SVD, "
            "water-weighted, or plain sum",
        ),
        "eddy_current": Option(
            True, _bool, "eddy-current correction (Klose) when a water reference is given"
        ),
        "remove_water": Option(True, _bool, "remove residual water with HLSVD"),
        "water_band": Option((4.5, 4.9), _interval, "band of the removed HLSVD components, ppm"),
        "hlsvd_components": Option(20, _int(1), "number of HLSVD components"),
        "water_model": Option(
            "shared",
            _choice("shared", "per_transient"),
            "HLSVD once on the aligned mean with per-transient amplitudes (fast), or a full "
            "HLSVD of every transient",
        ),
        "align": Option(True, _bool, "frequency and phase alignment (spectral registration)"),
        "align_range": Option((1.8, 4.2), _interval, "band used for the alignment, ppm"),
        "align_reference": Option(
            "median", _choice("median", "mean"), "how the alignment reference is formed"
        ),
        "align_window": Option(
            1,
            _int(1),
            "align moving averages of this many transients (very low SNR); 1 = single transients",
        ),
        "reject": Option(True, _bool, "reject outlier transients"),
        "reject_threshold": Option(
            4.0, _float(0.5), "rejection limit, robust z-score of the transient metrics"
        ),
        "reference_ppm": Option(True, _bool, "shift so NAA is at 2.008 ppm and Cr at 3.027 ppm"),
        "block": Option(16, _int(1), "transients averaged into one frame (non-overlapping)"),
        "window": Option(
            0, _int(0), "sliding-window length in transients; 0 = off, else replaces block"
        ),
        "step": Option(1, _int(1), "sliding-window step in transients"),
        "linewidth_match": Option(
            "none",
            _choice("none", "lorentz", "gauss"),
            "broaden every frame to the broadest one with this lineshape; none = off",
        ),
    },
    "fit": {
        "backend": Option("numpy", _choice("numpy", "lmfit"), "fitting engine"),
        "ppm_range": Option((0.2, 4.2), _interval, "fitted chemical-shift range, ppm"),
        "baseline": Option(
            "spline",
            _choice("spline", "poly"),
            "baseline model: regularised cubic B-spline or Legendre polynomial",
        ),
        "baseline_knot_spacing": Option(
            0.2, _float(0.01, 5.0), "spline baseline knot spacing, ppm"
        ),
        "baseline_order": Option(2, _int(0), "polynomial baseline order"),
        "dynamic": Option(
            False,
            _bool,
            "fit all frames of a session jointly (spectro-temporal) instead of frame by frame",
        ),
        "metabolites": Option(
            (), _strings, "basis metabolites to fit; empty = every metabolite of the basis"
        ),
    },
    "windows": {
        "event": Option(
            None,
            _optional_string,
            "events.tsv trial_type (case-insensitive substring) whose first onset is time 0; "
            "unset = the first event whose trial_type contains 'infusion', else the first event",
        ),
        "baseline": Option(
            None,
            _interval,
            "baseline window [start, end], s from the onset; unset = every frame before the onset",
        ),
        "response": Option(
            None,
            _interval,
            "response window [start, end], s from the onset; unset = every frame after the onset",
        ),
    },
    "conditions": {
        "contrast": Option(
            None,
            _pair,
            "[active, control]: the paired contrast is active - control; unset = "
            "inferred (the condition called placebo is the control)",
        ),
    },
    "metabolites": {
        "analyse": Option(
            ("Glu", "Gln", "Glx", "tNAA", "tCr", "tCho", "Glx/tNAA", "Glu/tNAA"),
            _strings,
            "metabolites carried into the group tables, statistics and report",
        ),
        "primary": Option("Glu", _string, "the metabolite the report and demo summary lead with"),
    },
    "stats": {
        "mixed_model": Option(
            True, _bool, "also fit the linear mixed model condition x time x sex"
        ),
        "ci_level": Option(0.95, _float(0.5, 0.999), "confidence level of the intervals"),
    },
    "glm": {
        "enabled": Option(True, _bool, "fit a GLM to every session's time courses"),
        "regressor": Option(
            "ramp",
            _choice("ramp", "boxcar", "exponential", "hrf"),
            "response regressor from the infusion event: linear rise over the infusion then "
            "plateau, boxcar, first-order exponential rise (time constant tau_s), or the "
            "HRF-convolved boxcar",
        ),
        "tau_s": Option(300.0, _float(1.0), "time constant of the exponential regressor, s"),
        "drift_order": Option(
            0,
            _int(0),
            "Legendre drift terms (note: a linear drift is nearly collinear with a "
            "ramp over a short scan)",
        ),
    },
    "clinical": {
        "score": Option(
            "madrs",
            _string,
            "phenotype/<score>.tsv holds clinical scores (used when present; "
            "the score column is <score> or score)",
        ),
        "baseline_timepoint": Option(
            "baseline", _string, "timepoint label of the pre-treatment score"
        ),
    },
    "report": {
        "title": Option("mrspipe study report", _string, "title of report.html"),
    },
}


@dataclass(frozen=True)
class StudyConfig:
    """Validated study options, one dict per section of :data:`REGISTRY` (every key present).

    Parameters
    ----------
    preprocess, fit, windows, conditions, metabolites, stats, glm, clinical, report : dict
        Section values, defaults filled in. Intervals are ``(start, end)`` float tuples, lists
        of names are tuples.
    source : str, optional
        The file it was read from, for messages.
    """

    preprocess: dict[str, Any] = field(default_factory=dict)
    fit: dict[str, Any] = field(default_factory=dict)
    windows: dict[str, Any] = field(default_factory=dict)
    conditions: dict[str, Any] = field(default_factory=dict)
    metabolites: dict[str, Any] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)
    glm: dict[str, Any] = field(default_factory=dict)
    clinical: dict[str, Any] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)
    source: str | None = None

    def with_overrides(self, overrides: Mapping[str, Any]) -> StudyConfig:
        """Return a copy with ``{"section.key": value}`` overrides applied and checked.

        ``None`` values are ignored (an option not given on the command line).
        """
        sections = {name: dict(getattr(self, name)) for name in REGISTRY}
        for dotted, value in overrides.items():
            if value is None:
                continue
            section, _, key = dotted.partition(".")
            sections[section][key] = _check(section, key, value, "command line")
        return dataclasses.replace(self, **sections)

    def as_dict(self) -> dict[str, dict[str, Any]]:
        """Plain ``{section: {key: value}}`` (tuples as lists), e.g. for JSON provenance."""

        def plain(value: Any) -> Any:
            return list(value) if isinstance(value, tuple) else value

        return {s: {k: plain(v) for k, v in getattr(self, s).items()} for s in REGISTRY}


def defaults() -> StudyConfig:
    """Return the configuration used when no ``study.toml`` is given."""
    return config_from_dict({})


def _check(section: str, key: str, value: Any, source: str | None) -> Any:
    options = REGISTRY.get(section)
    if options is None:
        raise ConfigError(
            f"unknown section [{section}]; known sections: {', '.join(REGISTRY)}", source
        )
    if key not in options:
        raise ConfigError(
            f"unknown key {key!r} in [{section}]; known keys: {', '.join(options)}", source
        )
    try:
        return options[key].check(value)
    except ValueError as exc:
        raise ConfigError(f"[{section}] {key}: {exc}", source) from None


def config_from_dict(values: Mapping[str, Any], *, source: str | None = None) -> StudyConfig:
    """Validate ``{section: {key: value}}`` and fill in defaults.

    Parameters
    ----------
    values : mapping
        As parsed from TOML.
    source : str, optional
        File name used in error messages.

    Returns
    -------
    StudyConfig

    Raises
    ------
    ConfigError
        Unknown section or key, or a bad value (the message names the key and the file).
    """
    sections: dict[str, dict[str, Any]] = {
        name: {key: opt.default for key, opt in options.items()}
        for name, options in REGISTRY.items()
    }
    for section, table in values.items():
        if section not in REGISTRY:
            _check(section, "", None, source)
        if not isinstance(table, Mapping):
            raise ConfigError(f"[{section}] must be a table of keys, got {table!r}", source)
        for key, value in table.items():
            sections[section][key] = _check(section, key, value, source)
    return StudyConfig(**sections, source=source)


def load_config(path: str | os.PathLike[str] | None) -> StudyConfig:
    """Read and validate a ``study.toml``; ``None`` gives the defaults.

    Raises
    ------
    ConfigError
        Missing file, TOML syntax error, unknown key or bad value.
    """
    if path is None:
        return defaults()
    path = Path(path)
    try:
        with path.open("rb") as fh:
            values = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError("no such configuration file", path) from None
    except IsADirectoryError:
        raise ConfigError("is a folder, expected a study.toml file", path) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML ({exc})", path) from None
    return config_from_dict(values, source=os.fspath(path))
