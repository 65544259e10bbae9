"""Benchmark of ``fit_dynamic``: speed of a whole session, calibration and accuracy.

Run from the repository root::

    PYTHONPATH=$PWD python bench/bench_dynamic.py [--frames 640] [--points 2048] [--reps 100]

1. Speed: one session of ``--frames`` single transients x ``--points`` points (a 12-metabolite
   density-matrix PRESS basis, 3 T), a 10 % glutamate ramp during the infusion, a 0.5 Hz
   linewidth narrowing (BOLD) on the same ramp, random shifts and phases, noise at a
   single-transient SNR. The time includes the frame-wise fit used for the start values.
2. Calibration (``--reps`` noise realisations of a smaller session, ``--cal-frames`` x
   ``--cal-points``): bias and RMS error of the glutamate ramp beta (% of baseline), coverage
   of the 95 % intervals, and the same numbers for frame-wise fitting followed by a GLM on the
   glutamate time course (:func:`mrspipe.dynamic.fit_glm`).

Timings are wall clock on whatever else the machine runs.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

from mrspipe.dynamic import design_matrix, fit_glm  # noqa: E402
from mrspipe.fit import fit_dynamic  # noqa: E402
from mrspipe.simulate import simulate_basis, simulate_spectra  # noqa: E402

METABOLITES = {
    "NAA": 10.0,
    "NAAG": 1.5,
    "Cr": 4.5,
    "PCr": 4.0,
    "GPC": 1.0,
    "PCho": 0.6,
    "Ins": 6.0,
    "Glu": 9.0,
    "Gln": 3.0,
    "GSH": 2.0,
    "Tau": 1.5,
    "GABA": 1.5,
}
RESPONSE = 0.10  # Glu rise at the plateau, fraction of baseline
BOLD_HZ = -0.5  # Lorentzian width change at the plateau


def session(basis, n_frames, noise_sd, rng, *, response=RESPONSE, bold_hz=BOLD_HZ):
    """Simulated session: transients 3 s apart, infusion ramp over the second half."""
    t = (np.arange(n_frames) - n_frames // 2) * 3.0
    design = design_matrix(t, onset=0.0, duration=0.5 * n_frames * 3.0, regressors=("ramp",))
    ramp = design["ramp"].to_numpy()
    design["bold"] = ramp.copy()
    conc = {k: np.full(n_frames, v) for k, v in METABOLITES.items()}
    conc["Glu"] = METABOLITES["Glu"] * (1 + response * ramp)
    data, _ = simulate_spectra(
        basis,
        conc,
        lorentz_hz=5.0 + bold_hz * ramp,
        gauss_hz=4.0,
        shift_hz=rng.normal(0, 1.5, n_frames),
        phase0=rng.normal(0, 0.1, n_frames),
        noise_sd=noise_sd,
        rng=rng,
    )
    return data, design


MODEL = {
    "conc": {"kind": "design", "regressors": ["intercept", "ramp"]},
    "lorentz": {"kind": "design", "regressors": ["intercept", "bold"]},
    "gauss": "fixed",
    "shift": "free",
    "phase0": "free",
    "phase1": "fixed",
}


def model_for(args):
    """The benchmark model, with the baseline and concentration options of the command line."""
    model = dict(MODEL, baseline=args.baseline)
    if args.glu_only:
        model["conc"] = {"kind": "fixed", "metabolites": {"Glu": MODEL["conc"]}}
    return model


def speed(args):
    basis = simulate_basis(list(METABOLITES), n_points=args.points, dwell_time=2.5e-4)
    rng = np.random.default_rng(0)
    data, design = session(basis, args.frames, args.noise, rng)
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        res = fit_dynamic(data, basis, design[["intercept", "ramp", "bold"]], model=model_for(args))
        times.append(time.perf_counter() - t0)
    r = res.response("Glu", "ramp")
    print(
        f"speed: {args.frames} transients x {args.points} points: best {min(times):.2f} s, "
        f"median {np.median(times):.2f} s (frame-wise start included); converged "
        f"{res.converged} in {res.n_iter} iterations; Glu ramp {r['percent_of_baseline']:.2f}"
        f" +- {r['percent_se']:.2f} % (truth {100 * RESPONSE:.0f} %)"
    )


def calibration(args):
    basis = simulate_basis(list(METABOLITES), n_points=args.cal_points, dwell_time=2.5e-4)
    rng = np.random.default_rng(args.seed)
    truth = 100 * RESPONSE
    joint, joint_se, glm, glm_se = [], [], [], []
    t0 = time.perf_counter()
    for _ in range(args.reps):
        data, design = session(basis, args.cal_frames, args.cal_noise, rng)
        res = fit_dynamic(data, basis, design[["intercept", "ramp", "bold"]], model=model_for(args))
        r = res.response("Glu", "ramp")
        joint.append(r["percent_of_baseline"])
        joint_se.append(r["percent_se"])
        fw = res.frame_fit
        g = fit_glm(fw.estimates[:, fw.names.index("Glu")], design[["intercept", "ramp"]])
        glm.append(g.percent[1])
        glm_se.append(g.percent_se[1])
    for name, est, se in (("joint", joint, joint_se), ("frame-wise + GLM", glm, glm_se)):
        est, se = np.array(est), np.array(se)
        err = est - truth
        cover = np.mean(np.abs(err) <= 1.96 * se)
        bias_se = err.std() / np.sqrt(len(err))
        print(
            f"{name:>17}: bias {err.mean():+.3f} % (SE of bias {bias_se:.3f}),"
            f" RMSE {np.sqrt(np.mean(err**2)):.3f} %, SD {est.std(ddof=1):.3f} %, mean "
            f"reported SE {se.mean():.3f} %, 95 % coverage {100 * cover:.1f} %"
        )
    print(
        f"calibration: {args.reps} sessions of {args.cal_frames} x {args.cal_points} in "
        f"{time.perf_counter() - t0:.1f} s"
    )


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=640)
    p.add_argument("--points", type=int, default=2048)
    p.add_argument("--noise", type=float, default=5.0, help="time-domain noise SD")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--reps", type=int, default=100)
    p.add_argument("--cal-frames", type=int, default=128)
    p.add_argument("--cal-points", type=int, default=1024)
    p.add_argument("--cal-noise", type=float, default=5.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--baseline",
        choices=("free", "fixed"),
        default="free",
        help="baseline per frame (free) or shared by the session (fixed)",
    )
    p.add_argument(
        "--glu-only",
        action="store_true",
        help="only glutamate on the design, every other metabolite fixed",
    )
    p.add_argument("--skip-speed", action="store_true")
    args = p.parse_args()
    if not args.skip_speed:
        speed(args)
    if args.reps:
        calibration(args)


if __name__ == "__main__":
    main()
