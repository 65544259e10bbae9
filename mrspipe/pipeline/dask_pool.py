"""Sessions on a Dask cluster: a local one (``--scheduler local``) or a running scheduler."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from ..errors import ConfigError, MissingExtraError

__all__ = ["DaskPool"]

logger = logging.getLogger("mrspipe")


class DaskPool:
    """A Dask client (and its local cluster) kept for the whole run: every pass uses it.

    Parameters
    ----------
    scheduler : str
        ``'local'``: a Dask LocalCluster of ``jobs`` processes; otherwise the address of a
        running Dask scheduler (``tcp://host:8786``).
    jobs : int
        Workers of a local cluster.
    context : tuple
        Sent once to every worker (``basis, options, steps``); each task gets it back.

    Raises
    ------
    MissingExtraError
        Dask is not installed.
    ConfigError
        The scheduler cannot be reached.
    """

    def __init__(self, scheduler: str, jobs: int, context: tuple[Any, ...]) -> None:
        try:
            from distributed import Client, LocalCluster
        except ImportError:
            raise MissingExtraError(
                "--scheduler needs Dask: pip install 'mrspipe[distributed]'"
            ) from None
        self.cluster: Any = None
        address: Any = scheduler
        if scheduler == "local":
            self.cluster = LocalCluster(
                n_workers=jobs, threads_per_worker=1, processes=True, dashboard_address=":0"
            )
            address = self.cluster
        try:
            try:
                self.client = Client(address, timeout="10s")
            except OSError as exc:
                raise ConfigError(
                    f"cannot reach the Dask scheduler at {scheduler} ({exc})"
                ) from None
            logger.info("running on Dask (scheduler %s)", self.client.scheduler.address)
            self.context = self.client.scatter(context, broadcast=True)
        except BaseException:
            self.close()
            raise

    def run(
        self,
        tasks: Sequence[Any],
        function: Callable[[Any, Any], Any],
        lost: Callable[[Any, BaseException], Any],
    ) -> Iterator[Any]:
        """Yield ``function(context, task)`` of every task as it finishes.

        At most twice as many tasks as workers are in flight; a task whose worker dies
        (KilledWorker, a lost connection) yields ``lost(task, error)``.
        """
        from distributed import as_completed

        pending = list(reversed(tasks))
        n_workers = max(1, len(self.client.scheduler_info().get("workers", {})))
        queue = as_completed()
        submitted = {}

        def submit() -> None:
            task = pending.pop()
            future = self.client.submit(function, self.context, task, pure=False)
            submitted[future.key] = task
            queue.add(future)

        while pending and queue.count() < 2 * n_workers:
            submit()
        for future in queue:
            task = submitted.pop(future.key)
            try:
                result = future.result()
            except Exception as exc:  # KilledWorker, lost connection: this session only
                result = lost(task, exc)
            if pending:
                submit()
            yield result

    def close(self) -> None:
        """Close the client and the local cluster."""
        client, cluster = getattr(self, "client", None), self.cluster
        self.cluster = None
        try:
            if client is not None:
                client.close()
        finally:
            if cluster is not None:
                cluster.close()
