"""Forecast candidates, hit metrics and the rolling-origin backtest (SPEC §5)."""

from __future__ import annotations

import os
import time

import numpy as np
import pandas as pd
import pytest

from geo.grid import Grid, Raster
from models.config import ForecastConfig
from models.forecast import (
    BACKTEST_COLUMNS,
    CANDIDATES,
    Backtester,
    _feature_panel,
    backtest_months_table,
    forecast_pieces,
    forecast_risk,
    hit_metrics,
    proper_scores,
)
from models.forecast_cache import ForecastCache
from models.forecast_mix import reweight
from models.spread import InProcess

SIZE_M = 250.0
SETTINGS = ForecastConfig()  # the documented defaults
FOUR_MONTHS = ForecastConfig(backtest_months=4)
GRID = Grid(SIZE_M, "EPSG:32651")


def square_grid(side: int) -> tuple[pd.DataFrame, Raster]:
    ix, iy = np.meshgrid(np.arange(side), np.arange(side))
    cells = pd.DataFrame({"ix": ix.ravel(), "iy": iy.ravel()})
    cells["cell_id"] = Grid.ids(cells["ix"], cells["iy"])
    return cells, GRID.raster(cells)


def planted_counts(months: int = 18, side: int = 20, seed: int = 7) -> tuple[np.ndarray, int]:
    """Poisson background of 0.05 incidents per cell-shift-month, and one cell at 6."""
    rng = np.random.default_rng(seed)
    rate = np.full((side * side, 2), 0.05)
    hot = side * (side // 2) + side // 3
    rate[hot] = 6.0
    return rng.poisson(rate, size=(months, *rate.shape)).astype(float), hot


def test_hit_metrics_by_hand():
    forecast = np.array([9, 8, 7, 0, 0, 0, 0, 0, 0, 0], float)
    actual = np.array([3, 0, 1, 4, 0, 0, 0, 0, 2, 0], float)
    # 20 % of 10 units = the top 2 forecast units, holding 3 of 10 incidents
    m = hit_metrics(forecast, actual, 0.2)
    assert m["hit_rate"] == pytest.approx(0.3)
    assert m["pai"] == pytest.approx(0.3 / 0.2)
    assert m["pei_star"] == pytest.approx(3 / 7)  # the best 2 units held 4 + 3
    # at least one unit is always chosen; no incidents → zero hit rate, not a division error
    assert hit_metrics(forecast, actual, 0.001)["hit_rate"] == pytest.approx(0.3)
    assert hit_metrics(forecast, np.zeros(10), 0.2) == {"hit_rate": 0, "pai": 0, "pei_star": 0}


def test_ties_are_broken_by_unit_order():
    forecast = np.ones(4)
    assert hit_metrics(forecast, np.array([1.0, 0, 0, 0]), 0.25)["hit_rate"] == 1.0
    assert hit_metrics(forecast, np.array([0, 0, 0, 1.0]), 0.25)["hit_rate"] == 0.0


@pytest.mark.parametrize("name", list(CANDIDATES))
def test_every_candidate_recovers_a_planted_hotspot(name):
    counts, hot = planted_counts()
    _, grid = square_grid(20)
    forecast = CANDIDATES[name](counts, grid, SETTINGS)
    assert forecast.shape == counts.shape[1:]
    assert np.isfinite(forecast).all() and (forecast >= 0).all()
    top = np.argsort(-forecast.sum(axis=1), kind="stable")[:4]  # top 1 % of 400 cells
    assert hot in top


def test_kernel_smoothing_keeps_mass_and_spreads_it():
    _, grid = square_grid(21)
    values = np.zeros((21 * 21, 1))
    centre = 21 * 10 + 10
    values[centre] = 1.0
    smooth = grid.smooth(values, 250.0)
    assert smooth.sum() == pytest.approx(1.0, abs=1e-9)
    assert smooth[centre, 0] == smooth.max() and smooth[centre + 1, 0] > 0
    assert smooth[centre + 1, 0] == pytest.approx(smooth[centre - 1, 0])
    assert smooth[centre + 21, 0] == pytest.approx(smooth[centre + 1, 0])


def test_self_exciting_model_follows_a_flare_up():
    """On a simulated self-exciting process (each incident triggers half an incident nearby the
    month after), a burst last month raises the forecast of the burst cell and its neighbour."""
    rng = np.random.default_rng(3)
    _, grid = square_grid(15)
    counts = np.zeros((14, 225, 1))
    for t in range(14):
        triggered = 0.5 * grid.smooth(counts[t - 1], 250.0) if t else 0.0
        counts[t] = rng.poisson(0.2 + triggered)
    centre, neighbour = 7 * 15 + 7, 7 * 15 + 8
    quiet, burst = counts.copy(), counts.copy()
    quiet[-1, centre], burst[-1, centre] = 0, 12
    before = CANDIDATES["self_exciting"](quiet, grid, SETTINGS)
    after = CANDIDATES["self_exciting"](burst, grid, SETTINGS)
    assert after[centre, 0] > 2 * before[centre, 0]
    assert after[neighbour, 0] > 1.5 * before[neighbour, 0]
    assert after[neighbour, 0] > 2 * np.median(after)


def test_selection_and_scores_never_see_the_month_forecast():
    """Overwrite month t and everything after it: `auto`'s choice for t and every forecast of t
    must stay the same; only the scores against the (new) actuals change."""
    counts, _ = planted_counts(months=9)
    _, grid = square_grid(20)
    t = 7
    tampered = counts.copy()
    tampered[t:] = 0.0
    tampered[t:, 5] = 500.0  # a month that would dominate any model that saw it
    settings = ForecastConfig(backtest_months=3)
    honest, leaked = Backtester(counts, grid, settings), Backtester(tampered, grid, settings)
    assert honest.select(t) == leaked.select(t)
    for name in CANDIDATES:
        np.testing.assert_array_equal(honest.forecast(name, t), leaked.forecast(name, t))


def test_backtest_table_lists_every_model_and_auto():
    counts, _ = planted_counts(months=8)
    _, grid = square_grid(20)
    months = [str(p) for p in pd.period_range("2024-01", periods=8, freq="M")]
    table = backtest_months_table(counts, months, grid, 3, ForecastConfig(backtest_months=2))
    assert list(table.columns) == BACKTEST_COLUMNS
    assert set(table["model"]) == {*CANDIDATES, "auto"}
    assert sorted(table["month"].unique()) == ["2024-06", "2024-07", "2024-08"]
    assert len(table) == 3 * (len(CANDIDATES) + 1) * 3
    auto = table[table["model"] == "auto"]
    assert auto["selected"].isin(list(CANDIDATES)).all()
    # auto's scores are those of the model it chose for that month
    for _, row in auto.iterrows():
        same = table[
            (table["model"] == row["selected"])
            & (table["month"] == row["month"])
            & (table["coverage"] == row["coverage"])
        ]
        assert same["pai"].iloc[0] == row["pai"]


def test_forecast_risk_uses_only_patrol_sensitive_cases_up_to_the_month():
    cells, _ = square_grid(4)
    rows = []
    for month in ["2024-01", "2024-02", "2024-03"]:
        rows.append(("0_0", month, "day", 2.0, True))
        rows.append(("3_3", month, "day", 50.0, False))  # telecom fraud: never patrol risk
    rows.append(("2_2", "2024-04", "night", 99.0, True))  # after the month: ignored
    cases = pd.DataFrame(rows, columns=["cell_id", "month", "shift", "harm", "patrol_sensitive"])
    cases["category"] = "theft"
    forecast = forecast_risk(cases, cells, GRID, ["day", "night"], "2024-03", SETTINGS)
    risk, model = forecast.risk, forecast.model
    assert model in CANDIDATES
    assert len(risk) == 16 * 2
    by_unit = risk.set_index(["cell_id", "shift"])["risk"]
    assert by_unit.idxmax() == ("0_0", "day")
    assert by_unit[("2_2", "night")] == 0.0
    assert by_unit[("3_3", "day")] < by_unit[("0_0", "day")] / 10


def test_too_little_history_falls_back_to_the_rolling_mean():
    counts, _ = planted_counts(months=1)
    _, grid = square_grid(20)
    assert Backtester(counts, grid, SETTINGS).select(1) == "rolling_mean"


def test_forecasts_are_deterministic():
    counts, _ = planted_counts()
    _, grid = square_grid(20)
    for name in CANDIDATES:
        np.testing.assert_array_equal(
            CANDIDATES[name](counts, grid, SETTINGS),
            CANDIDATES[name](counts.copy(), grid, SETTINGS),
        )


def test_proper_scores_by_hand():
    # two cells, one shift each; the forecast puts 3 of 4 expected incidents on cell 0
    forecast = np.array([[3.0], [1.0]])
    actual = np.array([[1.0], [2.0]])
    p0, p1 = 0.98 * 0.75 + 0.01, 0.98 * 0.25 + 0.01
    scores = proper_scores(forecast, actual)
    assert scores["log_score"] == pytest.approx((np.log(p0) + 2 * np.log(p1)) / 3)
    # 2·mean[y ln(y/μ) − (y − μ)]: cell 0 → 1·ln(1/3) + 2, cell 1 → 2·ln 2 − 1
    expected = (np.log(1 / 3) + 2 + 2 * np.log(2) - 1) / 2 * 2
    assert scores["poisson_deviance"] == pytest.approx(expected)
    # shifts are summed for the log score; a perfect forecast has zero deviance
    two_shifts = proper_scores(np.array([[1.0, 2.0], [0.5, 0.5]]), np.array([[1.0, 0], [0, 2.0]]))
    assert two_shifts["log_score"] == pytest.approx(
        (np.log(0.98 * 0.75 + 0.01) + 2 * np.log(0.98 * 0.25 + 0.01)) / 3
    )
    assert proper_scores(actual, actual)["poisson_deviance"] == pytest.approx(0.0)
    # an all-zero forecast is read as uniform; a month without incidents has no log score
    assert proper_scores(np.zeros((4, 1)), np.ones((4, 1)))["log_score"] == pytest.approx(
        np.log(0.25)
    )
    assert np.isnan(proper_scores(forecast, np.zeros((2, 1)))["log_score"])
    # a zero forecast where incidents happen is heavily penalised, but finitely
    zero = proper_scores(np.array([[0.0], [2.0]]), np.array([[1.0], [1.0]]))
    assert 10 < zero["poisson_deviance"] < 30


def fake_candidates(monkeypatch, surfaces: dict[str, np.ndarray]) -> None:
    """Replace the candidates by fixed surfaces (the same forecast for every month)."""
    monkeypatch.setattr(
        "models.forecast.CANDIDATES",
        {name: (lambda history, raster, settings, s=s: s) for name, s in surfaces.items()},
    )


def test_auto_breaks_near_ties_in_ranking_by_the_log_score(monkeypatch):
    """Two surfaces rank the cells alike (same PAI every month); the one that gives the
    unranked cells their due mass has the better log score and is chosen, though listed
    second. A surface with clearly better ranking wins whatever its log score."""
    rng = np.random.default_rng(0)
    rate = np.full((100, 1), 0.3)
    rate[:5] = 4.0
    counts = rng.poisson(rate, size=(8, *rate.shape)).astype(float)
    sharp = np.where(rate > 1, 4.0, 1e-4)  # right order, almost no mass off the top cells
    fair = rate.copy()
    fake_candidates(monkeypatch, {"sharp": sharp, "fair": fair})
    tester = Backtester(counts, square_grid(10)[1], SETTINGS)
    pai = [hit_metrics(s, counts[o], 0.05)["pai"] for s in (sharp, fair) for o in range(2, 8)]
    assert pai[:6] == pai[6:]  # identical ranking
    assert tester.mean_log_score("fair", range(2, 8)) > tester.mean_log_score("sharp", range(2, 8))
    assert tester.select(8) == "fair"

    blind = np.ones_like(rate)  # every cell alike: the first five by unit order are the hot ones
    wrong = np.where(np.arange(100)[:, None] >= 95, 5.0, 0.3)  # ranks the wrong cells first
    fake_candidates(monkeypatch, {"wrong": wrong, "sharp": sharp, "blind": blind})
    tester = Backtester(counts, square_grid(10)[1], SETTINGS)
    assert tester.mean_log_score("wrong", range(2, 8)) > tester.mean_log_score("sharp", range(2, 8))
    assert tester.select(8) in {"sharp", "blind"}  # never the badly ranking one


def test_one_feature_panel_serves_every_origin():
    """Rows of the whole history's panel equal those built from the months before each
    origin, so the learned model fitted on a slice equals the one fitted alone."""
    counts, _ = planted_counts(months=20)
    _, raster = square_grid(20)
    full = _feature_panel(counts, raster, start=3)
    for t in (8, 15, 20):
        alone = _feature_panel(counts[:t], raster, start=3)
        np.testing.assert_array_equal(alone, full[: t + 1 - 3])
    cut = Backtester(counts, raster, SETTINGS, spread=_ThreeWorkers())
    cut.prefetch([("learned", t) for t in (15, 17, 19)])
    for t in (15, 17, 19):
        np.testing.assert_array_equal(
            cut.forecast("learned", t), CANDIDATES["learned"](counts[:t], raster, SETTINGS)
        )


class _ThreeWorkers(InProcess):
    """In process, but the models cut their work as for three workers."""

    workers = 3


def test_forecast_pieces_cut_only_the_costly_models():
    keys = [("naive", 3), ("learned", 5), ("naive", 4), ("learned", 3), ("learned", 4)]
    by_origin = [("learned", (3,)), ("learned", (4,)), ("learned", (5,)), ("naive", (3, 4))]
    assert forecast_pieces(keys, 2) == by_origin
    costly = [("naive", 1), ("self_exciting", 1), ("self_exciting", 2), ("learned", 2)]
    assert forecast_pieces(costly, 2) == [
        ("learned", (2,)),
        ("self_exciting", (1,)),
        ("self_exciting", (2,)),
        ("naive", (1,)),
    ]
    assert forecast_pieces(keys, 1) == [("learned", (3, 4, 5)), ("naive", (3, 4))]
    assert forecast_pieces([], 4) == []


def monthly_cases(months: list[str], seed: int = 5) -> pd.DataFrame:
    """Seeded cases on the 20 × 20 grid: a burglary cell, a theft cell, one cell with both,
    and a thin background of theft."""
    rng = np.random.default_rng(seed)
    spots = [("2_2", "burglary", 4.0), ("15_15", "theft", 4.0), ("8_8", "burglary", 2.0)]
    spots += [("8_8", "theft", 2.0)]
    rows = []
    for month in months:
        for cell, category, rate in spots:
            rows += [(cell, month, "day", category)] * int(rng.poisson(rate))
        for _ in range(int(rng.poisson(20))):
            rows.append((f"{rng.integers(20)}_{rng.integers(20)}", month, "night", "theft"))
    cases = pd.DataFrame(rows, columns=["cell_id", "month", "shift", "category"])
    return cases.assign(
        harm=np.where(cases["category"] == "burglary", 3.0, 1.0), patrol_sensitive=True
    )


MONTHS_10 = [str(p) for p in pd.period_range("2024-01", periods=10, freq="M")]


def test_next_month_refits_only_the_new_origin_and_gives_the_same_risk(tmp_path):
    cells, _ = square_grid(20)
    cases = monthly_cases(MONTHS_10)
    args = (cells, GRID, ["day", "night"])
    first = ForecastCache(tmp_path)
    forecast_risk(cases, *args, MONTHS_10[-2], FOUR_MONTHS, cache=first)
    assert {o for _, o in first.fitted} == {5, 6, 7, 8, 9}  # origins 5..8 and the forecast of 9
    second = ForecastCache(tmp_path)
    cached = forecast_risk(cases, *args, MONTHS_10[-1], FOUR_MONTHS, cache=second)
    fresh = forecast_risk(cases, *args, MONTHS_10[-1], FOUR_MONTHS)
    # new: the other candidates on origin 9 (last month forecast it with its choice only) and
    # the chosen model's forecast of month 10
    assert {o for _, o in second.fitted} <= {9, 10}
    assert len(second.fitted) <= len(CANDIDATES)
    assert cached.model == fresh.model
    pd.testing.assert_frame_equal(cached.risk, fresh.risk)
    again = ForecastCache(tmp_path)
    forecast_risk(cases, *args, MONTHS_10[-1], FOUR_MONTHS, cache=again)
    assert again.fitted == []
    # a corrected case in an early month changes every later history: nothing is reused
    corrected = cases.copy()
    corrected.loc[0, "harm"] = 7.0
    changed = ForecastCache(tmp_path)
    forecast_risk(corrected, *args, MONTHS_10[-1], FOUR_MONTHS, cache=changed)
    assert {o for _, o in changed.fitted} == {6, 7, 8, 9, 10}


def test_a_harm_campaign_re_weights_the_baseline_forecast_by_category():
    cells, _ = square_grid(20)
    cases = monthly_cases(MONTHS_10)
    baseline = forecast_risk(cases, cells, GRID, ["day", "night"], MONTHS_10[-1], FOUR_MONTHS)
    parts = baseline.by_category()
    total = parts.groupby(["cell_id", "shift"])["risk"].sum()
    units = baseline.risk.set_index(["cell_id", "shift"])["risk"]
    np.testing.assert_allclose(total.reindex(units.index).to_numpy(), units.to_numpy())

    harm = {"burglary": 1.5}
    campaign = reweight(baseline, harm)
    assert campaign.model == baseline.model
    weighted = parts.assign(risk=parts["risk"] * parts["category"].map(harm).fillna(1.0))
    expected = weighted.groupby(["cell_id", "shift"])["risk"].sum().round(6)
    got = campaign.risk.set_index(["cell_id", "shift"])["risk"]
    np.testing.assert_allclose(got.to_numpy(), expected.reindex(got.index).to_numpy(), atol=2e-6)
    # burglary alone ×1.5, theft alone unchanged, the mixed cell by its burglary share (3:1)
    assert got[("2_2", "day")] == pytest.approx(1.5 * units[("2_2", "day")], abs=2e-6)
    assert got[("15_15", "day")] == units[("15_15", "day")]
    share = baseline.mix.set_index(["cell_id", "shift", "category"])["share"]
    mixed = 1 + 0.5 * share[("8_8", "day", "burglary")]
    assert 0.6 < share[("8_8", "day", "burglary")] < 0.9
    assert got[("8_8", "day")] == pytest.approx(mixed * units[("8_8", "day")], abs=2e-6)
    # campaigns compose: ×1.5 then ×2 on burglary is ×3 on it
    twice = reweight(reweight(baseline, harm), {"burglary": 2.0})
    thrice = reweight(baseline, {"burglary": 3.0})
    np.testing.assert_allclose(twice.risk["risk"], thrice.risk["risk"], atol=1e-5)
    assert reweight(baseline, {}) is baseline


def test_a_sampled_training_set_is_the_same_wherever_it_is_fitted():
    """Beyond `training_rows` unit-months the learned model trains on a seeded sample: the same
    forecast in one piece or cut for three workers, and not the full fit's."""
    counts, _ = planted_counts(months=16)
    _, raster = square_grid(20)
    full = CANDIDATES["learned"](counts, raster, SETTINGS)
    capped = ForecastConfig(training_rows=3_000)  # of 12 × 400 × 2 = 9,600
    sampled = CANDIDATES["learned"](counts, raster, capped)
    assert not np.array_equal(sampled, full)
    np.testing.assert_array_equal(sampled, CANDIDATES["learned"](counts, raster, capped))
    cut = Backtester(counts, raster, capped, spread=_ThreeWorkers())
    cut.prefetch([("learned", t) for t in (14, 15, 16)])
    np.testing.assert_array_equal(cut.forecast("learned", 16), sampled)


def test_the_cache_drops_what_no_run_has_used_for_long_and_keeps_what_it_reads(tmp_path):
    cache = ForecastCache(tmp_path / "cache")
    cache.save("naive", 5, "aaa", np.ones((3, 2)))
    cache.save("naive", 6, "bbb", np.zeros((3, 2)))
    long_ago = time.time() - 200 * 86_400
    for path in (tmp_path / "cache").iterdir():
        os.utime(path, (long_ago, long_ago))
    np.testing.assert_array_equal(cache.load("naive", 5, "aaa"), np.ones((3, 2)))  # used now
    assert cache.prune() == 1
    assert cache.load("naive", 6, "bbb") is None
    np.testing.assert_array_equal(cache.load("naive", 5, "aaa"), np.ones((3, 2)))
    assert cache.prune(now=time.time() + 101 * 86_400) == 1  # unused for 101 days: gone
    assert ForecastCache(tmp_path / "absent").prune() == 0
