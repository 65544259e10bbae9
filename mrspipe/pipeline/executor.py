"""Run independent sessions serially, on local processes, or on a Dask cluster.

Results are yielded as sessions finish. At most ``2 * workers`` sessions are in flight, so memory
holds a few sessions, never the whole study; each session writes its outputs to disk itself and
sends back only a small :class:`~mrspipe.pipeline.session.SessionResult`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from collections.abc import Generator, Iterator, Sequence
from typing import Any

from ..errors import ConfigError, MissingExtraError
from .session import SessionOptions, SessionResult, run_session
from .steps import Steps

__all__ = ["map_sessions"]

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


def _run_released(session: Any, basis: Any, options: SessionOptions, steps: Steps) -> SessionResult:
    """Run one session and hand the heap pages it freed back (see :func:`release_free_memory`)."""
    try:
        return run_session(session, basis, options, steps=steps)
    finally:
        release_free_memory()


def _run_in_worker(session: Any) -> SessionResult:
    return _run_released(session, _CONTEXT["basis"], _CONTEXT["options"], _CONTEXT["steps"])


def _run_with(context: tuple[Any, SessionOptions, Steps], session: Any) -> SessionResult:
    basis, options, steps = context
    return _run_released(session, basis, options, steps)


def map_sessions(
    sessions: Sequence[Any],
    basis: Any,
    options: SessionOptions,
    *,
    steps: Steps,
    jobs: int = 1,
    scheduler: str | None = None,
) -> Iterator[SessionResult]:
    """Run :func:`~mrspipe.pipeline.session.run_session` on every session.

    Parameters
    ----------
    sessions : sequence of Session
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

    Yields
    ------
    SessionResult
        In completion order.
    """
    if jobs < 1:
        raise ConfigError(f"--jobs must be at least 1, got {jobs}")
    if scheduler is not None:
        yield from _dask(sessions, basis, options, steps, jobs, scheduler)
    elif jobs == 1 or len(sessions) <= 1:
        for session in sessions:
            yield _run_released(session, basis, options, steps)
    else:
        yield from _processes(sessions, basis, options, steps, jobs)


def _lost(session: Any, exc: BaseException) -> SessionResult:
    """Record a session whose worker died (killed, out of memory) as a failed session."""
    return SessionResult(
        session.participant_id,
        session.session_id,
        failed_step="worker",
        error=f"{type(exc).__name__}: {exc or 'the worker process died'}",
    )


def _processes(
    sessions: Sequence[Any], basis: Any, options: SessionOptions, steps: Steps, jobs: int
) -> Iterator[SessionResult]:
    """Run on a process pool; a pool broken by a dying worker is replaced.

    The sessions in flight when a worker dies are retried one at a time in a fresh process, so
    only the session that kills its worker again is reported as failed (step ``worker``).
    """
    from concurrent.futures.process import BrokenProcessPool

    pending = list(reversed(sessions))
    while pending:
        lost = yield from _pool_round(pending, basis, options, steps, min(jobs, len(pending)))
        if lost:
            logger.warning("a worker process died; retrying %d session(s) one by one", len(lost))
        for session in lost:
            if (yield from _pool_round([session], basis, options, steps, 1)):
                yield _lost(session, BrokenProcessPool("the worker process died (twice)"))


def _pool_round(
    pending: list[Any], basis: Any, options: SessionOptions, steps: Steps, workers: int
) -> Generator[SessionResult, None, list[Any]]:
    """Run ``pending`` (popped from the end) until done or the pool breaks; return the lost."""
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    lost: list[Any] = []
    with ProcessPoolExecutor(
        max_workers=workers, initializer=_init_worker, initargs=(basis, options, steps)
    ) as pool:
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
            _terminate(pool)
            raise
    return lost


def _dask(
    sessions: Sequence[Any],
    basis: Any,
    options: SessionOptions,
    steps: Steps,
    jobs: int,
    scheduler: str,
) -> Iterator[SessionResult]:
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise MissingExtraError(
            "--scheduler needs Dask: pip install 'mrspipe[distributed]'"
        ) from None

    cluster = None
    if scheduler == "local":
        cluster = LocalCluster(
            n_workers=jobs, threads_per_worker=1, processes=True, dashboard_address=":0"
        )
        address: Any = cluster
    else:
        address = scheduler
    try:
        try:
            client = Client(address, timeout="10s")
        except OSError as exc:
            raise ConfigError(f"cannot reach the Dask scheduler at {scheduler} ({exc})") from None
        with client:
            logger.info("running on Dask (scheduler %s)", client.scheduler.address)
            context = client.scatter((basis, options, steps), broadcast=True)
            pending = list(reversed(sessions))
            n_workers = max(1, len(client.scheduler_info().get("workers", {})))
            queue = as_completed()
            submitted = {}

            def submit() -> None:
                session = pending.pop()
                future = client.submit(_run_with, context, session, pure=False)
                submitted[future.key] = session
                queue.add(future)

            while pending and queue.count() < 2 * n_workers:
                submit()
            for future in queue:
                session = submitted.pop(future.key)
                try:
                    result = future.result()
                except Exception as exc:  # KilledWorker, lost connection: this session only
                    result = _lost(session, exc)
                if pending:
                    submit()
                yield result
    finally:
        if cluster is not None:
            cluster.close()
