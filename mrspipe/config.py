"""Study configuration: ``study.toml`` read into the layers' frozen options objects.

Each layer owns its options (:class:`~mrspipe.preprocess.PreprocessOptions`,
:class:`~mrspipe.fit.FitOptions`, :class:`~mrspipe.dynamic.Windows`,
:class:`~mrspipe.dynamic.GLMOptions`, :class:`~mrspipe.stats.StatsOptions`,
:class:`~mrspipe.quantify.QuantifyOptions`, :class:`~mrspipe.report.ReportOptions`), each field
declared once with its default, description and constraints (:func:`mrspipe._options.option`).
:data:`REGISTRY` is built from those fields: every ``study.toml`` key is a field, its default the
field's default, its check the field's check. Unknown sections, unknown keys and bad values raise
:class:`~mrspipe.errors.ConfigError` naming the file and the key, before any work starts. The
command line maps its flags onto the same keys (:meth:`StudyConfig.with_overrides`).

>>> from mrspipe.config import config_from_dict
>>> cfg = config_from_dict({"preprocess": {"block": 16}, "windows": {"baseline": [-600, 0]}})
>>> cfg.preprocess.block, cfg.windows.baseline
(16, (-600.0, 0.0))
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._options import Checker, config_fields
from .dynamic.options import GLMOptions, PoolingOptions, Windows
from .errors import ConfigError
from .fit.options import FitOptions
from .preprocess.chain import PreprocessOptions
from .quantify import QuantifyOptions
from .report.options import ReportOptions
from .stats.options import StatsOptions

__all__ = [
    "Option",
    "REGISTRY",
    "OWNERS",
    "StudyConfig",
    "load_config",
    "config_from_dict",
    "defaults",
    "help_text",
]

#: StudyConfig attribute -> the options class it holds (its own ``study.toml`` section)
OWNERS: dict[str, type] = {
    "preprocess": PreprocessOptions,
    "fit": FitOptions,
    "windows": Windows,
    "stats": StatsOptions,
    "glm": GLMOptions,
    "pooling": PoolingOptions,
    "quantify": QuantifyOptions,
    "report": ReportOptions,
}

_SECTION_ORDER = (
    "preprocess",
    "fit",
    "windows",
    "conditions",
    "metabolites",
    "stats",
    "glm",
    "pooling",
    "clinical",
    "quantify",
    "report",
)


@dataclass(frozen=True)
class Option:
    """One ``study.toml`` key: a field of a layer's options class.

    Parameters
    ----------
    default : object
        The field's default (``None`` = "not set", described in ``doc``).
    check : callable
        ``check(value) -> value`` normalises a TOML value or raises ``ValueError``.
    doc : str
        One-line description, with units.
    owner : str
        :class:`StudyConfig` attribute holding the options object.
    name : str
        Field name in that object.
    """

    default: Any
    check: Checker
    doc: str
    owner: str
    name: str


def _build_registry() -> dict[str, dict[str, Option]]:
    sections: dict[str, dict[str, Option]] = {}
    for attr, cls in OWNERS.items():
        for spec in config_fields(cls):
            if not spec.config:
                continue
            section = spec.section or attr
            sections.setdefault(section, {})[spec.key] = Option(
                spec.default, spec.check, spec.doc, attr, spec.name
            )
    order = [s for s in _SECTION_ORDER if s in sections] + [
        s for s in sections if s not in _SECTION_ORDER
    ]
    return {s: sections[s] for s in order}


#: section -> key -> Option: every study.toml key, built from the options classes' fields
REGISTRY: dict[str, dict[str, Option]] = _build_registry()


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, float) and math.isinf(value):
        return None
    return value


@dataclass(frozen=True)
class StudyConfig:
    """The options of a study run: one frozen options object per layer.

    Parameters
    ----------
    preprocess : PreprocessOptions
    fit : FitOptions
    windows : Windows
    stats : StatsOptions
        Also ``[conditions]``, ``[metabolites]`` and ``[clinical]``.
    glm : GLMOptions
    pooling : PoolingOptions
    quantify : QuantifyOptions
    report : ReportOptions
    source : str, optional
        The file it was read from, for messages.
    """

    preprocess: PreprocessOptions = field(default_factory=PreprocessOptions)
    fit: FitOptions = field(default_factory=FitOptions)
    windows: Windows = field(default_factory=Windows)
    stats: StatsOptions = field(default_factory=StatsOptions)
    glm: GLMOptions = field(default_factory=GLMOptions)
    pooling: PoolingOptions = field(default_factory=PoolingOptions)
    quantify: QuantifyOptions = field(default_factory=QuantifyOptions)
    report: ReportOptions = field(default_factory=ReportOptions)
    source: str | None = None

    def with_overrides(self, overrides: Mapping[str, Any]) -> StudyConfig:
        """Return a copy with ``{"section.key": value}`` overrides applied and checked.

        ``None`` values are ignored (an option not given on the command line).
        """
        values: dict[str, dict[str, Any]] = {}
        for dotted, value in overrides.items():
            if value is None:
                continue
            section, _, key = dotted.partition(".")
            values.setdefault(section, {})[key] = value
        return _apply(self, values, "command line")

    def value(self, section: str, key: str) -> Any:
        """Return the value of ``study.toml`` key ``[section] key``."""
        opt = REGISTRY[section][key]
        return getattr(getattr(self, opt.owner), opt.name)

    def as_dict(self) -> dict[str, dict[str, Any]]:
        """Plain ``{section: {key: value}}`` (tuples as lists, open ends as None), for JSON."""
        return {
            section: {key: _plain(self.value(section, key)) for key in keys}
            for section, keys in REGISTRY.items()
        }


def defaults() -> StudyConfig:
    """Return the configuration used when no ``study.toml`` is given."""
    return StudyConfig()


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


def _apply(config: StudyConfig, values: Mapping[str, Any], source: str | None) -> StudyConfig:
    changes: dict[str, dict[str, Any]] = {}
    for section, table in values.items():
        if section not in REGISTRY:
            _check(section, "", None, source)
        if not isinstance(table, Mapping):
            raise ConfigError(f"[{section}] must be a table of keys, got {table!r}", source)
        for key, value in table.items():
            checked = _check(section, key, value, source)
            opt = REGISTRY[section][key]
            changes.setdefault(opt.owner, {})[opt.name] = checked
    replaced = {}
    for owner, fields in changes.items():
        try:
            replaced[owner] = dataclasses.replace(getattr(config, owner), **fields)
        except ConfigError as exc:
            raise ConfigError(str(exc), source) from None
    return dataclasses.replace(config, **replaced)


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
    return dataclasses.replace(_apply(StudyConfig(), values, source), source=source)


def load_config(path: str | os.PathLike[str] | None) -> StudyConfig:
    """Read and validate a ``study.toml``; ``None`` gives the defaults.

    Raises
    ------
    ConfigError
        Missing file, TOML syntax error, unknown key or bad value.
    """
    if path is None:
        return defaults()
    from .io.tables import read_toml  # only io opens files

    path = Path(path)
    return config_from_dict(read_toml(path), source=os.fspath(path))


def _shown(value: Any) -> str:
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, tuple):
        return " ".join("open" if v is None else f"{v:g}" for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def help_text(section: str, key: str, text: str | None = None) -> str:
    """``--help`` text of a flag mapped onto ``[section] key``: its description and default."""
    opt = REGISTRY[section][key]
    return f"{text or opt.doc} (default {_shown(opt.default)})"
