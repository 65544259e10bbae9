"""Benchmark of the preprocessing chain on a simulated 640-transient, 2048-point session.

Run from the repository root::

    PYTHONPATH=$PWD python bench/bench_preprocess.py [--transients 640] [--snr 8]

Reports CPU and wall time per stage (per 100 transients) and the alignment accuracy against
the simulated truth. Timings are noisy on a shared machine; single-threaded BLAS is used
(set before numpy loads) because the batched small matrix products of HLSVD are slower with
a thread pool on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT))

from test_preprocess_sim import simulate_session  # noqa: E402

from mrspipe.preprocess import (  # noqa: E402
    align_transients,
    average_frames,
    estimate_fwhm,
    estimate_snr,
    find_bad_transients,
    find_reference_offset,
    preprocess_session,
    remove_water,
)
from mrspipe.preprocess.average import moving_average  # noqa: E402
from mrspipe.spectral import apply_lineshape  # noqa: E402


def _timed(label, fn, rows, n):
    c0, w0 = time.process_time(), time.perf_counter()
    out = fn()
    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
    rows.append((label, cpu, wall, 100 * cpu / n))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transients", type=int, default=640)
    parser.add_argument("--snr", type=float, default=8.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    n = args.transients
    rng = np.random.default_rng(args.seed)
    data, truth = simulate_session(rng, n_transients=n, snr=args.snr, water_amp=10.0)
    a = (data.dwell_time, data.spectrometer_frequency, data.ppm_reference)
    rows: list = []
    fids = _timed("HLSVD water removal", lambda: remove_water(data.fids, *a), rows, n)
    res = _timed("alignment (3 passes)", lambda: align_transients(fids, *a, axis=0), rows, n)
    rej, _ = _timed(
        "rejection",
        lambda: find_bad_transients(res.fids, res.reference, *a, axis=0, converged=res.converged),
        rows,
        n,
    )
    offset = _timed("ppm referencing", lambda: find_reference_offset(res.fids[~rej], *a), rows, n)
    shifted = apply_lineshape(res.fids, data.dwell_time, shift_hz=-offset)
    _timed(
        "QC (SNR, FWHM)",
        lambda: (estimate_snr(shifted, *a), estimate_fwhm(moving_average(shifted, 8, 0), *a)),
        rows,
        n,
    )
    _timed(
        "averaging (blocks of 16)",
        lambda: average_frames(shifted, data.transient_times(), width=16, axis=0, rejected=rej),
        rows,
        n,
    )
    result = _timed("preprocess_session (whole chain)", lambda: preprocess_session(data), rows, n)
    print(
        f"session: {n} transients x {data.n_points} points, 3 T, NAA SNR {args.snr:g} "
        f"per transient, drift {np.ptp(truth['shift_hz']):.1f} Hz peak-to-peak"
    )
    print(f"{'stage':36s} {'CPU s':>8s} {'wall s':>8s} {'CPU s/100 tr':>13s}")
    for label, cpu, wall, per in rows:
        print(f"{label:36s} {cpu:8.3f} {wall:8.3f} {per:13.3f}")
    err = result.qc["shift_hz"] - truth["shift_hz"]
    err -= err.mean()
    dphi = np.angle(np.exp(1j * (result.qc["phase_rad"] - truth["phase_rad"])))
    dphi -= dphi.mean()
    t = np.arange(data.n_points) * data.dwell_time
    w = np.abs(truth["metab"]) ** 2
    fisher = (
        np.array(
            [
                [np.sum((2 * np.pi * t) ** 2 * w), np.sum(2 * np.pi * t * w)],
                [np.sum(2 * np.pi * t * w), np.sum(w)],
            ]
        )
        / truth["noise_sd"] ** 2
    )
    crlb = np.sqrt(np.linalg.inv(fisher)[0, 0])
    print(
        f"alignment vs truth: shift RMS {np.sqrt(np.mean(err**2)):.3f} Hz "
        f"(CRLB {crlb:.3f} Hz), max |err| {np.abs(err).max():.3f} Hz, "
        f"phase RMS {np.degrees(np.sqrt(np.mean(dphi**2))):.2f} deg; "
        f"rejected {int(result.qc['rejected'].sum())}"
    )


if __name__ == "__main__":
    main()
