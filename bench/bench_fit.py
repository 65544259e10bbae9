"""Benchmark of ``fit_spectra``: speed, peak memory and accuracy against the truth.

Run from the repository root::

    PYTHONPATH=$PWD python bench/bench_fit.py [--frames 2000] [--lmfit-frames 4] [--threads N]

Uses the ISMRM 2016 fitting-challenge basis (22 spectra, 2048 points, 4000 Hz) when
``../shared/data`` exists, else an analytic 22-spectrum basis of the same size. Spectra are
simulated with known concentrations, Voigt lineshapes, shifts, phases and complex noise.
Timings are wall-clock on whatever else the machine runs (best of ``--repeats`` runs, and the
median); CPU time is reported too. ``--threads`` is passed to ``fit_spectra`` (default: the
usable cores). Peak memory: Python allocations traced during a 128-frame fit, and the process's
peak RSS at the end.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
import tracemalloc
from pathlib import Path

# the fit's matrices are small: multithreaded BLAS only adds overhead (3-6x on a loaded
# 2-core machine); the FFTs use their own workers. Override by setting the variable.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from fit_helpers import SPINS, TRUTH, challenge_basis, make_basis, simulate  # noqa: E402

from mrspipe.fit import fit_spectra  # noqa: E402

SHARED = Path(os.environ.get("MRSPIPE_SHARED_DATA", ROOT.parent / "shared" / "data"))
EXTRA_TRUTH = {
    "PCho": 0.6,
    "Ala": 0.5,
    "Asp": 2.0,
    "Asc": 1.0,
    "Glc": 1.0,
    "Gly": 0.5,
    "PE": 1.5,
    "Mac": 8.0,
    "Ace": 0.0,
}


def get_basis():
    if (SHARED / "ismrm2016_fitting_challenge").is_dir():
        return challenge_basis(SHARED), "ISMRM 2016 challenge basis"
    return (
        make_basis(tuple(SPINS), n_points=2048, dwell=2.5e-4),
        "analytic basis (no shared data)",
    )


def make_data(basis, n, noise_sd, rng):
    truth = dict(TRUTH, **EXTRA_TRUTH)
    c = np.array([truth.get(name, 0.0) for name in basis.names])
    conc = c * rng.uniform(0.9, 1.1, (n, c.size))  # vary the truth frame to frame
    data = simulate(
        basis,
        conc,
        lorentz_hz=rng.uniform(2, 5, n),
        gauss_hz=rng.uniform(2, 5, n),
        shift_hz=rng.uniform(-5, 5, n),
        phase0=rng.uniform(-0.8, 0.8, n),
        noise_sd=noise_sd,
        rng=rng,
    )
    return data, conc


def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def peak_memory(fn):
    tracemalloc.start()
    fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 2**20


def ratio_errors(res, conc, basis):
    out = {}
    weights = {n: res.weights_for(n) for n in ("Glu", "Glx", "tNAA", "tCr")}
    true = {n: conc @ w for n, w in weights.items()}
    vals, _ = res.combination(["Glu", "Glx", "tNAA", "tCr"])
    for i, name in enumerate(["Glu", "Glx", "tNAA"]):
        err = (vals[:, i] / vals[:, 3]) / (true[name] / true["tCr"]) - 1
        out[f"{name}/tCr"] = 100 * np.sqrt(np.mean(err**2))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=None, help="fit_spectra threads")
    parser.add_argument("--lmfit-frames", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=5, help="numpy timing runs (best kept)")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    basis, label = get_basis()
    print(
        f"basis: {label}: {basis.n_metabolites} spectra, {basis.n_points} points, "
        f"dwell {basis.dwell_time * 1e3:.3g} ms; "
        f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}"
    )

    data, conc = make_data(basis, args.frames, 0.5, rng)
    kw = {"threads": args.threads}
    fit_spectra(data.with_fids(data.fids[:8]), basis, **kw)  # warm-up (imports, band model)
    runs = [timed(lambda: fit_spectra(data, basis, **kw)) for _ in range(args.repeats)]
    res = runs[0][0]
    walls = sorted(r[1] for r in runs)
    wall, cpu = walls[0], min(r[2] for r in runs)
    mem = peak_memory(lambda: fit_spectra(data.with_fids(data.fids[:128]), basis))
    rate = args.frames / wall
    print(
        f"numpy : {args.frames} spectra, best of {args.repeats}: {wall:.2f} s wall "
        f"({rate:.0f} spectra/s; median run {args.frames / walls[len(walls) // 2]:.0f}/s), "
        f"{cpu:.2f} s CPU ({args.frames / cpu:.0f} spectra per CPU-s); "
        f"iterations median {np.median(res.params['n_iter']):.0f}, "
        f"mean {res.params['n_iter'].mean():.2f}, "
        f"max {res.params['n_iter'].max()}; converged {res.converged.mean():.3f}; "
        f"peak traced memory {mem:.0f} MiB (128-frame fit, chunk 32); "
        f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"
    )

    n_lm = args.lmfit_frames
    small = data.with_fids(data.fids[:n_lm])
    res_lm, wall_lm, cpu_lm = timed(lambda: fit_spectra(small, basis, backend="lmfit"))
    mem_lm = peak_memory(lambda: fit_spectra(data.with_fids(data.fids[:1]), basis, backend="lmfit"))
    rate_lm = n_lm / wall_lm
    print(
        f"lmfit : {n_lm} spectra in {wall_lm:.2f} s wall ({rate_lm:.2f} spectra/s), "
        f"{cpu_lm:.2f} s CPU; peak traced memory {mem_lm:.0f} MiB (1 frame)"
    )
    print(
        f"speed-up numpy / lmfit: {rate / rate_lm:.0f}x wall, "
        f"{(n_lm / cpu_lm) and (args.frames / cpu) / (n_lm / cpu_lm):.0f}x CPU"
    )
    a, _ = res.combination(["Glu", "tCr"])
    b, _ = res_lm.combination(["Glu", "tCr"])
    diff = np.abs((a[:n_lm, 0] / a[:n_lm, 1]) / (b[:, 0] / b[:, 1]) - 1).max()
    print(f"numpy vs lmfit Glu/tCr: max relative difference {100 * diff:.3f} %")

    print("accuracy (RMS error of ratios against the truth, %):")
    for noise in (0.25, 0.5, 1.0, 2.0):
        d, c = make_data(basis, 256, noise, rng)
        r = fit_spectra(d, basis)
        errs = ratio_errors(r, c, basis)
        print(
            f"  NAA SNR {np.median(r.snr):6.0f}: "
            + ", ".join(f"{k} {v:.2f}" for k, v in errs.items())
        )


if __name__ == "__main__":
    main()
