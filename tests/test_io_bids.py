"""MRS-BIDS study layout: reading hand-made layouts, and broken ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mrspipe.data import MRSData
from mrspipe.errors import StudyLayoutError
from mrspipe.io import bids
from mrspipe.io.nifti_mrs import load_mrs


def _tiny(n_dyn: int = 3) -> MRSData:
    fids = (np.arange(n_dyn * 8).reshape(n_dyn, 8) + 1j).astype(np.complex64)
    return MRSData(
        fids=fids,
        dwell_time=2.5e-4,
        spectrometer_frequency=123.2,
        dims=("dyn",),
        frame_times=np.arange(n_dyn) * 2.0,
    )


def _study(root: Path, *, sessions_table: bool = True) -> Path:
    bids.write_participants(
        root,
        pd.DataFrame(
            {"participant_id": ["sub-01", "sub-02"], "sex": ["M", "female"], "age": [30, 41]}
        ),
    )
    events = pd.DataFrame({"onset": [60.0], "duration": [600.0], "trial_type": ["ketamine"]})
    for pid, order in (
        ("sub-01", ("naltrexone", "placebo")),
        ("sub-02", ("placebo", "naltrexone")),
    ):
        for k in range(len(order)):
            bids.write_session(
                root,
                pid,
                f"ses-{k + 1}",
                svs=_tiny(),
                ref=_tiny(1) if k == 0 else None,
                events=events,
            )
        if sessions_table:
            bids.write_sessions_table(
                root,
                pid,
                pd.DataFrame(
                    {"session_id": ["ses-1", "ses-2"], "condition": list(order), "scan_day": [1, 8]}
                ),
            )
    return root


def test_find_sessions_reads_the_layout(tmp_path):
    study = _study(tmp_path / "study")
    sessions = bids.find_sessions(study)
    assert [(s.participant_id, s.session_id, s.condition, s.sex) for s in sessions] == [
        ("sub-01", "ses-1", "naltrexone", "M"),
        ("sub-01", "ses-2", "placebo", "M"),
        ("sub-02", "ses-1", "placebo", "F"),
        ("sub-02", "ses-2", "naltrexone", "F"),
    ]
    first = sessions[0]
    assert first.svs_path.name == "sub-01_ses-1_svs.nii.gz"
    assert first.ref_path is not None and first.ref_path.name == "sub-01_ses-1_mrsref.nii.gz"
    assert sessions[1].ref_path is None
    assert first.events_path.name == "sub-01_ses-1_svs_events.tsv"
    assert first.extra == {"age": 30, "scan_day": 1}
    data = load_mrs(first.svs_path)
    np.testing.assert_allclose(data.frame_times, [0.0, 2.0, 4.0])
    np.testing.assert_allclose(data.fids, _tiny().fids)
    events = bids.read_events(first.events_path)
    assert events["onset"].tolist() == [60.0] and events["trial_type"].tolist() == ["ketamine"]


def test_sessions_without_table_have_no_condition(tmp_path):
    study = _study(tmp_path / "s", sessions_table=False)
    sessions = bids.find_sessions(study)
    assert len(sessions) == 4 and all(s.condition is None for s in sessions)


def test_single_session_participant_without_ses_folder(tmp_path):
    root = tmp_path / "s"
    bids.write_participants(root, pd.DataFrame({"participant_id": ["sub-01"], "sex": ["n/a"]}))
    mrs = root / "sub-01" / "mrs"
    from mrspipe.io.nifti_mrs import save_mrs

    save_mrs(_tiny(), mrs / "sub-01_svs.nii.gz")
    (session,) = bids.find_sessions(root)
    assert session.session_id is None and session.sex is None and session.condition is None


def test_read_participants_normalises_sex(tmp_path):
    study = _study(tmp_path / "s")
    df = bids.read_participants(study)
    assert df["sex"].tolist() == ["M", "F"]


def _break(study: Path, what: str) -> str:
    """Break a valid study; return the file name the error must mention."""
    if what == "no participants":
        (study / "participants.tsv").unlink()
        return "participants.tsv"
    if what == "no svs":
        (study / "sub-02" / "ses-1" / "mrs" / "sub-02_ses-1_svs.nii.gz").unlink()
        return "sub-02/ses-1/mrs"
    if what == "no condition":
        path = study / "sub-01" / "sub-01_sessions.tsv"
        path.write_text("session_id\tdrug\nses-1\ta\nses-2\tb\n")
        return "sub-01_sessions.tsv"
    if what == "unlisted participant":
        (study / "sub-03").mkdir()
        return "participants.tsv"
    if what == "session without row":
        (study / "sub-01" / "ses-3" / "mrs").mkdir(parents=True)
        return "sub-01_sessions.tsv"
    if what == "row without session":
        path = study / "sub-02" / "sub-02_sessions.tsv"
        path.write_text("session_id\tcondition\nses-1\ta\nses-2\tb\nses-4\tc\n")
        return "sub-02_sessions.tsv"
    if what == "bad sex":
        (study / "participants.tsv").write_text("participant_id\tsex\nsub-01\tX\nsub-02\tF\n")
        return "participants.tsv"
    if what == "no participant_id":
        (study / "participants.tsv").write_text("id\tsex\nsub-01\tM\n")
        return "participants.tsv"
    if what == "two references":
        mrs = study / "sub-01" / "ses-1" / "mrs"
        ref = mrs / "sub-01_ses-1_mrsref.nii.gz"
        (mrs / "sub-01_ses-1_acq-x_mrsref.nii.gz").write_bytes(ref.read_bytes())
        ref.rename(mrs / "sub-01_ses-1_acq-y_mrsref.nii.gz")
        return "sub-01/ses-1/mrs"
    if what == "listed participant without folder":
        (study / "participants.tsv").write_text(
            "participant_id\tsex\nsub-01\tM\nsub-02\tF\nsub-09\tM\n"
        )
        return "sub-09"
    raise AssertionError(what)


@pytest.mark.parametrize(
    "what",
    [
        "no participants",
        "no svs",
        "no condition",
        "unlisted participant",
        "session without row",
        "row without session",
        "bad sex",
        "no participant_id",
        "two references",
        "listed participant without folder",
    ],
)
def test_broken_layouts_name_the_file(tmp_path, what):
    study = _study(tmp_path / "study")
    name = _break(study, what)
    with pytest.raises(StudyLayoutError) as info:
        bids.find_sessions(study)
    assert name in str(info.value).replace("\\", "/")


def test_missing_study_folder(tmp_path):
    with pytest.raises(StudyLayoutError, match="does not exist"):
        bids.find_sessions(tmp_path / "nope")


def test_read_events_requires_numeric_onset(tmp_path):
    path = tmp_path / "e.tsv"
    path.write_text("onset\tduration\nsoon\t3\n")
    with pytest.raises(StudyLayoutError, match="onset"):
        bids.read_events(path)
    path.write_text("start\tduration\n1\t3\n")
    with pytest.raises(StudyLayoutError, match="onset"):
        bids.read_events(path)
    with pytest.raises(StudyLayoutError, match="no such"):
        bids.read_events(tmp_path / "missing.tsv")


def test_dataset_description(tmp_path):
    import json

    path = bids.write_dataset_description(tmp_path, "x")
    assert json.loads(path.read_text())["BIDSVersion"] == bids.BIDS_VERSION
