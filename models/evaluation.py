"""Outcome of last month's plan (SPEC §8): did crime fall where patrol hours were added?

Weighted displacement difference (after Ratcliffe 2004, z-score as Wheeler & Ratcliffe
2018): treated cells T (hours added by the plan against the plan before it, or by the hours
delivered where tracks exist) against comparable control cells C of the same station (forecast
at risk, no hours added), with counts of patrol-sensitive cases in the month before the plan
(before) and the planned month itself (after). Negative WDD: crime fell more, or rose less,
where hours were added; |z| > 1.96 is unlikely to be chance.

Regression to the mean: "before" is the month the plan was fitted to, so a cell that just had
a bad month gets hours and falls back whatever the patrol does; the plain WDD and a plain slope
of change on added hours credit that fall to patrol (about twice the true effect once plans
follow last month's counts). Both measures here hold fixed what the plan was made from. The
WDD's expectation for the treated cells is learnt from the controls — the month's cases
against the before-month cases, the plan's forecast (which already expects the fall back) and
the hours planned before — so wdd = T_after − expected. The dose response is the harm of the
month against the hours delivered, with the forecast, the before-month harm and hours and the
hours planned held fixed: only the hours the patrols delivered beyond or short of the plan,
cell by cell, speak for patrol.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from models.experiment import RANDOMIZED_COLUMNS, months_to_detect, randomized_response

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
    "expected_treated",
]
ADDED_HOURS_MIN = 0.5  # hours a cell must gain over the month to count as treated
DOSE_COLUMNS = ["dose_response", "dose_response_low", "dose_response_high"]
VISITS_PER_TREATMENT = 4  # delivered hours up by 4 visits' minimum length: a treated cell
Z_95 = 1.959964
EXPECTED_FROM = ("before", "risk", "prev_planned")  # what predicts a cell's month, untreated
MIN_CONTROLS = 8  # control cells needed to learn the expectation from
# what the dose response holds fixed: the plan's own forecast of the cell's harm (which
# already expects a bad month to fall back), the month before's harm and delivered hours
HELD_FIXED = ("risk", "before_harm", "dose_before", "planned")


def dose_response(
    dose: np.ndarray, harm_after: np.ndarray, covariates: np.ndarray | None = None
) -> tuple[float, float, float]:
    """Change of harm per 100 delivered hours across cells: the least-squares coefficient of
    each cell's harm in the month on the hours delivered there, holding `covariates` (one
    column each) fixed, × 100, with a 95 % interval from the heteroscedasticity-robust (HC1)
    standard error. A covariate the others already determine is left out. NaN with too few
    cells, or no spread in the hours once the covariates are held fixed."""
    y = np.asarray(harm_after, float)
    n = len(y)
    x = np.asarray(dose, float)
    extra = np.empty((n, 0)) if covariates is None else np.asarray(covariates, float)
    held = np.column_stack([np.ones(n), extra.reshape(n, -1)])
    held = held[:, _independent(held)]
    if n < held.shape[1] + 2:
        return (np.nan, np.nan, np.nan)
    # the hours' own variation, once the covariates are held fixed (Frisch–Waugh–Lovell)
    fit = np.linalg.lstsq(held, np.column_stack([x, y]), rcond=None)[0]
    dx, dy = (np.column_stack([x, y]) - held @ fit).T
    sxx = float(dx @ dx)
    if sxx <= 1e-9 * max(float((x - x.mean()) @ (x - x.mean())), 1e-12):
        return (np.nan, np.nan, np.nan)
    slope = float(dx @ dy) / sxx
    residual = dy - slope * dx
    k = held.shape[1] + 1
    se = np.sqrt(float((dx**2) @ (residual**2)) / sxx**2 * n / (n - k))
    return tuple(round(100 * v, 4) for v in (slope, slope - Z_95 * se, slope + Z_95 * se))


def _independent(columns: np.ndarray, tolerance: float = 1e-8) -> list[int]:
    """The indices of the columns kept, first to last, less each one the columns kept before
    it determine (its part left over from them has under `tolerance` of its own size)."""
    kept: list[int] = []
    basis: list[np.ndarray] = []  # orthonormal, spanning the kept columns
    for index, column in enumerate(np.asarray(columns, float).T):
        rest = column.copy()
        for q in basis:
            rest -= (q @ rest) * q
        norm = float(np.linalg.norm(rest))
        if norm > tolerance * max(float(np.linalg.norm(column)), 1e-12):
            kept.append(index)
            basis.append(rest / norm)
    return kept


def evaluate_plan(
    plan: pd.DataFrame,
    cells: pd.DataFrame,
    cases: pd.DataFrame,
    plan_month: str,
    delivered: pd.DataFrame | None = None,
    delivered_before: pd.DataFrame | None = None,
    *,
    min_visit_minutes: float,
    experiment: pd.DataFrame | None = None,
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
    (empty without tracks). Given the plan's randomized dose `experiment` (`models.experiment`,
    `EXPERIMENT_COLUMNS`), the randomized estimate and its power come beside it."""
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
        planned=("hours", "sum"),
        added=("hours", "sum"),
        prev_planned=("prev_hours", "sum"),
        risk=("risk", "sum"),
    )
    cells["added"] -= cells["prev_planned"]
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
    out = out.assign(**dict.fromkeys(DOSE_COLUMNS, np.nan))
    if delivered is not None:
        cells["dose"] = now.reindex(cells.index, fill_value=0.0)
        cells["dose_before"] = then.reindex(cells.index, fill_value=0.0)
        studied = cells[(cells["risk"] > 0) | (cells["added"] != 0)]
        effects = {
            station: dose_response(
                group["dose"], group["after_harm"], group[list(HELD_FIXED)].to_numpy()
            )
            for station, group in [*studied.groupby("station_id", sort=True), ("ALL", studied)]
        }
        out[DOSE_COLUMNS] = pd.DataFrame(
            [effects.get(s, (np.nan,) * 3) for s in out["station_id"]], columns=DOSE_COLUMNS
        )
    else:
        cells["dose"] = cells["planned"]
    return _with_experiment(out, cells, experiment)


def _with_experiment(
    out: pd.DataFrame, cells: pd.DataFrame, experiment: pd.DataFrame | None
) -> pd.DataFrame:
    """`out` with the randomized experiment's columns (empty without one): per station and
    overall, its pairs, the randomized dose response and the months of such pairs needed to
    detect an effect the size of the observational estimate."""
    out = out.assign(**dict.fromkeys(RANDOMIZED_COLUMNS, np.nan))
    if experiment is None or experiment.empty:
        return out
    harm, dose = cells["after_harm"], cells["dose"]
    for index, station in out["station_id"].items():
        pairs = experiment if station == "ALL" else experiment[experiment["station_id"] == station]
        estimate = randomized_response(pairs, harm, dose)
        effect = out.at[index, "dose_response"]
        out.loc[index, RANDOMIZED_COLUMNS] = [
            pairs["pair"].nunique(),
            *estimate,
            months_to_detect(pairs, harm, dose, effect) if np.isfinite(effect) else np.nan,
        ]
    return out


def _wdd(station: str, cells: pd.DataFrame) -> dict:
    """The WDD of `cells` with the controls' fall back from the month before taken from cells
    like the treated ones: `expected_treated` is what the treated cells' before-month cases and
    the plan's forecast predict for the month, learnt from the control cells (least squares,
    `EXPECTED_FROM`), and `wdd` = after − expected for the treated cells, which is
    (T_after − T_before) − (C_after − C_before) with the controls brought to the treated
    cells' before-month and forecast. `z` counts the Poisson noise of the treated cells and the
    uncertainty of the expectation. With no control cells, or too few to learn from, there is
    no comparison (`wdd`, `z` and `expected_treated` empty)."""
    treated, control = cells[cells["treated"]], cells[cells["control"]]
    tb, ta = int(treated["before"].sum()), int(treated["after"].sum())
    cb, ca = int(control["before"].sum()), int(control["after"].sum())
    row = {
        "station_id": station,
        "treated_cells": len(treated),
        "control_cells": len(control),
        "before_treated": tb,
        "after_treated": ta,
        "before_control": cb,
        "after_control": ca,
        "wdd": np.nan,
        "z": np.nan,
        "expected_treated": np.nan,
    }
    expected = _expected_after(control, treated)
    if expected is not None and len(treated):
        total, variance = expected
        row["expected_treated"] = round(total, 2)
        row["wdd"] = round(ta - total, 2)
        spread = ta + variance
        row["z"] = round(row["wdd"] / np.sqrt(spread), 4) if spread > 0 else 0.0
    return row


def _expected_after(control: pd.DataFrame, treated: pd.DataFrame) -> tuple[float, float] | None:
    """The treated cells' cases expected in the month from the control cells' least-squares
    fit of the month's cases on `EXPECTED_FROM`, and that sum's variance (HC1). None with
    fewer control cells than the fit needs."""
    full = np.column_stack([np.ones(len(control)), control[list(EXPECTED_FROM)]])
    kept = _independent(full)
    x = full[:, kept]
    n, k = x.shape
    if n < max(k + 3, MIN_CONTROLS):
        return None
    gram = x.T @ x
    inverse = np.linalg.pinv(gram)
    coef = inverse @ x.T @ control["after"].to_numpy(float)
    residual = control["after"].to_numpy(float) - x @ coef
    covariance = inverse @ ((x * residual[:, None] ** 2).T @ x) @ inverse * n / max(n - k, 1)
    # a column the controls leave undetermined (constant, or following the others) says
    # nothing of the month: the treated cells' values of it are left out alike
    rows = np.column_stack([np.ones(len(treated)), treated[list(EXPECTED_FROM)]])[:, kept]
    g = rows.sum(axis=0)
    return float(g @ coef), float(g @ covariance @ g)


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
