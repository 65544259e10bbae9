"""``mrspipe fit`` on many files against its floor: import + read + one stacked fit.

Simulates ``N`` files of frames (same grid), then times, each in a fresh process:

* ``floor``: import mrspipe's fit and io, read every file, one ``fit_spectra`` call on all
  frames stacked (what no command can beat by much);
* ``command``: ``mrspipe fit FILE... --basis B --out DIR`` (figures off when more than 4 files,
  as by default).

Run from the repository root::

    PYTHONPATH=$PWD python -m bench.fit_cli [--files 40] [--frames 8] [--points 2048]

Wall-clock on a shared machine: noisy; compare the two numbers of one run.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

FLOOR = """
import sys, time
t0 = time.perf_counter()
import numpy as np
from mrspipe.fit import fit_spectra
from mrspipe.io.basis import load_basis
from mrspipe.io.nifti_mrs import load_mrs
basis = load_basis(sys.argv[1])
data = [load_mrs(p) for p in sys.argv[2:]]
stacked = data[0].with_fids(
    np.concatenate([d.fids.reshape(-1, d.n_points) for d in data]), dims=("dyn",)
)
fit_spectra(stacked, basis)
print(time.perf_counter() - t0)
"""


def make_files(root: Path, n_files: int, n_frames: int, n_points: int) -> tuple[Path, list[Path]]:
    """Write ``n_files`` simulated frame files and a basis; return ``(basis, files)``."""
    import numpy as np

    from mrspipe.io.basis import save_basis
    from mrspipe.io.nifti_mrs import save_mrs
    from mrspipe.simulate import simulate_basis, simulate_spectra

    basis = simulate_basis(
        ["NAA", "Cr", "PCr", "PCho", "Glu", "Gln", "Ins"], n_points=n_points, dwell_time=2.5e-4
    )
    save_basis(basis, root / "basis", format="fsl")
    rng = np.random.default_rng(0)
    conc = {"NAA": 12.0, "Cr": 5.0, "PCr": 4.0, "PCho": 1.5, "Glu": 10.0, "Gln": 3.0, "Ins": 6.0}
    files = []
    for i in range(n_files):
        data, _ = simulate_spectra(
            basis,
            {k: np.full(n_frames, v) for k, v in conc.items()},
            lorentz_hz=4.0,
            noise_sd=0.02,
            rng=rng,
        )
        data = data.with_fids(data.fids.reshape(n_frames, n_points), dims=("dyn",))
        files.append(save_mrs(data, root / f"f{i:03d}.nii.gz"))
    return root / "basis", files


def main() -> None:
    """Time the floor and the command."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=40)
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--points", type=int, default=2048)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        basis, files = make_files(root, args.files, args.frames, args.points)
        env = dict(os.environ, MPLBACKEND="Agg")
        t0 = time.perf_counter()
        out = subprocess.run(
            [sys.executable, "-c", FLOOR, str(basis), *map(str, files)],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        )
        floor = time.perf_counter() - t0
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "mrspipe", "fit", *map(str, files), "--basis", str(basis)]
            + ["--out", str(root / "out")],
            capture_output=True,
            check=True,
            env=env,
        )
        command = time.perf_counter() - t0
    print(
        f"{args.files} files x {args.frames} frames x {args.points} points: "
        f"floor (import + read + one stacked fit, incl. interpreter start) {floor:.2f} s "
        f"(in-process {float(out.stdout):.2f} s); mrspipe fit {command:.2f} s; "
        f"ratio {command / floor:.2f}"
    )


if __name__ == "__main__":
    main()
