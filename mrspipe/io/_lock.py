"""The output-folder lock: one run writes OUT at a time.

``OUT/.mrspipe.lock`` names the run holding it (PID, host, start time, command) and is held with
an exclusive ``flock`` for the run's lifetime, so the operating system releases it when the
process dies, whatever killed it. A second run finds the lock held and stops, saying who holds
it. A lock file left by a dead process is detected and taken over:

* on this host, the PID it names is no longer running (or the ``flock`` is free and the PID is
  gone);
* on another host (a shared file system), the ``flock`` is free: the holder's host released it.

A lock file naming a live process on this host counts as held even when its ``flock`` is free
(a lock written by hand, or by a file system without ``flock``); remove the file if you know no
run is writing OUT.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import socket
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..errors import OutputError, OutputLockedError

__all__ = ["LOCK_NAME", "lock_output", "check_unlocked", "read_lock"]

logger = logging.getLogger("mrspipe")

LOCK_NAME = ".mrspipe.lock"


def read_lock(out: str | os.PathLike[str]) -> dict[str, Any] | None:
    """Return the holder in ``OUT/.mrspipe.lock`` (``pid, host, started, command``) or None."""
    path = Path(out) / LOCK_NAME
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _holder_alive(info: dict[str, Any] | None) -> bool:
    """Tell whether the process a lock file names still runs (unknowable on another host)."""
    if not info:
        return False
    try:
        pid = int(info.get("pid", -1))
    except (TypeError, ValueError):
        return False
    if pid == os.getpid():
        return False
    return info.get("host") == socket.gethostname() and _alive(pid)


def _describe(info: dict[str, Any] | None) -> str:
    if not info:
        return "another mrspipe run (holder unknown)"
    return (
        f"another mrspipe run: PID {info.get('pid')} on host {info.get('host')}, "
        f"started {info.get('started')}"
    )


def _locked(out: Path, info: dict[str, Any] | None) -> OutputLockedError:
    return OutputLockedError(
        f"output folder is locked by {_describe(info)}; wait for it to finish, or delete "
        f"{out / LOCK_NAME} if no run is writing there",
        out,
    )


def _try_flock(fd: int) -> bool | None:
    """Take an exclusive non-blocking flock: True taken, False held elsewhere, None unsupported."""
    try:
        import fcntl
    except ImportError:  # not POSIX: rely on the PID check
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError as exc:
        if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
            return None
        raise
    return True


def check_unlocked(out: str | os.PathLike[str]) -> None:
    """Raise :class:`OutputLockedError` if a live run holds ``out`` (nothing is written).

    Used before the input checks of a run, so a second run says who holds OUT rather than
    complaining about the half-written folder.
    """
    out = Path(out)
    path = out / LOCK_NAME
    if not path.is_file():
        return
    info = read_lock(out)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        taken = _try_flock(fd)
    finally:
        os.close(fd)  # closing releases a flock taken here
    if taken is False or _holder_alive(info):
        raise _locked(out, info)


@contextlib.contextmanager
def lock_output(out: str | os.PathLike[str]) -> Iterator[Path]:
    """Hold the lock of ``out`` (created if needed) while the block runs.

    Raises
    ------
    OutputLockedError
        Another live run holds it (its PID and host are named).
    OutputError
        ``out`` cannot be created or written (read-only file system, no permission).
    """
    out = Path(out)
    path = out / LOCK_NAME
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise OutputError(
            f"cannot write the output folder ({exc.strerror or exc})", exc.filename or out
        ) from None
    try:
        info = read_lock(out)
        taken = _try_flock(fd)
        if taken is False or _holder_alive(info):
            raise _locked(out, info)
        if info and info.get("pid") not in (None, os.getpid()):
            logger.warning(
                "taking over a stale lock: PID %s on host %s (started %s) is gone",
                info.get("pid"),
                info.get("host"),
                info.get("started"),
            )
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "command": " ".join(sys.argv),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        raise
    try:
        yield path
    finally:
        with contextlib.suppress(OSError):
            if (read_lock(out) or {}).get("pid") == os.getpid():
                path.unlink()
        os.close(fd)
