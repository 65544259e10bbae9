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
* ``speed``: end-to-end wall time vs reading every file and FFT-ing every transient once,
  per-stage times, peak memory of the worker processes.

``--quick`` (a few minutes): fewer spectra and replicates, an 8-participant study of 160
transients per session. The full run simulates the 20 x 2 x 640-transient study of the GO-MARK
size twice (alternative and null). Timings are wall-clock on a shared machine: noisy.
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

__all__ = ["check_fit", "check_bold", "check_drift", "check_study", "check_fpr",
           "check_permutation", "main"]

DPI = 72


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
            data = simulate(basis, np.broadcast_to(c, (n_frames, c.size)), lorentz_hz=lorentz,
                            gauss_hz=3.0, shift_hz=rng.uniform(-3, 3, n_frames),
                            phase0=rng.uniform(-0.5, 0.5, n_frames), noise_sd=noise, rng=rng)
            res = fit_spectra(data, basis)
            names = ["Glu", "Glx", "tNAA"]
            vals, cov = res.combination(names)
            for i, name in enumerate(names):
                true = float(c @ res.weights_for(name))
                est = vals[:, i]
                crlb = np.sqrt(cov[:, i, i])
                rows.append({"lorentz_hz": lorentz, "noise_sd": noise,
                             "snr": float(np.median(res.snr)), "metabolite": name,
                             "bias_pct": 100 * (est.mean() / true - 1),
                             "sd_pct": 100 * est.std(ddof=1) / true,
                             "crlb_pct": 100 * crlb.mean() / true,
                             "sd_over_crlb": est.std(ddof=1) / crlb.mean()})
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
            data, _ = simulate_spectra(metabolites,
                                       {k: np.full(n_frames, v) for k, v in conc.items()},
                                       lorentz_hz=lw, gauss_hz=3.0,
                                       macromolecules=dict(DEFAULT_MM_AMPLITUDES))
            vals, _ = fit_spectra(data, basis).combination(names)
            mean = vals.mean(axis=0)
            ref = mean if ref is None else ref
            for i, name in enumerate(names):
                rows.append({"basis": label, "narrowing_hz": 5.0 - lw, "metabolite": name,
                             "apparent_change_pct": 100 * (mean[i] / ref[i] - 1)})
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
        rows.append({"snr": snr, "shift_rms_hz": float(np.sqrt(np.mean(err**2))),
                     "max_abs_shift_hz": float(np.abs(err).max()),
                     "phase_rms_deg": float(np.degrees(np.sqrt(np.mean(dphi**2)))),
                     "drift_pp_hz": float(np.ptp(truth["shift_hz"])),
                     "rejected": int(np.sum(res.qc["rejected"]))})
        if snr == 8.0:
            offset = np.mean(res.qc["shift_hz"] - truth["shift_hz"])
            example = {"true": truth["shift_hz"], "estimate": res.qc["shift_hz"] - offset}
    return pd.DataFrame(rows), example


# -- study level ----------------------------------------------------------------------------


NULL_RESPONSE = {c: {"M": 8.0, "F": 8.0} for c in ("naltrexone", "placebo")}


def check_study(folder: Path, *, participants: int, transients: int, jobs: int, seed: int,
                null: bool = False) -> dict[str, Any]:
    """Simulate a study, run the pipeline, compare with the truth (see bench.study_recovery)."""
    run = study_recovery.simulate_and_run(folder, participants=participants,
                                          transients=transients, jobs=jobs, seed=seed,
                                          response=NULL_RESPONSE if null else None)
    errors = study_recovery.session_errors(run["truth"], run["responses"], block=run["block"])
    contrast = study_recovery.contrast_rows(run["truth"], errors, run["stats"])
    stats = run["stats"]
    inter = stats[(stats["metabolite"] == "Glu") & (stats["term"] == "condition:sex")]
    return {"errors": errors, "summary": study_recovery.recovery_summary(errors),
            "contrast": contrast, "interaction": inter, "seconds": run["seconds"],
            "study": folder / "study", "basis": folder / "basis",
            "n_failed": len(run["errors"])}


def check_fpr(*, n_rep: int, participants: int, measurement_sd: float, response_sd: float,
              rng: np.random.Generator) -> pd.DataFrame:
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
                    pct = (response[cond][sex] + rng.normal(0, response_sd)
                           + rng.normal(0, measurement_sd))
                    records.append({"participant_id": pid, "session_id": f"ses-{k + 1}",
                                    "condition": cond, "sex": sex, "metabolite": "Glu",
                                    "baseline": 1.0, "response": 1 + pct / 100,
                                    "percent_change": pct})
            st = crossover_stats(pd.DataFrame(records), conditions=("naltrexone", "placebo"),
                                 mixedlm=False)
            for _, r in st[st["analysis"].isin(["paired", "interaction"])].iterrows():
                if r["term"] == "dz":
                    continue
                key = f"{r['analysis']} {r['subgroup']}"
                hits[key] = hits.get(key, 0) + int(r["p_value"] < 0.05)
        for key, k in hits.items():
            p = k / n_rep
            rows.append({"scenario": scenario, "test": key, "rejection_rate": p,
                         "mc_se": float(np.sqrt(p * (1 - p) / n_rep)), "n_rep": n_rep})
    return pd.DataFrame(rows)


def check_permutation(group: Path, *, n_perm: int, rng: np.random.Generator,
                      metabolite: str = "Glu") -> pd.DataFrame:
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
            st = crossover_stats(swap(rs), conditions=conds, timecourses=swap(tc),
                                 mixedlm=True)
        st = st[st["term"].astype(str).str.contains("condition|-", regex=True)
                & (st["term"] != "dz") & st["analysis"].isin(
                    ["paired", "interaction", "crossover", "mixedlm", "mixedlm_timecourse"])]
        for _, r in st.iterrows():
            key = (r["analysis"], r["term"], r["subgroup"])
            hits[key] = hits.get(key, 0) + int(r["p_value"] < 0.05)
    rows = [{"analysis": a, "term": t, "subgroup": g, "rejection_rate": k / n_perm,
             "mc_se": float(np.sqrt(max(k, 0.5) / n_perm * (1 - k / n_perm) / n_perm)),
             "n_perm": n_perm} for (a, t, g), k in hits.items()]
    return pd.DataFrame(rows)


# -- figures --------------------------------------------------------------------------------


def _figures(out: Path, res: dict[str, Any]) -> dict[str, Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figdir = out / "figures"
    figdir.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}

    from matplotlib.ticker import NullFormatter

    def save(fig: Any, name: str) -> None:
        for ax in fig.axes:
            if ax.get_xscale() == "log":
                ax.xaxis.set_minor_formatter(NullFormatter())
        fig.tight_layout()
        paths[name] = figdir / f"{name}.png"
        fig.savefig(paths[name], dpi=DPI)
        plt.close(fig)

    if "fit" in res:
        fit = res["fit"]
        fig, axes = plt.subplots(1, 2, figsize=(8, 3))
        glu = fit[fit["metabolite"] == "Glu"]
        for lw, d in glu.groupby("lorentz_hz"):
            axes[0].loglog(d["snr"], d["sd_pct"], "o-", label=f"{lw:g} Hz")
            axes[0].loglog(d["snr"], d["crlb_pct"], "k:", lw=0.8)
            axes[1].semilogx(d["snr"], d["bias_pct"], "o-", label=f"{lw:g} Hz")
        axes[0].set(xlabel="NAA SNR (fitted)", ylabel="Glu SD (%); CRLB dotted",
                    title="fit precision")
        axes[1].axhline(0, color="grey", lw=0.8)
        axes[1].set(xlabel="NAA SNR (fitted)", ylabel="Glu bias (%)", title="fit bias")
        axes[0].legend(title="Lorentzian", fontsize=7)
        save(fig, "fit_accuracy")

        fig, ax = plt.subplots(figsize=(4.5, 3))
        for met, d in fit.groupby("metabolite"):
            ax.semilogx(d["snr"], d["sd_over_crlb"], "o", label=met)
        ax.axhline(1, color="grey", lw=0.8)
        ax.set(xlabel="NAA SNR (fitted)", ylabel="empirical SD / mean CRLB",
               title="CRLB calibration", ylim=(0, 2))
        ax.legend(fontsize=7)
        save(fig, "crlb_calibration")

    if "drift_example" in res:
        ex = res["drift_example"]
        if ex:
            fig, ax = plt.subplots(figsize=(5, 3))
            ax.plot(ex["true"], lw=1.5, label="simulated")
            ax.plot(ex["estimate"], lw=0.8, label="estimated")
            ax.set(xlabel="transient", ylabel="frequency shift (Hz)",
                   title="drift recovery, single-transient SNR 8")
            ax.legend(fontsize=7)
            save(fig, "drift")

    if "study" in res:
        err = res["study"]["errors"]
        fig, ax = plt.subplots(figsize=(4.5, 4))
        for (cond, sex), d in err.groupby(["condition", "sex"]):
            ax.plot(d["true"], d["estimate"], "o" if sex == "M" else "s", ms=4,
                    label=f"{cond} {sex}")
        lim = [min(err["true"].min(), err["estimate"].min()) - 1,
               max(err["true"].max(), err["estimate"].max()) + 1]
        ax.plot(lim, lim, "k-", lw=0.8)
        s = res["study"]["summary"]
        ax.set(xlabel="true Glu change (%)", ylabel="estimated Glu change (%)",
               title=f"per session: RMSE {s['rmse_pp']:.2f} pp, bias {s['bias_pp']:+.2f} pp")
        ax.legend(fontsize=7)
        save(fig, "study_recovery")

    if "fpr" in res:
        fpr = res["fpr"]
        fig, ax = plt.subplots(figsize=(6, 3))
        tests = list(dict.fromkeys(fpr["test"]))
        x = np.arange(len(tests))
        for k, (scen, d) in enumerate(fpr.groupby("scenario", sort=False)):
            d = d.set_index("test").reindex(tests)
            ax.bar(x + 0.4 * k - 0.2, d["rejection_rate"], 0.4, yerr=1.96 * d["mc_se"],
                   label=scen)
        ax.axhline(0.05, color="k", ls="--", lw=0.8)
        ax.set_xticks(x, tests, fontsize=7)
        ax.set(ylabel="P(p < 0.05)", title="false positives (null) and power (effect)")
        ax.legend(fontsize=7)
        save(fig, "fpr")

    if "speed" in res:
        sp = res["speed"]
        fig, ax = plt.subplots(figsize=(5, 3))
        names = list(sp["stages"]) + ["read+FFT floor"]
        vals = list(sp["stages"].values()) + [sp["floor_per_session"]]
        ax.barh(names, vals)
        ax.set(xlabel="s per session (serial)", title="time per stage")
        save(fig, "speed")
    return paths


# -- report ---------------------------------------------------------------------------------


def _md_table(df: pd.DataFrame, floatfmt: str = ".3g") -> str:
    cols = list(df.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in df.iterrows():
        cells = [format(v, floatfmt) if isinstance(v, float) else str(v) for v in r]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _markdown(res: dict[str, Any], figs: dict[str, Path], quick: bool) -> str:
    s = res["study"]
    parts = [f"# mrspipe validation ({'quick' if quick else 'full'} run, "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})", ""]
    parts += ["## Fit accuracy and CRLB calibration", "",
              _md_table(res["fit"]), "", "![](figures/fit_accuracy.png)",
              "![](figures/crlb_calibration.png)", ""]
    parts += ["## Linewidth (BOLD) narrowing without a concentration change", "",
              _md_table(res["bold"]), ""]
    parts += ["## Preprocessing: drift recovery", "", _md_table(res["drift"]), "",
              "![](figures/drift.png)", ""]
    d = s["design"]
    parts += [f"## Study-level recovery ({d})", "",
              "Per-session Glu % change vs truth (same frames and windows):", "",
              _md_table(pd.DataFrame([s["summary"]])), "",
              "Paired naltrexone - placebo contrast:", "", _md_table(s["contrast"]), "",
              "Condition x sex:", "",
              _md_table(s["interaction"][["analysis", "term", "estimate", "ci_low", "ci_high",
                                          "p_value", "n"]]), "",
              "![](figures/study_recovery.png)", ""]
    if res.get("null") is not None:
        n = res["null"]
        parts += ["### Null study (8 % in both conditions)", "",
                  _md_table(pd.DataFrame([n["summary"]])), "", _md_table(n["contrast"]), "",
                  _md_table(n["interaction"][["analysis", "term", "estimate", "ci_low",
                                              "ci_high", "p_value", "n"]]), ""]
    parts += ["## False-positive rate and power of the group tests", "",
              res["fpr_note"], "", _md_table(res["fpr"]), "", "![](figures/fpr.png)", ""]
    if res.get("perm") is not None:
        parts += ["### Every condition test on the null study, by permutation", "",
                  "Condition labels swapped within participant at random (a null stays a "
                  "null); rate of p < 0.05 over the permutations:", "",
                  _md_table(res["perm"]), ""]
    sp = res["speed"]
    parts += ["## Speed and memory", "", _md_table(pd.DataFrame([sp["summary"]])), "",
              _md_table(pd.DataFrame([sp["stages"]])), "", "![](figures/speed.png)", ""]
    return "\n".join(parts)


def _html(markdown: str, out: Path) -> str:
    """A small self-contained HTML page of the markdown (tables, headings, inlined images)."""
    import base64
    import html
    import re

    body = []
    in_table = False
    for line in markdown.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if set("".join(cells)) <= set("-"):
                continue
            if not in_table:
                body.append("<table>")
                in_table = True
                tag = "th"
            else:
                tag = "td"
            body.append("<tr>" + "".join(f"<{tag}>{html.escape(c)}</{tag}>" for c in cells)
                        + "</tr>")
            continue
        if in_table:
            body.append("</table>")
            in_table = False
        if m := re.match(r"!\[\]\((.*)\)", line):
            data = base64.b64encode((out / m.group(1)).read_bytes()).decode()
            body.append(f'<img src="data:image/png;base64,{data}">')
        elif line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            body.append(f"<h{level}>{html.escape(line[level:].strip())}</h{level}>")
        elif line.strip():
            body.append(f"<p>{html.escape(line)}</p>")
    if in_table:
        body.append("</table>")
    style = ("body{font-family:sans-serif;max-width:60em;margin:auto}table{border-collapse:"
             "collapse;font-size:85%}td,th{border:1px solid #ccc;padding:2px 6px}")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>mrspipe validation"
            f"</title><style>{style}</style></head><body>{''.join(body)}</body></html>")


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
    size = {"participants": 8, "transients": 160} if q else \
        {"participants": 20, "transients": 640}
    res["study"] = check_study(out / "work" / "study", jobs=args.jobs, seed=args.seed, **size)
    res["study"]["design"] = (f"{size['participants']} participants x 2 sessions x "
                              f"{size['transients']} transients, frames of 16")
    if not q:
        step("null study")
        res["null"] = check_study(out / "work" / "null", jobs=args.jobs, seed=args.seed + 1,
                                  null=True, **size)
    null_group = out / "work" / ("null" if not q else "study") / "out" / "group"
    if not q:
        step("permutation")
        res["perm"] = check_permutation(null_group, n_perm=100, rng=rng)
    step("fpr")
    meas = res["study"]["summary"]["error_sd_pp"]
    n_rep = 200 if q else 2000
    res["fpr"] = check_fpr(n_rep=n_rep, participants=20, measurement_sd=meas,
                           response_sd=1.5, rng=rng)
    res["fpr_note"] = (f"{n_rep} simulated 20-participant crossover studies per scenario, "
                       f"drawn at the level the statistics see: per-session Glu % change = "
                       f"design response + participant noise (SD 1.5 %) + measurement error "
                       f"(SD {meas:.2f} pp, the per-session error measured on the pipeline "
                       f"above); paired t-tests by sex and the Welch condition:sex interaction "
                       f"at alpha 0.05. mc_se: Monte-Carlo standard error.")
    step("speed")
    floor = speed.read_fft_seconds(res["study"]["study"])
    stages = speed.stage_seconds(res["study"]["study"], res["study"]["basis"], n_sessions=2)
    rss = study_recovery.peak_rss_mib()
    run_s = res["study"]["seconds"]["run"]
    res["speed"] = {
        "stages": stages,
        "floor_per_session": floor["seconds"] / floor["n_sessions"],
        "summary": {"sessions": floor["n_sessions"], "transients": floor["n_transients"],
                    f"run_s (jobs={args.jobs})": run_s, "read_fft_s": floor["seconds"],
                    "ratio": run_s / floor["seconds"],
                    "simulate_s": res["study"]["seconds"]["simulate"],
                    "peak_rss_worker_mib": rss["children"], "peak_rss_main_mib": rss["self"]},
    }
    step("report")
    for name in ("fit", "bold", "drift", "fpr", "perm"):
        if name in res:
            res[name].to_csv(out / f"{name}.tsv", sep="\t", index=False)
    res["study"]["errors"].to_csv(out / "study_sessions.tsv", sep="\t", index=False)
    res["study"]["contrast"].to_csv(out / "study_contrast.tsv", sep="\t", index=False)
    figs = _figures(out, res)
    text = _markdown(res, figs, q)
    (out / "validation.md").write_text(text)
    (out / "validation.html").write_text(_html(text, out))
    names = list(clock)
    for a, b in zip(names, names[1:] + ["end"], strict=True):
        end = clock.get(b, time.perf_counter())
        print(f"[validate] {a}: {end - clock[a]:.0f} s", file=sys.stderr)
    print(out / "validation.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
