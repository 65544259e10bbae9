"""Path safety: BIDS labels, and paths that must stay inside a folder.

User strings (participant and session ids from ``participants.tsv`` and the sessions tables)
become folder and file names of the output. They are accepted only as BIDS labels
(``sub-<label>``, ``ses-<label>``, ``task-<label>``, ... with ``<label>`` letters and digits),
and every output path is resolved (symlinks followed) and checked to lie inside the output
folder, so no table row and no symlink can make mrspipe write elsewhere.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..errors import StudyLayoutError

__all__ = ["ENTITIES", "check_label", "check_entities", "is_inside", "ensure_inside"]

#: BIDS entities mrspipe accepts in the labels of a session (BIDS 1.10 order)
ENTITIES: tuple[str, ...] = ("sub", "ses", "task", "acq", "nuc", "voi", "rec", "run", "echo")
_LABEL = re.compile(r"[A-Za-z0-9]+")
_ENTITY = re.compile(r"([a-z]+)-([A-Za-z0-9]+)")


def check_label(value: object, entity: str, *, path: str | os.PathLike[str] | None = None) -> str:
    """Return ``value`` as ``'<entity>-<label>'``, or raise if it is not a BIDS label.

    Parameters
    ----------
    value : object
        E.g. ``'sub-01'`` or ``'01'`` (the prefix is added when missing).
    entity : str
        ``'sub'``, ``'ses'``, ``'task'``, ``'run'``, ...
    path : path-like, optional
        The file the value came from, named in the error.

    Raises
    ------
    StudyLayoutError
        If the label holds anything but letters and digits (``/``, ``..``, spaces, ``$``, ...).
    """
    text = str(value)
    label = text[len(entity) + 1 :] if text.startswith(f"{entity}-") else text
    if not _LABEL.fullmatch(label):
        raise StudyLayoutError(
            f"{text!r} is not a BIDS label ({entity}- followed by letters and digits only)",
            path,
        )
    return f"{entity}-{label}"


def check_entities(value: object, *, path: str | os.PathLike[str] | None = None) -> str:
    """Check a chain of BIDS entities such as ``'ses-1'`` or ``'ses-1_task-rest_run-2'``.

    Raises
    ------
    StudyLayoutError
        If a part is not ``<entity>-<letters and digits>`` with a known entity.
    """
    text = str(value)
    for part in text.split("_"):
        m = _ENTITY.fullmatch(part)
        if m is None or m.group(1) not in ENTITIES:
            raise StudyLayoutError(
                f"{text!r} is not a chain of BIDS entities "
                f"({', '.join(e + '-<label>' for e in ENTITIES[1:])}; labels are letters and "
                "digits only)",
                path,
            )
    return text


def is_inside(path: str | os.PathLike[str], root: str | os.PathLike[str]) -> bool:
    """Tell whether ``path`` lies inside ``root`` once both are resolved (symlinks followed)."""
    resolved, base = Path(path).resolve(), Path(root).resolve()
    return resolved == base or base in resolved.parents


def ensure_inside(
    path: str | os.PathLike[str], root: str | os.PathLike[str], *, what: str = "output"
) -> Path:
    """Return ``path`` if it resolves inside ``root``; raise :class:`StudyLayoutError` if not."""
    if not is_inside(path, root):
        raise StudyLayoutError(
            f"{what} path resolves to {Path(path).resolve()}, outside {Path(root).resolve()}; "
            "refusing to write there",
            path,
        )
    return Path(path)
