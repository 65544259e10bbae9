"""The output folder of a study run: checked before any work, removed again on an input error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ConfigError, MRSError, StudyLayoutError
from ..io import derivatives as deriv
from ..io._lock import check_unlocked
from ..io._paths import is_inside

__all__ = ["check_paths", "first_missing", "remove_empty", "check_output_paths"]


def check_paths(study: Path, out: Path, overwrite: bool) -> None:
    """Refuse an output folder that is locked, the study, or not mrspipe's (no --overwrite)."""
    check_unlocked(out)  # a second run into OUT says who holds it, before anything else
    if not study.is_dir():
        raise StudyLayoutError("no such study folder", study)
    if out.resolve() == study.resolve():
        raise ConfigError("the output folder must not be the study folder", out)
    if (
        study.resolve() in out.resolve().parents
        and out.resolve().relative_to(study.resolve()).parts[0] != "derivatives"
    ):
        raise ConfigError("write inside the study only under derivatives/", out)
    if not overwrite and not deriv.is_output_folder(out):
        raise FileExistsError(
            f"{out} exists and is not an mrspipe output folder; choose another OUT or pass "
            "--overwrite"
        )


def first_missing(path: Path) -> Path | None:
    """Return the outermost missing folder of ``path`` (None if ``path`` exists)."""
    path = path.absolute()
    if path.exists():
        return None
    while not path.parent.exists():
        path = path.parent
    return path


def remove_empty(out: Path, top: Path) -> None:
    """Remove ``out`` and its parents up to ``top`` when they are empty (created by this run)."""
    folder = out.absolute()
    while True:
        try:
            folder.rmdir()
        except OSError:
            return
        if folder == top or folder.parent == folder:
            return
        folder = folder.parent


def check_output_paths(out: Path, sessions: list[Any]) -> None:
    """Every output folder is a BIDS name inside OUT (no symlink out); else list every offender."""
    problems = []
    for s in sessions:
        try:
            deriv.session_paths(out, s.participant_id, s.session_id)
        except MRSError as exc:
            problems.append(exc.message)
    for name in deriv.OUTPUT_NAMES:  # a planted symlink (OUT/group -> elsewhere) is refused
        path = out / name
        if (path.exists() or path.is_symlink()) and not is_inside(path, out):
            problems.append(f"{path} resolves to {path.resolve()}, outside OUT")
    problems = list(dict.fromkeys(problems))  # one line per bad label, not per session
    if problems:
        raise StudyLayoutError(
            f"{len(problems)} session label problem(s): {'; '.join(problems)}", out
        )
