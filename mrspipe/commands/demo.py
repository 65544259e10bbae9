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
#: metabolites the demo analyses (fewer than the default list: the demo must stay quick)
DEMO_METABOLITES = ("Glu", "Gln", "Glx", "Glx/tNAA")


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


_SIMULATE_DEFAULT = simulate_demo_study  # to tell the real simulation from a test's stand-in


def simulate_demo_basis(folder: Path, truth: dict[str, Any]) -> Path:
    """Simulate the basis matching the study's acquisition; write it to ``folder`` (FSL-MRS)."""
    from ..io.basis import save_basis
    from ..simulate import simulate_basis

    design = truth.get("design", {})
    kwargs = {k: design[k] for k in ("sequence", "field_mhz", "te", "dwell_time", "n_points")
              if k in design}
    save_basis(simulate_basis(**kwargs), folder, format="fsl")
    return folder


def truth_contrast(truth: dict[str, Any], contrast: tuple[str, str], subgroup: str
                   ) -> float | None:
    """Compute the simulated paired Glu contrast (% change, active - control).

    The mean over participants of ``subgroup`` (``M``, ``F`` or ``all``) of the response-window
    Glu % change of the active session minus that of the control; None if not recorded.
    """
    by_participant: dict[str, dict[str, float]] = {}
    sex: dict[str, str] = {}
    for ses in truth.get("sessions", []):
        try:
            pid, value = ses["participant_id"], float(ses["glu_percent_change_window"])
            by_participant.setdefault(pid, {})[ses["condition"]] = value
            sex[pid] = ses.get("sex")
        except (KeyError, TypeError, ValueError):
            return None
    diffs = [v[contrast[0]] - v[contrast[1]] for pid, v in by_participant.items()
             if set(contrast) <= set(v) and subgroup in ("all", sex[pid])]
    return sum(diffs) / len(diffs) if diffs else None


# -- the command ----------------------------------------------------------------------------


def _remove(path: Path) -> None:
    """Delete a file or folder of the demo (only ever called inside the demo folder)."""
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def _prepare(out: Path, params: dict[str, Any], overwrite: bool) -> dict[str, Any]:
    """Simulate the study and basis unless the same ones are already there; return truth.

    ``demo.json`` marks the folder as a demo (written before simulating, ``complete`` after), so
    an interrupted simulation is redone on the next run and a foreign folder is never touched.
    """
    from ..io.tables import read_json, write_json

    study, basis = out / "study", out / "basis"
    marker = out / "demo.json"
    if marker.is_file():
        previous = read_json(marker)
        complete = isinstance(previous, dict) and previous.get("complete")
        if complete and previous.get("params") == params and (study / "truth.json").is_file():
            return read_json(study / "truth.json")
        if complete and previous.get("params") != params and not overwrite:
            raise FileExistsError(
                f"{out} holds a demo simulated with {previous.get('params')}; pass --overwrite "
                "or choose another --out"
            )
    elif out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise FileExistsError(f"{out} exists and is not an mrspipe demo folder; choose --out")
    out.mkdir(parents=True, exist_ok=True)
    write_json(marker, {"params": params, "complete": False})
    tmp_study, tmp_basis = out / ".study.partial", out / ".basis.partial"
    for item in (study, basis, out / "results", tmp_study, tmp_basis):  # ours: replace
        _remove(item)
    print(f"simulating {params['participants']} participants x 2 sessions x "
          f"{params['transients']} transients ...", file=sys.stderr)
    truth = simulate_demo_study(tmp_study, participants=params["participants"],
                                transients=params["transients"], seed=params["seed"])
    simulate_demo_basis(tmp_basis, truth)
    tmp_study.rename(study)
    tmp_basis.rename(basis)
    write_json(marker, {"params": params, "complete": True})
    return truth


def summary_lines(stats: Any, truth: dict[str, Any], metabolite: str,
                  contrast: tuple[str, str]) -> list[str]:
    """Paired contrast of ``metabolite`` by sex, with the simulated truth for Glu."""
    term = f"{contrast[0]}-{contrast[1]}"
    rows = stats[(stats["metabolite"] == metabolite) & (stats["analysis"] == "paired")
                 & (stats["term"] == term)]
    lines = [f"{metabolite} response, {term} (paired difference of % change, 95% CI):"]
    for subgroup in ("M", "F", "all"):
        row = rows[rows["subgroup"] == subgroup]
        if row.empty:
            continue
        r = row.iloc[0]
        true = truth_contrast(truth, contrast, subgroup) if metabolite == "Glu" else None
        lines.append(
            f"  {subgroup:<3} {r['estimate']:+6.2f} % [{r['ci_low']:+.2f}, {r['ci_high']:+.2f}]"
            f"  p={r['p_value']:.2g}  n={int(r['n'])}"
            + ("" if true is None else f"   simulated {true:+.2f} %")
        )
    return lines


def run(args: argparse.Namespace) -> int:
    """Simulate (or reuse) the demo study, run the pipeline, print where the report is."""
    from ..config import defaults
    from ..io.tables import read_table
    from ..pipeline import run_study
    from ..pipeline.steps import check_modules
    from .run import _steps

    steps = _steps()
    if simulate_demo_study is _SIMULATE_DEFAULT:  # the real simulation, not a replacement
        check_modules(steps, extra=("mrspipe.simulate",))
    out = Path(args.out)
    params = {"participants": args.participants, "transients": args.transients,
              "seed": args.seed}
    truth = _prepare(out, params, args.overwrite)
    block = max(1, args.transients // FRAMES_PER_SESSION)
    config = defaults().with_overrides({"preprocess.block": block,
                                        "metabolites.analyse": DEMO_METABOLITES})
    result = run_study(out / "study", out / "results", basis=out / "basis", config=config,
                       jobs=args.jobs, overwrite=args.overwrite, steps=steps)
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
