"""Study orchestration: sessions in parallel, resumable, then the group step. No numerics.

* :func:`run_study` — a whole MRS-BIDS study (``mrspipe run``).
* :func:`run_session` — one session (load, preprocess, fit, time course, derivatives).
* :class:`Steps` — the adapter layer: every call into the numeric modules, replaceable.

>>> from mrspipe.pipeline import run_study
>>> result = run_study("study", "out", basis="basis")       # doctest: +SKIP
>>> result.exit_status, result.report                        # doctest: +SKIP
(0, PosixPath('out/report.html'))
"""

from .session import SessionOptions, SessionResult, run_session
from .steps import Steps
from .study import StudyResult, describe_window, resolve_contrast, run_study

__all__ = [
    "Steps",
    "SessionOptions",
    "SessionResult",
    "StudyResult",
    "run_session",
    "run_study",
    "resolve_contrast",
    "describe_window",
]
