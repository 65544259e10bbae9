"""Baseline stiffness by F-test (``baseline_stiffness="ftest"``) vs the fixed default, vs truth.

Run from the repository root (needs ``../shared/data``)::

    PYTHONPATH=$PWD python bench/bench_stiffness.py [--n 30] [--seed 11]

Spectra as bench_mismatch set 1 (ISMRM 2016 challenge basis *with* its measured MM, random
concentrations, Voigt lineshapes, three noise levels), once as they are and once with broad
baseline humps added (Gaussians of 120, 80 and 100 Hz FWHM at 1.3, 2.3 and 3.6 ppm, 5, 3 and
3 % of the FID's first points: the humps of the issue-13 review). Every spectrum is fitted alone
(the stiffness is chosen per data set, on the mean of its frames). Each line: RMS / bias % of
the ratio to tCr and the coverage ``|error| <= 2.5 SD``; then how often each stiffness was
chosen.
"""

from __future__ import annotations

import argparse
import collections
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

from bench_lineshape import fit_each  # noqa: E402
from bench_mismatch import SHARED, make_set, score  # noqa: E402
from fit_helpers import challenge_basis  # noqa: E402

from mrspipe.fit import fit_spectra  # noqa: E402

HUMPS = ((1.3, 120.0, 0.05), (2.3, 80.0, 0.03), (3.6, 100.0, 0.03))


def add_humps(data):
    """Broad Gaussian humps (ppm, FWHM Hz, fraction of the mean of the first 4 points)."""
    fids = data.fids.reshape(-1, data.n_points).copy()
    t = np.arange(data.n_points) * data.dwell_time
    amp = np.abs(fids[:, :4]).mean(axis=1)
    for ppm, fwhm, frac in HUMPS:
        f = (ppm - data.ppm_reference) * data.spectrometer_frequency
        line = np.exp(2j * np.pi * f * t - (np.pi * fwhm * t) ** 2 / (4 * np.log(2)))
        fids += (frac * amp)[:, None] * line
    return data.with_fids(fids)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=30)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    basis = challenge_basis(SHARED)
    rng = np.random.default_rng(args.seed)
    data, conc = make_set(basis, args.n, rng)
    for label, d in (("plain", data), ("humps", add_humps(data))):
        for rule in ("fixed", "ftest"):
            t0 = time.perf_counter()
            res = fit_each(d, basis, baseline_stiffness=rule)
            rows, *_ = score(res, conc)
            cells = "  ".join(f"{k} {v[0]:.2f}/{v[1]:+.2f}/{v[2]:.2f}" for k, v in rows.items())
            print(f"{label:6s} {rule:6s} {cells}  {time.perf_counter() - t0:.1f}s", flush=True)
            if rule == "ftest":
                fids = d.fids.reshape(-1, d.n_points)
                chosen = collections.Counter(
                    round(
                        fit_spectra(
                            d.with_fids(fids[i : i + 1]), basis, baseline_stiffness="ftest"
                        ).options["baseline_dof"],
                        1,
                    )
                    for i in range(len(fids))
                )
                print(f"{label:6s} chosen effective dimension: {dict(chosen)}", flush=True)


if __name__ == "__main__":
    main()
