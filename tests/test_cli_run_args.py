"""``mrspipe run``: STUDY and OUT before or after ``--participant-label``'s values."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mrspipe.cli import build_parser, main


def _parse(argv: list[str]):
    return build_parser().parse_args(["run", *argv])


@pytest.fixture
def study(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for sub in ("sub-01", "sub-02"):
        (tmp_path / "study" / sub).mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    return tmp_path / "study"


@pytest.mark.parametrize(
    "argv",
    [
        ["{s}", "{o}", "--basis", "b", "--participant-label", "01", "02"],
        ["--participant-label", "01", "02", "{s}", "{o}", "--basis", "b"],
        ["{s}", "--participant-label", "01", "02", "{o}", "--basis", "b"],
        ["--basis", "b", "--participant-label", "01", "02", "--", "{s}", "{o}"],
        ["--participant-label", "01", "--participant-label", "02", "{s}", "{o}", "--basis", "b"],
        ["--participant-label", "01", "02", "{s}", "--basis", "b", "{o}"],
        ["{s}", "--basis", "b", "--participant-label", "01", "02", "{o}"],
        ["--participant", "sub-01", "02", "{s}", "{o}", "--basis", "b"],
    ],
)
def test_labels_before_or_after_the_paths(study: Path, argv: list[str]) -> None:
    out = study.parent / "derivatives" / "out"  # a path: it cannot be a label
    args = _parse([a.format(s=study, o=out) for a in argv])
    assert (args.study, args.out) == (str(study), str(out))
    assert [label.removeprefix("sub-") for label in args.participant_label] == ["01", "02"]
    assert args.basis == "b"


def test_other_options_keep_their_values(study: Path) -> None:
    argv = ["--participant-label", "01", str(study), "out/", "--baseline-window", "-600", "0"]
    args = _parse([*argv, "--conditions", "a", "b", "--dynamic", "--basis", "b"])
    assert (args.study, args.out, args.participant_label) == (str(study), "out/", ["01"])
    assert args.baseline_window == [-600.0, 0.0] and args.conditions == ["a", "b"]


@pytest.mark.parametrize(
    "argv",
    [
        # 'out' could be a participant label (no such folder yet): ambiguous
        ["--participant-label", "01", "02", "study", "out"],
        # OUT forgotten: '02' is a label, not the output folder
        ["study", "--participant-label", "01", "02"],
    ],
)
def test_ambiguous_or_missing_paths_exit_2_saying_how(
    study: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", *argv, "--basis", "b"]) == 2
    err = capsys.readouterr().err
    assert "required:" in err and "give STUDY OUT before --participant-label" in err
    # it names what the option took (the swallowed paths among them)
    assert "takes every value that follows it (here '01', '02'" in err
    assert "Traceback" not in err
    assert not (study.parent / "out").exists() and not (study.parent / "02").exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["--participant-label", "01", "02", "study", "results"],
        ["--participant-label", "01", "--participant-label", "02", "study", "results"],
        ["study", "--participant-label", "01", "02"],
        ["--participant-label", "01", "02"],
    ],
)
def test_every_form_the_hint_gives_parses(
    study: Path, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Each command the error suggests works, even with paths that look like labels."""
    assert main(["run", *argv, "--basis", "b"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    forms = re.findall(r"\((mrspipe run [^)]*)\)", err)
    assert len(forms) == 2, err
    # the repeated option is no way out: its last occurrence takes the paths all the same
    assert "repeat" not in err
    for form in forms:
        words = form.split()[2:]
        argv = [{"STUDY": "study", "OUT": "results"}.get(w, w) for w in words]
        # after --, STUDY OUT are last: the other options go before
        args = _parse(["--basis", "b", *argv] if "--" in argv else [*argv, "--basis", "b"])
        assert (args.study, args.out) == ("study", "results"), form
        assert args.participant_label == ["01", "02"], form


def test_missing_paths_without_labels_keep_argparse_message(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["run", "--basis", "b"]) == 2
    err = capsys.readouterr().err
    assert "required: STUDY, OUT" in err and "--participant-label" not in err.splitlines()[-1]


@pytest.mark.parametrize(
    ("flag", "expected"), [([], 3), (["--jobs", "1"], 1), (["--jobs", "5"], 5)]
)
def test_jobs_default_to_the_usable_cores(
    study: Path, monkeypatch: pytest.MonkeyPatch, flag: list[str], expected: int
) -> None:
    import os

    import mrspipe.pipeline

    seen: dict[str, object] = {}

    def fake_run_study(*args: object, **kwargs: object) -> None:
        seen.update(kwargs)
        raise SystemExit(0)

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    monkeypatch.setattr(mrspipe.pipeline, "run_study", fake_run_study)
    with pytest.raises(SystemExit):
        main(["run", str(study), "out", "--basis", "b", *flag])
    assert seen["jobs"] == expected
