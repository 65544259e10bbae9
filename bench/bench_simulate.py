"""Timing of the simulator: 20-metabolite basis per sequence, and one 640-transient session.

Run from the repository root: ``PYTHONPATH=. python bench/bench_simulate.py``. Timings are
wall-clock minima over a few repeats (noisy on a shared machine).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from mrspipe.io.nifti_mrs import save_mrs
from mrspipe.simulate import simulate_basis, simulate_session
from mrspipe.simulate.study import DEFAULT_CONCENTRATIONS

SEQUENCES = {
    "pulse-acquire": {},
    "spin-echo": {"te": 0.030},
    "press": {"te": 0.030, "te1": 0.011},
    "steam": {"te": 0.020, "tm": 0.010},
    "slaser": {"te": 0.035},
}


def best_of(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    basis = simulate_basis()
    print(f"{basis.n_metabolites} metabolites, 2048 points, 123.2 MHz")
    for name, timing in SEQUENCES.items():
        seconds = best_of(lambda name=name, timing=timing: simulate_basis(sequence=name, **timing))
        print(f"basis {name:<14} {seconds:6.2f} s")
    times = np.arange(640) * 3.0

    def session():
        return simulate_session(
            basis,
            concentrations=DEFAULT_CONCENTRATIONS,
            percent_change=5.0,
            times=times,
            onset=480.0,
            rng=1,
        )

    print(f"session 640 x 2048 simulate   {best_of(session):6.2f} s")
    svs, _, _ = session()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "svs.nii.gz"
        print(f"session 640 x 2048 write gz   {best_of(lambda: save_mrs(svs, path)):6.2f} s")


if __name__ == "__main__":
    main()
