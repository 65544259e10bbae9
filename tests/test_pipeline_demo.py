"""``mrspipe demo`` with the simulation and the steps replaced by test doubles.

The real simulation and numerics run in ``test_pipeline_e2e.py``; here the demo's own logic is
checked: folder layout, summary lines against the truth, resuming, refusing foreign folders.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_pipeline import CALLS, DOUBLES, make_study

import mrspipe.commands.demo as demo_cmd
from mrspipe.cli import main

SIMULATED: list[int] = []


def fake_simulate_demo_study(
    folder: Path, *, participants: int, transients: int, seed: int
) -> dict[str, Any]:
    """Test double of simulate_study: the tiny study of test_pipeline, with a small truth."""
    SIMULATED.append(participants)
    people = {f"sub-{i + 1:02d}": "MF"[i % 2] for i in range(participants)}
    make_study(folder.parent, people, study=folder)
    sessions = [
        {"participant_id": pid, "sex": sex, "condition": cond, "glu_percent_change_window": value}
        for pid, sex in people.items()
        for cond, value in (("naltrexone", 2.0), ("placebo", 8.0))
    ]
    truth = {"design": {"n_participants": participants}, "sessions": sessions}
    (folder / "truth.json").write_text(__import__("json").dumps(truth))
    return truth


def fake_simulate_demo_basis(folder: Path, truth: dict[str, Any]) -> Path:
    """Test double of the basis simulation: the basis file the step doubles read."""
    folder.write_text(" ".join(("Glu", "Gln", "Glx", "tNAA", "tCr", "tCho")))
    return folder


@pytest.fixture
def doubles(monkeypatch: pytest.MonkeyPatch) -> None:
    import mrspipe.commands.run as run_cmd

    CALLS.clear()
    SIMULATED.clear()
    monkeypatch.setattr(run_cmd, "pipeline_steps", lambda: DOUBLES)
    monkeypatch.setattr(demo_cmd, "simulate_demo_study", fake_simulate_demo_study)
    monkeypatch.setattr(demo_cmd, "simulate_demo_basis", fake_simulate_demo_basis)
    monkeypatch.setattr(demo_cmd, "FRAMES_PER_SESSION", 4)


def test_demo_runs_resumes_and_refuses(
    doubles: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "demo"
    args = ["demo", "--out", str(out), "--participants", "2", "--transients", "16", "--jobs", "1"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert f"report: {out / 'results' / 'report.html'}" in text
    assert "Glu response, naltrexone-placebo" in text
    assert "simulated -6.00 %" in text  # the truth double: 2 % - 8 %
    assert "4 of 4 sessions done" in text
    assert (out / "results" / "group" / "stats.tsv").is_file()
    assert not (out / ".study.partial").exists()
    assert SIMULATED == [2] and CALLS["fit"] == 4

    # same options: no new simulation, every session resumed
    CALLS.clear()
    assert main(args) == 0
    assert SIMULATED == [2] and CALLS["fit"] == 0

    # other options: refused without --overwrite, re-simulated with it
    other = ["demo", "--out", str(out), "--participants", "3", "--transients", "16", "--jobs", "1"]
    assert main(other) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main([*other, "--overwrite"]) == 0
    assert SIMULATED == [2, 3] and CALLS["fit"] == 6


def test_demo_refuses_a_foreign_folder(
    doubles: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["demo", "--out", str(tmp_path)]) == 2
    assert "not an mrspipe demo folder" in capsys.readouterr().err
    assert SIMULATED == [] and (tmp_path / "notes.txt").read_text() == "mine"


def test_demo_redoes_an_interrupted_simulation(doubles: None, tmp_path: Path) -> None:
    out = tmp_path / "demo"
    (out / ".study.partial" / "sub-01").mkdir(parents=True)
    (out / "demo.json").write_text('{"params": {}, "complete": false}')
    assert (
        main(
            ["demo", "--out", str(out), "--participants", "2", "--transients", "16", "--jobs", "1"]
        )
        == 0
    )
    assert SIMULATED == [2] and not (out / ".study.partial").exists()


@pytest.mark.parametrize("transients", [32, 128, 240, 1000])
def test_demo_design_fits_the_scan(transients: int) -> None:
    """The infusion starts on a frame boundary after some baseline and ends with the scan."""
    d = demo_cmd.demo_design(transients)
    scan = transients * d["tr"]
    assert 0 < d["infusion_onset"] < scan
    assert d["infusion_onset"] + d["infusion_duration"] == pytest.approx(scan)
    assert (d["infusion_onset"] / d["tr"]) % d["block"] == 0
    assert d["response_tau"] < d["infusion_duration"]


def test_truth_contrast_uses_the_estimates_frames_and_windows() -> None:
    """The printed truth averages the simulated Glu over the pipeline's frames, not transients.

    Glu steps from 10 to 11 mM at transient 6 of 12 (3 s apart, onset at 15 s): transient by
    transient the post-onset mean is 10.5 (the simulator's record, 5 %); in frames of 4 the
    frame of transients 4-7 (centre 16.5 s) is post-onset and holds 10.5, so the response
    mean is (10.5 + 11) / 2 and the baseline (one frame) 10: +7.5 %.
    """
    import numpy as np

    glu = np.r_[np.full(6, 10.0), np.full(6, 11.0)]
    sessions = [
        {
            "participant_id": "sub-01",
            "session_id": "ses-1",
            "condition": "naltrexone",
            "sex": "M",
            "glu_mM": list(np.full(12, 10.0)),
            "glu_percent_change_window": 0.0,
        },
        {
            "participant_id": "sub-01",
            "session_id": "ses-2",
            "condition": "placebo",
            "sex": "M",
            "glu_mM": list(glu),
            "glu_percent_change_window": 5.0,
        },
    ]
    truth = {
        "design": {"n_transients": 12, "tr": 3.0, "infusion_onset": 15.0},
        "sessions": sessions,
    }
    assert demo_cmd.truth_contrast(truth, ("naltrexone", "placebo"), "M", block=4) == pytest.approx(
        -7.5
    )
    assert demo_cmd.session_truth(truth, block=4)[("sub-01", "ses-2")] == pytest.approx(7.5)
    # without per-transient truth: the recorded value
    for s in sessions:
        del s["glu_mM"]
    assert demo_cmd.truth_contrast(
        truth, ("naltrexone", "placebo"), "all", block=4
    ) == pytest.approx(-5.0)
