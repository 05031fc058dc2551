"""Next-month risk per grid cell and shift (SPEC §5): candidate forecasts, a rolling-origin
backtest on past months only, and the chosen model's forecast for M+1.

History is a dense array `counts[t, cell, shift]` of harm-weighted incidents per month (oldest
first). A candidate maps `history = counts[:t]` — the months before an origin, never the origin
itself — to a forecast of month t in the same units (expected harm in the month). Because every
candidate only ever receives that slice, nothing from the month being forecast can reach training
or model selection.

Each origin's forecast is scored two ways: ranking (hit rate, PAI, PEI*) and proper scores of
the whole surface (log score, Poisson deviance); `auto` selects on ranking and breaks near-ties
by the log score. Forecasts of past origins can be kept on disk (`ForecastCache`), so next
month's run fits only what is new.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from scipy import optimize
from sklearn.ensemble import HistGradientBoostingRegressor

from geo.grid import Grid, Raster
from models.config import ForecastConfig
from models.forecast_cache import ForecastCache, HistoryDigests
from models.forecast_mix import Forecast, category_mix
from models.spread import IN_PROCESS, Spread

COVERAGES = (0.01, 0.05, 0.10)
BACKTEST_COLUMNS = [
    "model",
    "month",
    "coverage",
    "hit_rate",
    "pai",
    "pei_star",
    "log_score",
    "poisson_deviance",
    "selected",
]
UNIFORM_SHARE = 0.02  # log score: the share of a uniform surface mixed into the forecast's
DEVIANCE_FLOOR = 1e-6  # Poisson deviance: a unit forecast below this (incidents) counts as this


# A candidate: (history, raster, the `[forecast]` settings whose parameters it reads) → forecast
Candidate = Callable[[np.ndarray, Raster, ForecastConfig], np.ndarray]


def naive(history: np.ndarray, raster: Raster, settings: ForecastConfig) -> np.ndarray:
    """Last month repeated."""
    return history[-1]


def rolling_mean(history: np.ndarray, raster: Raster, settings: ForecastConfig) -> np.ndarray:
    """Mean of the last `rolling_months` months."""
    return history[-settings.rolling_months :].mean(axis=0)


def ewma(history: np.ndarray, raster: Raster, settings: ForecastConfig) -> np.ndarray:
    """Exponentially weighted mean, weight α = `ewma_alpha` on the latest month."""
    alpha = settings.ewma_alpha
    weights = alpha * (1 - alpha) ** np.arange(len(history))[::-1]
    return np.tensordot(weights / weights.sum(), history, axes=1)


def kernel_density(history: np.ndarray, raster: Raster, settings: ForecastConfig) -> np.ndarray:
    """Kernel density surface of the last `kernel_months` months (Gaussian, σ =
    `kernel_bandwidth_m` metres, FFT), as a monthly mean."""
    recent = history[-settings.kernel_months :].mean(axis=0)
    return raster.smooth(recent, settings.kernel_bandwidth_m)


def _rolling_means(counts: np.ndarray, window: int | None) -> np.ndarray:
    """`out[t]` = mean of `counts[max(0, t − window):t]` (all earlier months when `window` is
    None) for t = 1..n, i.e. what was known before month t. Row 0 (no history) is zero."""
    n = len(counts)
    cum = np.concatenate([np.zeros((1, *counts.shape[1:])), np.cumsum(counts, axis=0)])
    t = np.arange(n + 1)
    start = np.zeros_like(t) if window is None else np.maximum(0, t - window)
    length = np.maximum(t - start, 1).reshape((-1,) + (1,) * (counts.ndim - 1))
    return (cum[t] - cum[start]) / length


def _excitation(spread: np.ndarray, decay: float, lags: int) -> np.ndarray:
    """`out[t]` = Σₖ decayᵏ⁻¹ · spread[t − k], k = 1..lags, for t = 0..n, with
    `spread` = K * counts: near-repeat pressure from recent months, spread over neighbouring
    cells by kernel K."""
    out = np.zeros((len(spread) + 1, *spread.shape[1:]))
    for k in range(1, min(lags, len(spread)) + 1):
        out[k:] += decay ** (k - 1) * spread[: len(spread) + 1 - k]
    return out


def self_exciting(history: np.ndarray, raster: Raster, settings: ForecastConfig) -> np.ndarray:
    """Discrete-time self-exciting (Hawkes) model on monthly counts:
    λₜ = μ · Bₜ + α · Σₖ βᵏ⁻¹ · K * countsₜ₋ₖ (k up to `self_exciting_lags`), with Bₜ the
    long-run kernel-smoothed background and K a near-repeat kernel (σ = `near_repeat_m`).
    μ, α ≥ 0 are fitted by Poisson maximum likelihood on the last `training_months` months,
    β chosen from `self_exciting_decays` by the same likelihood."""
    n = len(history)
    background = raster.smooth(_rolling_means(history, None), settings.near_repeat_m)
    targets = range(max(1, n - settings.training_months), n)
    y = history[list(targets)].ravel()
    spread = raster.smooth(history, settings.near_repeat_m)  # the same for every decay
    best = None
    for decay in settings.self_exciting_decays:
        excitation = _excitation(spread, decay, settings.self_exciting_lags)
        b, e = background[list(targets)].ravel(), excitation[list(targets)].ravel()

        def nll(p, b=b, e=e):
            lam = p[0] * b + p[1] * e + 1e-9
            grad_common = 1 - y / lam
            return float(np.sum(lam - y * np.log(lam))), np.array(
                [np.sum(grad_common * b), np.sum(grad_common * e)]
            )

        fit = optimize.minimize(
            nll, x0=[1.0, 0.1], jac=True, bounds=[(0, None), (0, None)], method="L-BFGS-B"
        )
        if best is None or fit.fun < best[0]:
            best = (fit.fun, fit.x, excitation)
    _, (mu, alpha), excitation = best
    return mu * background[n] + alpha * excitation[n]


def _feature_panel(counts: np.ndarray, raster: Raster, start: int = 0) -> np.ndarray:
    """Features of every month t = start..n from months < t only:
    `panel[t − start, cell, shift, feature]`. Lags (1 and 12 months), rolling means (3, 12,
    all months), kernel-smoothed means at 250/500/1000 m, the cell's all-shift level, the share
    of active months and the shift. Row t is the same whatever comes after month t − 1, so a
    panel of the whole history serves every origin."""
    n, n_cells, n_shifts = counts.shape
    mean3, mean12, mean_all = (_rolling_means(counts, w)[start:] for w in (3, 12, None))
    lag1 = np.concatenate([np.full((1, n_cells, n_shifts), np.nan), counts])[start:]
    lag12 = mean_all.copy()  # the long-run mean stands in until a year of history exists
    seasonal = np.arange(start, n + 1) >= 12
    lag12[seasonal] = counts[np.arange(start, n + 1)[seasonal] - 12]
    all_shifts = np.repeat(counts.sum(axis=2, keepdims=True), n_shifts, axis=2)
    cell_mean12 = _rolling_means(all_shifts, 12)[start:]
    active = _rolling_means((counts > 0).astype(float), 12)[start:]
    shift = np.broadcast_to(np.arange(n_shifts, dtype=float), lag1.shape)
    features = [lag1, lag12, mean3, mean12, mean_all, cell_mean12, active, shift]
    features += [raster.smooth(mean12, bw) for bw in (250.0, 500.0, 1000.0)]
    features += [raster.smooth(mean_all, 250.0), raster.smooth(cell_mean12, 500.0)]
    features.append(raster.smooth(np.nan_to_num(lag1), 250.0))
    return np.stack(features, axis=-1)


def learned_poisson(
    history: np.ndarray,
    raster: Raster,
    settings: ForecastConfig,
    panel: np.ndarray | None = None,
) -> np.ndarray:
    """Gradient-boosted Poisson regression on lagged, rolling and spatially smoothed counts
    (seasonal lag 12 included), trained on the last `training_months` months of history (at
    most `training_rows` of their unit-months) with features built from the months before
    each, then applied to the month after; the booster's size and pace are the `learned_*`
    settings. `panel`: the feature rows of months n + 1 − len(panel) .. n (a slice of a longer
    history's panel serves), built here when not given."""
    n = len(history)
    targets = np.arange(max(1, n - settings.training_months), n)
    if panel is None:
        panel = _feature_panel(history, raster, start=targets[0] if len(targets) else n)
    first = n + 1 - len(panel)
    rows = slice(targets[0] - first, targets[-1] + 1 - first) if len(targets) else slice(0, 0)
    x = panel[rows].reshape(-1, panel.shape[-1])  # consecutive months: a view, not a copy
    y = history[targets].ravel()
    if y.sum() <= 0:
        return np.zeros(history.shape[1:])
    rows_cap = settings.training_rows
    if len(y) > rows_cap:  # a seeded sample: the same rows wherever the fit runs
        keep = np.sort(np.random.default_rng(0).choice(len(y), rows_cap, replace=False))
        x, y = x[keep], y[keep]
    model = HistGradientBoostingRegressor(
        loss="poisson",
        max_iter=settings.learned_iterations,
        learning_rate=settings.learned_learning_rate,
        max_leaf_nodes=settings.learned_max_leaf_nodes,
        min_samples_leaf=settings.learned_min_samples_leaf,
        early_stopping=False,
        random_state=0,
    )
    model.fit(x, y)
    return model.predict(panel[n - first].reshape(-1, panel.shape[-1])).reshape(history.shape[1:])


CANDIDATES: dict[str, Candidate] = {
    "naive": naive,
    "rolling_mean": rolling_mean,
    "ewma": ewma,
    "kernel": kernel_density,
    "self_exciting": self_exciting,
    "learned": learned_poisson,
}
BASELINES = ("naive", "rolling_mean", "ewma", "kernel")
PANEL_READERS = ("learned",)  # candidates given the feature panel shared by all origins
COSTLY = ("learned", "self_exciting")  # fits of seconds to a minute each at province size
FALLBACK = "rolling_mean"  # used with fewer than two months of history


def hit_metrics(forecast: np.ndarray, actual: np.ndarray, coverage: float) -> dict[str, float]:
    """Hit rate, PAI and PEI* of the top-ranked units covering `coverage` of all units.

    hit rate = share of actual incidents in the chosen units; PAI = hit rate / area share;
    PEI* = hits / the most hits any same number of units could have had. Ties in the forecast
    are broken by unit order, so the result is deterministic.
    """
    f, a = forecast.ravel(), actual.ravel()
    k = max(1, int(round(coverage * len(f))))
    chosen = np.argsort(-f, kind="stable")[:k]
    total = a.sum()
    hits = a[chosen].sum()
    best = np.sort(a)[::-1][:k].sum()
    hit_rate = hits / total if total > 0 else 0.0
    return {
        "hit_rate": float(hit_rate),
        "pai": float(hit_rate / (k / len(f))),
        "pei_star": float(hits / best) if best > 0 else 0.0,
    }


def proper_scores(forecast: np.ndarray, actual: np.ndarray) -> dict[str, float]:
    """Scores of the whole surface `forecast[cell, shift]` against `actual[cell, shift]`
    (SPEC §5), both in expected (harm-weighted) incidents of the month.

    `log_score`: mean of ln p(cell) over the month's incidents (each weighted by its harm), with
    p(cell) = (1 − UNIFORM_SHARE) · r(cell)/Σr + UNIFORM_SHARE/n_cells and r the forecast summed
    over shifts (uniform where the forecast is all zero); higher is better, NaN without
    incidents. `poisson_deviance`: mean over cell × shift units of 2·[y·ln(y/μ) − (y − μ)],
    μ the forecast floored at DEVIANCE_FLOOR; lower is better."""
    r, a = forecast.sum(axis=1), actual.sum(axis=1)
    total = r.sum()
    share = r / total if total > 0 else np.full(len(r), 1.0 / max(len(r), 1))
    p = (1 - UNIFORM_SHARE) * share + UNIFORM_SHARE / max(len(r), 1)
    log_score = float(np.sum(a * np.log(p)) / a.sum()) if a.sum() > 0 else float("nan")
    mu, y = np.maximum(forecast.ravel(), DEVIANCE_FLOOR), actual.ravel()
    ratio = np.log(np.where(y > 0, y, 1.0) / mu)
    deviance = 2 * np.mean(np.where(y > 0, y * ratio, 0.0) - (y - mu)) if len(y) else 0.0
    return {"log_score": log_score, "poisson_deviance": float(deviance)}


Piece = tuple[str, tuple[int, ...]]  # a model and the origins it forecasts


def selection_keys(t: int, backtest_months: int) -> list[tuple[str, int]]:
    """The forecasts `(model, origin)` that `auto`'s choice for month t is made from."""
    return [(name, o) for o in range(max(1, t - backtest_months), t) for name in CANDIDATES]


def forecast_pieces(keys: Sequence[tuple[str, int]], workers: int) -> list[Piece]:
    """The forecasts `(model, origin)` as pieces to fit: one per model; with more than one
    worker the costly models' one per origin, listed first (the learned model, the costliest,
    before the self-exciting one), so that the workers finish together and each holds one
    origin's feature panel at a time."""
    by_model: dict[str, list[int]] = {}
    for model, t in keys:
        by_model.setdefault(model, []).append(t)
    order = {model: rank for rank, model in enumerate(COSTLY)}
    pieces: list[Piece] = []
    for model in sorted(by_model, key=lambda name: order.get(name, len(COSTLY))):
        origins = sorted(set(by_model[model]))
        cuts = len(origins) if model in COSTLY and workers > 1 else 1
        pieces += [
            (model, tuple(int(t) for t in run))
            for run in np.array_split(origins, min(cuts, len(origins)))
        ]
    return pieces


def fit_piece(
    piece: Piece, counts: np.ndarray, raster: Raster, settings: ForecastConfig
) -> list[np.ndarray]:
    """The forecasts of one model for each of its origins t, each from `counts[:t]` alone;
    the learned model's from one feature panel covering the rows those origins read."""
    model, origins = piece
    fit = CANDIDATES[model]
    if model not in PANEL_READERS:
        return [fit(counts[:t], raster, settings) for t in origins]
    start = min(max(1, t - settings.training_months) for t in origins)
    panel = _feature_panel(counts[: max(origins)], raster, start)
    return [fit(counts[:t], raster, settings, panel=panel[: t + 1 - start]) for t in origins]


class Backtester:
    """Rolling-origin evaluation over one history, with the `[forecast]` `settings` (the
    selection's and the candidates' parameters). `forecast(model, t)` is the model's forecast
    of month t from `counts[:t]` alone, computed once and reused by every selection that needs
    it; with a `cache`, also reused from earlier runs on the same history.

    Forecasts are fitted in pieces (`forecast_pieces`) on `spread`: each piece is one model
    over some origins, and the learned model's origins are cut into as many pieces as the
    spread has workers, each building the feature panel rows it reads. A row of the panel is
    the same whatever panel it belongs to, so the cut changes no figure."""

    def __init__(
        self,
        counts: np.ndarray,
        raster: Raster,
        settings: ForecastConfig,
        cache: ForecastCache | None = None,
        spread: Spread = IN_PROCESS,
    ):
        self.counts = counts
        self.raster = raster
        self.settings = settings
        self.cache = cache
        self.spread = spread
        self._digests = HistoryDigests(counts, raster, settings) if cache is not None else None
        self._forecasts: dict[tuple[str, int], np.ndarray] = {}

    def forecast(self, model: str, t: int) -> np.ndarray:
        self.prefetch([(model, t)])
        return self._forecasts[(model, t)]

    def prefetch(self, keys: Sequence[tuple[str, int]]) -> None:
        """Fit the forecasts `(model, origin)` among `keys` that neither this run nor the cache
        already holds, all at once on the spread."""
        missing = []
        for model, t in dict.fromkeys(keys):
            if (model, t) in self._forecasts:
                continue
            stored = None
            if self.cache is not None:
                stored = self.cache.load(model, t, self._digests(t))
            if stored is None:
                missing.append((model, t))
            else:
                self._forecasts[(model, t)] = stored
        pieces = forecast_pieces(missing, self.spread.workers)
        fitted = self.spread(
            fit_piece, pieces, counts=self.counts, raster=self.raster, settings=self.settings
        )
        for (model, origins), forecasts in zip(pieces, fitted, strict=True):
            for t, forecast in zip(origins, forecasts, strict=True):
                if self.cache is not None:
                    self.cache.save(model, t, self._digests(t), forecast)
                self._forecasts[(model, t)] = forecast

    def select(self, t: int) -> str:
        """The model `auto` uses to forecast month t, from origins t − backtest_months .. t − 1
        (as many as the history allows), each scored on its own month from the months before
        it; the fallback with fewer than two months of history.

        Ranking first: the best mean PAI at `selection_coverage`. The candidates within one standard
        error of that mean (of the best model's PAI over the origins) are near-ties: at 250 m
        and one month most of their difference is Poisson noise. Among them the best mean log
        score wins (the proper score of the whole surface); remaining ties go to the simpler
        model (earlier in CANDIDATES)."""
        backtest_months, coverage = self.settings.backtest_months, self.settings.selection_coverage
        origins = range(max(1, t - backtest_months), t)
        if t < 2 or not origins:
            return FALLBACK
        self.prefetch(selection_keys(t, backtest_months))
        pai = {
            name: np.array(
                [
                    hit_metrics(self.forecast(name, o), self.counts[o], coverage)["pai"]
                    for o in origins
                ]
            )
            for name in CANDIDATES
        }
        best = max(CANDIDATES, key=lambda name: (pai[name].mean(), -list(CANDIDATES).index(name)))
        spread = pai[best].std(ddof=1) / np.sqrt(len(origins)) if len(origins) > 1 else 0.0
        near = [n for n in CANDIDATES if pai[n].mean() >= pai[best].mean() - spread - 1e-12]
        scores = {n: self.mean_log_score(n, origins) for n in near}
        return max(near, key=lambda n: (scores[n], -near.index(n)))

    def mean_log_score(self, model: str, origins) -> float:
        """Mean log score of `model` over the origins with incidents (−inf if none has)."""
        values = [
            proper_scores(self.forecast(model, o), self.counts[o])["log_score"] for o in origins
        ]
        values = [v for v in values if np.isfinite(v)]
        return float(np.mean(values)) if values else -np.inf

    def table(self, origins: list[int], coverages=COVERAGES) -> pd.DataFrame:
        """Every candidate and `auto` (the selection procedure itself, run on each origin's
        past) scored on each origin's month: `model, origin, coverage, hit_rate, pai,
        pei_star, log_score, poisson_deviance, selected` (the proper scores are of the whole
        month, the same on each coverage's row)."""
        if origins:
            earliest = max(1, min(origins) - self.settings.backtest_months)
            span = range(earliest, max(origins) + 1)
            self.prefetch([(name, t) for t in span for name in CANDIDATES])
        rows = []
        for t in origins:
            chosen = self.select(t)
            for name in [*CANDIDATES, "auto"]:
                model = chosen if name == "auto" else name
                forecast = self.forecast(model, t)
                proper = proper_scores(forecast, self.counts[t])
                for c in coverages:
                    metrics = hit_metrics(forecast, self.counts[t], c)
                    rows.append(
                        {
                            "model": name,
                            "origin": t,
                            "coverage": c,
                            **metrics,
                            **proper,
                            "selected": model,
                        }
                    )
        return pd.DataFrame(rows)


def history_counts(
    cases: pd.DataFrame, cells: pd.DataFrame, shifts: list[str], months: list[str]
) -> np.ndarray:
    """`counts[t, cell, shift]` of case harm per month for the given cells (others dropped)."""
    cell_index = pd.Series(np.arange(len(cells)), index=cells["cell_id"].to_numpy())
    month_index = {m: i for i, m in enumerate(months)}
    shift_index = {s: i for i, s in enumerate(shifts)}
    c = cases["cell_id"].map(cell_index)
    t = cases["month"].map(month_index)
    h = cases["shift"].map(shift_index)
    ok = c.notna() & t.notna() & h.notna()
    counts = np.zeros((len(months), len(cells), len(shifts)))
    np.add.at(
        counts,
        (t[ok].astype(int), c[ok].astype(int), h[ok].astype(int)),
        cases.loc[ok, "harm"].to_numpy(dtype=float),
    )
    return counts


def risk_history(
    cases: pd.DataFrame, cells: pd.DataFrame, shifts: list[str], month: str
) -> tuple[np.ndarray, list[str]]:
    """Harm of patrol-sensitive cases per month, cell and shift, from the first case's month up
    to `month` (later cases ignored). Returns (counts, month labels)."""
    keep = cases["patrol_sensitive"].fillna(False).astype(bool) & (cases["month"] <= month)
    sensitive = cases.loc[keep, ["cell_id", "month", "shift", "harm"]]  # not every column
    start = sensitive["month"].min() if len(sensitive) else month
    months = [str(p) for p in pd.period_range(start, month, freq="M")]
    return history_counts(sensitive, cells, shifts, months), months


def forecast_risk(
    cases: pd.DataFrame,
    cells: pd.DataFrame,
    grid: Grid,
    shifts: list[str],
    month: str,
    settings: ForecastConfig,
    cache: ForecastCache | None = None,
    spread: Spread = IN_PROCESS,
) -> Forecast:
    """Risk per cell and shift for the month after `month` (expected harm-weighted,
    patrol-sensitive incidents), from cases up to `month` only, with the model `auto` selects
    under the `[forecast]` `settings`;
    `cache` keeps the backtest's forecasts for the next run; the fits run on `spread`. With
    more than one worker, every candidate forecasts M+1 in the same round as the backtest
    (the chosen one is among them; the others are next month's backtest origin, which the
    cache keeps), instead of the chosen one alone afterwards with the workers but one idle."""
    counts, _ = risk_history(cases, cells, shifts, month)
    n = len(counts)
    tester = Backtester(counts, grid.raster(cells), settings, cache, spread)
    if spread.workers > 1:  # M+1 by every candidate beside the backtest, not after it
        keys = selection_keys(n, settings.backtest_months) + [(m, n) for m in CANDIDATES]
        tester.prefetch(keys)
    model = tester.select(n)
    risk = tester.forecast(model, n)
    frame = pd.DataFrame(
        {
            "cell_id": np.repeat(cells["cell_id"].to_numpy(), len(shifts)),
            "shift": np.tile(shifts, len(cells)),
            "risk": np.round(risk.ravel(), 6),
        }
    )
    return Forecast(model, frame, *category_mix(cases, cells, month, settings.mix_months))


def backtest_months_table(
    counts: np.ndarray,
    months: list[str],
    raster: Raster,
    n_months: int,
    settings: ForecastConfig,
    cache: ForecastCache | None = None,
    spread: Spread = IN_PROCESS,
) -> pd.DataFrame:
    """`backtest.csv` (SPEC §5): the last `n_months` months of `months` each forecast from the
    months before it, by every candidate and by `auto` (under the `[forecast]` `settings`),
    the fits on `spread`."""
    origins = list(range(max(1, len(months) - n_months), len(months)))
    tester = Backtester(counts, raster, settings, cache, spread)
    table = tester.table(origins)
    table.insert(1, "month", [months[t] for t in table.pop("origin")])
    return table[BACKTEST_COLUMNS]
