"""Write an MRS-BIDS study: dataset description, participants, sessions, phenotype.

The layout is described in :mod:`mrspipe.io.bids` (which also finds the sessions of a study
and re-exports these writers); :mod:`mrspipe.simulate` writes its synthetic studies with them.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..data import MRSData
from .nifti_mrs import save_mrs
from .tables import write_json, write_table

__all__ = [
    "BIDS_VERSION",
    "write_dataset_description",
    "write_participants",
    "write_sessions_table",
    "write_session",
    "write_phenotype",
]

#: the BIDS version mrspipe writes (raw studies and derivatives)
BIDS_VERSION = "1.10.0"


def write_dataset_description(study_dir: str | os.PathLike[str], name: str) -> Path:
    """Write ``dataset_description.json`` (BIDS raw dataset)."""
    return write_json(
        Path(study_dir) / "dataset_description.json",
        {
            "Name": name,
            "BIDSVersion": BIDS_VERSION,
            "DatasetType": "raw",
            "GeneratedBy": [{"Name": "mrspipe"}],
        },
    )


def write_participants(study_dir: str | os.PathLike[str], df: Any) -> Path:
    """Write ``participants.tsv`` (+ JSON sidecar describing ``sex``)."""
    sidecar = {
        "sex": {"Description": "sex of the participant", "Levels": {"M": "male", "F": "female"}}
    }
    return write_table(df, Path(study_dir) / "participants.tsv", sidecar=sidecar)


def write_sessions_table(study_dir: str | os.PathLike[str], participant_id: str, df: Any) -> Path:
    """Write ``sub-XX/sub-XX_sessions.tsv``."""
    path = Path(study_dir) / participant_id / f"{participant_id}_sessions.tsv"
    return write_table(df, path)


def write_session(
    study_dir: str | os.PathLike[str],
    participant_id: str,
    session_id: str,
    *,
    svs: MRSData,
    ref: MRSData | None = None,
    events: Any = None,
) -> dict[str, Path]:
    """Write one session's files under ``sub-XX/ses-N/mrs/``.

    Returns
    -------
    dict
        Paths written, keys ``svs``, ``ref``, ``events`` (those given).
    """
    mrs = Path(study_dir) / participant_id / session_id / "mrs"
    stem = f"{participant_id}_{session_id}"
    out = {"svs": save_mrs(svs, mrs / f"{stem}_svs.nii.gz")}
    if ref is not None:
        out["ref"] = save_mrs(ref, mrs / f"{stem}_mrsref.nii.gz")
    if events is not None:
        out["events"] = write_table(events, mrs / f"{stem}_svs_events.tsv")
    return out


def write_phenotype(
    study_dir: str | os.PathLike[str], name: str, df: Any, sidecar: dict[str, Any] | None = None
) -> Path:
    """Write ``phenotype/<name>.tsv``."""
    return write_table(df, Path(study_dir) / "phenotype" / f"{name}.tsv", sidecar=sidecar)
