"""A built-in randomized dose experiment (SPEC §12 `[evaluation] experiment_share`): the one
measure of patrol's effect that nothing but chance can bias.

Planning: the cells a station patrols are paired by forecast harm (neighbours in the station's
ranking, within `MAX_RISK_RATIO` of each other), a seeded share of the pairs enters the
experiment, and in each pair a coin gives one cell the high dose and the other the low: in every
shift the pair's hours become mean ± d, d = `DOSE_SPREAD` × mean within the floor and the
saturation dose. The pair keeps its total hours in every shift, so every budget, aid and home
rule holds as the LP left it; pairs are taken only while the station's stability cap allows.

Measuring (the month after): per pair the difference in harm between the high and the low cell
against the difference in hours delivered (planned where there are no tracks); the ratio of the
sums is the randomized dose response per 100 h, its interval from the pairs' spread. A power
calculation says how many months of pairs it takes to tell a given effect from chance."""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

EXPERIMENT_COLUMNS = ["station_id", "cell_id", "pair", "arm", "lp_hours", "hours"]
RANDOMIZED_COLUMNS = [
    "randomized_pairs",
    "randomized_response",
    "randomized_low",
    "randomized_high",
    "months_to_detect",
]
HIGH, LOW = "high", "low"
DOSE_SPREAD = 0.5  # the high cell gets the pair's mean hours × 1.5, the low × 0.5
MAX_RISK_RATIO = 1.25  # the two cells of a pair differ in forecast harm by at most 25 %
Z_95, Z_80 = 1.959964, 0.841621  # two-sided 5 % test, 80 % power


@dataclass(frozen=True)
class Experiment:
    """The plan's hours with the experiment's doses (`allocation.csv` rows) and the cells in
    it (`EXPERIMENT_COLUMNS`: cell-level hours of the month, LP's and the experiment's)."""

    allocation: pd.DataFrame
    cells: pd.DataFrame


def assign_experiment(
    allocation: pd.DataFrame,
    share: float,
    plan_month: str,
    *,
    floor_hours: float,
    cap_hours: float,
    max_change_share: float | None,
) -> Experiment:
    """The LP's `allocation` (`station_id, cell_id, shift, hours, prev_hours, risk,
    lender_station_id`) with a seeded `share` of each station's cell pairs given a high or
    a low dose (module docstring). Cells with aid rows stay out (their hours are two
    stations'). `max_change_share` None: no stability cap to respect. Deterministic for the
    same inputs and `plan_month`."""
    empty = Experiment(allocation, pd.DataFrame(columns=EXPERIMENT_COLUMNS))
    if share <= 0 or allocation.empty:
        return empty
    plan = allocation.copy()
    own = plan["lender_station_id"].fillna("") == ""
    aided = set(plan.loc[~own, "cell_id"])
    rows, pairs = [], 0
    for station, group in plan[own & ~plan["cell_id"].isin(aided)].groupby("station_id"):
        slack = _change_slack(plan[plan["station_id"] == station], max_change_share)
        rng = np.random.default_rng(zlib.crc32(f"{plan_month}|{station}".encode()))
        per_cell = group.groupby("cell_id").agg(risk=("risk", "sum"), hours=("hours", "sum"))
        ranked = per_cell[(per_cell["risk"] > 0) & (per_cell["hours"] > 0)]
        ranked = ranked.sort_values(["risk", "hours"], ascending=False, kind="stable")
        for first, second in zip(ranked.index[::2], ranked.index[1::2], strict=False):
            low_risk, high_risk = sorted(ranked.loc[[first, second], "risk"])
            if high_risk > MAX_RISK_RATIO * low_risk or rng.random() >= share:
                continue
            high, low = (first, second) if rng.random() < 0.5 else (second, first)
            moved = _pair_doses(group, high, low, floor_hours, cap_hours)
            change = float((moved["hours"] - group.loc[moved.index, "hours"]).abs().sum())
            if change <= 0 or change > slack:
                continue
            slack -= change
            plan.loc[moved.index, "hours"] = moved["hours"]
            pairs += 1
            for cell, arm in ((high, HIGH), (low, LOW)):
                in_cell = group["cell_id"] == cell
                rows.append(
                    {
                        "station_id": station,
                        "cell_id": cell,
                        "pair": f"{station}-{pairs}",
                        "arm": arm,
                        "lp_hours": round(float(group.loc[in_cell, "hours"].sum()), 1),
                        "hours": round(float(moved.loc[in_cell[in_cell].index, "hours"].sum()), 1),
                    }
                )
    if not rows:
        return empty
    return Experiment(plan, pd.DataFrame(rows, columns=EXPERIMENT_COLUMNS))


def _change_slack(station_rows: pd.DataFrame, max_change_share: float | None) -> float:
    """Hours of change against the previous plan a station may still make (infinite without
    a cap or a previous plan)."""
    previous = float(station_rows["prev_hours"].sum())
    if max_change_share is None or previous <= 0:
        return float("inf")
    used = float((station_rows["hours"] - station_rows["prev_hours"]).abs().sum())
    return max(max_change_share * previous - used, 0.0)


def _pair_doses(
    group: pd.DataFrame, high: str, low: str, floor_hours: float, cap_hours: float
) -> pd.DataFrame:
    """The pair's rows with their hours in every shift set to mean ± d (rounded to 0.1 h,
    the pair's total kept); a shift where either cell has no row keeps its hours."""
    rows = group[group["cell_id"].isin([high, low])]
    moved = rows[["cell_id", "shift", "hours"]].copy()
    for _, shift_rows in rows.groupby("shift"):
        if len(shift_rows) != 2:
            continue
        mean = float(shift_rows["hours"].mean())
        spread = max(min(DOSE_SPREAD * mean, mean - floor_hours, cap_hours - mean), 0.0)
        spread = np.floor(spread * 10) / 10
        for index, cell in shift_rows["cell_id"].items():
            sign = 1.0 if cell == high else -1.0
            moved.loc[index, "hours"] = round(mean + sign * spread, 1)
        kept = float(shift_rows["hours"].sum()) - float(moved.loc[shift_rows.index, "hours"].sum())
        moved.loc[shift_rows.index[0], "hours"] += round(kept, 1)  # rounding lands on one cell
    return moved


def randomized_response(
    experiment: pd.DataFrame, harm_after: pd.Series, dose: pd.Series
) -> tuple[float, float, float]:
    """Change of harm per 100 h from the experiment's pairs: Σ(y_high − y_low) ÷ Σ(d_high −
    d_low) × 100, with a 95 % interval from the pairs' residuals (delta method). `harm_after`
    and `dose` are by cell. NaN with fewer than three pairs or no dose difference."""
    diffs = _pair_differences(experiment, harm_after, dose)
    if len(diffs) < 3 or abs(diffs["dose"].sum()) < 1e-9:
        return (np.nan, np.nan, np.nan)
    slope = diffs["harm"].sum() / diffs["dose"].sum()
    residual = diffs["harm"] - slope * diffs["dose"]
    n = len(diffs)
    se = np.sqrt(float(residual @ residual) * n / (n - 1)) / abs(diffs["dose"].sum())
    return tuple(round(100 * v, 4) for v in (slope, slope - Z_95 * se, slope + Z_95 * se))


def months_to_detect(
    experiment: pd.DataFrame, harm_after: pd.Series, dose: pd.Series, effect_per_100h: float
) -> float:
    """Months of pairs like these needed to detect `effect_per_100h` (two-sided 5 %, 80 %
    power): (z₉₅ + z₈₀)² × the variance of one month's randomized estimate ÷ effect². NaN
    without an estimate or an effect."""
    diffs = _pair_differences(experiment, harm_after, dose)
    if len(diffs) < 3 or abs(diffs["dose"].mean()) < 1e-9 or not effect_per_100h:
        return np.nan
    variance = float(diffs["harm"].var(ddof=1)) / len(diffs) / float(diffs["dose"].mean()) ** 2
    months = (Z_95 + Z_80) ** 2 * variance / (effect_per_100h / 100) ** 2
    return round(float(np.ceil(months)), 0)


def _pair_differences(
    experiment: pd.DataFrame, harm_after: pd.Series, dose: pd.Series
) -> pd.DataFrame:
    """Per pair, high minus low: harm in the month and hours delivered."""
    cells = experiment.assign(
        harm=experiment["cell_id"].map(harm_after).fillna(0.0),
        dose=experiment["cell_id"].map(dose).fillna(0.0),
        sign=np.where(experiment["arm"] == HIGH, 1.0, -1.0),
    )
    signed = cells[["harm", "dose"]].mul(cells["sign"], axis=0).assign(pair=cells["pair"])
    counted = signed.groupby("pair").agg(harm=("harm", "sum"), dose=("dose", "sum"))
    both = cells.groupby("pair")["arm"].nunique() == 2
    return counted[both.reindex(counted.index, fill_value=False)]
