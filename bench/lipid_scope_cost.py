"""CPU cost of deciding the lipid model per participant (``[fit] lipid_phase_scope``).

Run from the repository root::

    PYTHONPATH=$PWD python -m bench.lipid_scope_cost FOLDER [--participants 2]
        [--transients 640] [--repeats 4] [--rounds 3] [--mm-free]

simulates a study into ``FOLDER`` once (:func:`bench.study_cost.make_study`), then measures,
alternately ``--rounds`` times, the mean CPU time (``time.process_time``, this process) of one
session:

* ``session``: ``lipid_phase_scope = 'session'``, :func:`~mrspipe.pipeline.run_session` alone
  (``'auto'`` decides inside the fit: one extra fit of the mean spectrum);
* ``participant``: the default, :func:`~mrspipe.pipeline.session.prepare_session` (preprocess,
  write, the test on the mean) then ``run_session`` with the plan (the stored frames read back,
  the fit with the decided model).

``--mm-free``: the basis without its macromolecules, so LCModel's components (and the lipids)
are appended and the test really fits the mean spectrum (with MM in the basis there is no lipid
to decide on). Every output is written, as in a run. CPU, not wall time: on a shared machine it
moves far less with the load.

Measured (2026-12-06, 640 transients, MM-free basis: the test fits the mean in every session;
machine shared, load 3.5-4.3; four alternated rounds of 4 sessions): ``session`` 0.500, 0.492,
0.482, 0.487 s; ``participant`` 0.499, 0.482, 0.486, 0.546 s CPU per session -- no difference
beyond the noise (the test is the fit ``'auto'`` makes anyway; the first pass adds the stored
frames' read-back and ``prepared.json``). A whole ``mrspipe run --jobs 2`` of 12 such sessions,
alternated 4 times: CPU of all processes 14.7, 15.6, 15.7, 16.7 s (participant) against 13.4,
14.6, 15.2, 15.4 s (session), about +1 s (+7 %, within about twice its noise); wall times
12-36 s, dominated by the load.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")


def _cpu(scope: str, sessions: list[Any], basis: Any, repeats: int) -> tuple[float, set[str]]:
    from mrspipe.fit.options import FitOptions
    from mrspipe.pipeline.lipid_scope import plan_lipids
    from mrspipe.pipeline.session import SessionOptions, prepare_session, run_session

    fit = FitOptions(lipid_phase_scope=scope)
    with tempfile.TemporaryDirectory(prefix="lipid_scope_cost") as out:
        options = SessionOptions(out=Path(out), fit=fit, overwrite=True)
        models: set[str] = set()

        def one(session: Any) -> None:
            if scope == "session":
                result = run_session(session, basis, options)
            else:
                first = prepare_session(session, basis, options)
                key = (session.participant_id, session.session_id)
                plan = plan_lipids({key: first.summary["lipid_test"]}, scope)[key]
                models.add(plan.model)
                result = run_session(session, basis, options, lipid=plan)
            if not result.ok:
                raise SystemExit(f"session failed at {result.failed_step}: {result.error}")

        one(sessions[0])  # warm-up: imports, caches
        start = time.process_time()
        for i in range(repeats):
            one(sessions[i % len(sessions)])
        return (time.process_time() - start) / repeats, models


def main(argv: list[str] | None = None) -> int:
    from bench.study_cost import make_study
    from mrspipe.io.basis import load_basis
    from mrspipe.io.bids import find_sessions

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--participants", type=int, default=2)
    parser.add_argument("--transients", type=int, default=640)
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--mm-free", action="store_true")
    args = parser.parse_args(argv)
    folder = make_study(args.folder, participants=args.participants, transients=args.transients)
    sessions = find_sessions(folder / "study")
    basis = load_basis(folder / "basis")
    if args.mm_free:
        keep = [n for n in basis.names if not n.startswith(("MM", "Mac", "Lip"))]
        basis = dataclasses.replace(basis.select(keep))
    print(f"{args.transients} transients a session; basis {len(basis.names)} spectra")
    for r in range(args.rounds):
        for scope in ("session", "participant") if r % 2 == 0 else ("participant", "session"):
            cpu, models = _cpu(scope, sessions, basis, args.repeats)
            print(
                f"round {r}: {scope:11s} {cpu:.3f} s CPU per session "
                f"(models {sorted(models) or '-'}; load {os.getloadavg()[0]:.1f})"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
