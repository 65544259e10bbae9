"""Where the per-session Glu % change error of the frame-wise study path comes from: oracles.

Run from the repository root::

    PYTHONPATH=$PWD python -m bench.study_oracles [--sessions 40] [--seed 1] [--snr 15]
        [--bold 0.3] [--water 300] [--frames pipeline aligned ideal] [--save FILE.tsv]

One session at a time is simulated as :func:`mrspipe.simulate.simulate_study` draws it (its
concentration, response, linewidth and drift spreads; 640 transients, TR 3 s, NAA SNR 15,
residual water, drift, phase jitter, Lorentzian BOLD narrowing), noise-free, and **one** noise
array is added to every variant, so all differences between rows are paired. Frames of 16
transients:

* ``pipeline``: the default preprocessing chain (ECC with the water reference, alignment, water
  removal, rejection, referencing, phasing) on the noisy transients, as ``mrspipe run``;
* ``aligned``: the transients de-rotated by their *true* shift and phase, then the same chain
  without alignment, ECC, referencing and phasing (residual water still removed by HLSVD);
* ``ideal``: no residual water, no shift, no phase: the metabolites + MM with their true
  per-transient Lorentzian (BOLD) and Gaussian widths, plus the same noise de-rotated (so
  ``aligned`` and ``ideal`` differ only by the water and its removal).

Estimators of each frame set (the Glu window % change, baseline = frames before the onset):

* ``free``: the frame-wise fit (what ``run`` does; equal to ``fit_spectra`` on these frames);
* ``known_all``: ``ideal`` only: the linear solve at the *true* nonlinear parameters (widths incl.
  BOLD, shift 0, phases 0): a fit that knows every lineshape, shift and phase;
* ``known_all_but_L``: the same with the metabolites' Lorentzian width at its fitted value;
* ``shared_<set>``: the frames refitted with the named nonlinear parameters held at their
  session median (the rest free per frame): ``phi1`` (first-order phase), ``phases`` (both),
  ``G`` (Gaussian widths), ``LG`` (both widths), ``all``;
* ``smooth9``: the linear solve at the fitted parameters smoothed by a 9-frame moving average;
* ``pairs``: frames averaged in pairs before the fit; ``windows``: one spectrum per window (the
  mean of its frames) fitted.

Measured 2026-12-06 (loaded 2-core machine), ``--seed 1/2/3``, 40 sessions each, RMSE in pp
(bias +- SE pooled over the 120 sessions):

=====================================  =====  =====  =====  ===============
frames, estimator                      1      2      3      pooled
=====================================  =====  =====  =====  ===============
pipeline free (what ``run`` does)      1.56   1.58   1.73   1.63 (-0.07 +- 0.15)
aligned free                           1.58   1.57   1.73   1.63
ideal free                             1.58   1.56   1.73   1.63
ideal known_all                        1.55   1.27   1.43   1.42 (+0.01 +- 0.13)
ideal known_all_but_L                  1.68   1.55   1.87   1.70
pipeline pairs / windows               1.56   1.57   1.73   1.62 / 1.63
pipeline shared_phi1                   1.57   1.56   1.73   1.62
pipeline shared_phases                 1.57   1.53   1.70   1.61
pipeline shared_G                      1.54   1.54   1.55   1.54 (-0.05 +- 0.14)
pipeline shared_LG                     1.75   1.77   1.95   1.83 (+0.98 +- 0.14)
pipeline smooth9                       1.57   1.47   1.71   1.58 (+0.01 +- 0.15)
=====================================  =====  =====  =====  ===============

* Preprocessing (alignment, drift, ECC, residual water and its removal) adds nothing measurable:
  pipeline = aligned = ideal (paired SD of the differences 0.07-0.1 pp).
* The frame size does not matter (frames in pairs, or one spectrum per window).
* Knowing every frame's nonlinear parameters gains 13 % pooled (0.98, 0.82, 0.83 per set; the
  issue's "a fit that knows every true lineshape", 1.41 -> 1.13, is 0.80). None of it is
  available in a real session: holding the phases at the session median gains 1 % (the
  per-frame phase is real); the widths carry the BOLD narrowing (holding both at the session
  median: +0.98 pp bias); smoothing the fitted parameters over 9 frames gains 2.5 %.
* Holding the Gaussian width alone at its session median gains 5 % without bias on this
  Lorentzian-BOLD study (paired squared error -0.26 +- 0.12 pp^2), and the joint fit with one
  Gaussian width per session the same (seed 3: 1.52, seed 2: 1.50), while ``run --dynamic``'s
  width on intercept + step + ramp does not (1.73, 1.55): a width allowed to follow the
  response is estimated from the same contrast as the glutamate response. Holding it constant
  is the assumption a Gaussian BOLD narrowing breaks, so it is not a default.
* Without BOLD (``--bold 0``, seed 1, pipeline frames): free 1.58, shared_G 1.56, shared_LG
  1.53, shared_all 1.55.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import time
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

#: transients, TR (s), transients per frame of :func:`mrspipe.simulate.simulate_study`'s defaults
N_TRANSIENTS, TR, BLOCK = 640, 3.0, 16
#: nonlinear parameters held at their session median by the ``shared_*`` estimators (layout
#: names; each applies to every lineshape group)
SHARED: dict[str, tuple[str, ...]] = {
    "phi1": ("phase1",),
    "phases": ("phase0", "phase1"),
    "G": ("gauss2",),
    "LG": ("lorentz", "gauss2"),
    "all": ("shift", "lorentz", "gauss2", "phase0", "phase1"),
}

logger = logging.getLogger("mrspipe")


def _blocks(x: np.ndarray, b: int) -> np.ndarray:
    n = x.shape[0] // b
    return x[: n * b].reshape((n, b) + x.shape[1:]).mean(axis=1)


def percent_change(glu: np.ndarray, t: np.ndarray) -> float:
    """Window % change: frames at ``t >= 0`` (s from the onset) over those before."""
    return float(100.0 * (glu[t >= 0].mean() / glu[t < 0].mean() - 1.0))


def session_noise(
    basis: Any, naa_mM: float, width_hz: float, snr: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Complex noise of the transients (N_TRANSIENTS, n_points) and of the water reference.

    At the level ``simulate_session`` sets from the NAA peak height for this single-transient
    ``snr`` (NAA at ``naa_mM``, Lorentzian ``width_hz``, Gaussian 3 Hz).
    """
    from mrspipe.simulate.spectra import simulate_spectra

    probe, _ = simulate_spectra(
        basis.select(["NAA"]), {"NAA": naa_mM}, lorentz_hz=width_hz, gauss_hz=3.0
    )
    noise_sd = float(np.abs(probe.spectrum()).max()) / (snr * np.sqrt(basis.n_points))
    shape = (N_TRANSIENTS, basis.n_points)
    noise = noise_sd * (rng.standard_normal(shape) + 1j * rng.standard_normal(shape))
    ref_noise = noise_sd * (
        rng.standard_normal(basis.n_points) + 1j * rng.standard_normal(basis.n_points)
    )
    return noise, ref_noise


def simulate_parts(seed: int, *, snr: float, bold: float, water: float) -> dict[str, Any]:
    """One session as ``simulate_study`` draws it, noise-free, with its noise and truth."""
    from mrspipe.simulate import simulate_session, true_window_change
    from mrspipe.simulate.macromolecules import DEFAULT_MM_AMPLITUDES
    from mrspipe.simulate.session import DEFAULT_CONCENTRATIONS, cached_basis
    from mrspipe.simulate.spectra import simulate_spectra

    basis = cached_basis(
        sequence="press", field_mhz=123.2, te=0.030, dwell_time=2.5e-4, n_points=2048
    )
    times = np.arange(N_TRANSIENTS) * TR
    onset = 0.25 * times[-1]
    rng = np.random.default_rng(seed)
    conc = {
        k: v * float(np.exp(rng.normal(0, 0.08) + rng.normal(0, 0.03)))
        for k, v in DEFAULT_CONCENTRATIONS.items()
    }
    pct = float(8.0 + rng.normal(0, 1.5))
    width = float(5.0 * np.exp(rng.normal(0, 0.1)))
    drift = float(rng.normal(0, 0.002))
    svs, ref, truth = simulate_session(
        basis,
        concentrations=conc,
        percent_change=pct,
        times=times,
        onset=onset,
        linewidth_hz=width,
        bold_hz=bold,
        drift_hz_per_s=drift,
        snr=np.inf,
        water_amplitude=water,
        rng=rng,
    )
    noise, ref_noise = session_noise(basis, conc["NAA"], width, snr, rng)
    shift, phase = np.asarray(truth["shift_hz"]), np.asarray(truth["phase_rad"])
    lorentz, glu = np.asarray(truth["lorentz_hz"]), np.asarray(truth["glu_mM"])
    t = np.arange(basis.n_points) * basis.dwell_time
    derotate = np.exp(-1j * (2 * np.pi * shift[:, None] * t + phase[:, None]))
    course = {k: np.full(N_TRANSIENTS, v) for k, v in conc.items()}
    course["Glu"] = glu
    mm = {k: v * conc["NAA"] / 11.0 for k, v in DEFAULT_MM_AMPLITUDES.items()}
    ideal, _ = simulate_spectra(basis, course, lorentz_hz=lorentz, gauss_hz=3.0, macromolecules=mm)
    return {
        "svs": svs,
        "ref": ref.with_fids((ref.fids + ref_noise).astype(np.complex64)),
        "noisy": svs.fids.astype(np.complex128) + noise,
        "derotate": derotate,
        "ideal": ideal.fids + noise * derotate,
        "times": times,
        "onset": onset,
        "lorentz": lorentz,
        "true": true_window_change(glu, times, onset, block=BLOCK),
    }


def frames_of(parts: dict[str, Any], kind: str) -> Any:
    """The session's frames (MRSData) of one kind: ``pipeline``, ``aligned`` or ``ideal``."""
    from mrspipe.preprocess import PreprocessOptions, preprocess_session

    svs = parts["svs"]
    if kind == "ideal":
        return svs.with_fids(
            _blocks(parts["ideal"], BLOCK).astype(np.complex64),
            frame_times=_blocks(parts["times"], BLOCK),
        )
    if kind == "pipeline":
        data, opts = svs.with_fids(parts["noisy"].astype(np.complex64)), {}
    elif kind == "aligned":
        data = svs.with_fids((parts["noisy"] * parts["derotate"]).astype(np.complex64))
        opts = {"align": False, "eddy_current": False, "reference_ppm": False, "phase": False}
    else:
        raise ValueError(f"unknown frames {kind!r}")
    options = PreprocessOptions(block=BLOCK, **opts)
    return preprocess_session(data, water=parts["ref"], options=options).frames


def _refit(problem: Any, y: np.ndarray, theta0: np.ndarray, fixed: dict[int, float]) -> Any:
    """LM fit of every frame with the parameters ``fixed`` (column -> value) held there."""
    from mrspipe.fit.solver import levenberg_marquardt

    lower, upper, start = problem.lower.copy(), problem.upper.copy(), theta0.copy()
    for col, value in fixed.items():
        lower[col], upper[col] = value - 1e-9, value + 1e-9
        start[:, col] = value
    held = dataclasses.replace(problem, lower=lower, upper=upper)
    return levenberg_marquardt(held, y, start)[1]


def estimates(frames: Any, parts: dict[str, Any], ideal: bool) -> dict[str, float]:
    """Glu window % change of every estimator on one frame set."""
    from scipy.ndimage import uniform_filter1d

    from mrspipe.fit import fit_spectra
    from mrspipe.fit.init import start_values
    from mrspipe.fit.problem import build_problem
    from mrspipe.fit.solver import levenberg_marquardt, solve_linear
    from mrspipe.simulate import study_basis

    basis = study_basis()
    t = frames.frame_times - parts["onset"]
    problem, fitted_basis = build_problem(frames, basis)
    glu = fitted_basis.names.index("Glu")
    y = np.fft.fft(frames.fids, axis=-1)[:, problem.band]
    theta0 = start_values(problem, y)
    theta, sol, _, _ = levenberg_marquardt(problem, y, theta0)
    out = {"free": percent_change(sol.conc[:, glu], t)}
    layout = problem.layout
    names = layout.group_params  # ("shift", "lorentz", "gauss2") for the Voigt
    cols = {
        name: [g * layout.per_group + names.index(name) for g in range(problem.n_groups)]
        for name in names
    }
    cols["phase0"], cols["phase1"] = [layout.phase0], [layout.phase1]
    median = np.median(theta, axis=0)
    for label, params in SHARED.items():
        fixed = {c: float(median[c]) for p in params for c in cols[p]}
        out[f"shared_{label}"] = percent_change(_refit(problem, y, theta0, fixed).conc[:, glu], t)
    smooth = uniform_filter1d(theta, 9, axis=0, mode="nearest")
    out["smooth9"] = percent_change(solve_linear(problem, smooth, y).conc[:, glu], t)
    if ideal:
        true = np.zeros_like(theta)
        lorentz = _blocks(parts["lorentz"], BLOCK)
        for g in range(problem.n_groups):
            true[:, cols["lorentz"][g]] = lorentz
            true[:, cols["gauss2"][g]] = 9.0  # squared Gaussian FWHM of the simulation's 3 Hz
        out["known_all"] = percent_change(solve_linear(problem, true, y).conc[:, glu], t)
        true[:, cols["lorentz"][0]] = theta[:, cols["lorentz"][0]]
        out["known_all_but_L"] = percent_change(solve_linear(problem, true, y).conc[:, glu], t)
    pairs = frames.with_fids(
        _blocks(frames.fids, 2).astype(np.complex64), frame_times=_blocks(frames.frame_times, 2)
    )
    fit = fit_spectra(pairs, basis)
    out["pairs"] = percent_change(
        fit.estimates[:, fit.names.index("Glu")], pairs.frame_times - parts["onset"]
    )
    windows = np.stack([frames.fids[t < 0].mean(axis=0), frames.fids[t >= 0].mean(axis=0)])
    fit = fit_spectra(frames.with_fids(windows, frame_times=np.array([-1.0, 1.0])), basis)
    out["windows"] = percent_change(fit.estimates[:, fit.names.index("Glu")], np.array([-1, 1]))
    return out


def run(
    sessions: int, seed: int, *, snr: float, bold: float, water: float, kinds: list[str]
) -> pd.DataFrame:
    """One row per session, frame kind and estimator: estimate, truth, error."""
    rows = []
    for i in range(sessions):
        session_seed = 1000 * seed + i + 1
        parts = simulate_parts(session_seed, snr=snr, bold=bold, water=water)
        for kind in kinds:
            start = time.perf_counter()
            est = estimates(frames_of(parts, kind), parts, ideal=kind == "ideal")
            for name, value in est.items():
                rows.append(
                    {
                        "session_seed": session_seed,
                        "frames": kind,
                        "estimator": name,
                        "estimate": value,
                        "true": parts["true"],
                        "error": value - parts["true"],
                        "seconds": time.perf_counter() - start,
                    }
                )
    return pd.DataFrame(rows)


def summarise(table: pd.DataFrame) -> pd.DataFrame:
    """Bias +- SE, RMSE and the SD of the paired difference from ``free`` per estimator."""
    free = table[table["estimator"] == "free"].set_index(["frames", "session_seed"])["estimate"]

    def one(g: pd.DataFrame) -> pd.Series:
        e = g["error"].to_numpy()
        kind = g.name[0]
        paired = g.set_index("session_seed")["estimate"] - free.loc[kind]
        return pd.Series(
            {
                "n": e.size,
                "bias": e.mean(),
                "bias_se": e.std(ddof=1) / np.sqrt(e.size),
                "rmse": np.sqrt(np.mean(e**2)),
                "sd_diff_free": paired.std(ddof=1),
            }
        )

    return table.groupby(["frames", "estimator"], sort=False).apply(one, include_groups=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--snr", type=float, default=15.0)
    parser.add_argument("--bold", type=float, default=0.3)
    parser.add_argument("--water", type=float, default=300.0)
    parser.add_argument("--frames", nargs="+", default=["pipeline", "aligned", "ideal"])
    parser.add_argument("--save", help="per-session rows as TSV")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    table = run(
        args.sessions,
        args.seed,
        snr=args.snr,
        bold=args.bold,
        water=args.water,
        kinds=args.frames,
    )
    if args.save:
        table.to_csv(args.save, sep="\t", index=False)
    print(summarise(table).round(3).to_string())


if __name__ == "__main__":
    main()
