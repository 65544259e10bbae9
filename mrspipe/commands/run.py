"""``mrspipe run STUDY OUT --basis BASIS``: the whole pipeline over an MRS-BIDS study."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..cli import echo
from ..config import help_text


def positive_int(text: str) -> int:
    """Argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {value}")
    return value


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register the ``run`` subcommand."""
    p = sub.add_parser(
        "run",
        help="run the whole pipeline over an MRS-BIDS study",
        description="Preprocess, fit and analyse every session of an MRS-BIDS crossover study, "
        "then write the group tables (OUT/group/), statistics and OUT/report.html. Resumable: "
        "finished sessions are not recomputed unless their inputs or options change. Exit 0 "
        "all done, 1 some session failed (see OUT/errors.tsv), 2 usage or input error.",
    )
    p.add_argument("study", metavar="STUDY", help="MRS-BIDS study folder (never modified)")
    p.add_argument("out", metavar="OUT", help="output folder (created; resumed if it exists)")
    p.add_argument(
        "--basis",
        required=True,
        metavar="BASIS",
        help="basis set: LCModel .BASIS, folder of .RAW or FSL-MRS JSON, jMRUI text",
    )
    p.add_argument("--config", metavar="TOML", help="study.toml with options (docs/config.md)")
    p.add_argument(
        "--baseline-window",
        nargs=2,
        type=float,
        metavar=("START", "END"),
        help="baseline window, s relative to the first infusion onset in events.tsv "
        "(default: every frame before the onset)",
    )
    p.add_argument(
        "--response-window",
        nargs=2,
        type=float,
        metavar=("START", "END"),
        help="response window, s relative to the onset (default: every frame after)",
    )
    frames = p.add_mutually_exclusive_group()
    frames.add_argument(
        "--block",
        type=positive_int,
        metavar="N",
        help=help_text("preprocess", "block", "average N transients per frame"),
    )
    frames.add_argument(
        "--window",
        type=positive_int,
        metavar="N",
        help=help_text(
            "preprocess", "window", "sliding window of N transients per frame instead of blocks"
        ),
    )
    p.add_argument(
        "--conditions",
        nargs=2,
        metavar=("ACTIVE", "CONTROL"),
        help="the paired contrast ACTIVE - CONTROL (default: the condition called "
        "placebo is the control)",
    )
    p.add_argument(
        "--dynamic",
        action="store_true",
        default=None,
        help="fit the frames of a session jointly (spectro-temporal fit)",
    )
    p.add_argument(
        "--participant-label",
        nargs="+",
        metavar="LABEL",
        help="only these participants (01 or sub-01), as in fMRIPrep/MRIQC",
    )
    p.add_argument(
        "--task-id",
        metavar="LABEL",
        help="only the data of this task (task-LABEL); needed when the study has several",
    )
    p.add_argument(
        "--jobs",
        type=positive_int,
        default=1,
        metavar="N",
        help="sessions processed in parallel on local processes (default 1)",
    )
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run sessions on Dask: 'local' (a local cluster of --jobs processes) or "
        "a scheduler address such as tcp://host:8786 (needs mrspipe[distributed])",
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="recompute every session; also allows writing into a non-empty folder "
        "that is not mrspipe output",
    )
    p.set_defaults(func=run)


def overrides(args: argparse.Namespace) -> dict[str, Any]:
    """Map the command-line options to configuration overrides (``section.key -> value``)."""
    return {
        "windows.baseline": args.baseline_window,
        "windows.response": args.response_window,
        "preprocess.block": args.block,
        # --block replaces a sliding window set in study.toml
        "preprocess.window": 0 if args.block is not None else args.window,
        "conditions.contrast": args.conditions,
        "fit.dynamic": args.dynamic,
    }


def _steps() -> Any:
    """Return the pipeline steps: the real modules (replaced in tests)."""
    from ..pipeline import Steps

    return Steps()


def summarise(result: Any) -> list[str]:
    """Say in a few lines what happened and where the results are."""
    ok = [r for r in result.sessions if r.ok]
    resumed = sum(1 for r in ok if not r.computed)
    lines = [
        f"{len(ok)} of {len(result.sessions)} sessions done"
        + (f" ({resumed} resumed)" if resumed else "")
    ]
    failed = [f"{r.participant_id}/{r.session_id}" for r in result.sessions if not r.ok]
    if failed:
        lines.append(f"failed: {', '.join(failed)} (see {result.out / 'errors.tsv'})")
    elif result.errors:
        lines.append(f"group step failed (see {result.out / 'errors.tsv'})")
    lines.append(f"group tables: {result.out / 'group'}")
    if result.report is not None:
        lines.append(f"report: {result.report}")
    return lines


def run(args: argparse.Namespace) -> int:
    """Run the study; 0 all done, 1 some session failed."""
    from ..config import load_config
    from ..pipeline import run_study

    config = load_config(args.config).with_overrides(overrides(args))
    result = run_study(
        args.study,
        args.out,
        basis=args.basis,
        config=config,
        jobs=args.jobs,
        scheduler=args.scheduler,
        overwrite=args.overwrite,
        steps=_steps(),
        participant_labels=args.participant_label,
        task=args.task_id,
    )
    for line in summarise(result):
        echo(line)
    sys.stdout.flush()
    return result.exit_status
