"""Study orchestration: sessions in parallel, resumable, then the group step. No numerics.

* :func:`run_study` — a whole MRS-BIDS study (``mrspipe run``).
* :func:`run_session` — one session (load, preprocess, fit, time course, derivatives).
* :func:`preprocess_files`, :func:`fit_frames` — the one path of each job, also used by
  ``mrspipe preproc`` and ``mrspipe fit``.
* :class:`Steps` — the adapter layer: every call into the numeric modules, replaceable.

>>> from mrspipe.pipeline import run_study
>>> result = run_study("study", "out", basis="basis")       # doctest: +SKIP
>>> result.exit_status, result.report                        # doctest: +SKIP
(0, PosixPath('out/report.html'))
"""

from .jobs import fit_frames, lipid_test_frames, preprocess_files, select_metabolites
from .session import SessionOptions, SessionResult, run_session
from .steps import Steps
from .study import StudyResult, describe_window, resolve_contrast, run_study

__all__ = [
    "Steps",
    "SessionOptions",
    "SessionResult",
    "StudyResult",
    "run_session",
    "preprocess_files",
    "fit_frames",
    "lipid_test_frames",
    "select_metabolites",
    "run_study",
    "resolve_contrast",
    "describe_window",
]
