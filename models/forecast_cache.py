"""Backtest forecasts kept on disk (SPEC §5), so a month's run re-fits only what is new.

A forecast of month t depends only on the model and on the history before t (counts, cell
layout, code). The cache names it by model, origin and a SHA-256 of exactly that, so an entry
is reused only where the same forecast would be computed again; anything else (a corrected
case, another grid, another library version) is a different key and simply misses.
"""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import numpy as np
import scipy
import sklearn

from geo.grid import Raster
from models.config import ForecastConfig

# Bumped whenever a candidate's computation changes, so older entries stop matching.
FORECAST_VERSION = "3"


class HistoryDigests:
    """SHA-256 of `counts[:t]` with the raster, the `[forecast]` settings and the versions that
    shape a forecast, for every t, from one pass over the history (each month is hashed once)."""

    def __init__(self, counts: np.ndarray, raster: Raster, settings: ForecastConfig):
        self._counts = np.ascontiguousarray(counts)
        head = hashlib.sha256()
        versions = (FORECAST_VERSION, np.__version__, scipy.__version__, sklearn.__version__)
        for part in (*versions, settings.model_dump_json()):
            head.update(part.encode() + b"\0")
        head.update(np.asarray(counts.shape[1:], np.int64).tobytes())
        head.update(np.float64(raster.size_m).tobytes())
        head.update(np.ascontiguousarray(raster.ix, np.int64).tobytes())
        head.update(np.ascontiguousarray(raster.iy, np.int64).tobytes())
        self._states = [head]

    def __call__(self, t: int) -> str:
        while len(self._states) <= t:
            state = self._states[-1].copy()
            state.update(self._counts[len(self._states) - 1].tobytes())
            self._states.append(state)
        return self._states[t].hexdigest()


# An entry that no run has read or written for this long belongs to a history that has moved
# on (cases corrected, another grid, another version): `prune` removes it. A monthly run
# touches every entry it still needs, so three missed months lose nothing but time.
UNUSED_DAYS = 100


class ForecastCache:
    """A folder of forecasts, one `.npy` file per model, origin and history digest. Writes go
    through a temporary file and a rename, so concurrent runs never read half a file; a read
    marks the entry as used. `fitted` lists the (model, origin) this instance had to compute."""

    def __init__(self, folder: Path | str):
        self.folder = Path(folder)
        self.fitted: list[tuple[str, int]] = []

    def _path(self, model: str, origin: int, digest: str) -> Path:
        return self.folder / f"{model}-{origin}-{digest}.npy"

    def load(self, model: str, origin: int, digest: str) -> np.ndarray | None:
        """The stored forecast, or None (absent or unreadable: it is computed again)."""
        path = self._path(model, origin, digest)
        try:
            forecast = np.load(path, allow_pickle=False)
            os.utime(path)  # used now: kept by `prune`
        except (OSError, ValueError):
            return None
        return forecast

    def save(self, model: str, origin: int, digest: str, forecast: np.ndarray) -> None:
        self.fitted.append((model, origin))
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self._path(model, origin, digest)
        partial = path.with_name(f".{path.name}.{os.getpid()}")
        with open(partial, "wb") as handle:
            np.save(handle, forecast, allow_pickle=False)
        os.replace(partial, path)

    def prune(self, unused_days: float = UNUSED_DAYS, now: float | None = None) -> int:
        """Remove the entries (and half-written files) not used for `unused_days` days;
        returns how many went. The folder otherwise grows by each month's fits for good."""
        if not self.folder.is_dir():
            return 0
        cutoff = (time.time() if now is None else now) - unused_days * 86_400
        removed = 0
        for path in self.folder.iterdir():
            try:
                if path.is_file() and path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except OSError:  # another run removed or replaced it meanwhile
                continue
        return removed
