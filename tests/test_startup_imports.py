"""A study run's fixed costs: what is imported when (issue 17).

* The start of ``mrspipe run`` (the CLI, the configuration, the study runner) and a session's
  steps do not import scipy.stats (~0.4 s): only the group statistics need it, and
  :func:`mrspipe.pipeline.group.prepare_group` imports it while the last sessions run.
* The p-values that used scipy.stats in the fit are the same numbers from scipy.special.
* Before forking workers, the runner imports what every session would import on first use
  (:func:`mrspipe.pipeline.executor.import_session_modules`), once instead of once per worker.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from scipy import stats

from mrspipe.fit.lipids import _chi2_sf
from mrspipe.fit.stiffness import choose_dof
from mrspipe.pipeline import study as study_mod
from mrspipe.pipeline.session import SessionResult

ROOT = Path(__file__).resolve().parents[1]


def _modules_after(code: str) -> set[str]:
    """Names in ``sys.modules`` after running ``code`` in a fresh interpreter."""
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    )
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys\nprint('\\n'.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=ROOT,
    ).stdout
    return set(out.split())


def test_run_start_does_not_import_scipy_stats() -> None:
    loaded = _modules_after(
        "import mrspipe.cli as cli\n"
        "cli.build_parser()\n"
        "import mrspipe.commands.run, mrspipe.pipeline.study, mrspipe.config\n"
        "from mrspipe.stats import StatsOptions\n"
        "from mrspipe.pipeline.executor import import_session_modules\n"
        "from mrspipe.pipeline.steps import Steps\n"
        "import_session_modules(Steps())"
    )
    assert "scipy.stats" not in loaded
    assert "mrspipe.stats.group" not in loaded
    # what the sessions need is there (imported once, shared by forked workers)
    assert {"nibabel", "scipy.interpolate", "matplotlib.figure"} <= loaded
    assert "mrspipe.report.fit_figure" in loaded


def test_custom_session_steps_import_nothing_ahead() -> None:
    loaded = _modules_after(
        "from mrspipe.pipeline.executor import import_session_modules\n"
        "from mrspipe.pipeline.steps import Steps\n"
        "import_session_modules(Steps(load_mrs=print, fit=print, fit_figure=None))"
    )
    assert "nibabel" not in loaded
    assert "matplotlib" not in loaded


def test_prepare_group_imports_the_statistics_and_report() -> None:
    loaded = _modules_after(
        "from mrspipe.pipeline.group import prepare_group\n"
        "from mrspipe.pipeline.steps import Steps\n"
        "prepare_group(Steps(stats=print, glm=None, report=print))\n"
        "import sys\n"
        "assert 'scipy.stats' not in sys.modules, 'custom steps: nothing imported'\n"
        "prepare_group(Steps())"
    )
    assert {"scipy.stats", "mrspipe.stats.group", "mrspipe.report.html"} <= loaded


def test_lazy_stats_package_names() -> None:
    import mrspipe.stats as S

    for name in S.__all__:
        assert getattr(S, name) is not None
        assert name in dir(S)
    from mrspipe.stats.group import crossover_stats

    assert S.crossover_stats is crossover_stats
    with pytest.raises(AttributeError, match="no attribute"):
        S.not_a_name  # noqa: B018


def test_chi2_survival_same_as_scipy_stats() -> None:
    rng = np.random.default_rng(3)
    chi2 = np.concatenate([rng.exponential(4.0, 500), [0.0, -1e-12, -2.0, np.nan, np.inf, 1e-300]])
    dof = rng.integers(1, 9, chi2.size)
    np.testing.assert_array_equal(_chi2_sf(chi2, dof), stats.chi2.sf(chi2, dof))


def test_baseline_ftest_p_values_same_as_scipy_stats() -> None:
    costs = {1.25 * 2.6: (130.0, 9.0), 2.0 * 2.6: (118.0, 12.0), 3.0 * 2.6: (110.5, 15.0)}
    costs[4.5 * 2.6] = (110.0, 20.0)
    chosen, p = choose_dof(lambda d: costs[d], 2.6, 600)
    ref_cost, ref_df = costs[4.5 * 2.6]
    for d, (cost, df) in list(costs.items())[:-1]:
        extra = ref_df - df
        f = ((cost - ref_cost) / extra) / (ref_cost / (600 - ref_df))
        assert p[d] == float(stats.f.sf(f, extra, 600 - ref_df))
    assert 0.0 < min(p.values()) < 1e-3 < max(p.values())  # the test chose among them
    assert chosen in costs


def _result(i: int) -> SessionResult:
    return SessionResult(f"{i:02d}", "1")


@pytest.mark.parametrize(("jobs", "at"), [(1, 5), (2, 4), (3, 3), (8, 1)])
def test_group_prepared_once_a_worker_is_free(
    monkeypatch: pytest.MonkeyPatch, jobs: int, at: int
) -> None:
    sessions = [SimpleNamespace(participant_id=f"{i:02d}", session_id="1") for i in range(5)]
    seen: list[int] = []
    done: list[int] = []

    class FakeWorkers:
        steps = object()

        def __init__(self) -> None:
            self.jobs = jobs

        def sessions(self, todo: list) -> object:
            for i in range(len(todo)):
                done.append(i + 1)
                yield _result(i)

    monkeypatch.setattr(study_mod, "prepare_group", lambda steps: seen.append(len(done)))
    tables = SimpleNamespace(add=lambda res: None)
    results = study_mod._run_sessions(FakeWorkers(), sessions, tables)  # type: ignore[arg-type]
    assert seen == [at]  # once: when fewer sessions remain than workers
    assert [r.participant_id for r in results] == [s.participant_id for s in sessions]
