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

from ..cli import echo
from .run import positive_int

#: default size: about a minute on two cores (16 participants x 2 sessions x 240 transients)
DEFAULTS: dict[str, int] = {"participants": 16, "transients": 240, "seed": 2026}
#: frames per session (the block size follows from the number of transients)
FRAMES_PER_SESSION = 15
#: time between transients, s
DEMO_TR = 3.0
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
    p.add_argument(
        "--out", default="mrspipe-demo", metavar="DIR", help="demo folder (default ./mrspipe-demo)"
    )
    p.add_argument(
        "--participants",
        type=positive_int,
        default=DEFAULTS["participants"],
        metavar="N",
        help=f"participants (default {DEFAULTS['participants']})",
    )
    p.add_argument(
        "--transients",
        type=positive_int,
        default=DEFAULTS["transients"],
        metavar="N",
        help=f"transients per session (default {DEFAULTS['transients']})",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=DEFAULTS["seed"],
        metavar="S",
        help=f"random seed of the simulation (default {DEFAULTS['seed']})",
    )
    p.add_argument(
        "--jobs",
        type=positive_int,
        default=min(2, os.cpu_count() or 1),
        metavar="N",
        help="sessions in parallel (default: up to 2)",
    )
    p.add_argument(
        "--overwrite", action="store_true", help="replace a demo simulated with other options"
    )
    p.set_defaults(func=run)


# -- adapters to mrspipe.simulate (names fixed when the simulate module lands) ---------------


def demo_design(transients: int) -> dict[str, float]:
    """Return the timing of the demo scan, scaled so the infusion and its response fit in it.

    A real ketamine infusion lasts ~40 min; the demo's scan is ``transients * DEMO_TR`` s (12
    min by default), so the design is compressed: a baseline of about a quarter of the scan
    (a whole number of frames), the infusion from then to the end of the scan, and a response
    time constant of a quarter of the infusion, so the glutamate rise reaches its plateau
    within the scan.

    Returns
    -------
    dict
        ``tr, block, infusion_onset, infusion_duration, response_tau`` (s; block in
        transients).
    """
    block = max(1, transients // FRAMES_PER_SESSION)
    n_frames = max(1, transients // block)
    onset = DEMO_TR * block * max(1, round(n_frames / 4))
    duration = max(DEMO_TR, transients * DEMO_TR - onset)
    return {
        "tr": DEMO_TR,
        "block": block,
        "infusion_onset": onset,
        "infusion_duration": duration,
        "response_tau": duration / 4,
    }


def simulate_demo_study(
    folder: Path, *, participants: int, transients: int, seed: int
) -> dict[str, Any]:
    """Write the simulated study to ``folder`` and return its truth."""
    from ..simulate import simulate_study

    design = demo_design(transients)
    return simulate_study(
        folder,
        n_participants=participants,
        n_transients=transients,
        tr=design["tr"],
        infusion_onset=design["infusion_onset"],
        infusion_duration=design["infusion_duration"],
        response_tau=design["response_tau"],
        rng=seed,
    )


_SIMULATE_DEFAULT = simulate_demo_study  # to tell the real simulation from a test's stand-in


def simulate_demo_basis(folder: Path, truth: dict[str, Any]) -> Path:
    """Simulate the basis matching the study's acquisition; write it to ``folder`` (FSL-MRS).

    Metabolites plus the macromolecule components the simulated spectra contain
    (:func:`mrspipe.simulate.study_basis`): without them the BOLD-like narrowing of the
    simulation would leak into the glutamate estimate.
    """
    from ..io.basis import save_basis
    from ..simulate import study_basis

    design = truth.get("design", {})
    kwargs = {
        k: design[k]
        for k in ("sequence", "field_mhz", "te", "dwell_time", "n_points")
        if k in design
    }
    save_basis(study_basis(**kwargs), folder, format="fsl")
    return folder


def _true_change(ses: dict[str, Any], design: dict[str, Any], block: int) -> float | None:
    """One session's true Glu % change on the pipeline's definition (see session_truth)."""
    import numpy as np

    from ..simulate import true_window_change

    if ses.get("glu_mM") is not None and {"n_transients", "tr", "infusion_onset"} <= set(design):
        times = np.arange(design["n_transients"]) * design["tr"]
        return true_window_change(
            np.asarray(ses["glu_mM"], float), times, design["infusion_onset"], block=block
        )
    try:
        return float(ses["glu_percent_change_window"])
    except (KeyError, TypeError, ValueError):
        return None


def session_truth(truth: dict[str, Any], *, block: int) -> dict[tuple[str, str], float]:
    """Return the true Glu % change of every session, on the pipeline's definition.

    The simulated per-transient Glu averaged in the same frames (``block`` transients) and over
    the same windows (every frame before / from the onset) as the estimate
    (:func:`mrspipe.simulate.true_window_change`); a truth without per-transient values falls
    back to its recorded ``glu_percent_change_window``. Keys are ``(participant_id,
    session_id)``.
    """
    design = truth.get("design", {})
    out: dict[tuple[str, str], float] = {}
    for ses in truth.get("sessions", []):
        value = _true_change(ses, design, block)
        if value is not None:
            out[(str(ses.get("participant_id")), str(ses.get("session_id")))] = value
    return out


def truth_contrast(
    truth: dict[str, Any], contrast: tuple[str, ...], subgroup: str, *, block: int = 1
) -> float | None:
    """Compute the simulated paired Glu contrast (% change, active - control).

    The mean over participants of ``subgroup`` (``M``, ``F`` or ``all``) of the true Glu %
    change (:func:`session_truth`) of the active session minus that of the control; None if
    not recorded.
    """
    design = truth.get("design", {})
    by_participant: dict[str, dict[str, float]] = {}
    sex: dict[str, Any] = {}
    for ses in truth.get("sessions", []):
        value = _true_change(ses, design, block)
        if value is None or "condition" not in ses or "participant_id" not in ses:
            return None
        by_participant.setdefault(ses["participant_id"], {})[ses["condition"]] = value
        sex[ses["participant_id"]] = ses.get("sex")
    diffs = [
        v[contrast[0]] - v[contrast[1]]
        for pid, v in by_participant.items()
        if set(contrast) <= set(v) and subgroup in ("all", sex[pid])
    ]
    return sum(diffs) / len(diffs) if diffs else None


def session_error_line(responses: Any, truth: dict[str, Any], *, block: int) -> str | None:
    """One line: RMSE and mean error of the per-session Glu % change against the truth."""
    values = session_truth(truth, block=block)
    rows = responses[responses["metabolite"] == "Glu"]
    errors = [
        float(r["percent_change"]) - values[(str(r["participant_id"]), str(r["session_id"]))]
        for _, r in rows.iterrows()
        if (str(r["participant_id"]), str(r["session_id"])) in values
    ]
    if not errors:
        return None
    n = len(errors)
    rmse = (sum(e * e for e in errors) / n) ** 0.5
    return (
        f"per-session Glu % change vs simulated: RMSE {rmse:.2f} pp, mean error "
        f"{sum(errors) / n:+.2f} pp over {n} sessions"
    )


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
    echo(
        f"simulating {params['participants']} participants x 2 sessions x "
        f"{params['transients']} transients ...",
        err=True,
    )
    truth = simulate_demo_study(
        tmp_study,
        participants=params["participants"],
        transients=params["transients"],
        seed=params["seed"],
    )
    simulate_demo_basis(tmp_basis, truth)
    tmp_study.rename(study)
    tmp_basis.rename(basis)
    write_json(marker, {"params": params, "complete": True})
    return truth


def summary_lines(
    stats: Any,
    truth: dict[str, Any],
    metabolite: str,
    contrast: tuple[str, ...],
    *,
    block: int = 1,
) -> list[str]:
    """Paired contrast of ``metabolite`` by sex, with the simulated truth for Glu.

    The truth is on the estimate's definition (same frames of ``block`` transients, same
    windows): see :func:`session_truth`.
    """
    term = f"{contrast[0]}-{contrast[1]}"
    rows = stats[
        (stats["metabolite"] == metabolite)
        & (stats["analysis"] == "paired")
        & (stats["term"] == term)
    ]
    lines = [f"{metabolite} response, {term} (paired difference of % change, 95% CI):"]
    for subgroup in ("M", "F", "all"):
        row = rows[rows["subgroup"] == subgroup]
        if row.empty:
            continue
        r = row.iloc[0]
        true = (
            truth_contrast(truth, contrast, subgroup, block=block) if metabolite == "Glu" else None
        )
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
    from .run import pipeline_steps

    steps = pipeline_steps()
    if simulate_demo_study is _SIMULATE_DEFAULT:  # the real simulation, not a replacement
        check_modules(steps, extra=("mrspipe.simulate",))
    out = Path(args.out)
    design = demo_design(args.transients)
    params = {
        "participants": args.participants,
        "transients": args.transients,
        "seed": args.seed,
        "design": design,
    }
    truth = _prepare(out, params, args.overwrite)
    block = int(design["block"])
    echo(
        f"scan {args.transients * design['tr'] / 60:.0f} min per session; infusion from "
        f"{design['infusion_onset'] / 60:.1f} min to the end; {block} transients per frame"
    )
    config = defaults().with_overrides(
        {"preprocess.block": block, "metabolites.analyse": DEMO_METABOLITES}
    )
    result = run_study(
        out / "study",
        out / "results",
        basis=out / "basis",
        config=config,
        jobs=args.jobs,
        overwrite=args.overwrite,
        steps=steps,
    )
    primary = config.stats.primary
    stats_path = out / "results" / "group" / "stats.tsv"
    if stats_path.is_file():
        for line in summary_lines(
            read_table(stats_path), truth, primary, result.contrast, block=block
        ):
            echo(line)
    responses_path = out / "results" / "group" / "responses.tsv"
    if primary == "Glu" and responses_path.is_file():
        error_line = session_error_line(read_table(responses_path), truth, block=block)
        if error_line:
            echo(error_line)
    echo("(simulated = the true Glu averaged over the same frames and windows as the estimate)")
    n_ok = sum(1 for r in result.sessions if r.ok)
    echo(f"{n_ok} of {len(result.sessions)} sessions done; truth: {out / 'study/truth.json'}")
    if result.report is not None:
        echo(f"report: {result.report}")
    if result.errors:
        echo(f"errors: {out / 'results' / 'errors.tsv'}")
    sys.stdout.flush()
    return result.exit_status
