"""Shared pieces of the attack suite (tests/test_attacks_*.py).

Each attack builds a hostile study, output folder or file, runs mrspipe on it and checks four
things: the exit status, the one-line message, that nothing appeared or changed outside OUT
(every file under OUT's parent is listed with its hash before and after) and that the inputs
are unchanged.
"""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def snapshot(folder: Path, *, exclude: Path | None = None) -> dict[str, str]:
    """Every path under ``folder`` (not following symlinks) -> content hash / link target.

    ``exclude`` (OUT) and everything under it is left out: the attack suite compares the
    snapshot of OUT's parent before and after a run, so anything written outside OUT shows.
    """
    out: dict[str, str] = {}
    skip = None if exclude is None else os.path.abspath(exclude)
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        if skip is not None and os.path.abspath(dirpath) == skip:
            dirnames[:] = []
            continue
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            if skip is not None and os.path.abspath(p) == skip:
                continue
            rel = str(p.relative_to(folder))
            if p.is_symlink():
                out[rel] = "link:" + os.readlink(p)
            elif p.is_file():
                out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
            else:
                out[rel] = "dir"
    return out


def one_line_error(err: str, *needles: str) -> str:
    """Assert ``err`` holds exactly one ``error:`` line, no traceback, with every needle."""
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def subprocess_env() -> dict[str, str]:
    """Environment for running ``python -m mrspipe`` from this checkout."""
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.setdefault("MPLBACKEND", "Agg")
    env["OPENBLAS_NUM_THREADS"] = "1"
    return env


PYTHON = sys.executable

posix_only = pytest.mark.skipif(os.name != "posix", reason="needs POSIX signals and symlinks")
