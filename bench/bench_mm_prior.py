"""Soft ratio priors on the appended MM/lipid components vs free components, against truth.

Run from the repository root (needs ``../shared/data``)::

    PYTHONPATH=$PWD python bench/bench_mm_prior.py [--n 30] [--seed 1] [--cases A B C]

The fit basis is the ISMRM 2016 fitting-challenge basis *without* its measured macromolecule
spectrum (``Mac``), so the fit appends LCModel's default components. Every case fits the same
spectra twice: ``mm_priors=False`` (free nonnegative amplitudes) and ``mm_priors=True``.

* A: LCModel-like MM in the data: the appended components themselves, MM09 = 0.4 tCr x U(0.5,
  1.5), the other ratios drawn from the prior (normal, ratio +- SD, at least 0.05).
* B: the challenge's *measured* MM spectrum in the data (``Mac`` 8 units x U(0.5, 1.5), as in
  bench_mismatch set 1): a measured MM fitted by Gaussian components.
* C: parametrised Gaussian MM with resonances LCModel's components lack (MM30, MM32, MM38 of
  :data:`mrspipe.simulate.macromolecules.MACROMOLECULES`, amplitudes x U(0.7, 1.3)).

Metabolites: in-vivo values x U(0.5, 1.5); Voigt (Lorentzian 1-5 Hz, Gaussian 2-6 Hz), shifts
+-5 Hz, phases +-1 rad; noise cycling through three levels (NAA SNR about 900, 300, 100).
Each line: RMS and mean (bias) error in % of the true ratio to tCr, the coverage
``|error| <= 2.5 SD``, for Glu, Gln, Glx, GABA, tNAA, Ins.
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

from bench_mismatch import SHARED, simulate_levels  # noqa: E402
from fit_helpers import TRUTH, challenge_basis  # noqa: E402

from mrspipe.fit import fit_spectra  # noqa: E402
from mrspipe.fit.priors import RATIO_PRIORS  # noqa: E402
from mrspipe.fit.problem import with_default_macromolecules  # noqa: E402
from mrspipe.quantify import ratios  # noqa: E402
from mrspipe.simulate.macromolecules import DEFAULT_MM_AMPLITUDES  # noqa: E402

EXTRA = {"PCho": 0.6, "Ala": 0.5, "Asp": 2.0, "Asc": 1.0, "Glc": 1.0, "Gly": 0.5, "PE": 1.5}
NAMES = ("Glu", "Gln", "Glx", "GABA", "tNAA", "Ins")


def without(basis, name):
    keep = [i for i, n in enumerate(basis.names) if n != name]
    return dataclasses.replace(
        basis, names=tuple(basis.names[i] for i in keep), fids=np.asarray(basis.fids)[keep]
    )


def draw(basis, n, rng, mm_case):
    """Data ``(n, n_points)`` and true metabolite concentrations over ``basis`` minus Mac."""
    fit_basis = without(basis, "Mac")
    truth = dict(TRUTH, **EXTRA)
    c = np.array([truth.get(name, 0.0) for name in fit_basis.names])
    conc = c * rng.uniform(0.5, 1.5, (n, c.size))
    tcr = conc[:, fit_basis.names.index("Cr")] + conc[:, fit_basis.names.index("PCr")]
    mm_kw = {}
    if mm_case == "A":
        sim_basis, _ = with_default_macromolecules(fit_basis)
        extra = np.zeros((n, len(sim_basis.names) - len(fit_basis.names)))
        names = sim_basis.names[len(fit_basis.names) :]
        mm09 = 0.4 * tcr * rng.uniform(0.5, 1.5, n)
        extra[:, names.index("MM09")] = mm09
        for num, den, ratio, sd in RATIO_PRIORS:
            if den == ("MM09",):
                r = np.maximum(rng.normal(ratio, sd, n), 0.05)
                extra[:, names.index(num[0])] = r * mm09
        sim_conc = np.concatenate([conc, extra], axis=1)
    elif mm_case == "B":
        sim_basis = basis
        sim_conc = np.zeros((n, len(basis.names)))
        for j, name in enumerate(fit_basis.names):
            sim_conc[:, basis.names.index(name)] = conc[:, j]
        sim_conc[:, basis.names.index("Mac")] = 8.0 * rng.uniform(0.5, 1.5, n)
    else:
        sim_basis, sim_conc = fit_basis, conc
        mm_kw = {
            "macromolecules": {
                k: a * rng.uniform(0.7, 1.3, n) for k, a in DEFAULT_MM_AMPLITUDES.items()
            }
        }
    data = simulate_levels(
        sim_basis,
        sim_conc,
        rng,
        extra=lambda rows: {key: {m: a[rows] for m, a in v.items()} for key, v in mm_kw.items()},
    )
    return data, fit_basis, conc


def score(res, conc):
    conc = np.concatenate([conc, np.zeros((len(conc), len(res.names) - conc.shape[1]))], axis=1)
    got = ratios(res, reference="tCr", metabolites=list(NAMES))
    tcr = conc @ res.weights_for("tCr")
    out = {}
    for name in NAMES:
        true = conc @ res.weights_for(name) / tcr
        err = got[name]["ratio"] / true - 1
        z = np.abs(got[name]["ratio"] - true) / got[name]["sd"]
        out[name] = (100 * np.sqrt(np.mean(err**2)), 100 * np.mean(err), float(np.mean(z <= 2.5)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cases", nargs="+", default=["A", "B", "C"])
    parser.add_argument("--options", nargs="*", default=[], help="extra fit options k=v")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    extra = {}
    for kv in args.options:
        key, value = kv.split("=")
        extra[key] = eval(value)  # bench-only convenience  # noqa: S307
    basis = challenge_basis(SHARED)
    for case in args.cases:
        rng = np.random.default_rng(args.seed)
        data, fit_basis, conc = draw(basis, args.n, rng, case)
        for prior in (False, True):
            t0 = time.perf_counter()
            res = fit_spectra(data, fit_basis, mm_priors=prior, **extra)
            dt = time.perf_counter() - t0
            rows = score(res, conc)
            cells = "  ".join(f"{k} {v[0]:.2f}/{v[1]:+.2f}/{v[2]:.2f}" for k, v in rows.items())
            print(
                f"{case} priors={prior!s:5s} {cells}  iters {np.median(res.params['n_iter']):.0f}"
                f"  {dt:.1f}s",
                flush=True,
            )


if __name__ == "__main__":
    main()
