"""Fields of the frozen options dataclasses, and the checks built from their types.

Every layer owns one frozen options dataclass (:class:`~mrspipe.preprocess.PreprocessOptions`,
:class:`~mrspipe.fit.FitOptions`, :class:`~mrspipe.dynamic.Windows`, ...). A field declared with
:func:`option` carries its default (written once, there), a one-line description with units and
the constraints of its value. :func:`check_fields` normalises and checks an instance (called
from ``__post_init__``, so the Python API, ``study.toml`` and the command line share one check);
:mod:`mrspipe.config` builds the ``study.toml`` registry from the same fields.

Value kinds are read from the field's type annotation:

=====================================  ======================================================
annotation                             accepted values
=====================================  ======================================================
``bool``                               ``True`` / ``False``
``int``, ``float``                     numbers in ``[minimum, maximum]``
``str``                                a non-empty string, one of ``choices`` when given
``tuple[float, float]``                an interval ``[a, b]`` with ``a < b``
``tuple[float | None, float | None]``  a window ``[a, b]``; ``None`` or ``±inf`` = open end
``tuple[str, ...]``                    distinct names
``tuple[str, str] | None``             two distinct names, or unset
``X | None``                           unset (``None``, or the ``off`` value) or an ``X``
=====================================  ======================================================
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Callable
from typing import Any

from .errors import ConfigError

__all__ = ["option", "check_fields", "checker", "config_fields", "FieldSpec"]

Checker = Callable[[Any], Any]


def option(
    default: Any,
    doc: str,
    *,
    choices: tuple[str, ...] | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    off: Any = None,
    config: bool = True,
    section: str | None = None,
    key: str | None = None,
) -> Any:
    """Declare a field of an options dataclass.

    Parameters
    ----------
    default : object
        The one default of this option (immutable: tuples, not lists).
    doc : str
        One-line description with units (``docs/config.md`` and ``--help`` show it).
    choices : tuple of str, optional
        Allowed strings.
    minimum, maximum : float, optional
        Bounds of a number (inclusive).
    off : object, optional
        A configuration value that means ``None`` for an optional field (``0``, ``"none"``).
    config : bool
        Whether ``study.toml`` may set it (False: Python API only).
    section, key : str, optional
        ``study.toml`` section and key, when not the class's section and the field's name.
    """
    meta = {
        "doc": doc,
        "choices": choices,
        "minimum": minimum,
        "maximum": maximum,
        "off": off,
        "config": config,
        "section": section,
        "key": key,
    }
    return dataclasses.field(default=default, metadata=meta)


# -- checkers by kind -------------------------------------------------------------------------


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _int(minimum: float | None, maximum: float | None) -> Checker:
    lo = -math.inf if minimum is None else minimum
    hi = math.inf if maximum is None else maximum

    def check(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            bound = f" >= {minimum:g}" if minimum is not None else ""
            bound += f" <= {maximum:g}" if maximum is not None else ""
            raise ValueError(f"expected an integer{bound}, got {value!r}")
        return int(value)

    return check


def _float(minimum: float | None, maximum: float | None) -> Checker:
    lo = -math.inf if minimum is None else minimum
    hi = math.inf if maximum is None else maximum

    def check(value: Any) -> float:
        if not _is_number(value):
            raise ValueError(f"expected a number, got {value!r}")
        if math.isnan(value) or not lo <= value <= hi:
            raise ValueError(f"expected a number in [{lo:g}, {hi:g}], got {value!r}")
        return float(value)

    return check


def _string(choices: tuple[str, ...] | None) -> Checker:
    def check(value: Any) -> str:
        if choices is not None:
            if value not in choices:
                allowed = ", ".join(map(repr, choices))
                raise ValueError(f"expected one of {allowed}, got {value!r}")
            return str(value)
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"expected a non-empty string, got {value!r}")
        return value.strip()

    return check


def _pair_of_numbers(value: Any) -> tuple[float, float]:
    if (
        not isinstance(value, list | tuple)
        or len(value) != 2
        or not all(v is None or _is_number(v) for v in value)
    ):
        raise ValueError(f"expected two numbers [start, end], got {value!r}")
    a = -math.inf if value[0] is None else float(value[0])
    b = math.inf if value[1] is None else float(value[1])
    if math.isnan(a) or math.isnan(b) or not a < b:
        raise ValueError(f"start must be before end, got [{a:g}, {b:g}]")
    return a, b


def _interval(value: Any) -> tuple[float, float]:
    """Check ``[a, b]``, ``a < b``, both finite (s, ppm)."""
    a, b = _pair_of_numbers(value)
    if not (math.isfinite(a) and math.isfinite(b)):
        raise ValueError(f"expected two finite numbers, got {value!r}")
    return a, b


def _window(value: Any) -> tuple[float | None, float | None]:
    """Check ``[a, b]``, ``a < b``; an open end is None (``-inf``/``inf`` in TOML)."""
    a, b = _pair_of_numbers(value)
    return (None if math.isinf(a) else a, None if math.isinf(b) else b)


def _names(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"expected a list of names, got {value!r}")
    if len(set(value)) != len(value):
        raise ValueError(f"names repeat in {value!r}")
    return tuple(value)


def _two_names(value: Any) -> tuple[str, str]:
    names = _names(value)
    if len(names) != 2:
        raise ValueError(f"expected two names [first, second], got {value!r}")
    return names[0], names[1]


def _optional(inner: Checker, off: Any) -> Checker:
    def check(value: Any) -> Any:
        if value is None or (off is not None and value == off and type(value) is type(off)):
            return None
        return inner(value)

    return check


def _kind(annotation: Any) -> tuple[str, bool]:
    """``(kind, optional)`` of a type annotation."""
    args = typing.get_args(annotation)
    optional = type(None) in args and typing.get_origin(annotation) is not tuple
    if optional:
        rest = tuple(a for a in args if a is not type(None))
        annotation = rest[0] if len(rest) == 1 else typing.Union[rest]  # noqa: UP007
    kinds = {
        bool: "bool",
        int: "int",
        float: "float",
        str: "str",
        tuple[float, float]: "interval",
        tuple[float | None, float | None]: "window",
        tuple[str, ...]: "names",
        tuple[str, str]: "pair",
    }
    for known, kind in kinds.items():
        if annotation == known:
            return kind, optional
    return "any", optional


def checker(field: dataclasses.Field[Any], annotation: Any) -> Checker:
    """Return the ``check(value) -> value`` of one field (``ValueError`` with the reason)."""
    meta = field.metadata
    kind, optional = _kind(annotation)
    minimum, maximum = meta.get("minimum"), meta.get("maximum")
    factories: dict[str, Callable[[], Checker]] = {
        "bool": lambda: _bool,
        "int": lambda: _int(minimum, maximum),
        "float": lambda: _float(minimum, maximum),
        "str": lambda: _string(meta.get("choices")),
        "interval": lambda: _interval,
        "window": lambda: _window,
        "names": lambda: _names,
        "pair": lambda: _two_names,
        "any": lambda: lambda value: value,
    }
    check = factories[kind]()
    return _optional(check, meta.get("off")) if optional else check


@dataclasses.dataclass(frozen=True)
class FieldSpec:
    """One option field: where it lives, its default, check and description."""

    owner: type
    name: str
    default: Any
    check: Checker
    doc: str
    config: bool
    section: str | None
    key: str


_FIELDS: dict[type, tuple[FieldSpec, ...]] = {}


def config_fields(cls: type) -> tuple[FieldSpec, ...]:
    """Return the :func:`option` fields of an options dataclass, with their checkers."""
    if cls in _FIELDS:
        return _FIELDS[cls]
    hints = typing.get_type_hints(cls)
    out = []
    for f in dataclasses.fields(cls):
        if "doc" not in f.metadata:
            continue
        out.append(
            FieldSpec(
                owner=cls,
                name=f.name,
                default=f.default,
                check=checker(f, hints[f.name]),
                doc=f.metadata["doc"],
                config=bool(f.metadata.get("config", True)),
                section=f.metadata.get("section"),
                key=f.metadata.get("key") or f.name,
            )
        )
    _FIELDS[cls] = tuple(out)
    return _FIELDS[cls]


def check_fields(obj: Any) -> None:
    """Check and normalise every :func:`option` field of a frozen options instance in place.

    Lists become tuples, integers in float fields become floats, off values become None.

    Raises
    ------
    ConfigError
        ``"<Class>.<field>: <reason>"``.
    """
    for spec in config_fields(type(obj)):
        value = getattr(obj, spec.name)
        try:
            checked = spec.check(value)
        except ValueError as exc:
            raise ConfigError(f"{type(obj).__name__}.{spec.name}: {exc}") from None
        if checked is not value:
            object.__setattr__(obj, spec.name, checked)
