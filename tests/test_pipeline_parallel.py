"""The run's worker processes: kept for the group step, whose outputs do not depend on them.

With ``jobs > 1`` the default report draws its figures on the sessions' worker processes while
the statistics run in the parent; every table, PNG and the report must be the same bytes as
with ``jobs=1``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from test_pipeline import CONFIG, DOUBLES, PEOPLE, fake_failing_stats, make_study

from mrspipe.pipeline import executor, run_study
from mrspipe.pipeline.steps import default_report

REAL_REPORT = dataclasses.replace(DOUBLES, report=default_report)


def _digest(out: Path) -> dict[str, str]:
    """SHA-256 of every table, figure and the report (data URIs and OUT's path normalised)."""
    found = {}
    for path in sorted(out.rglob("*")):
        if path.suffix not in (".tsv", ".png", ".html") or "sub-" in path.parts[-2]:
            continue
        data = path.read_bytes()
        if path.suffix == ".html":
            data = data.replace(str(out).encode(), b"OUT")
        found[str(path.relative_to(out))] = hashlib.sha256(data).hexdigest()
    return found


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_study(tmp_path_factory.mktemp("parallel"), PEOPLE)


def test_figures_on_the_workers_are_the_outputs_of_one_process(
    study: tuple[Path, Path], tmp_path: Path
) -> None:
    folder, basis = study
    one = run_study(folder, tmp_path / "one", basis=basis, config=CONFIG, steps=REAL_REPORT)
    two = run_study(folder, tmp_path / "two", basis=basis, config=CONFIG, steps=REAL_REPORT, jobs=2)
    assert one.exit_status == two.exit_status == 0
    first, second = _digest(tmp_path / "one"), _digest(tmp_path / "two")
    assert any(name.startswith("figures/timecourse_") for name in first)
    assert {"group/stats.tsv", "group/glm.tsv", "report.html"} <= set(first)
    assert first == second


def test_failing_statistics_beside_the_workers_are_reported_alike(
    study: tuple[Path, Path], tmp_path: Path
) -> None:
    folder, basis = study
    steps = dataclasses.replace(REAL_REPORT, stats=fake_failing_stats)
    one = run_study(folder, tmp_path / "one", basis=basis, config=CONFIG, steps=steps)
    two = run_study(folder, tmp_path / "two", basis=basis, config=CONFIG, steps=steps, jobs=2)
    assert [e["step"] for e in one.errors] == [e["step"] for e in two.errors] == ["stats"]
    assert two.report is not None and two.report.is_file()  # written without statistics
    assert _digest(tmp_path / "one") == _digest(tmp_path / "two")


@pytest.mark.parametrize("jobs", [1, 2])
def test_group_tables_not_written_stop_the_group_step_alike(
    study: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, jobs: int
) -> None:
    # with workers the report's figures start before the group tables are written: a full
    # disk then still means the tables' error alone, no statistics and no report
    import errno
    import os

    import mrspipe.io.derivatives as deriv

    real = deriv.write_table

    def full(df: Any, path: Any, **kw: Any) -> Path:
        if Path(path).name.startswith("responses") and "group" in Path(path).parts:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real(df, path, **kw)

    monkeypatch.setattr(deriv, "write_table", full)
    folder, basis = study
    out = tmp_path / "out"
    result = run_study(folder, out, basis=basis, config=CONFIG, steps=REAL_REPORT, jobs=jobs)
    assert [e["step"] for e in result.errors] == ["tables"]
    assert "No space left on device" in result.errors[0]["error"]
    assert result.report is None and not (out / "report.html").exists()
    assert not (out / "figures").exists()
    assert sorted(p.name for p in (out / "group").glob("*.tsv")) == ["timecourses.tsv"]


def test_workers_keep_one_pool_for_the_group_step(
    study: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, basis = study
    pools: list[Any] = []
    real_start = executor.Workers._start

    def start(self: executor.Workers, workers: int) -> Any:
        pool = real_start(self, workers)
        pools.append(pool)
        return pool

    seen: dict[str, Any] = {}

    def group(*args: Any, **kwargs: Any) -> Any:
        seen["executor"] = kwargs["executor"]
        return real_group(*args, **kwargs)

    from mrspipe.pipeline import study as study_module

    real_group = study_module.run_group
    monkeypatch.setattr(executor.Workers, "_start", start)
    monkeypatch.setattr(study_module, "run_group", group)
    result = run_study(folder, tmp_path / "out", basis=basis, config=CONFIG, steps=DOUBLES, jobs=2)
    assert result.exit_status == 0
    assert len({id(p) for p in pools}) == 1  # one pool for every session
    assert seen["executor"] is pools[0]  # ... and for the group step
    serial = run_study(folder, tmp_path / "one", basis=basis, config=CONFIG, steps=DOUBLES)
    assert serial.exit_status == 0 and seen["executor"] is None  # jobs=1: no pool


def test_largest_sessions_start_first(tmp_path: Path) -> None:
    sizes = {"a": 10, "b": 300, "c": 20, "d": 300}
    sessions = []
    for name, size in sizes.items():
        path = tmp_path / f"{name}.nii.gz"
        path.write_bytes(b"x" * size)
        sessions.append(SimpleNamespace(svs_path=path, name=name))
    sessions.append(SimpleNamespace(svs_path=tmp_path / "missing.nii.gz", name="e"))
    order = [s.name for s in executor.largest_first(sessions)]
    assert order == ["b", "d", "c", "a", "e"]  # ties keep the study order; unknown size last


def test_jobs_below_one_are_refused() -> None:
    from mrspipe.errors import ConfigError

    with pytest.raises(ConfigError, match=re.escape("--jobs must be at least 1")):
        executor.Workers(None, None, steps=DOUBLES, jobs=0)  # type: ignore[arg-type]
