"""Validation report: mrspipe's numbers against simulated truth, with figures.

Run from the repository root::

    PYTHONPATH=$PWD python -m bench.validate [--quick] [--out DIR] [--jobs 2]

Checks (each writes a TSV and a figure under ``DIR``; ``DIR/validation.md`` and
``DIR/validation.html`` summarise them):

* ``fit``: Glu, Glx and tNAA from :func:`mrspipe.fit_spectra` on simulated spectra over SNR
  and linewidth: bias, SD and the CRLB calibration (empirical SD / mean CRLB);
* ``bold``: the apparent Glu and tNAA change when only the linewidth narrows (BOLD-like);
* ``drift``: alignment of simulated drifting transients (shift and phase error vs truth);
* ``study``: a simulated crossover study through the real pipeline (per-session Glu % change
  vs truth on the same definition, the paired contrast by sex and its significance), and a
  null study (same response in both conditions);
* ``fpr``: the false-positive rate of the group tests over many null studies simulated at the
  level the statistics see (per-session % change = participant response + measurement error
  with the SD measured in ``study``), and the power under the GO-MARK-like effect;
* ``perm`` (full run): every condition test of the statistics, mixed models included, on the
  null study's own tables with the condition labels permuted within participant;
* ``speed``: end-to-end wall time vs reading every file and FFT-ing every transient once,
  per-stage times, peak memory of the worker processes.

``--quick`` (about a minute): fewer spectra and replicates, an 8-participant study of 160
transients per session, no null study. The full run (about 7 minutes) simulates the
20 x 2 x 640-transient study of the GO-MARK size twice (alternative and null). Timings are
wall-clock on a shared machine: noisy.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests"))

from bench import speed, study_recovery  # noqa: E402
from bench.bench_fit import EXTRA_TRUTH, get_basis  # noqa: E402
from bench.validate_report import figures, html_page, markdown  # noqa: E402

__all__ = [
    "check_fit",
    "check_bold",
    "check_drift",
    "check_study",
    "check_fpr",
    "check_permutation",
    "main",
]


# -- fit: accuracy over SNR and linewidth, CRLB calibration ---------------------------------


def check_fit(*, n_frames: int, rng: np.random.Generator) -> pd.DataFrame:
    """Fit simulated spectra with fixed concentrations at several noise levels and linewidths.

    Returns one row per (noise, linewidth, metabolite): ``snr`` (median fitted NAA SNR),
    ``bias_pct``, ``sd_pct`` (of the estimate, % of the truth), ``crlb_pct`` (mean CRLB, %),
    ``sd_over_crlb``.
    """
    from fit_helpers import TRUTH, simulate

    from mrspipe.fit import fit_spectra

    basis, _ = get_basis()
    truth = dict(TRUTH, **EXTRA_TRUTH)
    c = np.array([truth.get(name, 0.0) for name in basis.names])
    rows = []
    for lorentz in (2.0, 5.0, 8.0):
        for noise in (0.25, 1.0, 4.0):
            data = simulate(
                basis,
                np.broadcast_to(c, (n_frames, c.size)),
                lorentz_hz=lorentz,
                gauss_hz=3.0,
                shift_hz=rng.uniform(-3, 3, n_frames),
                phase0=rng.uniform(-0.5, 0.5, n_frames),
                noise_sd=noise,
                rng=rng,
            )
            res = fit_spectra(data, basis)
            names = ["Glu", "Glx", "tNAA"]
            vals, cov = res.combination(names)
            for i, name in enumerate(names):
                true = float(c @ res.weights_for(name))
                est = vals[:, i]
                crlb = np.sqrt(cov[:, i, i])
                rows.append(
                    {
                        "lorentz_hz": lorentz,
                        "noise_sd": noise,
                        "snr": float(np.median(res.snr)),
                        "metabolite": name,
                        "bias_pct": 100 * (est.mean() / true - 1),
                        "sd_pct": 100 * est.std(ddof=1) / true,
                        "crlb_pct": 100 * crlb.mean() / true,
                        "sd_over_crlb": est.std(ddof=1) / crlb.mean(),
                    }
                )
    return pd.DataFrame(rows)


def check_bold(*, n_frames: int = 8) -> pd.DataFrame:
    """Apparent change when only the Lorentzian linewidth narrows (no concentration change).

    Noiseless spectra of the study simulator (its concentrations and macromolecules) at 5.0 Hz
    and narrowed by 0.3 Hz (the simulated study's BOLD effect at full response) and 1.0 Hz,
    fitted with the study basis with and without its macromolecule spectrum; the % change of
    the fitted Glu, Glx and tNAA is the bias a BOLD narrowing would cause (truth: 0 %).
    """
    from mrspipe.fit import fit_spectra
    from mrspipe.simulate import simulate_spectra, study_basis
    from mrspipe.simulate.macromolecules import DEFAULT_MM_AMPLITUDES
    from mrspipe.simulate.study import DEFAULT_CONCENTRATIONS

    rows = []
    metabolites = study_basis(macromolecules=False)
    conc = {k: v for k, v in DEFAULT_CONCENTRATIONS.items() if k in metabolites.names}
    names = ["Glu", "Glx", "tNAA"]
    for label, basis in (("with MM", study_basis()), ("without MM", metabolites)):
        ref = None
        for lw in (5.0, 4.7, 4.0):
            data, _ = simulate_spectra(
                metabolites,
                {k: np.full(n_frames, v) for k, v in conc.items()},
                lorentz_hz=lw,
                gauss_hz=3.0,
                macromolecules=dict(DEFAULT_MM_AMPLITUDES),
            )
            vals, _ = fit_spectra(data, basis).combination(names)
            mean = vals.mean(axis=0)
            ref = mean if ref is None else ref
            for i, name in enumerate(names):
                rows.append(
                    {
                        "basis": label,
                        "narrowing_hz": 5.0 - lw,
                        "metabolite": name,
                        "apparent_change_pct": 100 * (mean[i] / ref[i] - 1),
                    }
                )
    return pd.DataFrame(rows)


# -- preprocessing: drift recovery ----------------------------------------------------------


def check_drift(*, n_transients: int, rng: np.random.Generator) -> tuple[pd.DataFrame, dict]:
    """Alignment of simulated transients with drift + jitter at several single-transient SNRs.

    Returns the summary (``snr, shift_rms_hz, phase_rms_deg, max_abs_shift_hz, drift_pp_hz,
    rejected``) and, for the figure, the true and estimated shifts at the middle SNR.
    """
    from test_preprocess_sim import simulate_session

    from mrspipe.preprocess import preprocess_session

    rows, example = [], {}
    for snr in (4.0, 8.0, 20.0):
        data, truth = simulate_session(rng, n_transients=n_transients, snr=snr, water_amp=10.0)
        res = preprocess_session(data)
        err = res.qc["shift_hz"] - truth["shift_hz"]
        err -= err.mean()  # alignment is relative to a reference: a constant is referencing
        dphi = np.angle(np.exp(1j * (res.qc["phase_rad"] - truth["phase_rad"])))
        dphi -= dphi.mean()
        rows.append(
            {
                "snr": snr,
                "shift_rms_hz": float(np.sqrt(np.mean(err**2))),
                "max_abs_shift_hz": float(np.abs(err).max()),
                "phase_rms_deg": float(np.degrees(np.sqrt(np.mean(dphi**2)))),
                "drift_pp_hz": float(np.ptp(truth["shift_hz"])),
                "rejected": int(np.sum(res.qc["rejected"])),
            }
        )
        if snr == 8.0:
            offset = np.mean(res.qc["shift_hz"] - truth["shift_hz"])
            example = {"true": truth["shift_hz"], "estimate": res.qc["shift_hz"] - offset}
    return pd.DataFrame(rows), example


# -- study level ----------------------------------------------------------------------------


NULL_RESPONSE = {c: {"M": 8.0, "F": 8.0} for c in ("naltrexone", "placebo")}


def check_study(
    folder: Path, *, participants: int, transients: int, jobs: int, seed: int, null: bool = False
) -> dict[str, Any]:
    """Simulate a study, run the pipeline, compare with the truth (see bench.study_recovery)."""
    run = study_recovery.simulate_and_run(
        folder,
        participants=participants,
        transients=transients,
        jobs=jobs,
        seed=seed,
        response=NULL_RESPONSE if null else None,
    )
    errors = study_recovery.session_errors(run["truth"], run["responses"], block=run["block"])
    contrast = study_recovery.contrast_rows(run["truth"], errors, run["stats"])
    stats = run["stats"]
    inter = stats[(stats["metabolite"] == "Glu") & (stats["term"] == "condition:sex")]
    return {
        "errors": errors,
        "summary": study_recovery.recovery_summary(errors),
        "contrast": contrast,
        "interaction": inter,
        "seconds": run["seconds"],
        "study": folder / "study",
        "basis": folder / "basis",
        "n_failed": len(run["errors"]),
    }


def check_fpr(
    *,
    n_rep: int,
    participants: int,
    measurement_sd: float,
    response_sd: float,
    rng: np.random.Generator,
) -> pd.DataFrame:
    """Rejection rate (p < 0.05) of the group tests over simulated studies, null and effect.

    Each replicate draws what the statistics see: per session, Glu % change = the design's
    response for its condition and sex + participant-level noise (``response_sd``) +
    measurement error (``measurement_sd``, measured on the pipeline), for a balanced design of
    ``participants``; :func:`mrspipe.stats.crossover_stats` (no mixed model) tests it. Under
    ``null`` both conditions have 8 %; under ``effect`` the GO-MARK-like default response.
    """
    from mrspipe.simulate.study import DEFAULT_RESPONSE
    from mrspipe.stats import crossover_stats

    pids = [f"sub-{i:02d}" for i in range(participants)]
    sexes = ["M" if i % 2 == 0 else "F" for i in range(participants)]
    rows = []
    for scenario, response in (("null", NULL_RESPONSE), ("effect", DEFAULT_RESPONSE)):
        hits: dict[str, int] = {}
        for _ in range(n_rep):
            records = []
            for i, (pid, sex) in enumerate(zip(pids, sexes, strict=True)):
                order = ("naltrexone", "placebo") if i % 4 < 2 else ("placebo", "naltrexone")
                for k, cond in enumerate(order):
                    pct = (
                        response[cond][sex]
                        + rng.normal(0, response_sd)
                        + rng.normal(0, measurement_sd)
                    )
                    records.append(
                        {
                            "participant_id": pid,
                            "session_id": f"ses-{k + 1}",
                            "condition": cond,
                            "sex": sex,
                            "metabolite": "Glu",
                            "baseline": 1.0,
                            "response": 1 + pct / 100,
                            "percent_change": pct,
                        }
                    )
            st = crossover_stats(
                pd.DataFrame(records), conditions=("naltrexone", "placebo"), mixedlm=False
            )
            for _, r in st[st["analysis"].isin(["paired", "interaction"])].iterrows():
                if r["term"] == "dz":
                    continue
                key = f"{r['analysis']} {r['subgroup']}"
                hits[key] = hits.get(key, 0) + int(r["p_value"] < 0.05)
        for key, k in hits.items():
            p = k / n_rep
            rows.append(
                {
                    "scenario": scenario,
                    "test": key,
                    "rejection_rate": p,
                    "mc_se": float(np.sqrt(p * (1 - p) / n_rep)),
                    "n_rep": n_rep,
                }
            )
    return pd.DataFrame(rows)


def check_permutation(
    group: Path, *, n_perm: int, rng: np.random.Generator, metabolite: str = "Glu"
) -> pd.DataFrame:
    """False-positive rate of every condition test on a real null study, by permutation.

    ``group`` is the ``group/`` folder of a pipeline run on a study simulated with the same
    response in both conditions. Each permutation swaps the condition labels of a
    participant's two sessions with probability 1/2 (in ``timecourses`` and ``responses``
    alike), which leaves a null study a null study, and reruns
    :func:`mrspipe.stats.crossover_stats` with the mixed models; returned: the fraction of
    permutations with p < 0.05 for every test whose term involves the condition.
    """
    import warnings

    from mrspipe.io.tables import read_table
    from mrspipe.stats import crossover_stats

    tc = read_table(group / "timecourses.tsv")
    rs = read_table(group / "responses.tsv")
    tc, rs = tc[tc["metabolite"] == metabolite], rs[rs["metabolite"] == metabolite]
    conds = ("naltrexone", "placebo")
    pids = sorted(set(rs["participant_id"]))
    hits: dict[tuple[str, str, str], int] = {}
    for _ in range(n_perm):
        flip = {p for p in pids if rng.random() < 0.5}

        def swap(df: pd.DataFrame, flip: set[str] = flip) -> pd.DataFrame:
            sel = df["participant_id"].isin(flip)
            swapped = df["condition"].map({conds[0]: conds[1], conds[1]: conds[0]})
            return df.assign(condition=df["condition"].where(~sel, swapped))

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            st = crossover_stats(swap(rs), conditions=conds, timecourses=swap(tc), mixedlm=True)
        st = st[
            st["term"].astype(str).str.contains("condition|-", regex=True)
            & (st["term"] != "dz")
            & st["analysis"].isin(["paired", "interaction", "crossover", "frame_lmm"])
        ]
        for _, r in st.iterrows():
            key = (r["analysis"], r["term"], r["subgroup"])
            hits[key] = hits.get(key, 0) + int(r["p_value"] < 0.05)
    rows = [
        {
            "analysis": a,
            "term": t,
            "subgroup": g,
            "rejection_rate": k / n_perm,
            "mc_se": float(np.sqrt(max(k, 0.5) / n_perm * (1 - k / n_perm) / n_perm)),
            "n_perm": n_perm,
        }
        for (a, t, g), k in hits.items()
    ]
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few minutes instead of ~15")
    parser.add_argument("--out", default="validation", type=Path)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    q = args.quick
    res: dict[str, Any] = {}
    clock: dict[str, float] = {}

    def step(name: str) -> None:
        clock[name] = time.perf_counter()
        print(f"[validate] {name} ...", file=sys.stderr, flush=True)

    step("fit")
    res["fit"] = check_fit(n_frames=48 if q else 256, rng=rng)
    step("bold")
    res["bold"] = check_bold()
    step("drift")
    res["drift"], res["drift_example"] = check_drift(n_transients=128 if q else 640, rng=rng)
    step("study")
    size = {"participants": 8, "transients": 160} if q else {"participants": 20, "transients": 640}
    res["study"] = check_study(out / "work" / "study", jobs=args.jobs, seed=args.seed, **size)
    res["study"]["design"] = (
        f"{size['participants']} participants x 2 sessions x "
        f"{size['transients']} transients, frames of 16"
    )
    if not q:
        step("null study")
        res["null"] = check_study(
            out / "work" / "null", jobs=args.jobs, seed=args.seed + 1, null=True, **size
        )
    null_group = out / "work" / ("null" if not q else "study") / "out" / "group"
    if not q:
        step("permutation")
        res["perm"] = check_permutation(null_group, n_perm=100, rng=rng)
    step("fpr")
    meas = res["study"]["summary"]["error_sd_pp"]
    n_rep = 200 if q else 2000
    res["fpr"] = check_fpr(
        n_rep=n_rep, participants=20, measurement_sd=meas, response_sd=1.5, rng=rng
    )
    res["fpr_note"] = (
        f"{n_rep} simulated 20-participant crossover studies per scenario, "
        f"drawn at the level the statistics see: per-session Glu % change = "
        f"design response + participant noise (SD 1.5 %) + measurement error "
        f"(SD {meas:.2f} pp, the per-session error measured on the pipeline "
        f"above); paired t-tests by sex and the Welch condition:sex interaction "
        f"at alpha 0.05. mc_se: Monte-Carlo standard error."
    )
    step("speed")
    floor = speed.read_fft_seconds(res["study"]["study"])
    stages = speed.stage_seconds(res["study"]["study"], res["study"]["basis"], n_sessions=2)
    rss = study_recovery.peak_rss_mib()
    run_s = res["study"]["seconds"]["run"]
    res["speed"] = {
        "stages": stages,
        "floor_per_session": floor["seconds"] / floor["n_sessions"],
        "summary": {
            "sessions": floor["n_sessions"],
            "transients": floor["n_transients"],
            f"run_s (jobs={args.jobs})": run_s,
            "read_fft_s": floor["seconds"],
            "ratio": run_s / floor["seconds"],
            "simulate_s": res["study"]["seconds"]["simulate"],
            "peak_rss_worker_mib": rss["children"],
            "peak_rss_main_mib": rss["self"],
        },
    }
    step("report")
    for name in ("fit", "bold", "drift", "fpr", "perm"):
        if name in res:
            res[name].to_csv(out / f"{name}.tsv", sep="\t", index=False)
    res["study"]["errors"].to_csv(out / "study_sessions.tsv", sep="\t", index=False)
    res["study"]["contrast"].to_csv(out / "study_contrast.tsv", sep="\t", index=False)
    text = markdown(res, figures(out, res), q)
    (out / "validation.md").write_text(text)
    (out / "validation.html").write_text(html_page(text, out))
    names = list(clock)
    for a, b in zip(names, names[1:] + ["end"], strict=True):
        end = clock.get(b, time.perf_counter())
        print(f"[validate] {a}: {end - clock[a]:.0f} s", file=sys.stderr)
    print(out / "validation.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
