"""``.ci/run``: self-contained, runs the static checks, then the README's test command."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_static_checks_then_the_readme_test_command() -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    command = re.search(r"^python3 -m venv \.venv && (.*pytest)$", readme, flags=re.M)
    assert command, "README has no test command"
    assert command.group(1) in script.replace("--quiet ", "")
    lines = [ln.strip() for ln in script.splitlines() if ln.strip() and not ln.startswith("#")]
    order = [
        next(i for i, ln in enumerate(lines) if needle in ln)
        for needle in (
            "python3 -m venv .venv",
            "[all,test,dev]",
            "ruff format --check mrspipe",
            "ruff check mrspipe",
            "mypy mrspipe",
            "python -m pytest",
        )
    ]
    assert order == sorted(order)
    assert "set -euo pipefail" in script  # a failing check fails CI


def test_dev_extra_has_the_checkers() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    dev = " ".join(project["optional-dependencies"]["dev"])
    assert "ruff" in dev and "mypy" in dev
