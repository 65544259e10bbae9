"""False-positive rates and bias of every crossover test, on simulated null studies.

Simulates studies at the statistics level (no spectra) and runs the tests exactly as
``mrspipe run`` reports them:

* ``paired``: 26 participants, balanced sequences, no effect: ``paired`` (period-adjusted),
  ``p_perm``;
* ``interaction``: a naltrexone effect common to both sexes, no sex difference: ``interaction``;
* ``unbalanced``: 16 AB / 10 BA sequences with a period effect of 3 pp, no treatment effect:
  ``paired`` (period-adjusted) and its bias, and the bias of ``paired_unadjusted``;
* ``frame_lmm``: frame-level time courses with AR(1) frame noise (phi = 0.6), random session
  level and rise, 16/10 sequences with a period effect: ``frame_lmm`` ``condition:time``
  and ``condition:time:sex``;
* ``glm``: 63-frame null sessions with AR(1) noise, phi = 0.3 and 0.6: the per-session GLM's
  ramp test (AR(1) REML + GLS, Satterthwaite df) and, for contrast, OLS.

Run ``python -m bench.stats_calibration [--studies 1000]``; a pass is every false-positive
rate in [0.03, 0.07] and every period-adjusted bias within 3 Monte-Carlo SEs of 0.
``tests/test_stats_calibration.py`` runs a small version.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd

from mrspipe.dynamic import TIMECOURSE_COLUMNS, design_matrix, fit_glm
from mrspipe.stats import StatsOptions, interaction_rows, treatment_rows
from mrspipe.stats.frames import frame_rows

CONDS = ("naltrexone", "placebo")


def _ar1(rng: np.random.Generator, shape: tuple[int, ...], phi: float) -> np.ndarray:
    """Stationary AR(1) noise along the last axis, unit variance (loop over frames only)."""
    e = rng.standard_normal(shape)
    for k in range(1, shape[-1]):
        e[..., k] = phi * e[..., k - 1] + np.sqrt(1 - phi**2) * e[..., k]
    return e


def simulate_wide(
    rng: np.random.Generator,
    *,
    n_ab: int = 13,
    n_ba: int = 13,
    effect: float = 0.0,
    effect_m: float = 0.0,
    period: float = 0.0,
    sd_subject: float = 3.0,
    sd_noise: float = 2.5,
) -> pd.DataFrame:
    """Per-participant % change under both conditions (the ``wide`` table of the tests).

    Participants alternate M/F within each sequence; the active condition adds ``effect``
    (plus ``effect_m`` in men); the second period adds ``period``.
    """
    n = n_ab + n_ba
    first = np.r_[np.ones(n_ab, bool), np.zeros(n_ba, bool)]
    sex = np.where(np.r_[np.arange(n_ab), np.arange(n_ba)] % 2 == 0, "M", "F")
    u = rng.normal(0, sd_subject, n)
    a = u + effect + effect_m * (sex == "M") + period * (~first) + rng.normal(0, sd_noise, n)
    b = u + period * first + rng.normal(0, sd_noise, n)
    index = pd.Index([f"sub-{i:02d}" for i in range(n)], name="participant_id")
    return pd.DataFrame(
        {"a": a, "b": b, "sex": sex, "period_a": np.where(first, 1.0, 2.0)}, index=index
    )


def _pick(rows: list[dict[str, Any]], analysis: str, subgroup: str = "all") -> dict[str, Any]:
    return next(r for r in rows if r["analysis"] == analysis and r["subgroup"] == subgroup)


def run_paired(n_studies: int, rng: np.random.Generator, opts: StatsOptions) -> dict[str, float]:
    """Null paired contrasts, balanced and unbalanced with a period effect; the interaction."""
    out: dict[str, list[float]] = {
        k: []
        for k in (
            "paired",
            "paired_perm",
            "paired_M",
            "interaction",
            "interaction_perm",
            "unbalanced",
            "unbalanced_perm",
            "unbalanced_est",
            "unbalanced_plain_est",
        )
    }
    for _ in range(n_studies):
        rows = treatment_rows(simulate_wide(rng), "Glu", "t", opts)
        r = _pick(rows, "paired")
        out["paired"].append(r["p_value"] < 0.05)
        out["paired_perm"].append(r["p_perm"] < 0.05)
        out["paired_M"].append(_pick(rows, "paired", "M")["p_value"] < 0.05)
        inter = interaction_rows(simulate_wide(rng, effect=-4.0), "Glu", opts)[0]
        out["interaction"].append(inter["p_value"] < 0.05)
        out["interaction_perm"].append(inter["p_perm"] < 0.05)
        rows = treatment_rows(simulate_wide(rng, n_ab=16, n_ba=10, period=3.0), "Glu", "t", opts)
        r = _pick(rows, "paired")
        out["unbalanced"].append(r["p_value"] < 0.05)
        out["unbalanced_perm"].append(r["p_perm"] < 0.05)
        out["unbalanced_est"].append(r["estimate"])
        out["unbalanced_plain_est"].append(_pick(rows, "paired_unadjusted")["estimate"])
    return {k: float(np.mean(v)) for k, v in out.items()} | {
        "unbalanced_est_se": float(np.std(out["unbalanced_est"]) / np.sqrt(n_studies)),
        "unbalanced_plain_est_se": float(np.std(out["unbalanced_plain_est"]) / np.sqrt(n_studies)),
    }


def simulate_frames(
    rng: np.random.Generator,
    *,
    n_ab: int = 16,
    n_ba: int = 10,
    n_base: int = 12,
    n_resp: int = 24,
    phi: float = 0.6,
    rise: float = 0.05,
    period: float = 0.02,
    effect: float = 0.0,
) -> pd.DataFrame:
    """Frame-level Glx/tNAA-like time courses (level 1.0, rise ``rise``), AR(1) frames."""
    n = n_ab + n_ba
    first = np.r_[np.ones(n_ab, bool), np.zeros(n_ba, bool)]
    sex = np.where(np.arange(n) % 2 == 0, "M", "F")
    times = np.r_[np.linspace(-900, -60, n_base), np.linspace(60, 2400, n_resp)]
    pid = np.repeat(np.arange(n), 2)
    active = np.tile([True, False], n)
    per2 = np.where(active, ~first[pid], first[pid])
    level = 1.0 + rng.normal(0, 0.05, n)[pid] + rng.normal(0, 0.02, 2 * n) + period * per2
    r = rise + effect * active + rng.normal(0, 0.015, n)[pid] + rng.normal(0, 0.015, 2 * n)
    y = (
        level[:, None]
        + np.where(times > 0, r[:, None], 0.0)
        + 0.03 * _ar1(rng, (2 * n, times.size), phi)
    )
    labels = {
        "participant_id": [f"sub-{i:02d}" for i in pid],
        "session_id": np.where(per2, "ses-2", "ses-1"),
        "condition": np.where(active, CONDS[0], CONDS[1]),
        "sex": sex[pid],
    }
    df = pd.DataFrame({k: np.repeat(v, times.size) for k, v in labels.items()})
    df = df.assign(
        frame=np.tile(np.arange(times.size), 2 * n),
        time_s=np.tile(times, 2 * n),
        metabolite="Glx/tNAA",
        estimate=y.ravel(),
        crlb_sd=0.03,
    )
    return df[list(TIMECOURSE_COLUMNS)]


def _periods(tc: pd.DataFrame) -> pd.DataFrame:
    keys = tc.drop_duplicates(["participant_id", "session_id"])
    keys = keys[["participant_id", "session_id", "condition"]]
    return keys.assign(period=keys["session_id"].str[-1].astype(int))


def run_frames(n_studies: int, rng: np.random.Generator, opts: StatsOptions) -> dict[str, float]:
    """Null frame-level studies: the frame LMM's condition:time and condition:time:sex."""
    hits: dict[str, list[bool]] = {
        "frame_lmm": [],
        "frame_lmm_perm": [],
        "frame_lmm_sex": [],
        "frame_lmm_M": [],
    }
    for _ in range(n_studies):
        tc = simulate_frames(rng)
        rows = frame_rows(
            tc,
            "Glx/tNAA",
            CONDS,
            opts,
            baseline_window=(None, 0.0),
            response_window=(0.0, None),
            periods=_periods(tc),
        )
        ct = next(r for r in rows if r["term"] == "condition:time" and r["subgroup"] == "all")
        hits["frame_lmm"].append(ct["p_value"] < 0.05)
        hits["frame_lmm_perm"].append(ct["p_perm"] < 0.05)
        cts = next(r for r in rows if r["term"] == "condition:time:sex")
        hits["frame_lmm_sex"].append(cts["p_value"] < 0.05)
        m = next(r for r in rows if r["term"] == "condition:time" and r["subgroup"] == "M")
        hits["frame_lmm_M"].append(m["p_value"] < 0.05)
    return {k: float(np.mean(v)) for k, v in hits.items()}


def run_glm(n_sessions: int, rng: np.random.Generator) -> dict[str, float]:
    """Null 63-frame sessions with AR(1) noise: the GLM ramp test, AR(1) vs OLS."""
    times = np.arange(63) * 60.0 - 1200.0
    design = design_matrix(times, onset=0.0, duration=2400.0, regressors=("ramp",))
    out = {}
    for phi in (0.3, 0.6):
        y = 10.0 + 0.3 * _ar1(rng, (n_sessions, times.size), phi)
        for noise in ("ar1", "ols"):
            res = fit_glm(y, design, noise=noise)
            out[f"glm_{noise}_phi{phi}"] = float(np.mean(res.p_value[:, 1] < 0.05))
    return out


def main(argv: list[str] | None = None) -> int:
    """Run every scenario and print the false-positive rates."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    opts = replace(StatsOptions(), permutations=2000)
    start = time.perf_counter()
    results = run_paired(args.studies, rng, opts)
    results |= run_frames(args.studies, rng, opts)
    results |= run_glm(max(args.studies, 1000), rng)
    print(f"{args.studies} null studies per scenario, {time.perf_counter() - start:.0f} s")
    for key, value in results.items():
        flag = ""
        if not key.endswith(("_est", "_se")) and "ols" not in key:
            flag = "ok" if 0.03 <= value <= 0.07 else "OUT OF RANGE"
        print(f"  {key:<28} {value:8.4f}  {flag}")
    bias = results["unbalanced_est"] / results["unbalanced_est_se"]
    print(
        f"  period-adjusted bias = {results['unbalanced_est']:+.3f} pp ({bias:+.1f} SE); "
        f"plain paired bias = {results['unbalanced_plain_est']:+.3f} pp "
        f"(expected -3 * 6/26 = {-3 * 6 / 26:+.3f})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
