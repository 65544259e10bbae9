"""The ``mrspipe`` command line.

Subcommands live in :mod:`mrspipe.commands`, one module each, and are registered in
:data:`COMMANDS` (the one place). Each module defines ``add_parser(subparsers)`` which adds its
parser and sets ``func`` to a callable ``(args) -> int``; heavy imports happen inside ``func``.

Exit status: 0 all done; 1 finished but some session failed (or out of memory); 2 usage or input
error before any work, including an output folder locked by another run or one that cannot be
written (read-only, no permission, disk full), and a file that is not UTF-8 text; 130 Ctrl-C;
143 SIGTERM (workers are stopped first). Expected errors (:class:`mrspipe.errors.MRSError`) and
operating-system errors are printed as one line, no traceback.
"""

from __future__ import annotations

import argparse
import atexit
import gc
import importlib
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from ._version import __version__
from .errors import MRSError

# The CLI parallelises over sessions with processes; BLAS threads inside each process would
# oversubscribe the cores and make the many small matrix products ~10x slower. Set before numpy
# is first imported; an explicit setting in the environment wins.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

#: subcommand modules, in the order ``--help`` lists them
COMMANDS: tuple[str, ...] = (
    "mrspipe.commands.demo",
    "mrspipe.commands.run",
    "mrspipe.commands.preproc",
    "mrspipe.commands.fit",
    "mrspipe.commands.simulate",
    "mrspipe.commands.info",
    "mrspipe.commands.convert",
    "mrspipe.commands.bids_init",
)


def echo(text: str = "", *, err: bool = False) -> None:
    """Write one line of a command's output: stdout, or stderr with ``err=True``.

    The command modules report through this one function (library code logs instead).
    """
    stream = sys.stderr if err else sys.stdout
    stream.write(f"{text}\n")


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with every registered subcommand."""
    parser = argparse.ArgumentParser(
        prog="mrspipe",
        description="Time-resolved MR spectroscopy of glutamate: preprocess, fit, compare.",
    )
    parser.add_argument("--version", action="version", version=f"mrspipe {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more log output (-vv for debug)"
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in COMMANDS:
        importlib.import_module(module_name).add_parser(sub)
    return parser


def _configure_logging(verbose: int, quiet: bool) -> None:
    level = logging.WARNING if quiet else (logging.INFO if verbose < 2 else logging.DEBUG)
    if not quiet and verbose == 0:
        level = logging.INFO
    logger = logging.getLogger("mrspipe")
    logger.setLevel(level)
    for h in logger.handlers:  # main() may run again with another sys.stderr (tests)
        if getattr(h, "_mrspipe_cli", False):
            h.stream = sys.stderr  # type: ignore[attr-defined]
    if not any(getattr(h, "_mrspipe_cli", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("mrspipe: %(message)s"))
        handler._mrspipe_cli = True  # type: ignore[attr-defined]
        logger.addHandler(handler)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the exit status.

    Parameters
    ----------
    argv : sequence of str, optional
        Arguments without the program name (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 success, 1 partial failure, 2 usage or input error.
    """
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code or 0)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    _configure_logging(args.verbose, args.quiet)
    _skip_exit_collection()
    previous = _handle_sigterm()
    try:
        return int(args.func(args))
    except MRSError as exc:
        return _fail(args.command, str(exc))
    except FileExistsError as exc:
        return _fail(args.command, str(exc))
    except BrokenPipeError:  # e.g. `mrspipe demo | head`: the reader went away, not an error
        sys.stderr.close()
        return 0
    except Terminated:
        print("mrspipe: terminated (SIGTERM); workers stopped", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print("mrspipe: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:  # disk full, read-only, no permission: the OS's words, one line
        where = f"{exc.filename}: " if exc.filename else ""
        return _fail(args.command, f"{where}{exc.strerror or exc}")
    except UnicodeDecodeError as exc:
        return _fail(args.command, f"a file is not UTF-8 text ({exc.reason} at byte {exc.start})")
    except MemoryError:
        return _fail(args.command, "out of memory", status=1)
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _skip_exit_collection() -> None:
    """At interpreter exit, skip the garbage collector's passes over every object.

    Python's shutdown walks every object of numpy, scipy, pandas and matplotlib again, only to
    free memory the operating system takes back anyway (~0.3-0.6 s after a study run).
    ``gc.freeze`` as the first exit step puts them out of the collector's reach; ``atexit``
    hooks registered earlier (logging's flush, temporary folders) still run, and every output
    is written and closed before ``main`` returns. Registered once per process.
    """
    global _EXIT_HOOK
    if not _EXIT_HOOK:
        atexit.register(gc.freeze)  # atexit runs last-registered first: before the others
        _EXIT_HOOK = True


_EXIT_HOOK = False


class Terminated(KeyboardInterrupt):
    """SIGTERM (a cluster's time limit, ``kill``): stop like Ctrl-C, workers included."""


def _raise_terminated(signum: int, frame: Any) -> None:
    raise Terminated()


def _handle_sigterm() -> Any:
    """Turn SIGTERM into :class:`Terminated` (main thread only); return the old handler."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _raise_terminated)


def _fail(command: str, message: str, *, status: int = 2) -> int:
    """Print one error line and return ``status``."""
    print(f"mrspipe {command}: error: {message}", file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())
