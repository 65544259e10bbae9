"""The group step's inputs, made ready while the sessions run.

* :class:`SessionTables`: each finished session's time-course and response tables, read when
  that session's result arrives (the main process is otherwise idle while workers run);
* :func:`prepare_group`: the group step's imports, done once a worker core is free.

Neither changes an output: the group step (:mod:`mrspipe.pipeline.group`) reads what is
missing itself and imports what it needs on first use.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import MRSError
from ..io import derivatives as deriv
from .session import SessionResult
from .steps import Steps, default_glm, default_report, default_stats

__all__ = ["SessionTables", "prepare_group"]


class SessionTables:
    """The time-course and response tables of finished sessions, read as each session ends.

    The study runner hands every :class:`SessionResult` to :meth:`add` while the other
    sessions still run, so the group step starts with the tables in memory; a table that
    could not be read then is read (and its error reported) by the group step.
    """

    NAMES = ("timecourses", "responses")

    def __init__(self, out: Path) -> None:
        self.out = out
        self._read: dict[tuple[Any, str], Any] = {}

    def add(self, result: SessionResult) -> None:
        """Read the tables of ``result``'s session if it finished."""
        if not result.ok:
            return
        paths = deriv.session_paths(self.out, result.participant_id, result.session_id)
        for name in self.NAMES:
            try:
                self._read[(result.participant_id, result.session_id), name] = (
                    deriv.read_session_table(paths, name)
                )
            except (OSError, MRSError):  # the group step reads it again and reports it
                pass

    def get(self, session: Any, name: str) -> Any:
        """Table ``name`` of ``session`` (read now unless :meth:`add` read it)."""
        key = (session.participant_id, session.session_id)
        found = self._read.pop((key, name), None)
        if found is not None:
            return found
        return deriv.read_session_table(deriv.session_paths(self.out, *key), name)


def prepare_group(steps: Steps) -> None:
    """Import what the group step's default steps need, ahead of it; compute nothing.

    The statistics and the GLM need scipy.stats (~0.4 s of imports), the report its modules
    and its compiled template. The study runner calls this while the last sessions run and a
    core is free (no session waits to start), so the group step does not pay for it after
    the last session. Nothing is computed or written: the outputs do not depend on it. A
    module that cannot be imported is left for the group step to report.
    """
    import importlib

    modules = []
    if steps.stats is default_stats:
        modules += ["mrspipe.stats.group", "mrspipe.stats.task"]
    if steps.glm is default_glm:
        modules += ["mrspipe.dynamic.glm", "scipy.stats"]  # the GLM imports scipy.stats late
    if steps.report is default_report:
        modules += ["mrspipe.report.html"]
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:  # reported by the step that needs it
            return
    if steps.report is default_report:
        from ..report.render import environment

        environment().get_template("report.html.j2")
