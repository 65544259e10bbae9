"""Attack suite, the run itself: a second run into OUT, signals, orphans.

A real ``mrspipe run`` process (``attack_runner.py``: the CLI with slowed step doubles) is
raced, terminated and killed; the checks are the exit status and message, that no worker
process outlives its parent, and that nothing was written outside OUT.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from attack_helpers import PYTHON, one_line_error, snapshot, subprocess_env
from test_pipeline import CALLS, DOUBLES, PEOPLE, fake_find_sessions, make_study

from mrspipe.cli import main
from mrspipe.io._lock import LOCK_NAME, read_lock

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads /proc to find worker processes"
)
RUNNER = Path(__file__).parent / "attack_runner.py"


@pytest.fixture
def doubles(monkeypatch: pytest.MonkeyPatch) -> None:
    import mrspipe.commands.run as run_cmd

    CALLS.clear()
    monkeypatch.setattr(run_cmd, "pipeline_steps", lambda: DOUBLES)


def _children(pid: int) -> list[int]:
    """PIDs of the live (not zombie) child processes of ``pid``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _start(study: Path, out: Path, basis: Path, *, sleep: float = 30) -> subprocess.Popen[str]:
    env = subprocess_env() | {"ATTACK_SLEEP": str(sleep)}
    cmd = [PYTHON, str(RUNNER), "run", str(study), str(out), "--basis", str(basis)]
    return subprocess.Popen(
        [*cmd, "--block", "4", "--jobs", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_workers(proc: subprocess.Popen[str], n: int = 2, timeout: float = 60) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        workers = _children(proc.pid)
        if len(workers) >= n:
            return workers
        time.sleep(0.1)
    raise AssertionError("the run started no workers")


def _gone_within(pids: list[int], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not any(_alive(p) for p in pids):
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["TERM", "KILL"])
def test_no_worker_outlives_its_parent(doubles: None, tmp_path: Path, sig: signal.Signals) -> None:
    study, basis = make_study(tmp_path, PEOPLE)
    out = tmp_path / "out"
    before, inputs = snapshot(tmp_path, exclude=out), snapshot(study)
    proc = _start(study, out, basis)
    workers = _wait_for_workers(proc)
    assert read_lock(out)["pid"] == proc.pid  # type: ignore[index]
    os.kill(proc.pid, sig)
    try:
        _, err = proc.communicate(timeout=8)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert _gone_within(workers, 8.0), f"workers {workers} survived {sig.name} of the parent"
    if sig == signal.SIGTERM:
        assert proc.returncode == 143, err
        assert "terminated" in err and "Traceback" not in err
        assert not (out / LOCK_NAME).exists()  # released on the way out
    else:
        assert proc.returncode == -signal.SIGKILL
        assert (out / LOCK_NAME).exists()  # left behind: the next run takes it over
    assert snapshot(tmp_path, exclude=out) == before and snapshot(study) == inputs
    (out / ".run.json.x1y2.tmp.json").write_text("{")  # what a write killed midway leaves
    assert main(["run", str(study), str(out), "--basis", str(basis), "--block", "4"]) == 0
    assert not list(out.rglob(".*.tmp*"))


def test_a_second_run_into_the_same_out_exits_2_naming_the_holder(
    doubles: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    study, basis = make_study(tmp_path, PEOPLE)
    out = tmp_path / "out"
    first = _start(study, out, basis)
    try:
        _wait_for_workers(first)
        before = snapshot(out)
        assert main(["run", str(study), str(out), "--basis", str(basis), "--block", "8"]) == 2
        one_line_error(
            capsys.readouterr().err,
            "locked by another mrspipe run",
            f"PID {first.pid}",
            f"host {socket.gethostname()}",
        )
        assert snapshot(out) == before  # the second run wrote nothing
        assert CALLS["preprocess"] == 0
    finally:
        first.terminate()
        first.communicate(timeout=20)
    assert first.returncode == 143


def _plant_lock(out: Path, pid: int, host: str | None = None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    record = {"pid": pid, "host": host or socket.gethostname(), "started": "earlier"}
    (out / LOCK_NAME).write_text(json.dumps(record))


def test_a_lock_naming_a_live_process_is_respected(
    doubles: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    study, basis = make_study(tmp_path, PEOPLE)
    out = tmp_path / "out"
    holder = subprocess.Popen([PYTHON, "-c", "import time; time.sleep(60)"])
    try:
        _plant_lock(out, holder.pid)
        assert main(["run", str(study), str(out), "--basis", str(basis), "--block", "4"]) == 2
        one_line_error(capsys.readouterr().err, f"PID {holder.pid}", "delete")
    finally:
        holder.kill()
        holder.wait()
    assert (
        main(["run", str(study), str(out), "--basis", str(basis), "--block", "4"]) == 0
    )  # now it is stale


def test_a_stale_lock_of_a_dead_process_is_taken_over(
    doubles: None, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    study, basis = make_study(tmp_path, PEOPLE)
    out = tmp_path / "out"
    dead = subprocess.Popen([PYTHON, "-c", "pass"])
    dead.wait()
    _plant_lock(out, dead.pid)
    with caplog.at_level("WARNING", logger="mrspipe"):
        assert main(["run", str(study), str(out), "--basis", str(basis), "--block", "4"]) == 0
    assert f"taking over a stale lock: PID {dead.pid}" in caplog.text
    assert not (out / LOCK_NAME).exists()


LOCK_SEEN: list[Any] = []


def find_sessions_seeing_the_lock(study: Path) -> list[Any]:
    """Discovery double that records who holds OUT's lock while the inputs are checked."""
    LOCK_SEEN.append(read_lock(study.parent / "out"))
    return fake_find_sessions(study)


def test_the_lock_is_held_while_the_inputs_are_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A run started while another still checks its inputs stops (the first has the lock);
    an input error releases the lock and leaves no output folder behind."""
    import dataclasses

    import mrspipe.commands.run as run_cmd

    steps = dataclasses.replace(DOUBLES, find_sessions=find_sessions_seeing_the_lock)
    monkeypatch.setattr(run_cmd, "pipeline_steps", lambda: steps)
    study, basis = make_study(tmp_path, PEOPLE)
    out = tmp_path / "out"
    LOCK_SEEN.clear()
    assert main(["run", str(study), str(out), "--basis", str(basis), "--block", "4"]) == 0
    assert LOCK_SEEN[0]["pid"] == os.getpid()  # type: ignore[index]
    nested = tmp_path / "new" / "deeper" / "out"
    assert main(["run", str(study), str(nested), "--basis", str(tmp_path / "none")]) == 2
    assert "no such basis set" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()
