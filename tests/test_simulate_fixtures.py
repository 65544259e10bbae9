"""The committed tiny study in fixtures/ is readable and agrees with its truth and script."""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest
from conftest import FIXTURES

from mrspipe.io.bids import find_sessions, read_events
from mrspipe.io.nifti_mrs import load_mrs

STUDY = FIXTURES / "study"


@pytest.fixture(scope="module")
def truth():
    if not STUDY.is_dir():
        pytest.skip("fixtures/study is absent; run fixtures/make_fixtures.py")
    return json.loads((STUDY / "truth.json").read_text())


def test_fixture_study_matches_truth(truth):
    sessions = find_sessions(STUDY)
    assert len(sessions) == len(truth["sessions"]) == 8
    expected = {(s["participant_id"], s["session_id"]): s for s in truth["sessions"]}
    design = truth["design"]
    for session in sessions:
        t = expected[(session.participant_id, session.session_id)]
        assert session.condition == t["condition"] and session.sex == t["sex"]
        data = load_mrs(session.svs_path)
        assert data.fids.shape == (design["n_transients"], design["n_points"])
        np.testing.assert_allclose(
            data.frame_times, np.arange(design["n_transients"]) * design["tr"]
        )
        assert read_events(session.events_path)["onset"].tolist() == [design["infusion_onset"]]
    total = sum(p.stat().st_size for p in STUDY.rglob("*") if p.is_file())
    assert total < 500_000


def test_fixture_was_made_by_the_script(truth):
    spec = importlib.util.spec_from_file_location("make_fixtures", FIXTURES / "make_fixtures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    design = truth["design"]
    for key in (
        "n_participants",
        "n_transients",
        "tr",
        "n_points",
        "dwell_time",
        "infusion_onset",
        "response_tau",
    ):
        assert design[key] == module.SETTINGS[key]
