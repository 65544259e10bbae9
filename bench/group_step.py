"""The group step of a study run (tables, GLM, statistics, report): wall and CPU time.

Run from the repository root on a finished study run (every session done)::

    PYTHONPATH=$PWD MPLBACKEND=Agg python -m bench.group_step STUDY OUT BASIS [--jobs 2]
        [--repeat 3]

resumes ``mrspipe run STUDY OUT --basis BASIS --jobs N`` in this process (every session is
resumed from ``done.json``; the workers draw a small figure first, as a session's fit
figure does in a real run), then runs the group step ``--repeat`` times on the run's worker
processes and as many times in this process alone, alternately (same load). It prints, per
variant, the wall time, this process's CPU time and the workers' CPU time (from ``/proc``,
Linux). Both variants write the same outputs into OUT. The machine's load average is printed:
wall-clock numbers on a shared machine are noisy.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path
from typing import Any


def _warm_worker(*args: Any) -> None:
    """Pool initialiser that also draws a figure, as a computed session does (fit figure)."""
    from mrspipe.pipeline import executor
    from mrspipe.report.figures import new_figure, to_png

    executor._BENCH_INIT(*args)  # type: ignore[attr-defined]
    fig, axes = new_figure(width=2, height=2)  # matplotlib imported and fonts loaded, as after
    axes[0, 0].set_title("a session's fit figure")  # a real session's fit figure
    to_png(fig, dpi=50)


def _cpu_of(pids: list[int]) -> float:
    """User + system CPU seconds of processes ``pids`` (Linux ``/proc``)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick
    return total


def main(argv: list[str] | None = None) -> int:
    from mrspipe.pipeline import executor, run_study
    from mrspipe.pipeline import study as study_module

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("study", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("basis", type=Path)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)

    executor._BENCH_INIT = executor._init_worker  # type: ignore[attr-defined]
    executor._init_worker = _warm_worker  # type: ignore[assignment]
    real_group = study_module.run_group
    times: dict[str, list[tuple[float, float, float]]] = {"workers": [], "alone": []}

    def timed_group(*a: Any, **kw: Any) -> Any:
        pool = kw.get("executor")
        if pool is None:
            raise SystemExit("no worker pool: use --jobs 2 or more on a study of 2+ sessions")
        list(pool.map(abs, range(4 * args.jobs)))  # every worker started
        pids = [p.pid for p in pool._processes.values()]
        for _ in range(args.repeat):
            for name, chosen in (("workers", pool), ("alone", None)):
                wall, cpu, workers = time.perf_counter(), time.process_time(), _cpu_of(pids)
                result = real_group(*a, **{**kw, "executor": chosen})
                times[name].append(
                    (
                        time.perf_counter() - wall,
                        time.process_time() - cpu,
                        _cpu_of(pids) - workers,
                    )
                )
        return result

    study_module.run_group = timed_group
    load = os.getloadavg()
    run_study(args.study, args.out, basis=args.basis, jobs=args.jobs)
    print(f"load average {load[0]:.1f} before, {os.getloadavg()[0]:.1f} after")
    for name, rows in times.items():
        walls, cpus, workers = zip(*rows, strict=True)
        print(
            f"group step, figures {'on the workers' if name == 'workers' else 'in this process'}"
            f": wall median {statistics.median(walls):.2f} s (min {min(walls):.2f}); this "
            f"process CPU {statistics.median(cpus):.2f} s; workers CPU "
            f"{statistics.median(workers):.2f} s"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
