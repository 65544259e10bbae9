"""write_report on an executor, with statistics still running: the same report, sooner."""

from __future__ import annotations

from concurrent.futures import Executor, Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from test_report_html import DESIGN, DPI
from test_report_summaries import make_study

from mrspipe.report import write_report

METABOLITES = ["Glx", "Glu"]


class Recording(Executor):
    """Draws each job here, noting its plot function and whether the statistics were known.

    The statistics future is given its result at the first submission: a report that waited
    for the statistics before starting any figure would never finish (the test times out).
    """

    def __init__(self, later: Future[Any], stats: Any) -> None:
        self.later, self.stats = later, stats
        self.submitted: list[tuple[str, bool]] = []

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        self.submitted.append((args[0].__name__, self.later.done()))
        if not self.later.done():
            self.later.set_result(self.stats)
        done: Future[Any] = Future()
        done.set_result(fn(*args, **kwargs))
        return done


def _outputs(out: Path) -> dict[str, bytes]:
    found = {p.name: p.read_bytes() for p in sorted((out / "figures").glob("*.png"))}
    found["report.html"] = (out / "report.html").read_bytes().replace(str(out).encode(), b"")
    return found


@pytest.fixture(scope="module")
def inputs() -> dict[str, Any]:
    study = make_study(noise=0.01, missing_sex=(5,), failed=((2, 1),))
    return {k: study[k] for k in ("timecourses", "responses", "stats", "sessions_qc")}


@pytest.fixture(scope="module")
def serial(inputs: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    out = tmp_path_factory.mktemp("serial")
    design = {**DESIGN, "metabolites": METABOLITES}
    write_report(out, **inputs, design=design, dpi=DPI)
    return _outputs(out)


def test_figures_of_the_tables_start_before_the_statistics_are_known(
    inputs: dict[str, Any], serial: dict[str, bytes], tmp_path: Path
) -> None:
    later: Future[Any] = Future()
    executor = Recording(later, inputs["stats"])
    design = {**DESIGN, "metabolites": METABOLITES}
    write_report(tmp_path, **{**inputs, "stats": later}, design=design, dpi=DPI, executor=executor)
    plots = [name for name, _ in executor.submitted]
    assert executor.submitted[0] == ("plot_qc_summary", False)
    assert plots.count("plot_timecourses") == len(METABOLITES)
    assert ("plot_forest", True) in executor.submitted  # drawn from the statistics
    assert ("plot_answer", True) in executor.submitted
    assert _outputs(tmp_path) == serial


def test_worker_processes_draw_the_same_bytes(
    inputs: dict[str, Any], serial: dict[str, bytes], tmp_path: Path
) -> None:
    design = {**DESIGN, "metabolites": METABOLITES}
    with ProcessPoolExecutor(2) as pool:
        write_report(tmp_path, **inputs, design=design, dpi=DPI, executor=pool)
    assert _outputs(tmp_path) == serial


def test_without_named_metabolites_the_statistics_come_first(
    inputs: dict[str, Any], tmp_path: Path
) -> None:
    # the metabolites drawn may then come from the statistics table
    write_report(tmp_path / "serial", **inputs, design=DESIGN, dpi=DPI)
    later: Future[Any] = Future()
    later.set_result(inputs["stats"])
    write_report(tmp_path / "later", **{**inputs, "stats": later}, design=DESIGN, dpi=DPI)
    assert _outputs(tmp_path / "later") == _outputs(tmp_path / "serial")


def test_a_failed_statistics_future_fails_the_report(
    inputs: dict[str, Any], tmp_path: Path
) -> None:
    later: Future[Any] = Future()
    later.set_exception(ValueError("no pairs"))
    design = {**DESIGN, "metabolites": METABOLITES}
    with pytest.raises(ValueError, match="no pairs"):
        write_report(tmp_path, **{**inputs, "stats": later}, design=design, dpi=DPI)
    assert not (tmp_path / "report.html").exists()
    assert isinstance(inputs["stats"], pd.DataFrame)


class Dying(Executor):
    """A pool whose worker dies: the first future fails, later submissions are refused."""

    def __init__(self) -> None:
        self.submitted = 0

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        from concurrent.futures.process import BrokenProcessPool

        self.submitted += 1
        if self.submitted > 1:
            raise BrokenProcessPool("refused")
        lost: Future[Any] = Future()
        lost.set_exception(BrokenProcessPool("the worker process died"))
        return lost


def test_figures_of_a_dead_worker_are_drawn_here(
    inputs: dict[str, Any], serial: dict[str, bytes], tmp_path: Path
) -> None:
    design = {**DESIGN, "metabolites": METABOLITES}
    write_report(tmp_path, **inputs, design=design, dpi=DPI, executor=Dying())
    assert _outputs(tmp_path) == serial
