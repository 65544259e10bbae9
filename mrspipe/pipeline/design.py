"""What a study's sessions make of the design: crossover (complete or not) or task.

A crossover participant should have one session per condition of the contrast. One with a
session missing is kept (condition means and mixed models use the session it has; paired
contrasts leave the participant out); one with a repeated condition (a third session) has its
first session of each condition (in session order) analysed in the group statistics, the
others still processed and in the group tables. Both are said in a warning, never silently.
"""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from typing import Any

__all__ = ["incomplete_participants", "first_sessions"]

logger = logging.getLogger("mrspipe")


def _order(session_id: Any) -> tuple[Any, ...]:
    text = "" if session_id is None else str(session_id)
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text))


def incomplete_participants(sessions: list[Any], contrast: tuple[str, ...]) -> dict[str, str]:
    """Participants of a crossover whose sessions do not cover the contrast once each.

    Parameters
    ----------
    sessions : list of Session
        ``participant_id``, ``session_id`` and ``condition`` are used.
    contrast : tuple of str
        The two conditions (empty for a task design: nothing to check).

    Returns
    -------
    dict of str to str
        Participant -> what is wrong (``"no placebo session"``, ``"2 naltrexone sessions
        (ses-1, ses-3)"``); each is also logged as a warning.
    """
    if not contrast:
        return {}
    by: dict[str, dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
    for s in sessions:
        by[s.participant_id][str(s.condition)].append(s.session_id)
    problems = {}
    for pid, conds in by.items():
        notes = [f"no {c} session" for c in contrast if c not in conds]
        notes += [
            f"{len(ids)} {c} sessions ({', '.join(str(i) for i in sorted(ids, key=_order))}); "
            "the first is analysed"
            for c, ids in conds.items()
            if len(ids) > 1
        ]
        if notes:
            problems[pid] = "; ".join(notes)
            logger.warning(
                "%s: %s; analysed on what is complete", pid, problems[pid]
            )  # never silently
    return problems


def first_sessions(table: Any, contrast: tuple[str, ...]) -> Any:
    """Keep, per participant and condition, the rows of the first session (session order).

    Parameters
    ----------
    table : DataFrame
        A group table with ``participant_id, session_id, condition``.
    contrast : tuple of str
        Empty: the table is returned as it is.

    Returns
    -------
    DataFrame
    """
    if not contrast or table is None or not len(table):
        return table
    if not {"participant_id", "session_id", "condition"} <= set(table.columns):
        return table
    keys = table[["participant_id", "condition", "session_id"]].drop_duplicates()
    keys = keys.assign(_order=keys["session_id"].map(_order)).sort_values(
        ["participant_id", "condition", "_order"]
    )
    first = keys.drop_duplicates(["participant_id", "condition"])[
        ["participant_id", "condition", "session_id"]
    ]
    if len(first) == len(keys):
        return table
    merged = table.merge(first.assign(_keep=True), how="left", on=list(first.columns))
    return merged[merged["_keep"].notna()].drop(columns="_keep").reset_index(drop=True)
