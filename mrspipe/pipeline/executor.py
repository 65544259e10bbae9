"""Run independent sessions serially, on local processes, or on a Dask cluster.

Results are yielded as sessions finish. At most ``2 * workers`` sessions are in flight, so memory
holds a few sessions, never the whole study; each session writes its outputs to disk itself and
sends back only a small :class:`~mrspipe.pipeline.session.SessionResult`. Local processes are
started once per run (:class:`Workers`) and kept for the group step's figures.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError
from .dask_pool import DaskPool
from .lipid_scope import LipidPlan
from .session import SessionOptions, SessionResult, prepare_session, run_session
from .steps import Steps, default_fit, default_fit_figure, default_load_mrs

__all__ = ["Workers", "SessionTask", "map_sessions", "largest_first"]

logger = logging.getLogger("mrspipe")

# Per-process context set once by the pool initialiser (the basis travels once per worker).
_CONTEXT: dict[str, Any] = {}


def _init_worker(basis: Any, options: SessionOptions, steps: Steps) -> None:
    _CONTEXT.update(basis=basis, options=options, steps=steps)
    end_with_parent()


def end_with_parent(poll: float = 0.25) -> None:
    """Make this worker process end when its parent does (no orphans writing into OUT).

    Ctrl-C is left to the parent, which terminates its workers. If the parent dies without
    doing so (SIGKILL, a cluster's time limit), Linux delivers SIGKILL at once
    (``PR_SET_PDEATHSIG``); elsewhere, and as a fallback, a watchdog thread notices the new
    parent id within ``poll`` seconds and exits.
    """
    import signal
    import threading

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # not the parent's handler (inherited by fork)
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent died before the watch began
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll)
        os._exit(1)  # orphaned: stop now, leave no half-written work behind

    threading.Thread(target=watch, name="mrspipe-parent-watchdog", daemon=True).start()


#: modules every session of a default step imports on first use (the data file's reader, the
#: spline baseline, the fit figure), by the step that needs them
_SESSION_MODULES: dict[Any, tuple[str, ...]] = {
    default_load_mrs: ("nibabel", "mrspipe.io.nifti_mrs"),
    default_fit: ("scipy.interpolate",),
    default_fit_figure: (
        "matplotlib.backends.backend_agg",
        "matplotlib.figure",
        "mrspipe.report.fit_figure",
    ),
}


def import_session_modules(steps: Steps) -> None:
    """Import what a session's default steps import on first use, before workers are forked.

    Forked workers share what this process imported; otherwise each of them imports the
    same modules (~0.5 s) in its first session. Nothing else changes: a module that cannot
    be imported is left for the session that needs it to report.
    """
    import importlib

    for step in vars(steps).values():
        for name in _SESSION_MODULES.get(step, ()):
            try:
                importlib.import_module(name)
            except ImportError:
                pass


def _terminate(pool: Any) -> None:
    """Stop a process pool now: kill its workers and reap them.

    SIGKILL, not SIGTERM: a worker forked before its initialiser ran still has the parent's
    Python SIGTERM handler. Nothing is lost: every output is written atomically and a
    session's ``done.json`` comes last, so the next run redoes the interrupted sessions.
    """
    procs = list((getattr(pool, "_processes", None) or {}).values())
    for proc in procs:
        with contextlib.suppress(Exception):
            proc.kill()
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in procs:
        with contextlib.suppress(Exception):
            proc.join(timeout=5.0)


def release_free_memory() -> None:
    """Return the C heap's free pages to the operating system (glibc; elsewhere nothing).

    numpy's large temporaries come and go through ``malloc``; glibc keeps the pages of freed
    blocks inside its heap (its mmap threshold rises with the block sizes seen), so a process
    that has run one session holds ~100 MiB more than it uses when the next one starts.
    ``malloc_trim`` between sessions gives them back (a few ms).
    """
    global _MALLOC_TRIM
    if _MALLOC_TRIM is None:
        _MALLOC_TRIM = False
        if sys.platform.startswith("linux"):
            try:
                import ctypes

                _MALLOC_TRIM = ctypes.CDLL(None).malloc_trim
            except (OSError, AttributeError):  # not glibc (musl, ...)
                pass
    if _MALLOC_TRIM:
        _MALLOC_TRIM(0)


_MALLOC_TRIM: Any = None


@dataclass(frozen=True)
class SessionTask:
    """One job of a worker: a session's first pass (``prepare``) or its run (with a plan)."""

    session: Any
    prepare: bool = False
    lipid: LipidPlan | None = None


def _run_released(task: SessionTask, basis: Any, options: SessionOptions, steps: Steps) -> Any:
    """Run one task and hand the heap pages it freed back (see :func:`release_free_memory`)."""
    try:
        if task.prepare:
            return prepare_session(task.session, basis, options, steps=steps)
        return run_session(task.session, basis, options, steps=steps, lipid=task.lipid)
    finally:
        release_free_memory()


def _run_in_worker(task: SessionTask) -> SessionResult:
    return _run_released(task, _CONTEXT["basis"], _CONTEXT["options"], _CONTEXT["steps"])


def _run_with(context: tuple[Any, SessionOptions, Steps], task: SessionTask) -> SessionResult:
    basis, options, steps = context
    return _run_released(task, basis, options, steps)


class Workers:
    """The worker processes of one run: every session, then the group step's parallel jobs.

    Local processes (``jobs > 1``, no scheduler) are started once and kept until the run ends,
    so the group step draws its figures on workers that already have matplotlib imported
    (:attr:`executor`). A pool broken by a dying worker is replaced; the sessions in flight are
    retried one at a time in a fresh process, so only the session that kills its worker again
    is reported as failed (step ``worker``).

    Parameters
    ----------
    basis : Basis
    options : SessionOptions
    steps : Steps
        Must be picklable for ``jobs > 1`` or a scheduler.
    jobs : int
        Local worker processes (1 = in this process). With ``scheduler='local'``, the number
        of Dask workers.
    scheduler : str, optional
        ``None``: local; ``'local'``: a Dask LocalCluster of processes; otherwise the address of
        a running Dask scheduler (``tcp://host:8786``).

    Examples
    --------
    >>> with Workers(basis, options, steps=Steps(), jobs=2) as workers:  # doctest: +SKIP
    ...     results = list(workers.sessions(sessions))
    ...     pool = workers.executor  # the same processes, for the group step
    """

    def __init__(
        self,
        basis: Any,
        options: SessionOptions,
        *,
        steps: Steps,
        jobs: int = 1,
        scheduler: str | None = None,
    ) -> None:
        if jobs < 1:
            raise ConfigError(f"--jobs must be at least 1, got {jobs}")
        self.basis, self.options, self.steps = basis, options, steps
        self.jobs, self.scheduler = jobs, scheduler
        self._pool: Any = None
        self._size = 0
        self._dask_pool: DaskPool | None = None

    def __enter__(self) -> Workers:
        return self

    def __exit__(self, kind: Any, exc: Any, tb: Any) -> None:
        if self._dask_pool is not None:
            pool_dask, self._dask_pool = self._dask_pool, None
            pool_dask.close()
        if self._pool is None:
            return
        pool, self._pool = self._pool, None
        if kind is None:
            pool.shutdown(wait=True)
        else:  # Ctrl-C, SIGTERM, an error: no worker outlives the run
            _terminate(pool)

    @property
    def executor(self) -> Any:
        """The local worker processes, for independent jobs after the sessions; or None.

        None when the run has no local pool (``jobs=1``, a single session, or Dask): such jobs
        then run in this process.
        """
        return self._pool

    def sessions(
        self,
        sessions: Sequence[Any],
        *,
        lipid: dict[tuple[str, str | None], LipidPlan] | None = None,
    ) -> Iterator[SessionResult]:
        """Run :func:`~mrspipe.pipeline.session.run_session` on every session.

        ``lipid``: each session's lipid model decided for its participant/study, by
        ``(participant_id, session_id)`` (:mod:`~.lipid_scope`).

        Yields
        ------
        SessionResult
            In completion order; on several workers the largest input files start first (a
            long session started last would leave the other workers idle at the end).
        """
        plans = lipid or {}
        yield from self.run(
            [SessionTask(s, lipid=plans.get((s.participant_id, s.session_id))) for s in sessions]
        )

    def prepare(self, sessions: Sequence[Any]) -> Iterator[SessionResult]:
        """Run :func:`~mrspipe.pipeline.session.prepare_session` on every session."""
        yield from self.run([SessionTask(s, prepare=True) for s in sessions])

    def run(self, tasks: Sequence[SessionTask]) -> Iterator[SessionResult]:
        """Run every task (in completion order; largest input files first on several workers)."""
        if self.scheduler is not None:
            yield from self._dask(tasks)
        elif self.jobs == 1 or len(tasks) <= 1:
            for task in tasks:
                yield _run_released(task, self.basis, self.options, self.steps)
        else:
            yield from self._processes(largest_first(tasks))

    def _dask(self, tasks: Sequence[SessionTask]) -> Iterator[SessionResult]:
        if self._dask_pool is None:  # started once: both passes share it
            assert self.scheduler is not None
            self._dask_pool = DaskPool(
                self.scheduler, self.jobs, (self.basis, self.options, self.steps)
            )
        yield from self._dask_pool.run(tasks, _run_with, _lost)

    def _processes(self, tasks: Sequence[SessionTask]) -> Iterator[SessionResult]:
        from concurrent.futures.process import BrokenProcessPool

        pending = list(reversed(tasks))
        while pending:
            lost = yield from self._round(pending, min(self.jobs, len(pending)))
            if lost:
                logger.warning(
                    "a worker process died; retrying %d session(s) one by one", len(lost)
                )
            for task in lost:
                if (yield from self._round([task], 1)):
                    yield _lost(task, BrokenProcessPool("the worker process died (twice)"))

    def _start(self, workers: int) -> Any:
        """Return the pool of ``workers`` processes (the running one when it has that many)."""
        from concurrent.futures import ProcessPoolExecutor

        if self._pool is not None and self._size != workers:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self._pool is None:
            import_session_modules(self.steps)
            self._pool = ProcessPoolExecutor(
                max_workers=workers,
                initializer=_init_worker,
                initargs=(self.basis, self.options, self.steps),
            )
            self._size = workers
        return self._pool

    def _round(self, pending: list[Any], workers: int) -> Generator[SessionResult, None, list[Any]]:
        """Run ``pending`` (popped from the end) until done or the pool breaks; return the lost."""
        from concurrent.futures import FIRST_COMPLETED, wait
        from concurrent.futures.process import BrokenProcessPool

        pool = self._start(workers)
        lost: list[Any] = []
        running: dict[Any, Any] = {}
        try:
            while (pending and not lost) or running:
                while pending and not lost and len(running) < 2 * workers:
                    session = pending.pop()
                    try:
                        running[pool.submit(_run_in_worker, session)] = session
                    except BrokenProcessPool:
                        lost.append(session)
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    session = running.pop(future)
                    try:
                        yield future.result()
                    except BrokenProcessPool:
                        lost.append(session)
        except BaseException:  # Ctrl-C, SIGTERM, generator closed: no worker outlives us
            self._pool = None
            _terminate(pool)
            raise
        if lost:  # a broken pool takes no more work: the next round starts a fresh one
            self._pool = None
            _terminate(pool)
        return lost


def largest_first(sessions: Sequence[Any]) -> list[Any]:
    """``sessions`` (or tasks) by the size of their data file, largest first (stable).

    Unknown sizes go last.
    """

    def size(item: Any) -> int:
        session = item.session if isinstance(item, SessionTask) else item
        try:
            return os.stat(session.svs_path).st_size
        except (AttributeError, TypeError, OSError):
            return -1

    return sorted(sessions, key=size, reverse=True)


def map_sessions(
    sessions: Sequence[Any],
    basis: Any,
    options: SessionOptions,
    *,
    steps: Steps,
    jobs: int = 1,
    scheduler: str | None = None,
) -> Iterator[SessionResult]:
    """Run :func:`~mrspipe.pipeline.session.run_session` on every session (see :class:`Workers`).

    Yields
    ------
    SessionResult
        In completion order.
    """
    with Workers(basis, options, steps=steps, jobs=jobs, scheduler=scheduler) as workers:
        yield from workers.sessions(sessions)


def _lost(task: Any, exc: BaseException) -> SessionResult:
    """Record a session whose worker died (killed, out of memory) as a failed session."""
    session = task.session if isinstance(task, SessionTask) else task
    return SessionResult(
        session.participant_id,
        session.session_id,
        failed_step="worker",
        error=f"{type(exc).__name__}: {exc or 'the worker process died'}",
    )
