"""Outcome of last month's plan (SPEC §8): did crime fall where patrol hours were added?

Weighted displacement difference (Ratcliffe 2004) with the Poisson z-score of Wheeler &
Ratcliffe (2018): for treated cells T (hours added by the plan against the plan before it) and
comparable control cells C of the same station (forecast at risk, no hours added),

    WDD = (T_after − T_before) − (C_after − C_before),   z = WDD / √(T_a + T_b + C_a + C_b)

with counts of patrol-sensitive cases in the month before the plan (before) and the planned
month itself (after). Negative WDD: crime fell more, or rose less, where hours were added;
|z| > 1.96 is unlikely to be chance.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

EVALUATION_COLUMNS = [
    "station_id",
    "treated_cells",
    "control_cells",
    "before_treated",
    "after_treated",
    "before_control",
    "after_control",
    "wdd",
    "z",
]
ADDED_HOURS_MIN = 0.5  # hours a cell must gain over the month to count as treated
DOSE_COLUMNS = ["dose_response", "dose_response_low", "dose_response_high"]
VISITS_PER_TREATMENT = 4  # delivered hours up by 4 visits' minimum length: a treated cell
Z_95 = 1.959964


def dose_response(added_hours: np.ndarray, harm_change: np.ndarray) -> tuple[float, float, float]:
    """Change of harm per 100 delivered hours across cells: the least-squares slope of each
    cell's harm change on its change of delivered hours, × 100, with a 95 % interval from the
    heteroscedasticity-robust (HC1) standard error; NaN with fewer than three cells or no
    spread in the hours."""
    x, y = np.asarray(added_hours, float), np.asarray(harm_change, float)
    n = len(x)
    dx = x - x.mean() if n else x
    sxx = float(dx @ dx) if n else 0.0
    if n < 3 or sxx <= 1e-12:
        return (np.nan, np.nan, np.nan)
    slope = float(dx @ (y - y.mean())) / sxx
    residual = y - y.mean() - slope * dx
    se = np.sqrt(float((dx**2) @ (residual**2)) / sxx**2 * n / (n - 2))
    return tuple(round(100 * v, 4) for v in (slope, slope - Z_95 * se, slope + Z_95 * se))


def evaluate_plan(
    plan: pd.DataFrame,
    cells: pd.DataFrame,
    cases: pd.DataFrame,
    plan_month: str,
    delivered: pd.DataFrame | None = None,
    delivered_before: pd.DataFrame | None = None,
    *,
    min_visit_minutes: float,
) -> pd.DataFrame:
    """`evaluation.csv` for the plan of `plan_month` (`cell_id, shift, hours`, optionally
    `prev_hours` and `risk`; lender rows allowed) over jurisdiction `cells` (`cell_id,
    station_id`) from `cases` (`cell_id, month, patrol_sensitive`, `harm`), per station and
    overall (`station_id = "ALL"`). Without `risk` every cell counts as comparable; without
    `prev_hours` every planned hour counts as added.

    Given the patrol hours `delivered` in `plan_month` (`cell_id, delivered_hours`, from the
    tracks; `delivered_before` those of the month before, none if absent), cells are treated
    by the dose delivered rather than planned — delivered hours up by at least
    `min_visit_minutes` × 4; the other cells at risk are the controls — and `dose_response`
    gives the change of patrol-sensitive harm per 100 delivered hours with its 95 % interval
    (empty without tracks)."""
    before_month = str(pd.Period(plan_month, "M") - 1)
    plan = plan.assign(
        prev_hours=plan.get("prev_hours", 0.0),
        risk=plan.get("risk", 1.0),
    )
    plan = plan.drop(columns="station_id", errors="ignore").merge(
        cells[["cell_id", "station_id"]], on="cell_id"
    )
    per_cell = plan.groupby(["cell_id", "shift"], as_index=False).agg(
        station_id=("station_id", "first"),
        hours=("hours", "sum"),
        prev_hours=("prev_hours", "first"),
        risk=("risk", "first"),
    )
    cells = per_cell.groupby("cell_id").agg(
        station_id=("station_id", "first"),
        added=("hours", "sum"),
        prev=("prev_hours", "sum"),
        risk=("risk", "sum"),
    )
    cells["added"] -= cells.pop("prev")
    threshold = ADDED_HOURS_MIN
    if delivered is not None:
        now = delivered.groupby("cell_id")["delivered_hours"].sum()
        then = (
            delivered_before.groupby("cell_id")["delivered_hours"].sum()
            if delivered_before is not None
            else pd.Series(dtype=float)
        )
        cells["added"] = now.reindex(cells.index, fill_value=0.0) - then.reindex(
            cells.index, fill_value=0.0
        )
        threshold = min_visit_minutes * VISITS_PER_TREATMENT / 60.0
    cells["treated"] = cells["added"] >= threshold - 1e-9
    # controls: cells at risk without added hours — by the dose, every cell at risk whose
    # delivered hours did not rise to the treatment threshold
    untreated = cells["added"] <= 0 if delivered is None else ~cells["treated"]
    cells["control"] = ~cells["treated"] & untreated & (cells["risk"] > 0)
    sensitive = cases[cases["patrol_sensitive"].fillna(False).astype(bool)]
    harm = sensitive["harm"] if "harm" in sensitive.columns else pd.Series(1.0, sensitive.index)
    for label, month in (("before", before_month), ("after", plan_month)):
        in_month = sensitive["month"] == month
        counts = sensitive.loc[in_month, "cell_id"].value_counts()
        cells[label] = counts.reindex(cells.index, fill_value=0).to_numpy()
        cells[f"{label}_harm"] = (
            harm[in_month].groupby(sensitive.loc[in_month, "cell_id"]).sum()
        ).reindex(cells.index, fill_value=0.0)
    rows = [_wdd(station, group) for station, group in cells.groupby("station_id", sort=True)]
    rows.append(_wdd("ALL", cells))
    out = pd.DataFrame(rows, columns=EVALUATION_COLUMNS)
    if delivered is None:
        return out.assign(**dict.fromkeys(DOSE_COLUMNS, np.nan))
    studied = cells[(cells["risk"] > 0) | (cells["added"] != 0)]
    effects = {
        station: dose_response(group["added"], group["after_harm"] - group["before_harm"])
        for station, group in [*studied.groupby("station_id", sort=True), ("ALL", studied)]
    }
    out[DOSE_COLUMNS] = pd.DataFrame(
        [effects.get(s, (np.nan,) * 3) for s in out["station_id"]], columns=DOSE_COLUMNS
    )
    return out


def _wdd(station: str, cells: pd.DataFrame) -> dict:
    treated, control = cells[cells["treated"]], cells[cells["control"]]
    tb, ta = int(treated["before"].sum()), int(treated["after"].sum())
    cb, ca = int(control["before"].sum()), int(control["after"].sum())
    wdd = (ta - tb) - (ca - cb)
    variance = ta + tb + ca + cb
    return {
        "station_id": station,
        "treated_cells": len(treated),
        "control_cells": len(control),
        "before_treated": tb,
        "after_treated": ta,
        "before_control": cb,
        "after_control": ca,
        "wdd": wdd,
        "z": round(wdd / np.sqrt(variance), 4) if variance > 0 else 0.0,
    }


def patrol_balance(
    allocation: pd.DataFrame, cells: pd.DataFrame, cases: pd.DataFrame, cell_size_m: float
) -> pd.DataFrame:
    """Over-policing guard, per station: patrol hours against area, recent cases and forecast
    harm. `cases` are the patrol-sensitive cases of the month assessed (`cell_id`). Returns
    `station_id, area_km2, cases, harm_share, hours, hours_share, hours_per_km2,
    hours_per_case`: a station whose hours share runs far ahead of its harm share is patrolled
    beyond what its risk explains."""
    tiny = 1e-9  # keeps a share defined where nothing is at risk or patrolled
    station_of_cell = cells.set_index("cell_id")["station_id"]
    area = cells.groupby("station_id").size() * (cell_size_m / 1000.0) ** 2
    own = allocation[allocation["lender_station_id"] == ""]
    harm = own.groupby("station_id")["risk"].sum()
    hours = allocation.groupby("station_id")["hours"].sum()
    counts = cases["cell_id"].map(station_of_cell).value_counts()
    out = pd.DataFrame({"area_km2": area}).rename_axis("station_id")
    out["cases"] = counts.reindex(out.index, fill_value=0).astype(int)
    out["harm_share"] = harm.reindex(out.index, fill_value=0) / max(harm.sum(), tiny)
    out["hours"] = hours.reindex(out.index, fill_value=0)
    out["hours_share"] = out["hours"] / max(out["hours"].sum(), tiny)
    out["hours_per_km2"] = out["hours"] / out["area_km2"]
    out["hours_per_case"] = out["hours"] / out["cases"].where(out["cases"] > 0)
    return out.reset_index().round(4)
