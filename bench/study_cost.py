"""A whole study's cost against its floor: wall time / (read + FFT) and peak memory.

Run from the repository root::

    PYTHONPATH=$PWD python -m bench.study_cost FOLDER [--participants 20] [--transients 640]
        [--jobs 2]
    PYTHONPATH=$PWD python -m bench.study_cost FOLDER --participants 2 --transients 5120 --jobs 1

simulates the study into ``FOLDER`` once (2 sessions per participant, 2048 points; reused when
it is there) with its basis, then in one run: the floor (load every session's file and FFT
every transient once, serially, :func:`bench.speed.read_fft_seconds`), ``mrspipe run`` as a
child process (wall time, CPU, peak RSS of that process from ``wait4``; with ``--jobs > 1``
the workers' memory is not in that number), and the floor again. It prints the ratio of the
run to the mean floor (issue 17: at most 5x for 40 sessions x 640 transients on 2 cores) and
the peak RSS against 300 MB + 3x one session's data (issue 17, ``--jobs 1``). The machine's
load average is printed: wall-clock numbers on a shared machine are noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

__all__ = ["make_study", "run_cost"]


def make_study(folder: Path, *, participants: int, transients: int, seed: int = 1) -> Path:
    """Simulate the study and its basis into ``folder`` unless already there; return it."""
    from mrspipe.io.basis import save_basis
    from mrspipe.simulate import simulate_study, study_basis

    marker = folder / f"study-{participants}x{transients}.done"
    if not marker.is_file():
        truth = simulate_study(
            folder / "study",
            n_participants=participants,
            n_transients=transients,
            rng=seed,
            overwrite=True,
        )
        design = truth["design"]
        keys = ("sequence", "field_mhz", "te", "dwell_time", "n_points")
        save_basis(study_basis(**{k: design[k] for k in keys}), folder / "basis", format="fsl")
        marker.write_text("ok\n")
    return folder


def _run(folder: Path, jobs: int) -> dict[str, float]:
    cmd = [sys.executable, "-m", "mrspipe", "run", str(folder / "study"), str(folder / "out")]
    cmd += ["--basis", str(folder / "basis"), "--jobs", str(jobs), "--overwrite"]
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", MPLBACKEND="Agg")
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read().decode() if proc.stderr else ""
    if status != 0:
        raise SystemExit(f"mrspipe run failed (status {status}):\n{err[-2000:]}")
    return {
        "wall_s": wall,
        "user_s": usage.ru_utime,
        "sys_s": usage.ru_stime,
        "peak_rss_mb": usage.ru_maxrss * 1024 / 1e6,  # ru_maxrss is KiB on Linux
    }


def _floor(folder: Path) -> dict[str, float]:
    """:func:`bench.speed.read_fft_seconds` in a child process.

    Not in this process: Linux starts a child's ``ru_maxrss`` at the RSS of the process that
    forked it, so a bench holding the floor's data would add it to ``mrspipe run``'s peak.
    """
    code = (
        "import json, sys; from pathlib import Path; from bench.speed import read_fft_seconds; "
        "print(json.dumps(read_fft_seconds(Path(sys.argv[1]))))"
    )
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    done = subprocess.run(
        [sys.executable, "-c", code, str(folder / "study")],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout.splitlines()[-1])


def run_cost(folder: Path, *, jobs: int) -> dict[str, float]:
    """Floor, run, floor in one go; the numbers of :func:`main`."""
    load = os.getloadavg()[0]
    first = _floor(folder)
    run = _run(folder, jobs)
    second = _floor(folder)
    floor = 0.5 * (first["seconds"] + second["seconds"])
    svs = sorted((folder / "study").glob("sub-*/ses-*/mrs/*_svs.nii*"))
    n_sessions = len(svs)
    session_mb = 8 * first["n_transients"] / max(n_sessions, 1) * 2048 / 1e6  # complex64
    return {
        "load_before": load,
        "load_after": os.getloadavg()[0],
        "sessions": float(n_sessions),
        "floor_s": floor,
        "floor_first_s": first["seconds"],
        "floor_second_s": second["seconds"],
        "ratio": run["wall_s"] / floor,
        "session_mb": session_mb,
        "memory_target_mb": 300 + 3 * session_mb,
        **run,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--participants", type=int, default=20)
    parser.add_argument("--transients", type=int, default=640)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    folder = make_study(args.folder, participants=args.participants, transients=args.transients)
    r = run_cost(folder, jobs=args.jobs)
    print(
        f"{r['sessions']:.0f} sessions x {args.transients} transients, --jobs {args.jobs}; "
        f"load average {r['load_before']:.1f} before, {r['load_after']:.1f} after"
    )
    print(
        f"floor (read + FFT, serial): {r['floor_first_s']:.2f} s before, "
        f"{r['floor_second_s']:.2f} s after"
    )
    print(
        f"mrspipe run: {r['wall_s']:.2f} s wall ({r['ratio']:.2f}x the floor), "
        f"CPU {r['user_s']:.1f} s user + {r['sys_s']:.1f} s sys"
    )
    print(
        f"peak RSS of the main process: {r['peak_rss_mb']:.0f} MB (one session "
        f"{r['session_mb']:.0f} MB; target 300 + 3x = {r['memory_target_mb']:.0f} MB)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
