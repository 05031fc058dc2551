"""Memory that allocators keep after a step has freed it, handed back to the system after
loading and between the steps of a run. Arrow's pool (the tables' text columns) and glibc's
heap (small numpy and pandas blocks) both hold freed memory for reuse, each for itself only: at
province size, about 1.5 GB after loading and a few hundred MB after each later step, which the
next step, another process or a Dask worker on the same machine cannot use."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gc


def hand_back_memory() -> None:
    """Collect garbage, then return what Arrow's pool and glibc's heap hold unused."""
    import pyarrow as pa

    gc.collect()
    pa.default_memory_pool().release_unused()
    libc = ctypes.util.find_library("c")
    if libc:
        with contextlib.suppress(OSError, AttributeError):  # glibc has it, others may not
            ctypes.CDLL(libc).malloc_trim(0)
