"""The forecast's parameters are `[forecast]` keys of the config (SPEC §12): each reaches its
model, and the cache never serves a forecast made under other settings."""

from __future__ import annotations

import numpy as np
import pandas as pd

from geo.grid import Grid
from models.config import Config, ForecastConfig
from models.forecast import CANDIDATES, Backtester
from models.forecast_cache import ForecastCache

GRID = Grid(250.0, "EPSG:32651")
CELLS = {"ix": np.arange(4).repeat(4), "iy": np.tile(np.arange(4), 4)}
COUNTS = np.random.default_rng(3).poisson(1.0, size=(8, 16, 2)).astype(float)


def _raster():
    cells = pd.DataFrame(CELLS)
    cells["cell_id"] = Grid.ids(cells["ix"], cells["iy"])
    return GRID.raster(cells)


def test_the_window_and_the_weight_reach_their_models():
    raster = _raster()
    last_only = ForecastConfig(rolling_months=1, ewma_alpha=1.0)
    np.testing.assert_array_equal(CANDIDATES["rolling_mean"](COUNTS, raster, last_only), COUNTS[-1])
    np.testing.assert_allclose(CANDIDATES["ewma"](COUNTS, raster, last_only), COUNTS[-1])
    two = CANDIDATES["rolling_mean"](COUNTS, raster, ForecastConfig(rolling_months=2))
    np.testing.assert_allclose(two, COUNTS[-2:].mean(axis=0))


def test_the_cache_keys_forecasts_by_their_settings(tmp_path):
    raster = _raster()
    cache = ForecastCache(tmp_path / "cache")
    Backtester(COUNTS, raster, ForecastConfig(), cache).forecast("rolling_mean", 7)
    other = Backtester(COUNTS, raster, ForecastConfig(rolling_months=1), cache)
    np.testing.assert_array_equal(other.forecast("rolling_mean", 7), COUNTS[6])
    assert cache.fitted == [("rolling_mean", 7), ("rolling_mean", 7)]  # fitted twice


def test_the_documented_defaults_are_the_models_own():
    assert Config().forecast == ForecastConfig(
        backtest_months=6,
        selection_coverage=0.05,
        rolling_months=3,
        ewma_alpha=0.3,
        kernel_bandwidth_m=150.0,
        kernel_months=12,
        near_repeat_m=250.0,
        self_exciting_lags=6,
        self_exciting_decays=[0.2, 0.4, 0.6, 0.8],
        training_months=12,
        training_rows=2_000_000,
        learned_iterations=100,
        learned_learning_rate=0.1,
        learned_max_leaf_nodes=15,
        learned_min_samples_leaf=50,
        mix_months=12,
    )
