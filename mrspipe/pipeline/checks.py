"""Study-wide checks before any work: one participant must not sink the study after the fits.

:func:`check_study` lists every problem of the design and the events tables at once (the run
stops with exit status 2 before anything is written); :func:`study_warnings` lists what limits
an analysis without making it wrong (no sex recorded), for the log and the report.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from ..errors import MRSError, StudyLayoutError
from .steps import Steps

__all__ = ["check_study", "study_warnings"]

logger = logging.getLogger("mrspipe")


def _event_problems(sessions: list[Any], steps: Steps) -> list[str]:
    """Events tables: numeric, finite onsets; durations finite and not negative."""
    import pandas as pd

    problems = []
    for s in sessions:
        if s.events_path is None:
            continue  # reported by that session ("no events.tsv"), the others go on
        try:
            events = steps.read_events(s.events_path)
        except MRSError as exc:
            problems.append(str(exc))
            continue
        for column, allow_na in (("onset", False), ("duration", True)):
            if column not in getattr(events, "columns", ()):
                continue
            values = pd.to_numeric(events[column], errors="coerce")
            bad = [
                f"row {i + 1}: {raw!r}"
                for i, (raw, v) in enumerate(zip(events[column], values, strict=True))
                if (pd.isna(v) and not (allow_na and pd.isna(raw)))
                or (pd.notna(v) and (not math.isfinite(v) or (column == "duration" and v < 0)))
            ]
            if bad:
                need = "a finite number" if column == "onset" else "n/a or a number >= 0"
                problems.append(
                    f"{s.events_path}: {column} must be {need} (s): {', '.join(bad[:5])}"
                )
    return problems


def check_study(
    sessions: list[Any], contrast: tuple[str, ...], *, steps: Steps, source: Any = None
) -> None:
    """Check the whole study before any work; raise listing every problem.

    Parameters
    ----------
    sessions : list of Session
    contrast : tuple of str
        ``(active, control)``; empty for a task design.
    steps : Steps
        ``read_events`` reads the events tables.
    source : path-like, optional
        The study folder, named in the error.

    Raises
    ------
    StudyLayoutError
        An events table with a negative or non-finite duration or onset; every problem is
        listed. (A participant with a condition twice or a session missing is analysed on
        what is complete, with a warning: :mod:`mrspipe.pipeline.design`.)
    """
    # a participant with a condition twice (or a missing session) is not an error: it is
    # analysed on what is complete, with a warning (mrspipe.pipeline.design)
    problems = _event_problems(sessions, steps)
    if problems:
        raise StudyLayoutError(
            f"{len(problems)} problem(s) found before any work: {'; '.join(problems)}", source
        )


def study_warnings(sessions: list[Any]) -> list[str]:
    """List (and log) what limits an analysis without making it wrong, one sentence each."""
    warnings = []
    people = {s.participant_id: s.sex for s in sessions}
    unknown = sorted(p for p, sex in people.items() if sex is None)
    if unknown and len(unknown) == len(people):
        warnings.append(
            "no participant has a recorded sex (participants.tsv has no sex column or only "
            "n/a): the analyses by sex and the condition x sex interaction are not done"
        )
    elif unknown:
        warnings.append(
            f"{len(unknown)} participant(s) without a recorded sex ({', '.join(unknown[:10])}) "
            "are left out of the analyses by sex (they are in the analyses of all participants)"
        )
    for text in warnings:
        logger.warning("%s", text)
    return warnings
