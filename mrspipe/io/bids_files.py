"""MRS-BIDS file names, sidecars and references, as the standard describes them.

A raw MRS-BIDS file name is a chain of entities and a suffix,
``sub-01[_ses-1][_task-pain][_acq-press][_run-1]_svs.nii.gz``; its JSON sidecar carries the
acquisition parameters (and may be inherited from a less specific file higher up the tree,
e.g. ``task-pain_svs.json`` at the dataset root); ``ReferenceSignal`` names the water reference
with a ``bids::`` URI (relative to the dataset root); events sit in
``sub-01[_ses-1]_task-pain[_run-1]_events.tsv``. This module finds the runs of one ``mrs/``
folder from those rules, and reads a NIfTI-MRS file with what its sidecars add.

References
----------
BIDS 1.10, "Magnetic Resonance Spectroscopy" and "The Inheritance Principle".
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..data import MRSData
from ..errors import MRSFormatError, StudyLayoutError

__all__ = [
    "BidsName",
    "MRSRun",
    "parse_bids_name",
    "find_runs",
    "read_sidecar",
    "apply_sidecar",
    "load_bids_mrs",
    "tasks_in",
]

logger = logging.getLogger("mrspipe")

_ENTITY = re.compile(r"([a-zA-Z]+)-([A-Za-z0-9]+)")
_EXTENSIONS = (".nii.gz", ".nii", ".json", ".tsv")
#: entities that tell the runs of one mrs/ folder apart (BIDS order)
_RUN_ENTITIES = ("task", "acq", "nuc", "voi", "rec", "run", "echo")
#: entities a reference or events file must not contradict
_STRICT = ("task", "run")


@dataclass(frozen=True)
class BidsName:
    """A parsed BIDS file name.

    Attributes
    ----------
    path : Path
    entities : dict of str to str
        E.g. ``{"sub": "01", "task": "pain"}`` (labels without the ``key-`` prefix).
    suffix : str
        ``"svs"``, ``"mrsref"``, ``"events"``, ...
    extension : str
        ``".nii.gz"``, ``".json"``, ...
    """

    path: Path
    entities: dict[str, str]
    suffix: str
    extension: str

    def key(self) -> tuple[tuple[str, str], ...]:
        """Return the run entities (task, acq, run, ...) as a sortable tuple."""
        return tuple((k, self.entities[k]) for k in _RUN_ENTITIES if k in self.entities)


def parse_bids_name(path: str | os.PathLike[str]) -> BidsName | None:
    """Parse ``path``'s name into entities, suffix and extension; None if it is not BIDS.

    The pre-standard ``..._svs_events.tsv`` (events named after the data file) parses as
    suffix ``events``.
    """
    p = Path(path)
    name = p.name
    ext = next((e for e in _EXTENSIONS if name.lower().endswith(e)), None)
    if ext is None:
        return None
    parts = name[: -len(ext)].split("_")
    if len(parts) < 2:
        return None
    suffix = parts[-1]
    body = parts[:-1]
    if suffix == "events" and body and body[-1] in ("svs", "mrsref"):
        body = body[:-1]
    entities: dict[str, str] = {}
    for part in body:
        m = _ENTITY.fullmatch(part)
        if m is None:
            return None
        entities[m.group(1)] = m.group(2)
    if "-" in suffix or not suffix:
        return None
    return BidsName(p, entities, suffix, ext)


@dataclass(frozen=True)
class MRSRun:
    """One metabolite acquisition of an ``mrs/`` folder and the files that belong to it.

    Attributes
    ----------
    svs : Path
    entities : dict of str to str
        The run entities of ``svs`` (task, acq, run, ...).
    ref : Path or None
        Water reference: ``ReferenceSignal`` of the sidecar, else the ``mrsref`` of the same
        run (or the folder's only one).
    ecc : Path or None
        Eddy-current reference: an ``mrsref`` whose ``acq`` label contains ``ecc``.
    events : Path or None
    """

    svs: Path
    entities: dict[str, str] = field(default_factory=dict)
    ref: Path | None = None
    ecc: Path | None = None
    events: Path | None = None


def _bids_root(path: Path) -> Path | None:
    for parent in path.resolve().parents:
        if (parent / "dataset_description.json").is_file():
            return parent
    return None


def read_sidecar(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read the JSON sidecar of a BIDS data file, with inheritance (``{}`` if none).

    Sidecars with the same suffix whose entities are a subset of the file's, from the dataset
    root (the folder holding ``dataset_description.json``) down to the file's folder, are
    merged; the more specific (deeper, then more entities) wins.

    Raises
    ------
    MRSFormatError
        A sidecar that is not a JSON object, naming it.
    """
    p = Path(path)
    me = parse_bids_name(p)
    if me is None:
        own = p.with_name(p.name.split(".nii")[0] + ".json")
        return _read_json(own) if own.is_file() else {}
    root = _bids_root(p) or p.parent
    folders = [p.parent.resolve()]
    while folders[-1] != root.resolve() and root.resolve() in folders[-1].parents:
        folders.append(folders[-1].parent)
    found: list[tuple[int, int, Path]] = []
    for depth, folder in enumerate(reversed(folders)):  # a loop over a few folders
        for candidate in folder.glob(f"*{me.suffix}.json"):
            other = parse_bids_name(candidate)
            if other is None or other.suffix != me.suffix:
                continue
            if all(me.entities.get(k) == v for k, v in other.entities.items()):
                found.append((depth, len(other.entities), candidate))
    merged: dict[str, Any] = {}
    for _, _, candidate in sorted(found):
        merged.update(_read_json(candidate))
    return merged


def _read_json(path: Path) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise MRSFormatError(f"unreadable JSON sidecar ({exc})", path) from None
    if not isinstance(value, dict):
        raise MRSFormatError("JSON sidecar is not an object", path)
    return value


#: sidecar key -> (MRSData field, scale to SI); header-extension keys are merged as they are
_SIDECAR_FIELDS = {
    "EchoTime": "echo_time",
    "RepetitionTime": "repetition_time",
    "SpectrometerFrequency": "spectrometer_frequency",
}


def _first(value: Any) -> Any:
    return value[0] if isinstance(value, list) and value else value


def apply_sidecar(
    data: MRSData, sidecar: dict[str, Any], *, source: str | os.PathLike[str] | None = None
) -> MRSData:
    """Fill what the NIfTI-MRS header lacks from the BIDS sidecar.

    A value present in both that disagrees keeps the NIfTI-MRS header's (the data file
    describes itself) and is logged as a warning naming both values.

    Parameters
    ----------
    data : MRSData
    sidecar : dict
        From :func:`read_sidecar`.
    source : path-like, optional
        Named in the warnings (default ``data.source``).

    Returns
    -------
    MRSData
    """
    label = source or data.source or "data"
    changes: dict[str, Any] = {}
    header = dict(data.header)
    for key, value in sidecar.items():
        target = _SIDECAR_FIELDS.get(key)
        if target is not None:
            new = _first(value)
            if not isinstance(new, int | float) or isinstance(new, bool) or not new > 0:
                continue
            old = getattr(data, target)
            if old is None:
                changes[target] = float(new)
                header[key] = value
            elif not np.isclose(float(old), float(new), rtol=1e-4):
                logger.warning(
                    "%s: %s is %g in the NIfTI-MRS header but %g in the BIDS sidecar; "
                    "using the header's",
                    label,
                    key,
                    float(old),
                    float(new),
                )
            continue
        if key not in header:
            header[key] = value
        elif header[key] != value and not isinstance(value, dict | list):
            logger.warning(
                "%s: %s is %r in the NIfTI-MRS header but %r in the BIDS sidecar; "
                "using the header's",
                label,
                key,
                header[key],
                value,
            )
    if not changes and header == data.header:
        return data
    return replace(data, header=header, **changes)


def load_bids_mrs(path: str | os.PathLike[str]) -> MRSData:
    """Read a NIfTI-MRS file and fill what its header lacks from its BIDS sidecar(s)."""
    from .nifti_mrs import load_mrs

    data = load_mrs(path)
    sidecar = read_sidecar(path)
    return apply_sidecar(data, sidecar, source=path) if sidecar else data


def _resolve_reference(value: Any, sidecar_path: Path, study: Path) -> Path:
    """Resolve a ``ReferenceSignal`` (``bids::`` URI or a path relative to the study)."""
    text = str(_first(value))
    rel = text[len("bids::") :] if text.startswith("bids::") else text
    if rel.startswith("/") or ".." in Path(rel).parts:
        raise StudyLayoutError(
            f"ReferenceSignal {text!r} must be a bids:: URI inside the dataset", sidecar_path
        )
    target = study / rel
    if not target.is_file():
        raise StudyLayoutError(
            f"ReferenceSignal {text!r} names a file that is missing", sidecar_path
        )
    return target


def tasks_in(mrs_dir: Path) -> set[str]:
    """List the ``task-`` labels of the ``svs`` files of an ``mrs/`` folder."""
    names = [parse_bids_name(p) for p in mrs_dir.glob("*_svs.nii*")]
    return {n.entities["task"] for n in names if n is not None and "task" in n.entities}


def _pick(
    candidates: list[BidsName], svs: BidsName, what: str, folder: Path, *, required_match: bool
) -> Path | None:
    """Pick the candidate of ``svs``'s run: same entities, else the only one not in conflict.

    A candidate whose ``task`` or ``run`` label differs from the data file's never belongs to
    it; among the rest, one with exactly the data's run entities wins, else the only one
    (unless ``required_match``: several data files share the folder and only an exact match
    counts).
    """
    mine = dict(svs.key())
    eligible = [
        c
        for c in candidates
        if all(c.entities.get(k, mine.get(k)) == mine.get(k, c.entities.get(k)) for k in _STRICT)
    ]
    exact = [c for c in eligible if dict(c.key()) == mine]
    if len(exact) == 1:
        return exact[0].path
    if len(eligible) == 1 and not required_match:
        return eligible[0].path
    if len(eligible) > 1:
        raise StudyLayoutError(
            f"cannot tell which {what} belongs to {svs.path.name}: "
            f"{', '.join(c.path.name for c in eligible)}",
            folder,
        )
    return None


def find_runs(mrs_dir: Path, study: Path, *, task: str | None = None) -> list[MRSRun]:
    """Find the metabolite acquisitions of an ``mrs/`` folder, their references and events.

    Parameters
    ----------
    mrs_dir : Path
        ``sub-XX[/ses-YY]/mrs``.
    study : Path
        The dataset root (``bids::`` URIs are relative to it).
    task : str, optional
        Keep only ``svs`` files of this ``task-`` label (with or without the prefix).

    Returns
    -------
    list of MRSRun
        Sorted by run entities; empty if no ``svs`` file matches.

    Raises
    ------
    StudyLayoutError
        A broken ``ReferenceSignal``, or references or events that cannot be told apart.
    """
    names = [n for n in map(parse_bids_name, sorted(mrs_dir.iterdir())) if n is not None]
    svs = [n for n in names if n.suffix == "svs" and n.extension in (".nii", ".nii.gz")]
    if task is not None:
        label = task[len("task-") :] if task.startswith("task-") else task
        svs = [n for n in svs if n.entities.get("task") == label]
    refs = [n for n in names if n.suffix == "mrsref" and n.extension in (".nii", ".nii.gz")]
    ecc = [n for n in refs if "ecc" in n.entities.get("acq", "").lower()]
    water = [n for n in refs if n not in ecc]
    events = [n for n in names if n.suffix == "events" and n.extension == ".tsv"]
    runs = []
    for s in sorted(svs, key=BidsName.key):
        sidecar_path = s.path.with_name(s.path.name[: -len(s.extension)] + ".json")
        sidecar = read_sidecar(s.path)
        ref: Path | None
        if "ReferenceSignal" in sidecar:
            ref = _resolve_reference(sidecar["ReferenceSignal"], sidecar_path, study)
        else:
            ref = _pick(water, s, "water reference (mrsref)", mrs_dir, required_match=False)
        runs.append(
            MRSRun(
                svs=s.path,
                entities=dict(s.key()),
                ref=ref,
                ecc=_pick(ecc, s, "ECC reference", mrs_dir, required_match=False),
                events=_pick(events, s, "events.tsv", mrs_dir, required_match=False),
            )
        )
    return runs
