"""Where a study run writes its results, and the files that make it resumable.

Layout under the output folder ``OUT`` (a BIDS derivative dataset)::

    OUT/dataset_description.json            marks the folder as mrspipe output
    OUT/run.json                            options, windows, versions of the last run
    OUT/errors.tsv                          one row per failed session (or group) step
    OUT/sub-01/ses-1/                       (BIDS-derivative names, each .tsv with a .json sidecar)
        sub-01_ses-1_desc-preproc_svs.nii.gz      preprocessed frames (NIfTI-MRS)
        sub-01_ses-1_desc-transients_qc.tsv       one row per transient
        sub-01_ses-1_desc-fit_estimates.tsv       one row per (frame, metabolite)
        sub-01_ses-1_desc-frames_qc.tsv           fit quality, one row per frame
        sub-01_ses-1_desc-fit_covariance.tsv      CRLB covariance of the ratio metabolites
        sub-01_ses-1_desc-timecourse_estimates.tsv, sub-01_ses-1_desc-response_estimates.tsv
                                                  this session's share of the group tables
        sub-01_ses-1_desc-fit_svs.png             data, fit, baseline, residual, components
        prepared.json                             only between preprocessing and fit when the
                                                  lipid model is decided per participant/study
        done.json                                 manifest: input fingerprints + options keys
    OUT/group/timecourses.tsv, responses.tsv, stats.tsv
    OUT/report.html, OUT/figures/

Every file is written atomically (temporary file + rename), so an interrupted run never leaves a
half-written table that a resumed run would trust. The tables' names, columns and sidecar
descriptions are in :mod:`mrspipe.io.derivative_tables`; ``dataset_description.json`` and
``run.json`` are written by :mod:`mrspipe.io.run_info` (both re-exported here).
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import MRSFormatError
from ._paths import check_entities, check_label, ensure_inside
from .derivative_tables import GROUP_TABLES, OUTPUT_NAMES, SIDECARS, TABLE_NAMES, sidecar
from .run_info import generated_by, is_output_folder, write_run_info
from .tables import read_json, read_table, write_json, write_table

__all__ = [
    "SessionPaths",
    "session_paths",
    "file_fingerprint",
    "fingerprint_matches",
    "read_done",
    "write_done",
    "write_session_table",
    "read_session_table",
    "save_preprocessed",
    "load_preprocessed",
    "read_prepared",
    "write_prepared",
    "write_errors",
    "write_group_table",
    "write_run_info",
    "is_output_folder",
    "remove_group_outputs",
    "remove_partial_files",
    "GROUP_TABLES",
    "OUTPUT_NAMES",
    "SIDECARS",
    "TABLE_NAMES",
    "generated_by",
]


def _desc(name: str) -> str:
    """Return a BIDS label (alphanumerics only) from a table or figure name."""
    return re.sub(r"[^A-Za-z0-9]", "", name) or "table"


@dataclass(frozen=True)
class SessionPaths:
    """The derivative files of one session (see the module docstring)."""

    folder: Path
    prefix: str

    @property
    def preprocessed(self) -> Path:
        """Preprocessed frames, NIfTI-MRS."""
        return self.folder / f"{self.prefix}_desc-preproc_svs.nii.gz"

    @property
    def prepared(self) -> Path:
        """State between a session's preprocessing and its fit (``[fit] lipid_phase_scope``)."""
        return self.folder / "prepared.json"

    @property
    def done(self) -> Path:
        """The resumability manifest."""
        return self.folder / "done.json"

    def table(self, name: str) -> Path:
        """Return the path of table ``name`` under its BIDS-derivative name (:data:`TABLE_NAMES`).

        E.g. ``fits`` -> ``folder/sub-01_ses-1_desc-fit_estimates.tsv``; a name not in the
        table gets ``<prefix>_desc-<name>_mrs.tsv``.
        """
        desc, suffix = TABLE_NAMES.get(name, (_desc(name), "mrs"))
        return self.folder / f"{self.prefix}_desc-{desc}_{suffix}.tsv"

    def figure(self, name: str) -> Path:
        """Return the path of a session figure: ``folder/<prefix>_desc-<name>_svs.png``."""
        return self.folder / f"{self.prefix}_desc-{_desc(name)}_svs.png"


def session_paths(
    out: str | os.PathLike[str], participant_id: str, session_id: str | None
) -> SessionPaths:
    """Paths of one session's derivatives: ``OUT/sub-<p>/ses-<s>/``.

    Labels are used with or without their ``sub-``/``ses-`` prefix; a participant without
    session folders (``session_id`` None) gets ``OUT/sub-<p>/``. A session id may be a chain of
    BIDS entities (``ses-1_task-rest_run-2``).

    Raises
    ------
    StudyLayoutError
        If a label is not a BIDS label (letters and digits after the entity) or the folder
        resolves outside ``out`` (e.g. through a symlink planted in ``out``).
    """
    sub = check_label(participant_id, "sub")
    if session_id is None:
        paths = SessionPaths(Path(out) / sub, sub)
    else:
        ses = str(session_id)
        ses = check_entities(ses if "-" in ses else f"ses-{ses}")
        paths = SessionPaths(Path(out) / sub / ses, f"{sub}_{ses}")
    ensure_inside(paths.folder, out, what=f"{paths.prefix} output")
    return paths


def file_fingerprint(path: str | os.PathLike[str], *, digest: bool = True) -> dict[str, Any]:
    """Size, modification time and (optionally) SHA-256 of a file, or of every file in a folder.

    Parameters
    ----------
    path : str or path-like
        A file, or a folder (its files are fingerprinted in sorted order).
    digest : bool
        Read the contents and include ``sha256``.

    Returns
    -------
    dict
        ``{"path", "size", "mtime_ns"[, "sha256"]}``; for a folder, sizes add up, the newest
        mtime is kept and the digest covers names and contents.
    """
    path = Path(path)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    try:
        stats = [f.stat() for f in files]
    except FileNotFoundError as exc:
        raise MRSFormatError("input file disappeared", exc.filename) from None
    record: dict[str, Any] = {
        "path": os.fspath(path),
        "size": sum(s.st_size for s in stats),
        "mtime_ns": max((s.st_mtime_ns for s in stats), default=0),
    }
    if digest:
        h = hashlib.sha256()
        for f in files:
            if path.is_dir():  # a renamed basis spectrum is a different basis
                h.update(os.fspath(f.relative_to(path)).encode())
            with f.open("rb") as fh:
                while chunk := fh.read(1 << 20):
                    h.update(chunk)
        record["sha256"] = h.hexdigest()
    return record


def fingerprint_matches(record: dict[str, Any] | None, path: str | os.PathLike[str]) -> bool:
    """Tell whether ``path`` still has the contents fingerprinted in ``record``.

    Same size and mtime is trusted without reading; otherwise the SHA-256 decides (a copied,
    moved or touched but unchanged file still matches).
    """
    path = Path(path)
    if not record or not path.exists():
        return False
    now = file_fingerprint(path, digest=False)
    if now["size"] != record.get("size"):
        return False
    if now["mtime_ns"] == record.get("mtime_ns") and now["path"] == record.get("path"):
        return True
    return file_fingerprint(path)["sha256"] == record.get("sha256")


def read_done(paths: SessionPaths) -> dict[str, Any] | None:
    """Read the session's manifest; None when absent or unreadable (then it is recomputed)."""
    if not paths.done.is_file():
        return None
    try:
        manifest = read_json(paths.done)
    except MRSFormatError:
        return None
    return manifest if isinstance(manifest, dict) else None


def write_done(paths: SessionPaths, manifest: dict[str, Any]) -> Path:
    """Write the manifest (last, after every other output of the session)."""
    return write_json(paths.done, manifest)


def write_session_table(paths: SessionPaths, name: str, df: Any) -> Path:
    """Write the table ``name`` (:meth:`SessionPaths.table`) with a sidecar of its columns."""
    return write_table(
        df, paths.table(name), sidecar=sidecar(list(df.columns), SIDECARS.get(name, name))
    )


def read_session_table(paths: SessionPaths, name: str) -> Any:
    """Read the table ``name`` (:meth:`SessionPaths.table`), identifiers kept as strings."""
    df = read_table(paths.table(name))
    for col in ("participant_id", "session_id", "condition", "sex", "metabolite"):
        if col in df.columns:
            df[col] = df[col].astype("string").astype(object)
            df.loc[df[col].isna(), col] = None
    return df


def save_preprocessed(paths: SessionPaths, frames: Any, *, dtype: Any = None) -> Path:
    """Write the preprocessed frames (an :class:`~mrspipe.data.MRSData`) as NIfTI-MRS.

    ``dtype``: the precision stored (e.g. the input data's ``complex64``: the frames are
    averaged in double, but their noise is some 1e5 times their single-precision rounding,
    and the file is half as large); default the frames' own. The gzip stream is stored, not
    compressed: noisy single-precision frames shrink by ~8 % at zlib level 1, for ~15 ms a
    session.
    """
    import dataclasses

    from .nifti_mrs import save_mrs

    if dtype is not None and frames.fids.dtype != dtype:
        frames = dataclasses.replace(frames, fids=frames.fids.astype(dtype))
    return save_mrs(frames, paths.preprocessed, compress_level=0)


def load_preprocessed(paths: SessionPaths, source: Any = None) -> Any:
    """Read the preprocessed frames written by :func:`save_preprocessed` (``source`` named)."""
    import dataclasses

    from .nifti_mrs import load_mrs

    frames = load_mrs(paths.preprocessed)
    return frames if source is None else dataclasses.replace(frames, source=str(source))


def read_prepared(paths: SessionPaths) -> dict[str, Any] | None:
    """Read ``prepared.json``; None when absent or unreadable (the session is preprocessed)."""
    if not paths.prepared.is_file():
        return None
    try:
        state = read_json(paths.prepared)
    except MRSFormatError:
        return None
    return state if isinstance(state, dict) else None


def write_prepared(paths: SessionPaths, state: dict[str, Any]) -> Path:
    """Write ``prepared.json`` (after the preprocessed frames and the transients' QC)."""
    return write_json(paths.prepared, state)


def write_errors(out: str | os.PathLike[str], rows: list[dict[str, Any]]) -> Path | None:
    """Write ``OUT/errors.tsv`` (``participant_id, session_id, step, error``); remove it if none.

    Returns
    -------
    Path or None
        The file, or None when there was nothing to report.
    """
    import pandas as pd

    path = Path(out) / "errors.tsv"
    if not rows:
        path.unlink(missing_ok=True)
        path.with_suffix(".json").unlink(missing_ok=True)
        return None
    cols = ["participant_id", "session_id", "step", "error"]
    df = pd.DataFrame(rows, columns=cols)
    return write_table(df, path, sidecar=sidecar(cols, "Sessions or steps that failed."))


def write_group_table(
    out: str | os.PathLike[str], name: str, df: Any, extra: dict[str, Any] | None = None
) -> Path:
    """Write ``OUT/group/<name>.tsv`` with its contract columns first and a sidecar.

    Parameters
    ----------
    out : path-like
    name : {'timecourses', 'responses', 'stats', 'glm'}
    df : pandas.DataFrame
        Must hold the contract columns of :data:`GROUP_TABLES`; other columns follow them.
    extra : dict, optional
        Added to the sidecar (e.g. the windows used).
    """
    columns, description = GROUP_TABLES[name]
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise MRSFormatError(f"{name} table lacks columns {missing}", Path(out) / "group")
    df = df[columns + [c for c in df.columns if c not in columns]]
    side = sidecar(list(df.columns), description) | (extra or {})
    path = ensure_inside(Path(out) / "group" / f"{name}.tsv", out, what="group table")
    return write_table(df, path, sidecar=side)


def remove_group_outputs(out: str | os.PathLike[str]) -> list[Path]:
    """Remove the group tables, report and report figures of an earlier run.

    Called before a run's group step, so whatever it cannot rewrite (every session failed, the
    statistics failed) is absent rather than left from another run beside the new ``run.json``.

    Returns
    -------
    list of Path
        The files removed.
    """
    out = Path(out)
    candidates = [out / "report.html"]
    for name in GROUP_TABLES:
        candidates += [out / "group" / f"{name}.tsv", out / "group" / f"{name}.json"]
    if (out / "figures").is_dir() and not (out / "figures").is_symlink():
        candidates += sorted((out / "figures").glob("*.png"))
    removed = []
    for path in candidates:
        if path.is_file() or path.is_symlink():
            path.unlink()
            removed.append(path)
    return removed


def remove_partial_files(out: str | os.PathLike[str]) -> list[Path]:
    """Remove the temporary files of writes a killed run left under ``out`` (``.name.*.tmp*``).

    Only call it holding the output lock: another run's writes in progress look the same.
    """
    removed = []
    for path in Path(out).rglob(".*.tmp*"):
        if path.is_file() and not path.is_symlink():
            path.unlink()
            removed.append(path)
    return removed
