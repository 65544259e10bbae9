"""Attack suite, stale results and operating-system errors.

Stale: a crash while a window-only rerun rewrites a session's tables, and reruns in which
every session or the statistics fail. OS errors: a full disk during the group write, a
read-only output folder, a configuration or table that is not UTF-8.
"""

from __future__ import annotations

import dataclasses
import errno
import os
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from attack_helpers import one_line_error, snapshot
from test_pipeline import CALLS, DOUBLES, PEOPLE, fake_failing_stats, make_study

from mrspipe.cli import main
from mrspipe.io import derivatives as deriv
from mrspipe.io.tables import read_table


@pytest.fixture
def use(monkeypatch: pytest.MonkeyPatch) -> Any:
    """``use(steps)``: the CLI runs with these step doubles."""
    import mrspipe.commands.run as run_cmd

    def setter(steps: Any = DOUBLES) -> None:
        CALLS.clear()
        monkeypatch.setattr(run_cmd, "pipeline_steps", lambda: steps)

    setter()
    return setter


def _run(study: Path, out: Path, basis: Path, *extra: str) -> int:
    # --jobs 1: the step doubles count their calls in this process
    return main(
        ["run", str(study), str(out), "--basis", str(basis), "--block", "4", "--jobs", "1", *extra]
    )


WINDOW_A = ("--baseline-window", "-12", "0", "--response-window", "0", "20")
WINDOW_B = ("--baseline-window", "-4", "0", "--response-window", "8", "20")


def test_a_crash_while_a_window_rerun_rewrites_tables_is_not_resumed(
    use: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    study, basis = make_study(tmp_path, PEOPLE)
    out = tmp_path / "out"
    assert _run(study, out, basis, *WINDOW_A) == 0
    truth = read_table(out / "group" / "responses.tsv")

    real = deriv.write_session_table

    def crash_after_responses(paths: Any, name: str, df: Any) -> Path:
        path = real(paths, name, df)
        if name == "responses":  # the process dies here: tables written, done.json not
            raise RuntimeError("killed")
        return path

    monkeypatch.setattr(deriv, "write_session_table", crash_after_responses)
    assert _run(study, out, basis, *WINDOW_B) == 1  # every session "crashed"
    monkeypatch.setattr(deriv, "write_session_table", real)

    use()
    assert _run(study, out, basis, *WINDOW_A) == 0
    assert CALLS["fit"] == 0  # the fits were still good and resumed
    assert CALLS["dynamics"] == 6  # the half-rewritten window stage was redone
    pd.testing.assert_frame_equal(read_table(out / "group" / "responses.tsv"), truth)


def failing_preprocess(*args: Any, **kwargs: Any) -> Any:
    raise ValueError("scanner on fire")


@pytest.mark.parametrize("what", ["every session", "stats"])
def test_a_failed_rerun_leaves_no_stale_group_outputs(
    use: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], what: str
) -> None:
    study, basis = make_study(tmp_path, PEOPLE)
    out = tmp_path / "out"
    assert _run(study, out, basis) == 0
    assert (out / "group" / "stats.tsv").is_file() and (out / "report.html").is_file()
    if what == "stats":
        use(dataclasses.replace(DOUBLES, stats=fake_failing_stats))
    else:
        use(dataclasses.replace(DOUBLES, preprocess=failing_preprocess))
    assert _run(study, out, basis, "--overwrite") == 1
    assert not (out / "group" / "stats.tsv").exists()
    if what == "every session":
        assert not (out / "report.html").exists()
        assert not list((out / "group").glob("*.tsv"))
        assert len(read_table(out / "errors.tsv")) == 6
    else:  # the tables and the report of this run are there, the statistics are not
        assert (out / "group" / "responses.tsv").is_file() and (out / "report.html").is_file()
        assert read_table(out / "errors.tsv")["step"].tolist() == ["stats"]


def _enospc_under(monkeypatch: pytest.MonkeyPatch, *parts: str) -> None:
    """Every table written under OUT/<part> fails with ENOSPC (a full disk)."""
    import mrspipe.io.derivatives as d

    real = d.write_table

    def full(df: Any, path: Any, **kw: Any) -> Path:
        if any(p in Path(path).parts or Path(path).name.startswith(p) for p in parts):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real(df, path, **kw)

    monkeypatch.setattr(d, "write_table", full)


def test_a_full_disk_during_the_group_write_still_lists_failed_sessions(
    use: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    study, basis = make_study(tmp_path, PEOPLE, corrupt=("sub-02", "ses-1"))
    out = tmp_path / "out"
    _enospc_under(monkeypatch, "group")
    before = snapshot(tmp_path, exclude=out)
    assert _run(study, out, basis) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and "No space left on device" in err
    errors = read_table(out / "errors.tsv")
    assert ("sub-02", "ses-1", "load") in set(
        zip(errors["participant_id"], errors["session_id"], errors["step"], strict=True)
    )
    assert "No space left on device" in errors.loc[errors["step"] == "tables", "error"].iloc[0]
    assert snapshot(tmp_path, exclude=out) == before


def test_a_disk_too_full_even_for_errors_tsv(
    use: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    study, basis = make_study(tmp_path, PEOPLE, corrupt=("sub-02", "ses-1"))
    out = tmp_path / "out"
    _enospc_under(monkeypatch, "group", "errors")
    assert _run(study, out, basis) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "cannot write" in err and "errors.tsv" in err
    assert "not in errors.tsv: sub-02 ses-1 load" in err


def test_a_read_only_output_folder_exits_2(
    use: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    study, basis = make_study(tmp_path, PEOPLE)
    out = tmp_path / "out"
    real_open = os.open

    def read_only(path: Any, flags: int, *args: Any, **kw: Any) -> int:
        if flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT) and str(path).startswith(str(out)):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
        return real_open(path, flags, *args, **kw)

    monkeypatch.setattr(os, "open", read_only)
    assert _run(study, out, basis) == 2
    one_line_error(capsys.readouterr().err, "cannot write the output folder", "Read-only")
    assert CALLS["preprocess"] == 0


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root ignores modes")
def test_a_write_protected_output_folder_exits_2(
    use: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    study, basis = make_study(tmp_path, PEOPLE)
    out = tmp_path / "out"
    out.mkdir()
    out.chmod(0o555)
    try:
        assert _run(study, out, basis) == 2
        one_line_error(capsys.readouterr().err, "cannot write the output folder")
    finally:
        out.chmod(0o755)


def test_non_utf8_config_and_tables_exit_2(
    use: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from mrspipe.pipeline.steps import default_find_sessions

    study, basis = make_study(tmp_path, PEOPLE)
    config = tmp_path / "study.toml"
    config.write_bytes(b"[fit]\nbackend = '\xff\xfe'\n")
    out = tmp_path / "out"
    assert _run(study, out, basis, "--config", str(config)) == 2
    one_line_error(capsys.readouterr().err, "study.toml", "not UTF-8")
    use(dataclasses.replace(DOUBLES, find_sessions=default_find_sessions))
    table = study / "participants.tsv"
    table.write_bytes(table.read_bytes().replace(b"sub-03", b"sub-\xe903"))
    assert _run(study, out, basis) == 2
    one_line_error(capsys.readouterr().err, "participants.tsv")
    assert not out.exists()
