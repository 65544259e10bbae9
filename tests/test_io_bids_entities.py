"""MRS-BIDS as the standard describes it: entities, several tasks, sidecars, ReferenceSignal."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np
import pytest

from mrspipe.data import MRSData
from mrspipe.errors import StudyLayoutError
from mrspipe.io import bids
from mrspipe.io.bids_files import apply_sidecar, load_bids_mrs, parse_bids_name, read_sidecar
from mrspipe.io.nifti_mrs import save_mrs

LAYOUT = "bids_examples_mrs_fmrs"


def _copy_layout(shared: Path, dest: Path) -> Path:
    """The example's small text files (never the placeholders) into ``dest``."""
    src = shared / LAYOUT
    for path in src.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".tsv", ".md"):
            target = dest / path.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    return dest


def _tiny(n_dyn=3, te=None):
    fids = (np.arange(n_dyn * 8).reshape(n_dyn, 8) + 1j).astype(np.complex64)
    return MRSData(fids, 5e-4, 127.7, dims=("dyn",), echo_time=te)


def test_parse_bids_name():
    name = parse_bids_name("sub-01_ses-2_task-pain_acq-press_run-3_svs.nii.gz")
    assert name is not None
    assert name.entities == {"sub": "01", "ses": "2", "task": "pain", "acq": "press", "run": "3"}
    assert (name.suffix, name.extension) == ("svs", ".nii.gz")
    legacy = parse_bids_name("sub-01_ses-1_svs_events.tsv")
    assert (
        legacy is not None
        and legacy.suffix == "events"
        and legacy.entities
        == {
            "sub": "01",
            "ses": "1",
        }
    )
    assert parse_bids_name("notes.txt") is None


@pytest.mark.shared_data
def test_real_fmrs_layout(shared_data):
    with pytest.raises(StudyLayoutError, match=r"several tasks \(baseline, pain\).*--task-id"):
        bids.find_sessions(shared_data / LAYOUT)
    sessions = bids.find_sessions(shared_data / LAYOUT, task="pain")
    assert len(sessions) == 15
    for s in sessions:
        assert s.session_id is None and s.condition is None and s.task == "pain"
        assert s.svs_path.name == f"{s.participant_id}_task-pain_svs.nii.gz"
        assert s.ref_path is not None  # from the ReferenceSignal bids:: URI
        assert s.ref_path.name == f"{s.participant_id}_task-pain_mrsref.nii.gz"
        assert s.events_path is not None and s.events_path.name.endswith("task-pain_events.tsv")
    events = bids.read_events(sessions[0].events_path)
    assert "pain_rating" in events.columns and "heat" in set(events["trial_type"])
    base = bids.find_sessions(shared_data / LAYOUT, task="task-baseline", participant_labels=["02"])
    assert [(s.participant_id, s.events_path) for s in base] == [("sub-02", None)]
    with pytest.raises(StudyLayoutError, match="tasks found are baseline, pain"):
        bids.find_sessions(shared_data / LAYOUT, task="rest")
    with pytest.raises(StudyLayoutError, match="sub-99"):
        bids.find_sessions(shared_data / LAYOUT, task="pain", participant_labels=["99"])


@pytest.mark.shared_data
def test_sidecar_fills_the_header_and_warns_on_conflict(shared_data, tmp_path, caplog):
    study = _copy_layout(shared_data, tmp_path / "study")
    mrs = study / "sub-01" / "mrs"
    path = save_mrs(_tiny(), mrs / "sub-01_task-pain_svs.nii.gz")
    data = load_bids_mrs(path)
    assert data.echo_time == pytest.approx(0.022)  # the NIfTI header had none
    assert data.repetition_time == pytest.approx(4.0)
    assert data.header["PulseSequenceType"] == "PRESS"
    save_mrs(_tiny(te=0.03), path)
    with caplog.at_level(logging.WARNING, logger="mrspipe"):
        data = load_bids_mrs(path)
    assert data.echo_time == pytest.approx(0.03)
    assert any("EchoTime is 0.03" in r.message and "0.022" in r.message for r in caplog.records)


def test_sidecar_inheritance_and_runs(tmp_path):
    study = tmp_path / "study"
    (study / "sub-01" / "mrs").mkdir(parents=True)
    (study / "dataset_description.json").write_text('{"Name": "x", "BIDSVersion": "1.10.0"}')
    (study / "participants.tsv").write_text("participant_id\tsex\nsub-01\tF\n")
    (study / "task-rest_svs.json").write_text(json.dumps({"EchoTime": 0.03, "Site": "A"}))
    mrs = study / "sub-01" / "mrs"
    for run in (1, 2):
        save_mrs(_tiny(), mrs / f"sub-01_task-rest_run-{run}_svs.nii.gz")
        (mrs / f"sub-01_task-rest_run-{run}_events.tsv").write_text("onset\tduration\n1\t2\n")
    (mrs / "sub-01_task-rest_run-2_svs.json").write_text(json.dumps({"Site": "B"}))
    save_mrs(_tiny(1), mrs / "sub-01_task-rest_mrsref.nii.gz")
    save_mrs(_tiny(1), mrs / "sub-01_task-rest_acq-ecc_mrsref.nii.gz")
    assert read_sidecar(mrs / "sub-01_task-rest_run-1_svs.nii.gz") == {
        "EchoTime": 0.03,
        "Site": "A",
    }
    assert read_sidecar(mrs / "sub-01_task-rest_run-2_svs.nii.gz")["Site"] == "B"
    sessions = bids.find_sessions(study)
    assert [s.session_id for s in sessions] == ["run-1", "run-2"]
    assert [s.events_path.name for s in sessions] == [
        "sub-01_task-rest_run-1_events.tsv",
        "sub-01_task-rest_run-2_events.tsv",
    ]
    assert {s.ref_path.name for s in sessions} == {"sub-01_task-rest_mrsref.nii.gz"}
    assert {s.ecc_path.name for s in sessions} == {"sub-01_task-rest_acq-ecc_mrsref.nii.gz"}


def test_broken_reference_signal_names_the_sidecar(tmp_path):
    study = tmp_path / "study"
    mrs = study / "sub-01" / "mrs"
    mrs.mkdir(parents=True)
    (study / "participants.tsv").write_text("participant_id\tsex\nsub-01\tF\n")
    save_mrs(_tiny(), mrs / "sub-01_task-x_svs.nii.gz")
    (mrs / "sub-01_task-x_svs.json").write_text(
        json.dumps({"ReferenceSignal": "bids::sub-01/mrs/missing_mrsref.nii.gz"})
    )
    with pytest.raises(StudyLayoutError, match="sub-01_task-x_svs.json.*missing"):
        bids.find_sessions(study)
    (mrs / "sub-01_task-x_svs.json").write_text(
        json.dumps({"ReferenceSignal": "bids::../../etc/passwd"})
    )
    with pytest.raises(StudyLayoutError, match="inside the dataset"):
        bids.find_sessions(study)


def test_apply_sidecar_keeps_what_the_header_has():
    data = _tiny(te=0.02)
    out = apply_sidecar(data, {"EchoTime": 0.02, "RepetitionTime": [2.0], "Manufacturer": "X"})
    assert out.repetition_time == 2.0 and out.header["Manufacturer"] == "X"
    assert apply_sidecar(data, {}) is data
