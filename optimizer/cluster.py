"""Dask for the work of a run that splits into independent pieces (SPEC §15): `run --workers N`
starts a local `dask.distributed` cluster of N worker processes, `--scheduler ADDRESS` joins an
existing one (its workers need patrolopt installed, at the same version). The models cut their
work the same way wherever it runs (`models.spread`), so the plan is the one a single process
writes; what couples the bureau (scoring's peer groups, the allocation LP, the store) stays in
the process that runs the command.

Each local worker runs one task at a time with `threads // N` native threads (at least one),
so the cluster never holds more busy threads than the run was given.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from models.spread import IN_PROCESS, Spread

T = TypeVar("T")
AHEAD_PER_WORKER = 2  # pieces handed out per worker before the first result is back
CONNECT_TIMEOUT_S = 20


class ClusterUnavailable(Exception):
    """Dask is not installed, or the scheduler named cannot be reached."""


class DaskSpread:
    """Pieces run as Dask tasks on `client`'s workers; the shared arguments are sent to every
    worker once; results come back in the items' order, with at most AHEAD_PER_WORKER pieces
    per worker out at a time (lazily made items are made as workers free up)."""

    def __init__(self, client: Any, workers: int):
        self.client = client
        self.workers = workers

    def __call__(self, fn: Callable[..., T], items: Iterable[Any], **shared: Any) -> list[T]:
        sent = {
            name: self.client.scatter(value, broadcast=True, hash=False)
            for name, value in shared.items()
        }
        results: list[T] = []
        running: deque = deque()
        for item in items:
            if len(running) >= AHEAD_PER_WORKER * self.workers:
                results.append(running.popleft().result())
            piece = self.client.scatter(item, hash=False)  # data, not a task graph
            running.append(self.client.submit(fn, piece, **sent, pure=False))
        results += [future.result() for future in running]
        for future in sent.values():
            future.release()
        return results


@contextmanager
def spread_for(
    workers: int | None = None, scheduler: str | None = None, threads: int = 1
) -> Iterator[Spread]:
    """The spread a run uses: in this process without `workers` or `scheduler`, else a Dask
    cluster (local, of `workers` processes sharing `threads` native threads, or the one at
    `scheduler`), closed when the run ends."""
    if not workers and not scheduler:
        yield IN_PROCESS
        return
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise ClusterUnavailable("Dask is not installed: pip install 'patrolopt[dask]'") from exc
    if scheduler:
        try:
            client = Client(scheduler, timeout=f"{CONNECT_TIMEOUT_S}s")
        except (OSError, TimeoutError) as exc:
            raise ClusterUnavailable(f"no Dask scheduler answers at {scheduler}: {exc}") from exc
        with client:
            yield DaskSpread(client, max(1, len(client.scheduler_info()["workers"])))
        return
    per_worker = str(max(1, threads // workers))
    environment = {
        name: per_worker for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
    }
    environment["OMP_WAIT_POLICY"] = "PASSIVE"
    environment = {**dask.config.get("distributed.nanny.pre-spawn-environ", {}), **environment}
    with dask.config.set({"distributed.nanny.pre-spawn-environ": environment}):
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",  # scheduler and workers listen on loopback only
            dashboard_address="127.0.0.1:0",  # any free port: runs side by side never collide
            memory_limit=0,  # a run's pieces are sized to fit; never pause or spill them
            silence_logs=logging.ERROR,
        )
    with cluster, Client(cluster) as client:
        yield DaskSpread(client, workers)
