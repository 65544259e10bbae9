"""CPU time of one session of ``mrspipe run``, step by step, in this process.

Run from the repository root::

    PYTHONPATH=$PWD python -m bench.session_cost FOLDER [--participants 2] [--transients 640]
        [--repeats 8]

simulates a study into ``FOLDER`` once (:func:`bench.study_cost.make_study`), runs one session
as a warm-up, then ``--repeats`` sessions through :func:`mrspipe.pipeline.run_session` (the
real steps, every output written) and prints the mean CPU time (``time.process_time``) per
session and per step (each :class:`~mrspipe.pipeline.steps.Steps` callable; the rest is
table and file writing, water scaling and bookkeeping). CPU time, not wall time: on a shared
machine it moves far less with the load. To compare two versions, run each with its own
``PYTHONPATH`` one after the other, a few times alternately.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")

__all__ = ["session_cpu"]


def _timed(name: str, f: Callable[..., Any], spent: dict[str, float]) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        start = time.process_time()
        try:
            return f(*args, **kwargs)
        finally:
            spent[name] = spent.get(name, 0.0) + time.process_time() - start

    return call


def session_cpu(folder: Path, *, repeats: int = 8) -> dict[str, float]:
    """Mean CPU seconds per session (``total``) and per step, over ``repeats`` sessions."""
    from mrspipe.io.basis import load_basis
    from mrspipe.io.bids import find_sessions
    from mrspipe.pipeline.session import SessionOptions, run_session
    from mrspipe.pipeline.steps import Steps

    sessions = find_sessions(folder / "study")
    basis = load_basis(folder / "basis")
    spent: dict[str, float] = {}
    defaults = Steps()
    steps = Steps(
        **{
            f.name: _timed(f.name, getattr(defaults, f.name), spent)
            for f in dataclasses.fields(Steps)
        }
    )
    with tempfile.TemporaryDirectory(prefix="session_cost") as out:
        options = SessionOptions(out=Path(out), overwrite=True)
        run_session(sessions[0], basis, options, steps=steps)  # warm-up: imports, caches
        spent.clear()
        total = 0.0
        for i in range(repeats):
            start = time.process_time()
            result = run_session(sessions[i % len(sessions)], basis, options, steps=steps)
            total += time.process_time() - start
            if not result.ok:
                raise SystemExit(f"session failed at {result.failed_step}: {result.error}")
    return {"total": total / repeats, **{k: v / repeats for k, v in spent.items()}}


def main(argv: list[str] | None = None) -> int:
    from bench.study_cost import make_study

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--participants", type=int, default=2)
    parser.add_argument("--transients", type=int, default=640)
    parser.add_argument("--repeats", type=int, default=8)
    args = parser.parse_args(argv)
    folder = make_study(args.folder, participants=args.participants, transients=args.transients)
    cpu = session_cpu(folder, repeats=args.repeats)
    print(
        f"{args.transients} transients a session, {args.repeats} sessions; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(f"CPU per session: {cpu.pop('total'):.3f} s")
    for name, seconds in sorted(cpu.items(), key=lambda kv: -kv[1]):
        print(f"  {name:14s} {1e3 * seconds:7.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
