"""``mrspipe demo``: simulate a small crossover study with known truth and run the pipeline on it.

Layout of the demo folder (default ``./mrspipe-demo``)::

    demo.json      the simulation parameters (re-running with the same ones resumes)
    study/         the simulated MRS-BIDS study, with truth.json
    basis/         the simulated basis set (FSL-MRS JSON)
    results/       the output of ``mrspipe run`` (report.html, group/, sub-*/)
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path
from typing import Any

from .run import positive_int

#: default size: about a minute on two cores
DEFAULTS: dict[str, int] = {"participants": 8, "transients": 128, "seed": 2026}
FRAMES_PER_SESSION = 8


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the ``demo`` subcommand."""
    p = sub.add_parser(
        "demo",
        help="simulate a small crossover study and run the whole pipeline on it",
        description="Simulate a naltrexone/placebo crossover study with known glutamate "
        "responses, fit it with a simulated basis set, and write the report. Re-running with "
        "the same options resumes instead of recomputing.",
    )
    p.add_argument("--out", default="mrspipe-demo", metavar="DIR",
                   help="demo folder (default ./mrspipe-demo)")
    p.add_argument("--participants", type=positive_int, default=DEFAULTS["participants"],
                   metavar="N", help=f"participants (default {DEFAULTS['participants']})")
    p.add_argument("--transients", type=positive_int, default=DEFAULTS["transients"],
                   metavar="N", help=f"transients per session (default {DEFAULTS['transients']})")
    p.add_argument("--seed", type=int, default=DEFAULTS["seed"], metavar="S",
                   help=f"random seed of the simulation (default {DEFAULTS['seed']})")
    p.add_argument("--jobs", type=positive_int, default=min(2, os.cpu_count() or 1),
                   metavar="N", help="sessions in parallel (default: up to 2)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a demo simulated with other options")
    p.set_defaults(func=run)


# -- adapters to mrspipe.simulate (names fixed when the simulate module lands) ---------------


def simulate_demo_study(folder: Path, *, participants: int, transients: int, seed: int
                        ) -> dict[str, Any]:
    """Write the simulated study to ``folder`` and return its truth."""
    from ..simulate import simulate_study

    return simulate_study(folder, n_participants=participants, n_transients=transients,
                          rng=seed)


def simulate_demo_basis(folder: Path, truth: dict[str, Any]) -> Path:
    """Simulate the basis matching the study and write it to ``folder`` (FSL-MRS JSON)."""
    from ..io.basis import save_basis
    from ..simulate import simulate_basis

    kwargs = {k: truth[k] for k in ("field_mhz", "te", "sequence") if k in truth}
    save_basis(simulate_basis(**kwargs), folder, format="fsl")
    return folder


def truth_contrast(truth: dict[str, Any], metabolite: str, subgroup: str) -> float | None:
    """Look up the simulated paired contrast (% change, active - control); None if absent."""
    try:
        return float(truth["paired_contrast"][metabolite][subgroup])
    except (KeyError, TypeError, ValueError):
        return None


# -- the command ----------------------------------------------------------------------------


def _prepare(out: Path, params: dict[str, Any], overwrite: bool) -> dict[str, Any]:
    """Simulate the study and basis unless the same ones are already there; return truth."""
    from ..io.tables import read_json, write_json

    study, basis = out / "study", out / "basis"
    marker = out / "demo.json"
    if marker.is_file() and (study / "truth.json").is_file() and basis.exists():
        if read_json(marker) == params:
            return read_json(study / "truth.json")
        if not overwrite:
            raise FileExistsError(
                f"{out} holds a demo simulated with {read_json(marker)}; pass --overwrite or "
                "choose another --out"
            )
    elif out.exists() and any(out.iterdir()) and not marker.is_file():
        raise FileExistsError(f"{out} exists and is not an mrspipe demo folder; choose --out")
    out.mkdir(parents=True, exist_ok=True)
    marker.unlink(missing_ok=True)
    for folder in (study, basis, out / "results"):  # ours (demo.json was there): replace
        if folder.exists():
            shutil.rmtree(folder)
    print(f"simulating {params['participants']} participants x 2 sessions x "
          f"{params['transients']} transients ...", file=sys.stderr)
    tmp_study, tmp_basis = out / ".study.partial", out / ".basis.partial"
    for tmp in (tmp_study, tmp_basis):
        if tmp.exists():
            shutil.rmtree(tmp)
    truth = simulate_demo_study(tmp_study, participants=params["participants"],
                                transients=params["transients"], seed=params["seed"])
    simulate_demo_basis(tmp_basis, truth)
    tmp_study.rename(study)
    tmp_basis.rename(basis)
    write_json(marker, params)
    return truth


def summary_lines(stats: Any, truth: dict[str, Any], metabolite: str,
                  contrast: tuple[str, str]) -> list[str]:
    """Paired contrast of ``metabolite`` by sex against the simulated truth."""
    rows = stats[(stats["metabolite"] == metabolite) & (stats["analysis"] == "paired")]
    lines = [f"{metabolite} response, {contrast[0]} - {contrast[1]} (paired, % change):"]
    for subgroup in ("M", "F", "all"):
        row = rows[rows["subgroup"] == subgroup]
        if row.empty:
            continue
        r = row.iloc[0]
        true = truth_contrast(truth, metabolite, subgroup)
        lines.append(
            f"  {subgroup:<3} {r['estimate']:+7.2f} [{r['ci_low']:+.2f}, {r['ci_high']:+.2f}]"
            f"  p={r['p_value']:.3g}  n={int(r['n'])}"
            + ("" if true is None else f"   simulated {true:+.2f}")
        )
    return lines


def run(args: argparse.Namespace) -> int:
    """Simulate (or reuse) the demo study, run the pipeline, print where the report is."""
    from ..config import defaults
    from ..io.tables import read_table
    from ..pipeline import run_study
    from .run import _steps

    out = Path(args.out)
    params = {"participants": args.participants, "transients": args.transients,
              "seed": args.seed}
    truth = _prepare(out, params, args.overwrite)
    block = max(1, args.transients // FRAMES_PER_SESSION)
    config = defaults().with_overrides({"preprocess.block": block})
    result = run_study(out / "study", out / "results", basis=out / "basis", config=config,
                       jobs=args.jobs, overwrite=args.overwrite, steps=_steps())
    primary = config.metabolites["primary"]
    stats_path = out / "results" / "group" / "stats.tsv"
    if stats_path.is_file():
        for line in summary_lines(read_table(stats_path), truth, primary, result.contrast):
            print(line)
    n_ok = sum(1 for r in result.sessions if r.ok)
    print(f"{n_ok} of {len(result.sessions)} sessions done; truth: {out / 'study/truth.json'}")
    if result.report is not None:
        print(f"report: {result.report}")
    if result.errors:
        print(f"errors: {out / 'results' / 'errors.tsv'}")
    sys.stdout.flush()
    return result.exit_status
