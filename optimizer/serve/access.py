"""The desk's request recorder: every answered request is queued here and written to the access
log (optimizer/access_log.py) by a background thread in batches, so an answer never waits for
the store, whose lock a run may hold."""

from __future__ import annotations

import logging
import queue
import threading
from pathlib import Path

from optimizer.access_log import append_access

log = logging.getLogger(__name__)


class AccessLog:
    """Requests queued by the service and written by one thread, in batches; `close` writes
    what is left."""

    def __init__(self, url: str, out: Path, retry_s: float = 1.0) -> None:
        self.url, self.out, self.retry_s = url, out, retry_s
        self._queue: queue.Queue[dict | None] = queue.Queue()
        self._thread = threading.Thread(target=self._write, name="access-log", daemon=True)
        self._thread.start()

    def record(self, entry: dict) -> None:
        self._queue.put(entry)

    def _write(self) -> None:
        pending: list[dict] = []
        stopping = False
        while not stopping or pending:
            if not pending:
                item = self._queue.get()
                if item is None:
                    return
                pending.append(item)
            while not self._queue.empty():
                item = self._queue.get()
                if item is None:
                    stopping = True
                else:
                    pending.append(item)
            try:
                append_access(self.url, self.out, pending)
                pending = []
            except Exception:  # noqa: BLE001 - kept and tried again: the log must not lose them
                log.exception("access log: %d entries not written yet", len(pending))
                if stopping:
                    return
                threading.Event().wait(self.retry_s)

    def close(self, timeout_s: float = 30.0) -> None:
        self._queue.put(None)
        self._thread.join(timeout_s)
