"""Next-month risk per grid cell and shift (SPEC §5): candidate forecasts, a rolling-origin
backtest on past months only, and the chosen model's forecast for M+1.

History is a dense array `counts[t, cell, shift]` of harm-weighted, patrol-sensitive incidents
per month. A candidate maps the months before an origin to a forecast of the next month.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy import ndimage

Candidate = Callable[[np.ndarray, pd.DataFrame], np.ndarray]


def naive(history: np.ndarray, cells: pd.DataFrame) -> np.ndarray:
    """Last month repeated."""
    return history[-1]


def rolling_mean(history: np.ndarray, cells: pd.DataFrame, window: int = 3) -> np.ndarray:
    """Mean of the last `window` months."""
    return history[-window:].mean(axis=0)


def ewma(history: np.ndarray, cells: pd.DataFrame, alpha: float = 0.3) -> np.ndarray:
    """Exponentially weighted mean, weight α on the latest month."""
    weights = alpha * (1 - alpha) ** np.arange(len(history))[::-1]
    return np.tensordot(weights / weights.sum(), history, axes=1)


def kernel_smoothed(history: np.ndarray, cells: pd.DataFrame, sigma_cells: float = 1.0):
    """Twelve-month mean spread over neighbouring cells by a Gaussian kernel (σ in cells),
    rescaled to the same total."""
    base = history[-12:].mean(axis=0)
    ix = cells["ix"].to_numpy() - cells["ix"].min()
    iy = cells["iy"].to_numpy() - cells["iy"].min()
    out = np.empty_like(base)
    for h in range(base.shape[1]):
        raster = np.zeros((iy.max() + 1, ix.max() + 1))
        raster[iy, ix] = base[:, h]
        smooth = ndimage.gaussian_filter(raster, sigma_cells, mode="constant")[iy, ix]
        out[:, h] = smooth * (base[:, h].sum() / smooth.sum()) if smooth.sum() > 0 else smooth
    return out


def blended(history: np.ndarray, cells: pd.DataFrame) -> np.ndarray:
    """Half recent level (EWMA), half long-run kernel surface: recent shifts without losing
    the stable geography of crime."""
    return 0.5 * ewma(history, cells) + 0.5 * kernel_smoothed(history, cells)


CANDIDATES: dict[str, Candidate] = {
    "naive": naive,
    "rolling_mean": rolling_mean,
    "ewma": ewma,
    "kernel": kernel_smoothed,
    "blend": blended,
}


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


def backtest(
    counts: np.ndarray, cells: pd.DataFrame, origins: list[int], coverages=(0.01, 0.05, 0.10)
) -> pd.DataFrame:
    """Rolling-origin backtest: for each origin t, every candidate sees months < t and is scored
    on month t. Returns `model, origin, coverage, hit_rate, pai, pei_star`."""
    rows = []
    for t in origins:
        for name, model in CANDIDATES.items():
            forecast = model(counts[:t], cells)
            for c in coverages:
                rows.append(
                    {
                        "model": name,
                        "origin": t,
                        "coverage": c,
                        **hit_metrics(forecast, counts[t], c),
                    }
                )
    return pd.DataFrame(rows)


def select_model(
    counts: np.ndarray, cells: pd.DataFrame, backtest_months: int, coverage: float
) -> tuple[str, pd.DataFrame]:
    """Pick the candidate with the best mean PAI at `coverage` over the last `backtest_months`
    origins inside `counts` (all past months); rolling mean with fewer than 2 months."""
    n = len(counts)
    if n < 3:
        return "rolling_mean", pd.DataFrame()
    origins = list(range(max(1, n - backtest_months), n))
    table = backtest(counts, cells, origins, coverages=(coverage,))
    mean_pai = table.groupby("model", sort=False)["pai"].mean()
    return str(mean_pai.idxmax()), table


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


def forecast_risk(
    cases: pd.DataFrame,
    cells: pd.DataFrame,
    shifts: list[str],
    month: str,
    backtest_months: int,
    coverage: float,
    first_month: str | None = None,
):
    """Risk per cell and shift for the month after `month`, from patrol-sensitive cases up to
    `month` only. Returns (risk frame `cell_id, shift, risk`, chosen model, backtest table)."""
    sensitive = cases[
        cases["patrol_sensitive"].fillna(False).astype(bool) & (cases["month"] <= month)
    ]
    start = first_month or (sensitive["month"].min() if len(sensitive) else month)
    months = [str(p) for p in pd.period_range(start, month, freq="M")]
    counts = history_counts(sensitive, cells, shifts, months)
    model, table = select_model(counts, cells, backtest_months, coverage)
    risk = CANDIDATES[model](counts, cells)
    frame = pd.DataFrame(
        {
            "cell_id": np.repeat(cells["cell_id"].to_numpy(), len(shifts)),
            "shift": np.tile(shifts, len(cells)),
            "risk": risk.ravel(),
        }
    )
    return frame, model, table
