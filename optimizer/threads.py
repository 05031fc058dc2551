"""Native thread pools (OpenMP in scikit-learn's gradient boosting, BLAS in numpy/scipy) held
to the cores a run may use. On a shared server, OpenMP threads that outnumber the free cores spin
at every barrier: a forecast fit ran 14x slower with two spinning threads than with one."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

# Idle OpenMP workers sleep instead of spinning; read by the OpenMP runtime when it loads, so
# this module is imported by the CLI before any model (scikit-learn) is.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# Read by native libraries when they load: covers the pools that load after the limit is set.
_POOL_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # platforms without affinity
        return max(1, os.cpu_count() or 1)


@contextmanager
def limited_threads(threads: int | None = None) -> Iterator[int]:
    """Every native thread pool uses at most `threads` threads (default: the usable cores) in
    this context: pools already loaded through threadpoolctl, pools loaded later (scikit-learn's
    OpenMP is imported lazily) through the variables they read at load. Yields the limit."""
    from threadpoolctl import threadpool_limits

    limit = threads or usable_cores()
    saved = {name: os.environ.get(name) for name in _POOL_VARIABLES}
    os.environ.update({name: str(limit) for name in _POOL_VARIABLES})
    try:
        with threadpool_limits(limits=limit):
            yield limit
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
