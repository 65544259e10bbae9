"""``mrspipe run`` on the command line, with the step doubles of test_pipeline injected."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_pipeline import CALLS, DOUBLES, PEOPLE, make_study, tree_digest

from mrspipe.cli import main
from mrspipe.io.tables import read_table


@pytest.fixture
def doubles(monkeypatch: pytest.MonkeyPatch) -> None:
    import mrspipe.commands.run as run_cmd

    CALLS.clear()
    monkeypatch.setattr(run_cmd, "pipeline_steps", lambda: DOUBLES)


def test_run_cli_success_and_resume(
    doubles: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    study, basis = make_study(tmp_path, PEOPLE)
    before = tree_digest(study)
    out = tmp_path / "out"
    args = [
        "run",
        str(study),
        str(out),
        "--basis",
        str(basis),
        "--block",
        "4",
        "--baseline-window",
        "-30",
        "0",
        "--response-window",
        "0",
        "30",
        "--jobs",
        "2",
    ]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert "6 of 6 sessions done" in captured.out and "report.html" in captured.out
    run = read_table(out / "group" / "responses.tsv")
    assert len(run) == 6 * 6
    assert main(args) == 0
    assert "(6 resumed)" in capsys.readouterr().out
    assert tree_digest(study) == before


def test_run_cli_failing_session_exit_1(
    doubles: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    study, basis = make_study(tmp_path, PEOPLE, corrupt=("sub-03", "ses-2"))
    out = tmp_path / "out"
    assert main(["run", str(study), str(out), "--basis", str(basis), "--block", "4"]) == 1
    captured = capsys.readouterr()
    assert "sub-03 ses-2 failed at load" in captured.err
    assert "Traceback" not in captured.err
    assert "failed: sub-03/ses-2" in captured.out
    assert read_table(out / "errors.tsv")["session_id"].tolist() == ["ses-2"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--config", "{bad}"], "unknown key 'bakend' in [fit]"),
        (["--config", "{missing}"], "no such configuration file"),
        (["--baseline-window", "0", "-60"], "start must be before end"),
        (["--conditions", "naltrexone", "saline"], "outside the contrast"),
        (["--config", "{folder}"], "is a folder, expected a study.toml file"),
    ],
)
def test_run_cli_input_errors_exit_2(
    doubles: None,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    study, basis = make_study(tmp_path, PEOPLE)
    bad = tmp_path / "bad.toml"
    bad.write_text("[fit]\nbakend = 'numpy'\n")
    extra = [e.format(bad=bad, missing=tmp_path / "missing.toml", folder=tmp_path) for e in extra]
    out = tmp_path / "out"
    assert main(["run", str(study), str(out), "--basis", str(basis), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert CALLS["preprocess"] == 0 and not out.exists()


def test_run_cli_missing_study_and_basis(
    doubles: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    study, basis = make_study(tmp_path, PEOPLE)
    assert main(["run", str(tmp_path / "nope"), str(tmp_path / "o"), "--basis", str(basis)]) == 2
    assert "no such study folder" in capsys.readouterr().err
    assert main(["run", str(study), str(tmp_path / "o"), "--basis", str(tmp_path / "nope")]) == 2
    assert "no such basis set" in capsys.readouterr().err
    empty = tmp_path / "empty.txt"
    empty.write_text("")
    assert main(["run", str(study), str(tmp_path / "o"), "--basis", str(empty)]) == 2
    assert "empty basis" in capsys.readouterr().err
    assert main(["run", str(study), str(tmp_path / "o")]) == 2  # --basis is required
    assert (
        main(
            [
                "run",
                str(study),
                str(tmp_path / "o"),
                "--basis",
                str(basis),
                "--block",
                "4",
                "--window",
                "8",
            ]
        )
        == 2
    )  # mutually exclusive
    assert main(["run", str(study), str(tmp_path / "o"), "--basis", str(basis), "--jobs", "0"]) == 2


def test_exit_skips_the_collector_once_and_output_still_arrives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gc
    import subprocess
    import sys

    import mrspipe.cli as cli

    hooks: list[object] = []
    monkeypatch.setattr(cli, "_EXIT_HOOK", False)
    monkeypatch.setattr(cli.atexit, "register", hooks.append)
    args = ["run", str(tmp_path / "none"), str(tmp_path / "out"), "--basis", "b"]
    assert main(args) == main(args) == 2
    assert hooks == [gc.freeze]  # registered once per process
    done = subprocess.run(
        [sys.executable, "-m", "mrspipe", *args], capture_output=True, text=True, check=False
    )
    assert done.returncode == 2
    assert done.stderr.strip().endswith(f"{tmp_path / 'none'}: no such study folder")
