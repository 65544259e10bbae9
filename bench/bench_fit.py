"""Benchmark of ``fit_spectra``: speed, iterations, peak memory and accuracy against the truth.

Run from the repository root::

    PYTHONPATH=$PWD python bench/bench_fit.py [--frames 2000] [--lmfit-frames 4] [--threads 1 2]

Uses the ISMRM 2016 fitting-challenge basis (21 metabolites and the measured macromolecule
spectrum, 2048 points, 4000 Hz) when ``../shared/data`` exists, else an analytic 22-spectrum
basis of the same size. Spectra are simulated with known concentrations, Voigt lineshapes,
shifts, phases and complex noise.

Reported, for each ``--threads`` value (passed to ``fit_spectra``): spectra per second of wall
time (best of ``--repeats`` runs, and the median run) and CPU milliseconds per frame (process
CPU time of the best run over the frames: the load of other processes distorts it far less than
the wall time; the load average at the start is printed). Then iterations, peak memory (Python
allocations traced during a 128-frame fit, and the process's peak RSS), the lmfit path's speed
and agreement, and the accuracy against the truth at four SNRs: RMS error and bias of the
ratios to tCr, and the coverage of their nominal 95 % intervals (delta method on the reported
covariance).
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


def ratio_errors(res, conc):
    """RMS error, mean error (%) and 95 % coverage of Glu, Glx, tNAA over tCr."""
    out = {}
    names = ["Glu", "Glx", "tNAA", "tCr"]
    true = {n: conc @ res.weights_for(n) for n in names}
    vals, cov = res.combination(names)
    for i, name in enumerate(names[:3]):
        a, b = vals[:, i], vals[:, 3]
        ratio = a / b
        err = ratio / (true[name] / true["tCr"]) - 1
        # delta method: var(a / b) = (a / b)^2 (var_a / a^2 + var_b / b^2 - 2 cov_ab / (a b))
        rel_var = cov[:, i, i] / a**2 + cov[:, 3, 3] / b**2 - 2 * cov[:, i, 3] / (a * b)
        z = (ratio - true[name] / true["tCr"]) / (ratio * np.sqrt(np.clip(rel_var, 0, None)))
        out[f"{name}/tCr"] = (
            100 * np.sqrt(np.mean(err**2)),
            100 * np.mean(err),
            np.mean(np.abs(z) < 1.96),
        )
    return out


def load() -> str:
    return f"load average {os.getloadavg()[0]:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--frames", type=int, default=2000)
    parser.add_argument(
        "--threads", type=int, nargs="+", default=[1, 2], help="fit_spectra threads (each)"
    )
    parser.add_argument("--lmfit-frames", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3, help="numpy timing runs (best kept)")
    parser.add_argument("--no-accuracy", action="store_true", help="speed only")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    basis, label = get_basis()
    print(
        f"basis: {label}: {basis.n_metabolites} spectra, {basis.n_points} points, "
        f"dwell {basis.dwell_time * 1e3:.3g} ms; "
        f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}; {load()}"
    )

    data, conc = make_data(basis, args.frames, 0.5, rng)
    fit_spectra(data.with_fids(data.fids[:8]), basis)  # warm-up (imports, band model)
    res = None
    rate = cpu_rate = 0.0
    for threads in args.threads:
        start_load = load()
        runs = [
            timed(lambda n=threads: fit_spectra(data, basis, threads=n))
            for _ in range(args.repeats)
        ]
        res = runs[0][0] if res is None else res
        walls = sorted(r[1] for r in runs)
        wall, cpu = walls[0], min(r[2] for r in runs)
        rate, cpu_rate = args.frames / wall, args.frames / cpu
        print(
            f"numpy threads={threads}: {args.frames} spectra, best of {args.repeats}: "
            f"{wall:.2f} s wall = {rate:.0f} spectra/s (median run "
            f"{args.frames / walls[len(walls) // 2]:.0f}/s); CPU {1e3 * cpu / args.frames:.2f} ms "
            f"per frame ({cpu_rate:.0f} spectra per CPU-s); {start_load} at the start"
        )
    assert res is not None
    n_iter = res.params["n_iter"]
    mem = peak_memory(lambda: fit_spectra(data.with_fids(data.fids[:128]), basis))
    print(
        f"iterations median {np.median(n_iter):.0f}, mean {n_iter.mean():.2f}, "
        f"max {n_iter.max()}; converged {res.converged.mean():.3f}; "
        f"peak traced memory {mem:.0f} MiB (128-frame fit); "
        f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"
    )

    n_lm = args.lmfit_frames
    if n_lm:
        small = data.with_fids(data.fids[:n_lm])
        res_lm, wall_lm, cpu_lm = timed(lambda: fit_spectra(small, basis, backend="lmfit"))
        rate_lm = n_lm / wall_lm
        print(
            f"lmfit : {n_lm} spectra in {wall_lm:.2f} s wall ({rate_lm:.2f} spectra/s), "
            f"{cpu_lm:.2f} s CPU"
        )
        print(
            f"speed-up numpy (threads={args.threads[-1]}) / lmfit: {rate / rate_lm:.0f}x wall, "
            f"{cpu_rate / (n_lm / cpu_lm):.0f}x CPU"
        )
        a, _ = res.combination(["Glu", "tCr"])
        b, _ = res_lm.combination(["Glu", "tCr"])
        diff = np.abs((a[:n_lm, 0] / a[:n_lm, 1]) / (b[:, 0] / b[:, 1]) - 1).max()
        rel = np.abs(res.estimates[:n_lm] - res_lm.estimates) / res_lm.crlb_sd
        print(
            f"numpy vs lmfit: Glu/tCr max relative difference {100 * diff:.3f} %; "
            f"estimates differ by at most {rel.max():.3f} of their SD"
        )

    if args.no_accuracy:
        return
    print("accuracy against the truth (256 frames each; RMS error %, bias %, 95 % coverage):")
    for noise in (0.25, 0.5, 1.0, 2.0):
        d, c = make_data(basis, 256, noise, rng)
        r = fit_spectra(d, basis)
        errs = ratio_errors(r, c)
        print(
            f"  NAA SNR {np.median(r.snr):6.0f}: "
            + "; ".join(
                f"{k} {rms:.2f} ({bias:+.2f}, cover {cov:.2f})"
                for k, (rms, bias, cov) in errs.items()
            )
        )


if __name__ == "__main__":
    main()
