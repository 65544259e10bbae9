"""Attack suite, paths and user strings: traversal, symlinks, HTML and mathtext injection.

See ``attack_helpers.py`` for what every attack checks (exit status, one-line message,
nothing written outside OUT, inputs unchanged).
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from attack_helpers import one_line_error, posix_only, snapshot
from test_pipeline import CALLS, DOUBLES, PEOPLE, fake_find_sessions, make_study

from mrspipe.cli import main
from mrspipe.errors import StudyLayoutError
from mrspipe.io._paths import check_entities, check_label
from mrspipe.io.derivatives import session_paths
from mrspipe.pipeline.steps import default_find_sessions

#: the doubles of test_pipeline with the real MRS-BIDS discovery
REAL_BIDS = dataclasses.replace(DOUBLES, find_sessions=default_find_sessions)


@pytest.fixture
def steps(monkeypatch: pytest.MonkeyPatch) -> None:
    import mrspipe.commands.run as run_cmd

    CALLS.clear()
    monkeypatch.setattr(run_cmd, "pipeline_steps", lambda: REAL_BIDS)


def _run(study: Path, out: Path, basis: Path, *extra: str) -> int:
    return main(["run", str(study), str(out), "--basis", str(basis), "--block", "4", *extra])


def _add_participant(study: Path, pid: str, sex: str = "M") -> None:
    table = pd.read_csv(study / "participants.tsv", sep="\t", dtype=str)
    table.loc[len(table)] = [pid, sex]
    table.to_csv(study / "participants.tsv", sep="\t", index=False)


@posix_only
def test_traversal_in_participant_id_writes_nothing_outside_out(
    steps: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 15 attack 1: a participants.tsv row sub-05/../../x/ESCAPED with real folders."""
    study, basis = make_study(tmp_path, PEOPLE)
    # a real target the traversal reaches (through the in-study folder sub-01)
    target = tmp_path / "x" / "ESCAPED"
    shutil.copytree(study / "sub-01" / "ses-1", target / "ses-1")
    assert (study / "sub-01/../../x/ESCAPED").resolve() == target.resolve()
    _add_participant(study, "sub-01/../../x/ESCAPED")
    out = tmp_path / "out"
    before, inputs = snapshot(tmp_path, exclude=out), snapshot(study)
    assert _run(study, out, basis) == 2
    one_line_error(
        capsys.readouterr().err, "participant_id", "sub-01/../../x/ESCAPED", "BIDS label"
    )
    assert snapshot(tmp_path, exclude=out) == before and snapshot(study) == inputs
    assert CALLS["preprocess"] == 0


def hostile_find_sessions(study: Path) -> list[Any]:
    """Discovery that lets hostile ids through (a stand-in for a careless plug-in step)."""
    sessions = fake_find_sessions(study)
    hostile = {"sub-02": "sub-02/../../../elsewhere", "sub-03": "sub-0$x$"}
    return [
        dataclasses.replace(s, participant_id=hostile.get(s.participant_id, s.participant_id))
        for s in sessions
    ]


def test_traversal_that_bypasses_discovery_is_caught_at_the_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every session's output folder is checked before any work, whatever found the sessions;
    the error lists every offender."""
    import mrspipe.commands.run as run_cmd

    CALLS.clear()
    steps = dataclasses.replace(DOUBLES, find_sessions=hostile_find_sessions)
    monkeypatch.setattr(run_cmd, "pipeline_steps", lambda: steps)
    study, basis = make_study(tmp_path, PEOPLE)
    (tmp_path / "elsewhere").mkdir()
    out = tmp_path / "out"
    before = snapshot(tmp_path, exclude=out)
    assert _run(study, out, basis) == 2
    one_line_error(capsys.readouterr().err, "2 session label problem(s)", "elsewhere", "sub-0$x$")
    assert snapshot(tmp_path, exclude=out) == before and CALLS["preprocess"] == 0


@pytest.mark.parametrize(
    "bad", ["sub-01/..", "sub-../../tmp", "sub-0 1", "sub-$x$", "sub-<b>", "sub-", "sub-01_x"]
)
def test_hostile_participant_labels_are_refused(bad: str) -> None:
    with pytest.raises(StudyLayoutError, match="BIDS label"):
        check_label(bad, "sub")
    with pytest.raises(StudyLayoutError, match="BIDS label"):
        session_paths("/tmp/out", bad, "ses-1")


def test_entity_chains_of_other_layouts_are_accepted(tmp_path: Path) -> None:
    """task-, acq-, run- entities (and no ses- level) make valid output folders."""
    assert check_entities("ses-1_task-rest_run-2") == "ses-1_task-rest_run-2"
    assert check_entities("task-fmrs_acq-press") == "task-fmrs_acq-press"
    assert session_paths(tmp_path, "sub-01", None).folder == tmp_path / "sub-01"
    assert session_paths(tmp_path, "01", "1").prefix == "sub-01_ses-1"
    for bad in ("ses-1/../..", "ses-1_", "evil-1", "task-a b", "ses-1_task-$x$"):
        with pytest.raises(StudyLayoutError):
            check_entities(bad)


@posix_only
def test_hostile_session_ids_are_refused(
    steps: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    study, basis = make_study(tmp_path, PEOPLE)
    table = study / "sub-02" / "sub-02_sessions.tsv"
    table.write_text(table.read_text().replace("ses-2", "ses-2/../../../../escaped"))
    out = tmp_path / "out"
    before = snapshot(tmp_path, exclude=out)
    assert _run(study, out, basis) == 2
    one_line_error(capsys.readouterr().err, "session_id", "BIDS label", "sub-02_sessions.tsv")
    assert snapshot(tmp_path, exclude=out) == before


@posix_only
def test_symlink_leaving_the_study_is_refused(
    steps: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    study, basis = make_study(tmp_path, PEOPLE)
    outside = tmp_path / "private.nii.gz"
    svs = study / "sub-02" / "ses-1" / "mrs" / "sub-02_ses-1_svs.nii.gz"
    svs.rename(outside)
    svs.symlink_to(outside)
    out = tmp_path / "out"
    before = snapshot(tmp_path, exclude=out)
    assert _run(study, out, basis) == 2
    one_line_error(capsys.readouterr().err, "symlink leads outside the study", "sub-02_ses-1_svs")
    assert snapshot(tmp_path, exclude=out) == before
    assert CALLS["preprocess"] == 0


@posix_only
def test_symlink_inside_the_study_is_fine(
    steps: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    study, basis = make_study(tmp_path, PEOPLE)
    store = study / "sourcedata"
    store.mkdir()
    svs = study / "sub-02" / "ses-1" / "mrs" / "sub-02_ses-1_svs.nii.gz"
    svs.rename(store / svs.name)
    svs.symlink_to(Path("../../../sourcedata") / svs.name)
    assert _run(study, tmp_path / "out", basis) == 0


@posix_only
@pytest.mark.parametrize("planted", ["sub-01", "group"])
def test_symlink_planted_in_out_is_refused(
    steps: None, tmp_path: Path, capsys: pytest.CaptureFixture[str], planted: str
) -> None:
    """OUT/sub-01 (or OUT/group) replaced by a symlink to another folder: nothing goes there."""
    study, basis = make_study(tmp_path, PEOPLE)
    out = tmp_path / "out"
    assert _run(study, out, basis) == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.rmtree(out / planted)
    (out / planted).symlink_to(elsewhere, target_is_directory=True)
    before = snapshot(tmp_path, exclude=out)
    CALLS.clear()
    assert _run(study, out, basis, "--overwrite") == 2
    one_line_error(capsys.readouterr().err, "outside")
    assert CALLS["preprocess"] == 0
    assert snapshot(tmp_path, exclude=out) == before
    assert not any(elsewhere.iterdir())
