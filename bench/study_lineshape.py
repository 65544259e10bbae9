"""The lineshape kernel on the study path (``run`` with ``[fit] lineshape``), vs truth.

Run from the repository root::

    PYTHONPATH=$PWD python -m bench.study_lineshape [--participants 6] [--transients 256]
        [--snr 100] [--data voigt shoulder]

Simulates a study with :func:`mrspipe.simulate.simulate_study` whose spectra have a Voigt
lineshape, or the Voigt convolved with a shoulder (25 % of the signal 3 Hz up with 3 Hz more
Lorentzian; the simulator's ``lineshape_components``, wrapped in here as
bench.study_confounds wraps its BOLD), runs the pipeline with ``lineshape="voigt"`` and
``"kernel"`` (one kernel per session, on the mean of its frames), and reports the per-session
Glu % change bias and RMSE (bench.study_recovery) and the error of the baseline-window
concentrations against the simulated ones.

Measured 2026-12-06 (6 participants, 256 transients, SNR 100, seed 11; 12 sessions):

* Voigt data: identical with either fit (Glu % change +0.199 +- 0.091 pp, RMSE 0.36; baseline
  Glu -0.12 %, Gln -0.38 / -0.33 %, Glx -0.18 / -0.17 %, tNAA -0.00 / -0.01 %);
* shoulder: % change unchanged (+0.250 vs +0.225 +- 0.10 pp, RMSE 0.42 both), but the CRLB
  floor 0.99 pp (voigt, residual-inflated) vs 0.43 (kernel, matching the RMSE), and the
  baseline concentrations Glu -1.24 -> +0.43 %, Gln -17.9 -> -2.0 %, Glx -5.44 -> -0.18 %,
  tNAA +2.23 -> +0.76 %.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

SHOULDER = [(0.75, 0.0, 0.0), (0.25, 3.0, 3.0)]
SUMS = {"Glu": ("Glu",), "Gln": ("Gln",), "Glx": ("Glu", "Gln"), "tNAA": ("NAA", "NAAG")}


def _with_shoulder(original: Any) -> Any:
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("lineshape_components", SHOULDER)
        return original(*args, **kwargs)

    return wrapped


def baseline_errors(out: Path, truth: dict[str, Any]) -> dict[str, float]:
    """Mean % error of the baseline-window concentration per sum, over sessions."""
    from mrspipe.io.tables import read_table

    conc = {(s["participant_id"], s["session_id"]): s["concentrations"] for s in truth["sessions"]}
    table = read_table(out / "group" / "responses.tsv")
    errors = {}
    for name, members in SUMS.items():
        rows = table[table.metabolite == name]
        err = [
            row.baseline / sum(conc[(row.participant_id, row.session_id)][m] for m in members) - 1
            for row in rows.itertuples()
        ]
        errors[name] = 100.0 * float(np.mean(err))
    return errors


def main() -> None:
    import mrspipe.simulate.study as study

    from .study_recovery import recovery_summary, session_errors, simulate_and_run

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=6)
    parser.add_argument("--transients", type=int, default=256)
    parser.add_argument("--snr", type=float, default=100.0)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--data", nargs="+", default=["voigt", "shoulder"])
    parser.add_argument("--out", default="study-lineshape")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    original = study.simulate_spectra
    try:
        for data in args.data:
            study.simulate_spectra = _with_shoulder(original) if data == "shoulder" else original
            for fit in ("voigt", "kernel"):
                folder = Path(args.out) / f"{data}_{fit}"
                res = simulate_and_run(
                    folder,
                    participants=args.participants,
                    transients=args.transients,
                    jobs=1,
                    seed=args.seed,
                    simulate_kwargs={"snr": args.snr},
                    config_overrides={"fit.lineshape": fit},
                )
                s = recovery_summary(
                    session_errors(res["truth"], res["responses"], block=res["block"])
                )
                truth = json.loads((folder / "study" / "truth.json").read_text())
                base = baseline_errors(res["out"], truth)
                cells = "  ".join(f"{k} {v:+.2f} %" for k, v in base.items())
                print(
                    f"data {data:8s} fit {fit:6s} Glu % change bias {s['bias_pp']:+.3f} +- "
                    f"{s['bias_se_pp']:.3f} pp, RMSE {s['rmse_pp']:.2f}, floor "
                    f"{s['crlb_floor_pp']:.2f}; baseline {cells}",
                    flush=True,
                )
    finally:
        study.simulate_spectra = original


if __name__ == "__main__":
    main()
