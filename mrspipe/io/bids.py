"""The MRS-BIDS study layout: find the sessions of a study, and write one.

Layout (``SPEC.md``)::

    study/
      participants.tsv                      participant_id, sex (M/F), ...
      sub-01/sub-01_sessions.tsv            session_id, condition, ...
      sub-01/ses-1/mrs/sub-01_ses-1_svs.nii.gz        time-resolved NIfTI-MRS
      sub-01/ses-1/mrs/sub-01_ses-1_mrsref.nii.gz     optional water reference
      sub-01/ses-1/mrs/sub-01_ses-1_svs_events.tsv    onset, duration, trial_type
      phenotype/madrs.tsv                   optional clinical scores

Single-session participants may omit ``ses-*`` (``sub-01/mrs/...``); the session id is then
``None``. File names may carry ``task-``, ``acq-`` and ``run-`` entities; several tasks per folder
are chosen between with ``task`` (the fMRIPrep/MRIQC ``--task-id``), references are found through
the sidecar's ``ReferenceSignal`` (see :mod:`.bids_files`), and several runs of a folder become
sessions named by their entities (``run-2``, ``ses-1_run-2``). Writing a study:
:mod:`mrspipe.io.bids_write` (re-exported here).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import MRSFormatError, StudyLayoutError
from ._paths import check_label, is_inside
from .bids_files import MRSRun, find_runs, tasks_in
from .bids_write import (
    BIDS_VERSION,
    write_dataset_description,
    write_participants,
    write_phenotype,
    write_session,
    write_sessions_table,
)
from .tables import read_table

__all__ = [
    "Session",
    "find_sessions",
    "read_participants",
    "read_sessions_table",
    "read_events",
    "write_dataset_description",
    "write_participants",
    "write_sessions_table",
    "write_session",
    "write_phenotype",
    "BIDS_VERSION",
]

_SEX = {"m": "M", "male": "M", "f": "F", "female": "F"}


@dataclass(frozen=True)
class Session:
    """One scan session of a study.

    Attributes
    ----------
    participant_id : str
        E.g. ``"sub-01"``.
    session_id : str or None
        E.g. ``"ses-1"``; None for a participant without session folders.
    condition : str or None
        From ``sub-XX_sessions.tsv`` (e.g. ``"naltrexone"``, ``"placebo"``).
    sex : {'M', 'F'} or None
    svs_path : Path
        The time-resolved NIfTI-MRS file.
    ref_path : Path or None
        Water reference.
    events_path : Path or None
        ``*_events.tsv``.
    ecc_path : Path or None
        Separate eddy-current reference (an ``mrsref`` with ``acq-ecc``).
    task : str or None
        The ``task-`` label of the data file.
    extra : dict
        Every other column of ``participants.tsv`` and the sessions table (e.g. ``age``).
    """

    participant_id: str
    session_id: str | None
    condition: str | None
    sex: str | None
    svs_path: Path
    ref_path: Path | None = None
    events_path: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    ecc_path: Path | None = None
    task: str | None = None


def _clean(value: Any) -> Any:
    """Return a table cell as a plain Python value (NaN -> None)."""
    if value is None:
        return None
    try:
        if value != value:  # NaN
            return None
    except (TypeError, ValueError):
        pass
    return value.item() if hasattr(value, "item") else value


def _normalise_sex(value: Any, path: Path) -> str | None:
    value = _clean(value)
    if value is None:
        return None
    key = str(value).strip().lower()
    if key not in _SEX:
        raise StudyLayoutError(f"sex must be M or F (or n/a), got {value!r}", path)
    return _SEX[key]


def _table(path: Path, required: tuple[str, ...]) -> Any:
    try:
        df = read_table(path)
    except MRSFormatError as exc:
        raise StudyLayoutError(exc.message, path) from None
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise StudyLayoutError(
            f"missing column(s) {', '.join(missing)} (has {', '.join(map(str, df.columns))})",
            path,
        )
    return df


def read_participants(study_dir: str | os.PathLike[str]) -> Any:
    """Read ``participants.tsv`` (a DataFrame; ``sex`` normalised to M/F/None).

    Raises
    ------
    StudyLayoutError
        If the study folder or the table is missing, lacks ``participant_id``, or has
        duplicate or malformed ids or an unknown sex.
    """
    study = Path(study_dir)
    if not study.is_dir():
        raise StudyLayoutError("study folder does not exist", study)
    path = study / "participants.tsv"
    if not path.is_file():
        raise StudyLayoutError("missing participants.tsv (participant_id, sex)", path)
    df = _table(path, ("participant_id",))
    ids = df["participant_id"].astype(str)
    bad = [i for i in ids if not _is_label(i, "sub", prefixed=True)]
    if bad:
        raise StudyLayoutError(
            f"participant_id must be a BIDS label (sub- followed by letters and digits): "
            f"{', '.join(map(repr, bad))}",
            path,
        )
    if ids.duplicated().any():
        raise StudyLayoutError(
            f"duplicate participant_id {sorted(set(ids[ids.duplicated()]))}", path
        )
    df["participant_id"] = ids
    df["sex"] = [_normalise_sex(v, path) for v in df["sex"]] if "sex" in df else None
    return df


def read_sessions_table(path: str | os.PathLike[str]) -> Any:
    """Read a ``sub-XX_sessions.tsv`` table (``session_id`` and ``condition`` required)."""
    path = Path(path)
    df = _table(path, ("session_id", "condition"))
    df["session_id"] = df["session_id"].astype(str)
    bad = [i for i in df["session_id"] if not _is_label(i, "ses", prefixed=True)]
    if bad:
        raise StudyLayoutError(
            f"session_id must be a BIDS label (ses- followed by letters and digits): "
            f"{', '.join(map(repr, bad))}",
            path,
        )
    if df["session_id"].duplicated().any():
        raise StudyLayoutError("duplicate session_id", path)
    return df


def read_events(path: str | os.PathLike[str]) -> Any:
    """Read an events table: ``onset`` (s, required), ``duration``, ``trial_type``.

    Raises
    ------
    StudyLayoutError
        If the file is missing or ``onset`` is missing or not numeric.
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise StudyLayoutError("no such events file", path)
    df = _table(path, ("onset",))
    if not pd.api.types.is_numeric_dtype(df["onset"]):
        raise StudyLayoutError("onset column must be numeric (seconds)", path)
    return df


def _is_label(value: str, entity: str, *, prefixed: bool = False) -> bool:
    """Tell whether ``value`` is ``<entity>-<letters, digits>`` (prefix needed if ``prefixed``)."""
    if prefixed and not value.startswith(f"{entity}-"):
        return False
    try:
        check_label(value, entity)
    except StudyLayoutError:
        return False
    return True


def _check_within(path: Path, study: Path) -> Path:
    """Refuse a file or folder that resolves (through a symlink) outside the study."""
    if not is_inside(path, study):
        raise StudyLayoutError(
            f"symlink leads outside the study (to {path.resolve()}); refusing to read it", path
        )
    return path


def _runs(mrs_dir: Path, study: Path, task: str | None) -> list[MRSRun]:
    if not mrs_dir.is_dir():
        raise StudyLayoutError("missing mrs/ folder", mrs_dir)
    runs = find_runs(mrs_dir, study, task=task)
    if not runs and task is None:
        raise StudyLayoutError("no svs NIfTI-MRS file (*_svs.nii*)", mrs_dir)
    return runs


def _run_id(session_id: str | None, run: MRSRun, runs: list[MRSRun]) -> str | None:
    """Extend the session id by the entities that tell this run from the folder's others."""
    if len(runs) == 1:
        return session_id
    # the entities that vary between the runs and that this run has
    differ = [k for k in run.entities if len({r.entities.get(k) for r in runs}) > 1]
    chain = "_".join(f"{k}-{run.entities[k]}" for k in differ)
    if not chain:
        return session_id
    return f"{session_id}_{chain}" if session_id else chain


def _sessions(
    participant: dict[str, Any],
    session_id: str | None,
    mrs_dir: Path,
    row: dict[str, Any],
    study: Path,
    task: str | None,
) -> list[Session]:
    runs = _runs(mrs_dir, study, task)
    extra = {k: _clean(v) for k, v in participant.items() if k not in ("participant_id", "sex")}
    extra.update({k: _clean(v) for k, v in row.items() if k not in ("session_id", "condition")})
    condition = _clean(row.get("condition"))
    return [
        Session(
            participant_id=participant["participant_id"],
            session_id=_run_id(session_id, run, runs),
            condition=None if condition is None else str(condition),
            sex=participant.get("sex"),
            svs_path=run.svs,
            ref_path=run.ref,
            events_path=run.events,
            extra=dict(extra),
            ecc_path=run.ecc,
            task=run.entities.get("task"),
        )
        for run in runs
    ]


def _check_tasks(study: Path, task: str | None) -> str | None:
    """Without ``task``, refuse a study with several tasks, listing them; return the label."""
    found = set().union(*(tasks_in(d) for d in study.glob("sub-*/**/mrs") if d.is_dir()))
    if task is not None:
        label = check_label(task, "task")[len("task-") :]
        if found and label not in found:
            raise StudyLayoutError(
                f"no svs data of task {label!r}; the tasks found are {', '.join(sorted(found))}",
                study,
            )
        return label
    if len(found) > 1:
        raise StudyLayoutError(
            f"the study holds several tasks ({', '.join(sorted(found))}); choose one with "
            "--task-id LABEL",
            study,
        )
    return None


def find_sessions(
    study_dir: str | os.PathLike[str],
    *,
    participant_labels: list[str] | tuple[str, ...] | None = None,
    task: str | None = None,
) -> list[Session]:
    """Every session of an MRS-BIDS study, sorted by participant and session.

    Parameters
    ----------
    study_dir : str or path-like
    participant_labels : list of str, optional
        Keep only these participants (``01`` or ``sub-01``), as fMRIPrep's
        ``--participant-label``.
    task : str, optional
        Keep only the data of this task (``--task-id``); required when the study has several.

    Returns
    -------
    list of Session

    Raises
    ------
    StudyLayoutError
        Naming the file or folder: missing ``participants.tsv``; a participant folder not in
        it (or listed without a folder); a sessions table without ``condition``; a session
        folder without a row (or a row without a folder); a session without an ``*_svs``
        file; several candidate files; several tasks and no ``task`` (the tasks are listed);
        an unknown participant label; no session at all.
    """
    study = Path(study_dir)
    participants = read_participants(study)
    task = _check_tasks(study, task)
    listed = set(participants["participant_id"])
    on_disk = {p.name for p in study.glob("sub-*") if p.is_dir()}
    if on_disk - listed:
        raise StudyLayoutError(
            f"participant folder(s) {', '.join(sorted(on_disk - listed))} not listed",
            study / "participants.tsv",
        )
    sessions: list[Session] = []
    wanted = None
    if participant_labels:
        wanted = {check_label(label, "sub") for label in participant_labels}
        unknown = wanted - listed
        if unknown:
            raise StudyLayoutError(
                f"participant label(s) {', '.join(sorted(unknown))} are not in participants.tsv",
                study / "participants.tsv",
            )
    for participant in participants.to_dict("records"):
        pid = participant["participant_id"]
        if wanted is not None and pid not in wanted:
            continue
        sub = study / pid
        if not sub.is_dir():
            raise StudyLayoutError("participant listed in participants.tsv has no folder", sub)
        table_path = sub / f"{pid}_sessions.tsv"
        _check_within(sub, study)
        ses_dirs = {p.name: p for p in sub.glob("ses-*") if p.is_dir()}
        bad = [name for name in ses_dirs if not _is_label(name, "ses")]
        if bad:
            raise StudyLayoutError(
                f"session folder(s) {', '.join(map(repr, sorted(bad)))} are not BIDS labels "
                "(ses- followed by letters and digits)",
                sub,
            )
        if not ses_dirs:
            row: dict[str, Any] = {}
            if table_path.is_file():
                rows = read_sessions_table(table_path).to_dict("records")
                row = rows[0] if len(rows) == 1 else {}
            sessions += _sessions(participant, None, sub / "mrs", row, study, task)
            continue
        if table_path.is_file():
            rows = {r["session_id"]: r for r in read_sessions_table(table_path).to_dict("records")}
            unlisted = set(ses_dirs) - set(rows)
            if unlisted:
                raise StudyLayoutError(
                    f"session folder(s) {', '.join(sorted(unlisted))} have no row", table_path
                )
            missing = set(rows) - set(ses_dirs)
            if missing:
                raise StudyLayoutError(
                    f"session(s) {', '.join(sorted(missing))} listed but have no folder",
                    table_path,
                )
        else:
            rows = {name: {"session_id": name} for name in ses_dirs}
        for name in sorted(ses_dirs, key=_natural):
            sessions += _sessions(
                participant, name, ses_dirs[name] / "mrs", rows[name], study, task
            )
    if not sessions:
        raise StudyLayoutError("no sessions found", study)
    for s in sessions:  # symlinks inside the study are fine; leaving it is not
        for found in (s.svs_path, s.ref_path, s.events_path, s.ecc_path):
            if found is not None:
                _check_within(found, study)
    return sessions


def _natural(name: str) -> tuple[Any, ...]:
    head, _, tail = name.partition("-")
    return (head, int(tail)) if tail.isdigit() else (head, 0, tail)
