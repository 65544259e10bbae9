"""A free lineshape kernel (``lineshape="kernel"``) vs Voigt on non-Voigt lineshapes, vs truth.

Run from the repository root (needs ``../shared/data``)::

    PYTHONPATH=$PWD python bench/bench_lineshape.py [--n 24] [--seed 1] [--noise 0.15]

Spectra as bench_mismatch set 2 (ISMRM 2016 challenge basis with its measured MM, random
concentrations, Voigt 1-5 Hz Lorentzian and 2-6 Hz Gaussian, shifts +-5 Hz, phases +-1 rad),
then convolved with a non-Voigt kernel (:func:`mrspipe.simulate.simulate_spectra`
``lineshape_components``):

* voigt: none (does the kernel cost accuracy when the lineshape is Voigt?);
* shoulder: 25 % of the signal 3 Hz up with 3 Hz extra Lorentzian;
* asym2: 25 % 2.5 Hz down (+2 Hz), 15 % 5 Hz up (+4 Hz).

The spectra are independent (each its own lineshape), so each is fitted alone (the kernel is
estimated on the mean of the frames of one call). Each line: RMS / bias % of the ratio to tCr
and the coverage ``|error| <= 2.5 SD``, for Glu, Glx and tNAA.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

from bench_mismatch import SHARED, make_set, score  # noqa: E402
from fit_helpers import challenge_basis  # noqa: E402

from mrspipe.fit import fit_spectra  # noqa: E402

CASES = {
    "voigt": {},
    "shoulder": {"lineshape_components": [(0.75, 0.0, 0.0), (0.25, 3.0, 3.0)]},
    "asym2": {"lineshape_components": [(0.6, 0.0, 0.0), (0.25, -2.5, 2.0), (0.15, 5.0, 4.0)]},
}


def fit_each(data, basis, **kw):
    """Fit every spectrum alone and stack the results (estimates, SDs, covariance)."""
    fids = data.fids.reshape(-1, data.n_points)
    parts = [fit_spectra(data.with_fids(fids[i : i + 1]), basis, **kw) for i in range(len(fids))]
    keys = ("estimates", "crlb_sd", "covariance", "sd_inflation")
    return dataclasses.replace(
        parts[0], **{k: np.concatenate([getattr(p, k) for p in parts]) for k in keys}
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=24)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--noise", type=float, default=0.15)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    basis = challenge_basis(SHARED)
    for case, kw in CASES.items():
        rng = np.random.default_rng(args.seed)
        data, conc = make_set(basis, args.n, rng, noise=(args.noise,), **kw)
        for lineshape in ("voigt", "kernel"):
            t0 = time.perf_counter()
            res = fit_each(data, basis, lineshape=lineshape)
            rows, *_ = score(res, conc)
            cells = "  ".join(f"{k} {v[0]:.2f}/{v[1]:+.2f}/{v[2]:.2f}" for k, v in rows.items())
            dt = time.perf_counter() - t0
            print(f"{case:9s} {lineshape:7s} {cells}  {dt:.1f}s", flush=True)


if __name__ == "__main__":
    main()
