"""Crossover participants with a missing or a third session: analysed on what is complete."""

from __future__ import annotations

import dataclasses
import logging
import shutil
from pathlib import Path

import pandas as pd
import pytest
from test_pipeline import CONFIG, DOUBLES, make_study

from mrspipe.io.tables import read_table
from mrspipe.pipeline import run_study
from mrspipe.pipeline.design import first_sessions, incomplete_participants
from mrspipe.pipeline.steps import default_stats


def _retable(study: Path, pid: str, rows: list[tuple[str, str]]) -> None:
    pd.DataFrame(rows, columns=["session_id", "condition"]).to_csv(
        study / pid / f"{pid}_sessions.tsv", sep="\t", index=False
    )


def test_missing_and_third_sessions(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    people = {"sub-01": "M", "sub-02": "F", "sub-03": "M", "sub-04": "F"}
    study, basis = make_study(tmp_path, people)
    # sub-01 lost its second session
    shutil.rmtree(study / "sub-01" / "ses-2")
    _retable(study, "sub-01", [("ses-1", "placebo")])
    # sub-02 came back for a third session, a repeat of its first condition
    src, dest = study / "sub-02" / "ses-1", study / "sub-02" / "ses-3"
    (dest / "mrs").mkdir(parents=True)
    for f in (src / "mrs").iterdir():
        shutil.copyfile(f, dest / "mrs" / f.name.replace("ses-1", "ses-3"))
    _retable(
        study, "sub-02", [("ses-1", "naltrexone"), ("ses-2", "placebo"), ("ses-3", "naltrexone")]
    )
    steps = dataclasses.replace(DOUBLES, stats=default_stats)
    config = CONFIG.with_overrides({"stats.mixed_model": False})
    with caplog.at_level(logging.WARNING, logger="mrspipe"):
        result = run_study(study, tmp_path / "out", basis=basis, config=config, steps=steps)
    assert result.exit_status == 0 and not result.errors
    text = caplog.text
    assert "sub-01: no naltrexone session; analysed on what is complete" in text
    assert "sub-02: 2 naltrexone sessions (ses-1, ses-3); the first is analysed" in text
    responses = read_table(tmp_path / "out" / "group" / "responses.tsv")
    assert responses.groupby("participant_id")["session_id"].nunique().to_dict() == {
        "sub-01": 1,
        "sub-02": 3,
        "sub-03": 2,
        "sub-04": 2,
    }  # every session processed and tabled
    stats = read_table(tmp_path / "out" / "group" / "stats.tsv")
    paired = stats[(stats["analysis"] == "paired") & (stats["subgroup"] == "all")]
    assert set(paired["n"]) == {3}  # sub-02 (first sessions), sub-03, sub-04
    means = stats[(stats["analysis"] == "condition_mean") & (stats["subgroup"] == "all")]
    assert set(means[means["term"] == "placebo"]["n"]) == {4}  # sub-01's one session counts


def test_design_helpers() -> None:
    class S:
        def __init__(self, pid, sid, cond):
            self.participant_id, self.session_id, self.condition = pid, sid, cond

    sessions = [S("sub-1", "ses-1", "a"), S("sub-1", "ses-10", "b"), S("sub-1", "ses-2", "b")]
    assert incomplete_participants(sessions, ("a", "b")) == {
        "sub-1": "2 b sessions (ses-2, ses-10); the first is analysed"
    }
    assert incomplete_participants(sessions, ()) == {}
    table = pd.DataFrame(
        {
            "participant_id": ["sub-1"] * 3,
            "session_id": ["ses-1", "ses-10", "ses-2"],
            "condition": ["a", "b", "b"],
            "x": [1, 2, 3],
        }
    )
    assert list(first_sessions(table, ("a", "b"))["x"]) == [1, 3]  # ses-2 comes before ses-10
    assert first_sessions(table, ()) is table
