"""Study-level recovery: simulate a crossover study, run the real pipeline, compare with truth.

Run from the repository root::

    PYTHONPATH=$PWD python -m bench.study_recovery [--participants 20] [--transients 640]
        [--jobs 2] [--out DIR] [--null]

Per session, the Glu % change the pipeline reports (``group/responses.tsv``) is compared with
the simulated truth *on the same definition* (:func:`mrspipe.simulate.true_window_change`:
the per-transient truth averaged in the pipeline's frames and windows). The group contrast
(naltrexone - placebo, paired, by sex) is compared with the mean of the true per-session
differences, and its significance is read from ``group/stats.tsv``.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

__all__ = [
    "simulate_and_run",
    "session_errors",
    "recovery_summary",
    "contrast_rows",
]


def simulate_and_run(
    folder: Path,
    *,
    participants: int = 20,
    transients: int = 640,
    block: int = 16,
    response: dict[str, dict[str, float]] | None = None,
    jobs: int = 2,
    seed: int = 11,
    metabolites: tuple[str, ...] = ("Glu", "Gln", "Glx", "tNAA", "Glx/tNAA", "Glu/tNAA"),
    simulate_kwargs: dict[str, Any] | None = None,
    macromolecules: bool = True,
    config_overrides: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Simulate a study into ``folder/study`` and run the pipeline into ``folder/out``.

    The basis is :func:`mrspipe.simulate.study_basis` (with the macromolecule components
    unless ``macromolecules=False``), written once to ``folder/basis``.

    Returns
    -------
    dict
        ``truth`` (truth.json), ``responses`` and ``stats`` (group tables), ``seconds``
        (``simulate``, ``basis``, ``run``), ``block``, ``out``, ``sessions`` (SessionResult).
    """
    from mrspipe.config import defaults
    from mrspipe.io.basis import save_basis
    from mrspipe.io.tables import read_table
    from mrspipe.pipeline import run_study
    from mrspipe.simulate import simulate_study, study_basis

    folder = Path(folder)
    seconds: dict[str, float] = {}
    start = time.perf_counter()
    truth = simulate_study(
        folder / "study",
        n_participants=participants,
        n_transients=transients,
        response=response,
        rng=seed,
        overwrite=True,
        **(simulate_kwargs or {}),
    )
    seconds["simulate"] = time.perf_counter() - start
    design = truth["design"]
    start = time.perf_counter()
    basis_dir = folder / "basis"
    if not basis_dir.exists():
        save_basis(
            study_basis(
                macromolecules=macromolecules,
                **{k: design[k] for k in ("sequence", "field_mhz", "te", "dwell_time", "n_points")},
            ),
            basis_dir,
            format="fsl",
        )
    seconds["basis"] = time.perf_counter() - start
    config = defaults().with_overrides(
        {"preprocess.block": block, "metabolites.analyse": metabolites} | (config_overrides or {})
    )
    start = time.perf_counter()
    result = run_study(
        folder / "study", folder / "out", basis=basis_dir, config=config, jobs=jobs, overwrite=True
    )
    seconds["run"] = time.perf_counter() - start
    group = folder / "out" / "group"
    return {
        "truth": truth,
        "responses": read_table(group / "responses.tsv"),
        "stats": read_table(group / "stats.tsv"),
        "seconds": seconds,
        "block": block,
        "out": folder / "out",
        "sessions": result.sessions,
        "errors": result.errors,
    }


def session_errors(
    truth: dict[str, Any],
    responses: pd.DataFrame,
    *,
    block: int,
    metabolite: str = "Glu",
    baseline_window: tuple[float | None, float | None] = (None, 0.0),
    response_window: tuple[float | None, float | None] = (0.0, None),
) -> pd.DataFrame:
    """Per-session estimated vs true % change of ``metabolite`` (Glu only has a time course).

    Returns
    -------
    DataFrame
        ``participant_id, session_id, condition, sex, true_plateau, true_simulator`` (the
        simulator's post-onset mean), ``true`` (on the pipeline's frames and windows),
        ``estimate, se`` (the pipeline's CRLB-propagated standard error, if written) and
        ``error = estimate - true``.
    """
    from mrspipe.simulate import true_window_change

    design = truth["design"]
    times = np.arange(design["n_transients"]) * design["tr"]
    rows = []
    for ses in truth["sessions"]:
        rows.append(
            {
                "participant_id": ses["participant_id"],
                "session_id": ses["session_id"],
                "condition": ses["condition"],
                "sex": ses["sex"],
                "true_plateau": ses["glu_percent_change"],
                "true_simulator": ses["glu_percent_change_window"],
                "true": true_window_change(
                    np.asarray(ses["glu_mM"]),
                    times,
                    design["infusion_onset"],
                    block=block,
                    baseline_window=baseline_window,
                    response_window=response_window,
                ),
            }
        )
    table = pd.DataFrame(rows)
    est = responses[responses["metabolite"] == metabolite]
    cols = ["participant_id", "session_id", "percent_change"]
    if "percent_change_se" in est.columns:
        cols.append("percent_change_se")
    table = table.merge(est[cols], on=["participant_id", "session_id"], how="left")
    table = table.rename(columns={"percent_change": "estimate", "percent_change_se": "se"})
    table["error"] = table["estimate"] - table["true"]
    return table


def recovery_summary(table: pd.DataFrame) -> dict[str, float]:
    """RMSE, bias, SD of the error and its standard error, correlation, predicted noise floor."""
    err = table["error"].to_numpy(dtype=float)
    err = err[np.isfinite(err)]
    n = err.size
    out = {
        "n_sessions": float(n),
        "rmse_pp": float(np.sqrt(np.mean(err**2))),
        "bias_pp": float(err.mean()),
        "bias_se_pp": float(err.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan,
        "error_sd_pp": float(err.std(ddof=1)) if n > 1 else math.nan,
        "corr": float(np.corrcoef(table["estimate"], table["true"])[0, 1]) if n > 2 else math.nan,
        "simulator_definition_rmse_pp": float(
            np.sqrt(np.nanmean((table["estimate"] - table["true_simulator"]) ** 2))
        ),
    }
    if "se" in table.columns:
        out["crlb_floor_pp"] = float(np.sqrt(np.nanmean(table["se"] ** 2)))
    return out


def contrast_rows(
    truth: dict[str, Any],
    errors: pd.DataFrame,
    stats: pd.DataFrame,
    contrast: tuple[str, str] = ("naltrexone", "placebo"),
    metabolite: str = "Glu",
) -> pd.DataFrame:
    """Paired contrast by sex: estimate, CI, p from ``stats`` vs the true mean difference.

    ``true_sample`` is the mean over this study's participants of the true per-session
    difference (same definition as the estimate); ``true_population`` the design's.
    """
    term = f"{contrast[0]}-{contrast[1]}"
    wide = errors.pivot_table(
        index=["participant_id", "sex"], columns="condition", values="true"
    ).reset_index()
    wide["diff"] = wide[contrast[0]] - wide[contrast[1]]
    response = truth["design"]["response"]
    rows = []
    for sub in ("M", "F", "all"):
        sel = stats[
            (stats["metabolite"] == metabolite)
            & (stats["analysis"] == "paired")
            & (stats["term"] == term)
            & (stats["subgroup"] == sub)
        ]
        if sel.empty:
            continue
        r = sel.iloc[0]
        in_sub = wide if sub == "all" else wide[wide["sex"] == sub]
        sexes = ("M", "F") if sub == "all" else (sub,)
        plateau = float(
            np.mean([response[contrast[0]][s] - response[contrast[1]][s] for s in sexes])
        )
        rows.append(
            {
                "subgroup": sub,
                "estimate": float(r["estimate"]),
                "ci_low": float(r["ci_low"]),
                "ci_high": float(r["ci_high"]),
                "p_value": float(r["p_value"]),
                "n": int(r["n"]),
                "true_sample": float(in_sub["diff"].mean()),
                "true_plateau_design": plateau,
                "covered": bool(r["ci_low"] <= in_sub["diff"].mean() <= r["ci_high"]),
            }
        )
    return pd.DataFrame(rows)


def peak_rss_mib() -> dict[str, float]:
    """Peak resident memory of this process and of its finished children, MiB (Linux)."""
    self_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"self": self_kib / 1024, "children": child_kib / 1024}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=20)
    parser.add_argument("--transients", type=int, default=640)
    parser.add_argument("--block", type=int, default=16)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument(
        "--null", action="store_true", help="same response in both conditions (8 %%)"
    )
    parser.add_argument("--out", default="study-recovery")
    parser.add_argument(
        "--no-mm", action="store_true", help="fit without the macromolecule basis spectra"
    )
    args = parser.parse_args(argv)
    response = {c: {"M": 8.0, "F": 8.0} for c in ("naltrexone", "placebo")} if args.null else None
    run = simulate_and_run(
        Path(args.out),
        participants=args.participants,
        transients=args.transients,
        block=args.block,
        response=response,
        jobs=args.jobs,
        seed=args.seed,
        macromolecules=not args.no_mm,
    )
    errors = session_errors(run["truth"], run["responses"], block=run["block"])
    summary = recovery_summary(errors)
    print(", ".join(f"{k} {v:.3g}" for k, v in summary.items()))
    print(contrast_rows(run["truth"], errors, run["stats"]).to_string(index=False))
    print({k: round(v, 1) for k, v in run["seconds"].items()}, peak_rss_mib())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
