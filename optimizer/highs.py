"""Quiet HiGHS: the solver prints a banner on file descriptor 1 when it starts, even with its
output switched off; the CLI's own output must stay clean (it may be piped into other tools)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def banner_silenced() -> Iterator[None]:
    """Send file descriptor 1 to /dev/null while the block runs."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
