"""The README stays true: its commands parse and its two set-up commands match CI."""

import re
import shlex
from pathlib import Path

from mrspipe.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _bash_lines():
    for block in re.findall(r"```bash\n(.*?)```", README, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("  #")[0].strip()
            if line:
                yield line


def test_every_mrspipe_command_in_the_readme_parses():
    parser = build_parser()
    seen = set()
    for line in _bash_lines():
        if line.startswith("mrspipe ") and "--help" not in line:
            args = parser.parse_args(shlex.split(line)[1:])
            seen.add(args.command)
    assert {"run", "preproc", "fit", "simulate", "info"} <= seen


def test_two_setup_commands_demo_and_tests():
    setup = [line for line in _bash_lines() if line.startswith("python3 -m venv")]
    assert len(setup) == 2
    assert setup[0].endswith("mrspipe demo")
    assert setup[1].endswith("python -m pytest")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    # CI installs the same extras and runs the same test command
    assert '.venv/bin/pip install --quiet -e ".[all,test]" && .venv/bin/python -m pytest' in ci
