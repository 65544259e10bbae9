"""Prototype: partial pooling of the BOLD linewidth response across a study's sessions.

Run from the repository root::

    PYTHONPATH=$PWD python -m bench.study_pooled_widths [--sessions 40] [--seed 1]
        [--scenario lorentz|gauss|none|lorentz_het|gauss_het|lorentz_shim] [--frames ideal]

Stage 1: the frame-wise fit of every session (what ``run`` does). Per session the fitted widths
of the held lineshape groups are regressed on the session's design (intercept, linear drift,
a step over the infusion and a ramp rising from the onset), giving response coefficients
``b_i`` with OLS SEs ``s_i``. Stage 2: per coefficient, ``b_i ~ N(mu, tau^2)`` across sessions
(DerSimonian-Laird), each ``b_i`` shrunk towards ``mu``. Stage 3: every session's frames are
refitted with the widths held on ``a_i + d_i t + b_i^shrunk x_t`` (``a_i, d_i`` re-estimated
given the shrunk response), everything else free per frame.

Estimators: ``free`` (stage 1), ``pool_<w>`` (EB shrinkage), ``own_<w>`` (no pooling: each
session's own response), ``mean_<w>`` (full pooling: ``mu``) with ``<w>`` = ``L``, ``G`` or
``LG`` (the metabolite group's widths) or ``LGall`` (every group's); oracles ``true_LGall``,
``true_LG0`` (metabolite group), ``true_MM`` (the widths held at the simulated truth) and
``avgfit_MM`` (MM widths from a fit of the session's mean spectrum). Scenarios: Lorentzian
(0.3 Hz) or Gaussian (0.6 Hz) BOLD, none, heterogeneous across participants (``_het``), a
linear Lorentzian shim drift of +-0.5 Hz SD over the session (``_shim``), and glutamine changes
(``gln*``, used by :mod:`bench.study_pooled_nuisance`).

Measured 2026-12-06 (loaded 2-core machine), ideal frames, 40 sessions per seed; RMSE ratio to
``free`` (paired, same noise):

* ``pool_LG`` with a drift term: 0.975-0.989 in every scenario (seeds 1-3); without the drift
  term (``--no-drift``): 0.953-0.965 (``none``, ``lorentz``, ``gauss``, ``lorentz_shim``,
  seed 1; ``none`` seeds 1-2); bias unchanged everywhere (within 0.02 pp);
* ``own_*``: 0.99-1.00 (a response estimated from the session's own frames gains nothing);
* ``mean_*`` (full pooling): a little more than ``pool_*`` when the widths are homogeneous,
  1.13 with shim drift and no drift term;
* the ceiling, ``true_LG0``: 0.934-0.939 over 120 sessions (``lorentz``, ``none``); the MM
  widths at their truth: 1.00.

So pooling the widths is unbiased under both BOLD forms but recovers at most 5 %, because the
metabolite widths themselves carry only 6 % of the Glu error. Not kept; the neighbours'
responses carry far more (:mod:`bench.study_pooled_nuisance`).
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from bench.study_oracles import (  # noqa: E402
    BLOCK,
    N_TRANSIENTS,
    TR,
    _blocks,
    percent_change,
    session_noise,
)

SCENARIOS: dict[str, dict[str, float]] = {
    # bold form, mean narrowing (Hz of FWHM), relative SD across participants, shim drift SD
    "lorentz": {"form": 0, "bold": 0.3, "het": 0.0, "shim": 0.0},
    "gauss": {"form": 1, "bold": 0.6, "het": 0.0, "shim": 0.0},
    "none": {"form": 0, "bold": 0.0, "het": 0.0, "shim": 0.0},
    "lorentz_het": {"form": 0, "bold": 0.3, "het": 0.6, "shim": 0.0},
    "gauss_het": {"form": 1, "bold": 0.6, "het": 0.6, "shim": 0.0},
    "lorentz_shim": {"form": 0, "bold": 0.3, "het": 0.0, "shim": 0.5},
    "gauss_shim": {"form": 1, "bold": 0.6, "het": 0.3, "shim": 0.5},
    # glutamine changes too: the same in every session, varying, or following Glu's change
    "gln": {"form": 0, "bold": 0.3, "het": 0.0, "shim": 0.0, "gln": 10.0},
    "gln_het": {"form": 0, "bold": 0.3, "het": 0.0, "shim": 0.0, "gln": 5.0, "gln_het": 8.0},
    "gln_corr": {"form": 0, "bold": 0.3, "het": 0.0, "shim": 0.0, "gln": 5.0, "gln_corr": 3.0},
}
#: tolerance of the refits (tighter than the default 1e-2: convergence noise out)
FTOL = 1e-4
HOLD: dict[str, tuple[tuple[str, ...], bool]] = {
    "L": (("lorentz",), False),
    "G": (("gauss2",), False),
    "LG": (("lorentz", "gauss2"), False),
    "LGall": (("lorentz", "gauss2"), True),
}


def simulate(seed: int, participant: int, study_seed: int, cfg: dict[str, float], snr: float):
    """One session (pipeline inputs and ideal frames) with its width trajectories and truth."""
    import mrspipe.simulate.session as session_mod
    from mrspipe.simulate import true_window_change
    from mrspipe.simulate.macromolecules import DEFAULT_MM_AMPLITUDES
    from mrspipe.simulate.session import DEFAULT_CONCENTRATIONS, cached_basis
    from mrspipe.simulate.spectra import simulate_spectra

    basis = cached_basis(
        sequence="press", field_mhz=123.2, te=0.030, dwell_time=2.5e-4, n_points=2048
    )
    times = np.arange(N_TRANSIENTS) * TR
    onset = 0.25 * times[-1]
    r = session_mod._response_curve(times, onset, 300.0)
    # participant's BOLD amplitude (shared by their sessions)
    prng = np.random.default_rng([study_seed, participant])
    bold = cfg["bold"] * max(0.0, 1.0 + cfg["het"] * prng.standard_normal())
    rng = np.random.default_rng(seed)
    conc = {
        k: v * float(np.exp(rng.normal(0, 0.08) + rng.normal(0, 0.03)))
        for k, v in DEFAULT_CONCENTRATIONS.items()
    }
    pct = float(8.0 + rng.normal(0, 1.5))
    width = float(5.0 * np.exp(rng.normal(0, 0.1)))
    drift = float(rng.normal(0, 0.002))
    shim = cfg["shim"] * rng.standard_normal()  # Hz change of L over the session
    lorentz = width + shim * (times / times[-1] - 0.5)
    gauss = np.full(times.size, 3.0)
    if cfg["form"] == 0:
        lorentz = lorentz - bold * r
    else:
        gauss = gauss - bold * r
    lorentz = np.clip(lorentz, 0.5, None)
    original = session_mod.simulate_spectra

    # glutamine: a change of its own (mean, SD across participants, coupling to Glu's change)
    gln_pct = cfg.get("gln", 0.0) + cfg.get("gln_het", 0.0) * prng.standard_normal()
    gln_pct += cfg.get("gln_corr", 0.0) * (pct - 8.0)
    gln_course = 1.0 + gln_pct / 100.0 * r

    def wrapped(b: Any, c: Any, *, lorentz_hz: Any = None, gauss_hz: Any = None, **kw: Any):
        if np.size(lorentz_hz) == times.size:
            lorentz_hz, gauss_hz = lorentz, gauss
            c = dict(c)
            c["Gln"] = c["Gln"] * gln_course
        return original(b, c, lorentz_hz=lorentz_hz, gauss_hz=gauss_hz, **kw)

    session_mod.simulate_spectra = wrapped
    try:
        svs, ref, truth = session_mod.simulate_session(
            basis,
            concentrations=conc,
            percent_change=pct,
            times=times,
            onset=onset,
            linewidth_hz=width,
            bold_hz=0.0,
            drift_hz_per_s=drift,
            snr=np.inf,
            water_amplitude=300.0,
            rng=rng,
        )
    finally:
        session_mod.simulate_spectra = original
    noise, ref_noise = session_noise(basis, conc["NAA"], width, snr, rng)
    shift, phase = np.asarray(truth["shift_hz"]), np.asarray(truth["phase_rad"])
    glu = np.asarray(truth["glu_mM"])
    t = np.arange(basis.n_points) * basis.dwell_time
    derotate = np.exp(-1j * (2 * np.pi * shift[:, None] * t + phase[:, None]))
    course = {k: np.full(N_TRANSIENTS, v) for k, v in conc.items()}
    course["Glu"] = glu
    course["Gln"] = course["Gln"] * gln_course
    mm = {k: v * conc["NAA"] / 11.0 for k, v in DEFAULT_MM_AMPLITUDES.items()}
    ideal, _ = simulate_spectra(
        basis, course, lorentz_hz=lorentz, gauss_hz=gauss, macromolecules=mm
    )
    return {
        "svs": svs,
        "ref": ref.with_fids((ref.fids + ref_noise).astype(np.complex64)),
        "noisy": svs.fids.astype(np.complex128) + noise,
        "derotate": derotate,
        "ideal": ideal.fids + noise * derotate,
        "times": times,
        "onset": onset,
        "true": true_window_change(glu, times, onset, block=BLOCK),
        "bold": bold,
        "lorentz": lorentz,
        "gauss": gauss,
        "gln": conc["Gln"] * gln_course,
    }


def stage1(frames: Any, onset: float) -> dict[str, Any]:
    """Frame-wise fit and what the later stages need."""
    from mrspipe.fit.init import start_values
    from mrspipe.fit.problem import build_problem
    from mrspipe.fit.solver import levenberg_marquardt
    from mrspipe.simulate import study_basis

    problem, fitted_basis = build_problem(frames, study_basis())
    y = np.fft.fft(frames.fids, axis=-1)[:, problem.band]
    theta0 = start_values(problem, y)
    theta, sol, _, _ = levenberg_marquardt(problem, y, theta0)
    t = frames.frame_times - onset
    glu = fitted_basis.names.index("Glu")
    return {
        "problem": problem,
        "y": y,
        "theta": theta,
        "t": t,
        "glu": glu,
        "free": percent_change(sol.conc[:, glu], t),
    }


def design(t: np.ndarray, drift: bool = True) -> tuple[np.ndarray, int]:
    """Columns intercept [, drift], step, ramp; returns (X, index of the first response col)."""
    span = t.max() - t.min()
    cols = [np.ones_like(t)]
    if drift:
        cols.append((t - t.mean()) / span)
    first = len(cols)
    post = (t >= 0).astype(float)
    cols += [post, post * t / t.max()]
    return np.column_stack(cols), first


def regress(w: np.ndarray, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    beta, res, *_ = np.linalg.lstsq(X, w, rcond=None)
    resid = w - X @ beta
    s2 = resid @ resid / (len(w) - X.shape[1])
    cov = s2 * np.linalg.inv(X.T @ X)
    return beta, cov


def dersimonian_laird(b: np.ndarray, v: np.ndarray) -> tuple[float, float, np.ndarray]:
    """mu, tau^2 (the library's estimator) and the shrunk estimates of b_i ~ N(mu, tau^2 + v_i)."""
    from mrspipe.dynamic.pooling import dersimonian_laird as pooled_mean

    mu, tau2, _ = pooled_mean(b, v)
    return mu, tau2, mu + tau2 / (tau2 + v) * (b - mu)


def pool_responses(
    series: list[np.ndarray], X: np.ndarray, first: int, label: str = "", verbose: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Regress each session's series on X and pool the response coefficients across sessions.

    ``series``: per session an array (n_frames, n_series) of fitted values; ``X`` (n_frames,
    n_coef) with the response coefficients from ``first`` on. Returns the sessions' own
    coefficients, the shrunk ones and the pooled mean, each (n_sessions, n_coef, n_series);
    coefficients before ``first`` are the sessions' own in all three.
    """
    B = np.empty((len(series), X.shape[1], series[0].shape[1]))
    V = np.empty_like(B)
    for n, values in enumerate(series):
        for j in range(values.shape[1]):
            beta, cov = regress(values[:, j], X)
            B[n, :, j], V[n, :, j] = beta, np.diag(cov)
    shrunk, mean = B.copy(), B.copy()
    for k in range(first, X.shape[1]):
        for j in range(B.shape[2]):
            mu, tau2, sh = dersimonian_laird(B[:, k, j], V[:, k, j])
            shrunk[:, k, j], mean[:, k, j] = sh, mu
            if verbose:
                print(
                    f"  {label} series {j} coef {k}: mu {mu:.4g} tau {np.sqrt(tau2):.3g} "
                    f"median se {np.sqrt(np.median(V[:, k, j])):.3g}"
                )
    return B, shrunk, mean


def refit_held(s: dict[str, Any], cols: list[int], traj: np.ndarray) -> float:
    """LM refit of every frame with theta[:, cols] held at traj (n_frames, len(cols))."""
    import mrspipe.fit.solver as solver

    problem, y = s["problem"], s["y"]
    start = s["theta"].copy()
    start[:, cols] = np.clip(traj, problem.lower[cols], problem.upper[cols])
    hold = np.zeros(start.shape[1], bool)
    hold[cols] = True
    original = solver._damped_step

    def damped(problem: Any, theta: Any, jtj: Any, grad: Any, lam: Any) -> Any:
        # the held columns get a zero gradient and are frozen by a zero-width box
        g = np.where(hold, 0.0, grad)
        jj = jtj.copy()
        jj[:, hold, :] = 0.0
        jj[:, :, hold] = 0.0
        jj[:, hold, hold] = 1.0
        return original(problem, theta, jj, g, lam)

    solver._damped_step = damped
    try:
        conc = solver.levenberg_marquardt(problem, y, start, ftol=FTOL, max_iter=80)[1].conc[
            :, s["glu"]
        ]
    finally:
        solver._damped_step = original
    return percent_change(conc, s["t"])


def study(args: argparse.Namespace, cfg: dict[str, float]) -> pd.DataFrame:
    from bench.study_oracles import frames_of

    sessions = []
    for i in range(args.sessions):
        seed = 1000 * args.seed + i + 1
        parts = simulate(seed, i // 2, args.seed, cfg, args.snr)
        s = stage1(frames_of(parts, args.frames), parts["onset"])
        s.update(true=parts["true"], seed=seed, bold=parts["bold"])
        s["true_lg"] = (_blocks(parts["lorentz"], BLOCK), _blocks(parts["gauss"] ** 2, BLOCK))
        sessions.append(s)
    layout = sessions[0]["problem"].layout
    rows = [
        {"session_seed": s["seed"], "estimator": "free", "estimate": s["free"], "true": s["true"]}
        for s in sessions
    ]
    X, first = design(sessions[0]["t"], drift=not args.no_drift)
    if args.pool_drift:
        first = 1  # the drift slope is pooled too (only the intercept is the session's own)
    for s in sessions:
        rows.append(
            {
                "session_seed": s["seed"],
                "estimator": "free_tight",
                "estimate": refit_held(s, [], np.zeros((len(s["y"]), 0))),
                "true": s["true"],
            }
        )
    for name, groups in (
        ("true_LGall", range(layout.n_groups)),
        ("true_LG0", [0]),
        ("true_MM", range(1, layout.n_groups)),
    ):
        cols = [
            g * layout.per_group + layout.group_params.index(p)
            for g in groups
            for p in ("lorentz", "gauss2")
        ]
        for s in sessions:  # oracle: the named groups' widths at the truth
            traj = np.column_stack([s["true_lg"][k % 2] for k in range(len(cols))])
            rows.append(
                {
                    "session_seed": s["seed"],
                    "estimator": name,
                    "estimate": refit_held(s, cols, traj),
                    "true": s["true"],
                }
            )
    # MM widths from one fit of the session's mean spectrum, held for every frame
    from mrspipe.fit.init import start_values
    from mrspipe.fit.solver import levenberg_marquardt

    mm_cols = [
        g * layout.per_group + layout.group_params.index(p)
        for g in range(1, layout.n_groups)
        for p in ("lorentz", "gauss2")
    ]
    for s in sessions:
        ym = s["y"].mean(axis=0, keepdims=True)
        th_m = levenberg_marquardt(s["problem"], ym, start_values(s["problem"], ym))[0]
        traj = np.repeat(th_m[:, mm_cols], len(s["y"]), axis=0)
        rows.append(
            {
                "session_seed": s["seed"],
                "estimator": "avgfit_MM",
                "estimate": refit_held(s, mm_cols, traj),
                "true": s["true"],
            }
        )
        if args.verbose:
            print(
                "  avgfit MM widths",
                th_m[0, mm_cols].round(2),
                "true L",
                s["true_lg"][0].mean().round(2),
            )
    if args.oracles_only:
        table = pd.DataFrame(rows)
        table["error"] = table["estimate"] - table["true"]
        return table
    for label, (params, all_groups) in HOLD.items():
        groups = range(layout.n_groups) if all_groups else [0]
        cols = [g * layout.per_group + layout.group_params.index(p) for g in groups for p in params]
        B, shrunk, mean = pool_responses(
            [s["theta"][:, cols] for s in sessions], X, first, label, verbose=args.verbose
        )
        for kind, resp in (("pool", shrunk), ("own", B), ("mean", mean)):
            for n, s in enumerate(sessions):
                w = s["theta"][:, cols]
                part = X[:, first:] @ resp[n, first:]
                nuis = np.linalg.lstsq(X[:, :first], w - part, rcond=None)[0]
                traj = X[:, :first] @ nuis + part
                rows.append(
                    {
                        "session_seed": s["seed"],
                        "estimator": f"{kind}_{label}",
                        "estimate": refit_held(s, cols, traj),
                        "true": s["true"],
                    }
                )
    table = pd.DataFrame(rows)
    table["error"] = table["estimate"] - table["true"]
    return table


def summarise(table: pd.DataFrame) -> pd.DataFrame:
    free = table[table.estimator == "free"].set_index("session_seed")["error"]

    def one(g: pd.DataFrame) -> pd.Series:
        e = g["error"].to_numpy()
        d = g.set_index("session_seed")["error"] ** 2 - free.loc[g["session_seed"]] ** 2
        return pd.Series(
            {
                "n": e.size,
                "bias": e.mean(),
                "bias_se": e.std(ddof=1) / np.sqrt(e.size),
                "rmse": np.sqrt(np.mean(e**2)),
                "d_sq": d.mean(),
                "d_sq_se": d.std(ddof=1) / np.sqrt(e.size),
            }
        )

    return table.groupby("estimator", sort=False).apply(one, include_groups=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--snr", type=float, default=15.0)
    parser.add_argument("--scenario", default="lorentz", choices=list(SCENARIOS))
    parser.add_argument("--frames", default="ideal", choices=["ideal", "pipeline", "aligned"])
    parser.add_argument("--no-drift", action="store_true")
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--oracles-only", action="store_true")
    parser.add_argument("--pool-drift", action="store_true")
    parser.add_argument("--tag", default="")
    parser.add_argument("--save")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    start = time.perf_counter()
    table = study(args, SCENARIOS[args.scenario])
    table["scenario"], table["seed"] = args.scenario, args.seed
    table["estimator"] = table["estimator"].where(
        ~table["estimator"].str.match(r"(pool|own|mean)_"), table["estimator"] + args.tag
    )
    if args.save:
        table.to_csv(args.save, sep="\t", index=False)
    print(
        f"{args.scenario} seed {args.seed} frames {args.frames} "
        f"({time.perf_counter() - start:.0f} s)"
    )
    print(summarise(table).round(3).to_string(), flush=True)


if __name__ == "__main__":
    main()
