"""Tidy TSV tables with JSON sidecars, written atomically."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..errors import MRSFormatError
from ._atomic import atomic_write_text

__all__ = ["write_table", "read_table", "write_json", "read_json", "read_toml"]


def write_table(
    df: Any, path: str | os.PathLike[str], *, sidecar: dict[str, Any] | None = None
) -> Path:
    """Write a DataFrame as a tab-separated file (``n/a`` for missing), atomically.

    Parameters
    ----------
    df : pandas.DataFrame
    path : str or path-like
        ``*.tsv``; a sidecar goes to the same name with ``.json``.
    sidecar : dict, optional
        Column descriptions and provenance (BIDS style: ``{"column": {"Description": ...,
        "Units": ...}}``).

    Returns
    -------
    Path
    """
    path = Path(path)
    text = df.to_csv(sep="\t", index=False, na_rep="n/a", lineterminator="\n")
    atomic_write_text(path, text)
    if sidecar is not None:
        write_json(path.with_suffix(".json"), sidecar)
    return path


def read_table(path: str | os.PathLike[str]) -> Any:
    """Read a TSV written by :func:`write_table` (or any BIDS TSV) into a DataFrame.

    Raises
    ------
    MRSFormatError
        If the file is missing or not a readable table.
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise MRSFormatError("no such table", path)
    try:
        return pd.read_csv(path, sep="\t", na_values=["n/a"], keep_default_na=True)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise MRSFormatError(f"not a readable TSV table ({exc})", path) from None


def write_json(path: str | os.PathLike[str], obj: Any) -> Path:
    """Write JSON (indented, UTF-8) atomically."""
    return atomic_write_text(path, json.dumps(obj, indent=2, default=_default) + "\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file, raising :class:`MRSFormatError` naming the file on failure."""
    path = Path(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MRSFormatError("no such file", path) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise MRSFormatError(f"not valid JSON ({exc})", path) from None


def read_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a TOML file (e.g. ``study.toml``).

    Raises
    ------
    ConfigError
        Missing file, a folder, or not valid TOML (naming the file).
    """
    import tomllib

    from ..errors import ConfigError

    path = Path(path)
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError("no such configuration file", path) from None
    except IsADirectoryError:
        raise ConfigError("is a folder, expected a study.toml file", path) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML ({exc})", path) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (byte {exc.start}: {exc.reason})", path) from None


def _default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")
