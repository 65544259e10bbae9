"""``mrspipe run STUDY OUT --basis BASIS``: the whole pipeline over an MRS-BIDS study."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .._cores import usable_cores
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


#: a BIDS label, with or without its ``sub-`` prefix: a value that is not one is a path
_LABEL = re.compile(r"(sub-)?[A-Za-z0-9]+")
#: a negative number is an option's value (``--baseline-window -600 0``), not an option
_NUMBER = re.compile(r"-\d|-\.\d")
#: how to write labels and paths when STUDY/OUT went missing; every form here parses
_LABELS_HINT = (
    "give STUDY OUT before --participant-label (mrspipe run STUDY OUT --participant-label 01 02), "
    "or end the labels with -- and put STUDY OUT last "
    "(mrspipe run --participant-label 01 02 -- STUDY OUT)"
)


def labels_hint(values: Sequence[str]) -> str:
    """Say what ``--participant-label`` took and how to write the labels with STUDY OUT."""
    took = ", ".join(repr(v) for v in values)
    seen = f" (here {took})" if values else ""
    return f"--participant-label takes every value that follows it{seen}: {_LABELS_HINT}"


class _RunParser(argparse.ArgumentParser):
    """The ``run`` parser: STUDY and OUT may also follow ``--participant-label 01 02``.

    argparse gives every value after ``--participant-label`` to it, the two paths included.
    When STUDY or OUT is then missing, the missing ones are taken back from the end of the
    labels, but only values that cannot be a participant label: not a BIDS label (a path with
    ``/`` or ``.``), or an existing file or folder. Anything else is an error saying how to
    write it.
    """

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        tokens = list(sys.argv[1:] if args is None else args)
        self._labels_given = any(t.startswith("--participant") for t in tokens)
        self._label_values: list[str] = []
        return super().parse_known_args(self._paths_after_labels(tokens), namespace)

    def error(self, message: str) -> Any:
        """Exit 2 with argparse's message; say how to write labels when STUDY/OUT are missing."""
        missing_paths = "required: STUDY" in message or "required: OUT" in message
        if missing_paths and getattr(self, "_labels_given", False):
            message = f"{message}; {labels_hint(getattr(self, '_label_values', []))}"
        super().error(message)

    def _is_option(self, token: str) -> bool:
        return token.startswith("-") and not _NUMBER.match(token)

    def _action(self, token: str) -> argparse.Action | None:
        """Return the action of an option token (exact, or an unambiguous prefix as argparse)."""
        name = token.split("=", 1)[0]
        actions = self._option_string_actions
        if name in actions:
            return actions[name]
        found = {actions[o] for o in actions if o.startswith("--") and o.startswith(name)}
        return found.pop() if len(found) == 1 and name.startswith("--") else None

    def _paths_after_labels(self, tokens: list[str]) -> list[str]:
        """Move STUDY/OUT swallowed by the last ``--participant-label`` back to positionals."""
        if "--" in tokens or "-h" in tokens or "--help" in tokens:
            return tokens
        positional: list[int] = []
        labels, i = None, 0
        while i < len(tokens):
            token = tokens[i]
            action = self._action(token) if self._is_option(token) else None
            if not self._is_option(token):
                positional.append(i)
            elif action is not None and "=" not in token:
                if action.nargs == "+":
                    j = i + 1
                    while j < len(tokens) and not self._is_option(tokens[j]):
                        j += 1
                    if action.dest == "participant_label":
                        labels = (i, j)
                        self._label_values += tokens[i + 1 : j]
                    i = j
                    continue
                i += action.nargs if isinstance(action.nargs, int) else 1
            i += 1
        missing = 2 - len(positional)
        if labels is None or missing <= 0 or labels[1] - labels[0] <= missing + 1:
            return tokens
        start, end = labels
        taken = tokens[end - missing : end]
        if not all(not _LABEL.fullmatch(t) or Path(t).exists() for t in taken):
            return tokens  # could be labels: the error says how to write it
        # the paths go after the positionals before the labels (or first): no option takes them
        at = max((k + 1 for k in positional if k < start), default=0)
        rest = tokens[: end - missing] + tokens[end:]
        return rest[:at] + taken + rest[at:]


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
    # STUDY OUT may also follow --participant-label's values (argparse has no per-subparser class)
    p.__class__ = _RunParser
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
        action="extend",
        metavar="LABEL",
        help="only these participants (01 or sub-01), as in fMRIPrep/MRIQC; may be repeated. "
        "Best after STUDY OUT; before them, end the labels with -- (--participant-label 01 02 "
        "-- STUDY OUT) unless the paths cannot be labels (contain / or ., or exist)",
    )
    p.add_argument(
        "--task-id",
        metavar="LABEL",
        help="only the data of this task (task-LABEL); needed when the study has several",
    )
    p.add_argument(
        "--jobs",
        type=positive_int,
        default=None,
        metavar="N",
        help="sessions processed in parallel on local processes (default: the usable CPU "
        f"cores, {usable_cores()} here; --jobs 1 runs them one after another in this process)",
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


def pipeline_steps() -> Any:
    """Return the pipeline steps of `run` and `demo`: the real modules (tests replace this)."""
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
        jobs=args.jobs or usable_cores(),
        scheduler=args.scheduler,
        overwrite=args.overwrite,
        steps=pipeline_steps(),
        participant_labels=args.participant_label,
        task=args.task_id,
    )
    for line in summarise(result):
        echo(line)
    sys.stdout.flush()
    return result.exit_status
