"""``mrspipe run --scheduler`` end to end on a real Dask cluster on loopback.

A ``dask scheduler`` process and a ``dask worker`` process with two worker processes are
started on 127.0.0.1 (random ports), the real pipeline steps (no doubles) run a tiny simulated
study through ``--scheduler ADDRESS``, and every table must equal the ``--jobs 1`` run's.
Skipped when ``distributed`` is not installed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("distributed")

from study_helpers import simulated_study_with_basis  # noqa: E402

from mrspipe.cli import main  # noqa: E402
from mrspipe.io.derivatives import GROUP_TABLES  # noqa: E402
from mrspipe.io.tables import read_table  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
N_TRANSIENTS, N_POINTS, BLOCK = 32, 512, 8
START_TIMEOUT = 90.0


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=20)


def _wait_for(check: object, what: str, procs: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while not check():  # type: ignore[operator]
        if any(p.poll() is not None for p in procs):
            pytest.fail(f"the Dask {what} exited early")
        if time.monotonic() > deadline:
            pytest.fail(f"the Dask {what} did not start within {START_TIMEOUT:.0f} s")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def scheduler_address(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from distributed import Client

    folder = tmp_path_factory.mktemp("dask")
    paths = [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(paths),
        OPENBLAS_NUM_THREADS="1",
        MPLBACKEND="Agg",
        DASK_DISTRIBUTED__WORKER__DAEMON="False",
    )
    info = folder / "scheduler.json"
    log = (folder / "dask.log").open("wb")
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1"]
        + ["--port", "0", "--no-dashboard", "--scheduler-file", str(info)],
        env=env,
        cwd=folder,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    procs = [scheduler]
    try:
        _wait_for(lambda: info.exists() and info.stat().st_size > 0, "scheduler", procs)
        address = json.loads(info.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:")
        worker = subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", address, "--host", "127.0.0.1"]
            + ["--nworkers", "2", "--nthreads", "1", "--no-dashboard"]
            + ["--local-directory", str(folder / "workers")],
            env=env,
            cwd=folder,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        procs.append(worker)
        with Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=START_TIMEOUT)
        yield address
    finally:
        for proc in reversed(procs):
            _stop(proc)
        log.close()


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    root = tmp_path_factory.mktemp("dask_study")
    study, basis_dir, truth = simulated_study_with_basis(
        root, n_participants=2, n_transients=N_TRANSIENTS, n_points=N_POINTS, rng=11
    )
    config = root / "study.toml"
    config.write_text(f"[preprocess]\nblock = {BLOCK}\n\n[stats]\nmixed_model = false\n")
    return root / "study", root / "basis", config


def _tables(out: Path) -> dict[str, pd.DataFrame]:
    return {str(p.relative_to(out)): read_table(p) for p in sorted(out.rglob("*.tsv"))}


def test_scheduler_on_a_real_cluster_gives_the_tables_of_one_job(
    scheduler_address: str, study: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    folder, basis, config = study
    common = [str(folder), "--basis", str(basis), "--config", str(config)]
    assert main(["run", *common[:1], str(tmp_path / "one"), *common[1:], "--jobs", "1"]) == 0
    dask_out = tmp_path / "dask"
    assert (
        main(["run", common[0], str(dask_out), *common[1:], "--scheduler", scheduler_address]) == 0
    )
    one, dask = _tables(tmp_path / "one"), _tables(dask_out)
    assert set(one) == set(dask)
    for name in GROUP_TABLES:
        assert f"group/{name}.tsv" in one
    assert any(name.startswith("sub-") for name in one)  # per-session tables compared too
    for name, frame in one.items():
        pd.testing.assert_frame_equal(frame, dask[name], obj=name)


def test_unreachable_scheduler_is_an_input_error(
    study: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, basis, config = study
    status = main(
        ["run", str(folder), str(tmp_path / "out"), "--basis", str(basis)]
        + ["--config", str(config), "--scheduler", "tcp://127.0.0.1:9"]
    )
    assert status == 2
    assert "cannot reach the Dask scheduler" in capsys.readouterr().err
