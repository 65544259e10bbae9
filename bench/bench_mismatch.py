"""Accuracy and honesty of the fit on spectra from an external basis, with and without mismatch.

Run from the repository root (needs ``../shared/data``)::

    PYTHONPATH=$PWD python bench/bench_mismatch.py [--n 40] [--seed 1]

Set 1 is built like the issue-13 acceptance set: single spectra from the ISMRM 2016
fitting-challenge basis including its measured macromolecule spectrum (``Mac``), random
concentrations (in-vivo values times U(0.5, 1.5), ``Mac`` included), Voigt lineshapes
(Lorentzian 1-5 Hz, Gaussian 2-6 Hz), shifts of +-5 Hz, zero-order phases of +-1 rad and three
noise levels. It reports the RMS error of Glu, Glx and tNAA to tCr, how many sums have a NaN
SD, how often the MM spectrum is fitted as 0, and the fraction of spectra with
``|error| <= 2.5 SD`` per ratio.

Set 2 adds one mismatch at a time to the middle noise level: lipids the basis lacks, a
first-order phase, residual water, a parametrised (Gaussian) MM instead of the measured one,
and a non-Voigt lineshape (a shoulder).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from fit_helpers import TRUTH, challenge_basis  # noqa: E402

from mrspipe.fit import fit_spectra  # noqa: E402
from mrspipe.quantify import ratios  # noqa: E402
from mrspipe.simulate import simulate_spectra  # noqa: E402
from mrspipe.simulate.macromolecules import DEFAULT_MM_AMPLITUDES  # noqa: E402

SHARED = Path(os.environ.get("MRSPIPE_SHARED_DATA", ROOT.parent / "shared" / "data"))
EXTRA = {"PCho": 0.6, "Ala": 0.5, "Asp": 2.0, "Asc": 1.0, "Glc": 1.0, "Gly": 0.5, "PE": 1.5}
RATIOS = ("Glu", "Glx", "tNAA")
#: time-domain noise SD of the three levels (NAA SNR about 900, 300 and 100)
NOISE = (0.05, 0.15, 0.45)


def concentrations(basis, n, rng):
    """In-vivo values times U(0.5, 1.5), ``(n, n_met)``; ``Mac`` 8 units times the same."""
    truth = dict(TRUTH, **EXTRA, Mac=8.0)
    c = np.array([truth.get(name, 0.0) for name in basis.names])
    return c * rng.uniform(0.5, 1.5, (n, c.size))


def make_set(basis, n, rng, *, noise=NOISE, **mismatch):
    """``n`` spectra cycling through the noise levels; returns data and true concentrations."""
    conc = concentrations(basis, n, rng)

    def extra(rows):
        return {k: (v(rows.size, rng) if callable(v) else v) for k, v in mismatch.items()}

    return simulate_levels(basis, conc, rng, noise=noise, extra=extra), conc


def simulate_levels(basis, conc, rng, *, noise=NOISE, extra=None):
    """Spectra of ``conc`` ``(n, n_met)`` cycling through the noise levels, random Voigt
    lineshapes, shifts and phases; ``extra(rows)`` gives more ``simulate_spectra`` keywords
    for the rows of one noise level (drawn after the lineshapes)."""
    n = conc.shape[0]
    level = np.asarray(noise)[np.arange(n) % len(noise)]
    fids = np.empty((n, basis.n_points), complex)
    data = None
    for lev in np.unique(level):
        rows = np.flatnonzero(level == lev)
        k = rows.size
        data, _ = simulate_spectra(
            basis,
            conc[rows],
            lorentz_hz=rng.uniform(1.0, 5.0, k),
            gauss_hz=rng.uniform(2.0, 6.0, k),
            shift_hz=rng.uniform(-5.0, 5.0, k),
            phase0=rng.uniform(-1.0, 1.0, k),
            noise_sd=float(lev),
            rng=rng,
            **(extra(rows) if extra is not None else {}),
        )
        fids[rows] = data.fids.reshape(k, -1)
    assert data is not None
    return data.with_fids(fids)


def score(res, conc):
    """RMS % error, coverage at 2.5 SD, bias % per ratio; NaN sums; MM at 0."""
    out = ratios(res, reference="tCr", metabolites=list(RATIOS))
    # components the fit appended (LCModel's lipids) are 0 in the truth
    conc = np.concatenate([conc, np.zeros((len(conc), len(res.names) - conc.shape[1]))], axis=1)
    tcr = conc @ res.weights_for("tCr")
    rows = {}
    for name in RATIOS:
        true = conc @ res.weights_for(name) / tcr
        err = out[name]["ratio"] / true - 1
        z = np.abs(out[name]["ratio"] - true) / out[name]["sd"]
        rows[name] = (
            100 * np.sqrt(np.mean(err**2)),
            100 * np.mean(err),
            float(np.mean(z <= 2.5)),
            float(np.mean(out[name]["sd"] / true) * 100),
        )
    nan_sums = int(sum(np.isnan(v["crlb_sd"]).sum() for v in res.sums.values()))
    mm = [i for i, n in enumerate(res.names) if n == "Mac" or n.startswith("MM")]
    mm_zero = int((res.estimates[:, mm] <= 0).any(axis=1).sum()) if mm else 0
    return rows, nan_sums, mm_zero


def show(label, res, conc, seconds):
    rows, nan_sums, mm_zero = score(res, conc)
    cells = ", ".join(
        f"{k} rms {v[0]:.2f} bias {v[1]:+.2f} sd {v[3]:.2f} cover {v[2]:.2f}"
        for k, v in rows.items()
    )
    print(
        f"{label:28s} {cells}; NaN sums {nan_sums}; MM at 0 {mm_zero}; "
        f"median SD factor {np.median(res.sd_inflation):.2f}; {seconds:.1f} s",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    basis = challenge_basis(SHARED)
    rng = np.random.default_rng(args.seed)
    print(f"set 1: {args.n} spectra, noise levels {NOISE}")
    data, conc = make_set(basis, args.n, rng)
    t0 = time.perf_counter()
    res = fit_spectra(data, basis)
    show("Voigt, measured MM", res, conc, time.perf_counter() - t0)
    print("set 2: one mismatch at a time, noise 0.15")
    pieces = {
        "lipids (not in basis)": dict(
            macromolecules=lambda k, r: {
                "Lip13a": r.uniform(2, 8, k),
                "Lip13b": r.uniform(2, 8, k),
                "Lip09": r.uniform(1, 4, k),
            }
        ),
        "first-order phase": dict(phase1=lambda k, r: r.uniform(-2e-4, 2e-4, k)),
        "residual water": dict(water=lambda k, r: r.uniform(200, 2000, k)),
        "parametrised MM in data": dict(
            macromolecules=lambda k, r: {
                name: amp * r.uniform(0.7, 1.3, k) for name, amp in DEFAULT_MM_AMPLITUDES.items()
            }
        ),
        "non-Voigt lineshape": dict(lineshape_components=[(0.75, 0.0, 0.0), (0.25, 3.0, 3.0)]),
    }
    for label, mismatch in pieces.items():
        data, conc = make_set(basis, args.n, rng, noise=(0.15,), **mismatch)
        if label == "parametrised MM in data":
            conc[:, basis.names.index("Mac")] = 0.0
            data = data.with_fids(data.fids)
        t0 = time.perf_counter()
        res = fit_spectra(data, basis)
        show(label, res, conc, time.perf_counter() - t0)
        if label.startswith("lipids"):
            res = fit_spectra(data, basis, default_lipids=True)
            show("lipids, default_lipids=True", res, conc, time.perf_counter() - t0)


if __name__ == "__main__":
    main()
