"""``python tests/attack_runner.py run ...``: the CLI with test_pipeline's step doubles, slowed.

Used by the attack suite to have a real ``mrspipe run`` process (with worker processes under
``--jobs 2``) that lives long enough to be signalled or raced. ``ATTACK_SLEEP`` (s) is how long
each session's preprocessing sleeps.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from test_pipeline import DOUBLES, fake_preprocess  # noqa: E402

import mrspipe.commands.run as run_cmd  # noqa: E402
from mrspipe.cli import main  # noqa: E402


def slow_preprocess(data: Any, **kwargs: Any) -> Any:
    """The preprocessing double after a sleep (the worker is busy, as in a real fit)."""
    time.sleep(float(os.environ.get("ATTACK_SLEEP", "30")))
    return fake_preprocess(data, **kwargs)


STEPS = dataclasses.replace(DOUBLES, preprocess=slow_preprocess)

if __name__ == "__main__":
    run_cmd.pipeline_steps = lambda: STEPS  # type: ignore[assignment]
    sys.exit(main(sys.argv[1:]))
