"""The staffing step of the monthly cycle (SPEC §19): how many officers each station should
have, recommended beside the month's plan and changing nothing in it. Used by `run` every month
and by `patrolopt staffing` alone.

The recommendation comes from `optimizer.allocation.staffing` (the allocation LP with officers
as whole-number variables); the plan is then made again with the recommended officers as `run`
would make it (`replan`: the missions' drive estimated for them, not routed), so that
`harm_prevented_after` is what that plan prevents. Should it prevent less than today's plan
(the model holds the drive as today's share of the hours, the new estimate may differ), today's
officers are recommended: the recommendation is never worse than today's staffing."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from geo.jurisdictions import neighbours
from models.contracts import Bureau
from models.errors import InfeasiblePlan
from models.months import next_month
from optimizer.allocation import PatrolAllocation
from optimizer.allocation.frames import TOL, unit_benefit
from optimizer.allocation.staffing import (
    STAFFING_COLUMNS,
    Staffing,
    officer_worth,
    recommend,
)
from optimizer.i18n import texts
from optimizer.manifest import write_outputs
from optimizer.missions.stage import mission_drive, mission_setup
from optimizer.stages import AllocationResult, Spatial


@dataclass(frozen=True)
class StaffingResult:
    """`staffing.csv` (`table`), the recommendation behind it and the figures plan.json keeps:
    the bureau's harm prevented and plan objective with today's officers and the recommended
    ones (harm units), and sentences a leader should read (`warnings`)."""

    table: pd.DataFrame
    staffing: Staffing
    harm_before: float
    harm_after: float
    objective_before: float
    objective_after: float
    warnings: list[str]

    def write(self, folder: Path) -> None:
        write_outputs(folder, {"staffing.csv": self.table})

    def record(self) -> dict:
        """The recommendation's figures for plan.json."""
        s = self.staffing
        return {
            "method": s.method,
            "status": s.status,
            "total": s.total,
            "moved": int(self.table["change"].clip(lower=0).sum()),
            "model_objective": round(s.objective, 6),
            "bound": round(s.bound, 6),
            "gap": round(s.gap, 8),
            "harm_prevented_before": round(self.harm_before, 6),
            "harm_prevented_after": round(self.harm_after, 6),
            "objective_before": round(self.objective_before, 6),
            "objective_after": round(self.objective_after, 6),
            "warnings": self.warnings,
        }


def staffing_stage(
    bureau: Bureau,
    month: str,
    sp: Spatial,
    risk: pd.DataFrame,
    previous: pd.DataFrame | None,
    allocated: AllocationResult,
    *,
    stability: bool = True,
    reserve: pd.DataFrame | None = None,
    lang: str = "en",
) -> StaffingResult:
    """Officers per station for the month after `month`, from the plan `allocated` made with
    today's officers (its LP's data: reserve, drive, previous plan and stability as the run
    had them) and the forecast `risk`; `reserve` is the response reserve's table
    (`models.erlang.RESERVE_COLUMNS`) or None; the reasons are written in `lang`. Raises
    InfeasiblePlan when the officers cannot be shared out (`staffing.total` below what the
    reserves and bounds need, …)."""
    cfg = bureau.config
    today = allocated.plan
    staffing = recommend(today.data, bureau.stations, cfg.staffing)
    harm_before = harm_by_station(today)
    warnings: list[str] = []
    officers = staffing.bounds.set_index("station_id")["officers"]
    bounds = staffing.bounds
    can_keep = (
        staffing.total == int(round(officers.sum()))
        and bounds["lower"].le(bounds["officers"]).all()
        and bounds["upper"].ge(bounds["officers"]).all()
    )
    after: PatrolAllocation | None = today
    if not staffing.recommended.eq(officers).all():
        try:
            after = replan(
                bureau,
                month,
                sp,
                risk,
                previous,
                today,
                staffing.recommended,
                stability=stability,
                reserve=reserve,
            )
        except InfeasiblePlan:
            if not can_keep:
                raise
            after = None
        worse = after is None or (
            after.objective_ < today.objective_ - TOL
            or harm_by_station(after).sum() < harm_before.sum() - TOL
        )
        if worse and can_keep:
            warnings.append(
                "the recommended moves prevent less harm once the plan is made with them and "
                "the missions' drive estimated for them (the model holds the drive as today's "
                "share of the hours); today's officers are kept"
            )
            staffing = _kept(staffing, officers)
            after = today
    harm_after = harm_by_station(after)
    table = staffing_table(
        staffing, bureau.stations, today, after, harm_before, harm_after, risk, reserve, lang
    )
    return StaffingResult(
        table=table,
        staffing=staffing,
        harm_before=float(harm_before.sum()),
        harm_after=float(harm_after.sum()),
        objective_before=float(today.objective_),
        objective_after=float(after.objective_),
        warnings=warnings,
    )


def _kept(staffing: Staffing, officers: pd.Series) -> Staffing:
    """The recommendation of today's officers."""
    return replace(staffing, recommended=officers.round().astype(np.int64))


def replan(
    bureau: Bureau,
    month: str,
    sp: Spatial,
    risk: pd.DataFrame,
    previous: pd.DataFrame | None,
    today: PatrolAllocation,
    recommended: pd.Series,
    *,
    stability: bool,
    reserve: pd.DataFrame | None,
) -> PatrolAllocation:
    """The plan for the month after `month` with the `recommended` officers (by station id),
    made as `run` makes it (SPEC §6, §16) but for routing its missions: the same forecast,
    reserve, previous plan and stability as `today`'s plan, the dose experiment if any, and
    the budgets net of the drive the missions need with those officers — the estimate for
    them plus what routing added to today's estimate, station-shift by station-shift.
    Routing a city's month again would double the run's longest step (St. Louis: 40 s); on
    the demo this plan prevents 0.15 % less harm than the routed plan a scenario setting
    those officers gets."""
    cfg = bureau.config
    ids = bureau.stations["station_id"].astype(str)
    stations = bureau.stations.assign(officers=ids.map(recommended).to_numpy(float))
    moved = Bureau(**{**bureau.__dict__, "stations": stations})
    around = neighbours(sp.stations)
    held = _reserve_hours(reserve)

    def plan(drive: pd.DataFrame) -> PatrolAllocation:
        made = PatrolAllocation.from_frames(
            risk,
            sp.cells,
            stations,
            around,
            cfg.allocation,
            previous,
            stability=stability,
            reserve=held,
            drive=drive,
        ).solve()
        made.randomize(cfg.evaluation.experiment_share, next_month(month))
        return made

    plan_month, area = next_month(month), sp.grid.size_m**2
    keys = ["station_id", "shift"]
    estimated = mission_drive(mission_setup(bureau, plan_month, sp, reserve), risk, area)
    added = today.data.groups.set_index(keys)["drive_hours"] - estimated.set_index(keys)[
        "drive_hours"
    ].reindex(pd.MultiIndex.from_frame(today.data.groups[keys]), fill_value=0.0)
    drive = mission_drive(mission_setup(moved, plan_month, sp, reserve), risk, area)
    drive = drive.set_index(keys)
    drive["drive_hours"] += added.clip(lower=0.0).reindex(drive.index, fill_value=0.0)
    return plan(drive.reset_index())


def _reserve_hours(reserve: pd.DataFrame | None) -> pd.DataFrame | None:
    return reserve[["station_id", "shift", "reserve_hours"]] if reserve is not None else None


def harm_by_station(plan: PatrolAllocation) -> pd.Series:
    """Expected harm the plan prevents in each station's cells (harm units, SPEC §6 benefit on
    the forecast: own and aid hours alike), by station id."""
    rows = plan.allocation_
    per_unit = rows.groupby(["station_id", "cell_id", "shift"], as_index=False, sort=False).agg(
        hours=("hours", "sum"), risk=("risk", "first")
    )
    per_unit["harm"] = unit_benefit(
        per_unit["hours"].to_numpy(), per_unit["risk"].to_numpy(), plan.data.config
    )
    harm = per_unit.groupby("station_id")["harm"].sum()
    return harm.reindex(plan.data.stations, fill_value=0.0)


def patrol_hours(plan: PatrolAllocation) -> pd.Series:
    """Each station's patrol budget in the month (hours its officers have for patrol after
    the response reserve and the missions' drive), by station id."""
    return plan.duals_.groupby("station_id")["budget_hours"].sum().reindex(plan.data.stations)


def staffing_table(
    staffing: Staffing,
    stations: pd.DataFrame,
    today: PatrolAllocation,
    after: PatrolAllocation,
    harm_before: pd.Series,
    harm_after: pd.Series,
    risk: pd.DataFrame,
    reserve: pd.DataFrame | None,
    lang: str = "en",
) -> pd.DataFrame:
    """`staffing.csv` (reasons in `lang`): one row per station, stations that gain first, then
    those that lose, each by the size of the move; hours in 0.1 h, harm to 4 decimals."""
    bounds = staffing.bounds.set_index("station_id")
    ids = bounds.index
    recommended = staffing.recommended.reindex(ids).astype(np.int64)
    officers = bounds["officers"]
    units = (
        reserve.groupby(reserve["station_id"].astype(str))["units"].sum()
        if reserve is not None and len(reserve)
        else pd.Series(dtype=float)
    )
    held = risk.assign(station_id=risk["station_id"].astype(str)).groupby("station_id")["risk"]
    table = pd.DataFrame(
        {
            "station_id": ids,
            "officers": officers.round().astype(np.int64).to_numpy(),
            "recommended": recommended.to_numpy(),
            "change": (recommended - officers.round().astype(np.int64)).to_numpy(),
            "reserve_units": units.reindex(ids, fill_value=0).astype(np.int64).to_numpy(),
            "patrol_hours_before": patrol_hours(today).round(1).to_numpy(),
            "patrol_hours_after": patrol_hours(after).round(1).to_numpy(),
            "harm_prevented_before": harm_before.reindex(ids).round(4).to_numpy(),
            "harm_prevented_after": harm_after.reindex(ids).round(4).to_numpy(),
        }
    )
    harm = held.sum().reindex(ids, fill_value=0.0)
    worth = officer_worth(
        today.data, stations, staffing.bounds, today.duals_["dual"].to_numpy(dtype=float)
    )
    table["reason"] = reasons(table, bounds, harm, worth.reindex(ids), lang)
    order = np.lexsort((table["station_id"], -table["change"].abs(), -np.sign(table["change"])))
    return table.iloc[order].reset_index(drop=True)[STAFFING_COLUMNS]


def reasons(
    table: pd.DataFrame, bounds: pd.DataFrame, harm: pd.Series, worth: pd.Series, lang: str = "en"
) -> list[str]:
    """A plain sentence per station in `lang`: its forecast harm per officer against the
    bureau's, what one more officer prevents there (`worth`, harm a month at today's plan)
    against the median station, its response reserve, the move and what holds it there."""
    t = texts(lang, "staffing")
    officers = bounds["officers"].to_numpy()
    per_officer = harm.sum() / officers.sum() if officers.sum() > 0 else 0.0
    median = float(worth[officers > 0].median()) if (officers > 0).any() else 0.0
    out = []
    for row, (_, b), h, w in zip(
        table.itertuples(index=False),
        bounds.iterrows(),
        harm.to_numpy(),
        worth.to_numpy(),
        strict=True,
    ):
        parts = []
        if b["officers"] <= 0:
            parts.append(t["no_officers"])
        elif per_officer > 0:
            parts.append(
                t["harm_per_officer"].format(ratio=f"{h / b['officers'] / per_officer:.1f}")
            )
        parts.append(t["worth"].format(here=f"{w:.3g}", median=f"{median:.3g}"))
        if row.reserve_units > 0:
            need = b["reserve_officers"]
            needs = (
                t["reserve_needs"].format(officers=f"{need:.0f}")
                if np.isfinite(need)
                else t["reserve_unmet"]
            )
            short = t["reserve_short"] if need > b["upper"] else ""
            parts.append(t["reserve"].format(units=row.reserve_units, needs=needs, short=short))
        parts.append(_move(row, b, t))
        out.append(t["join"].join(parts))
    return out


def _move(row, b: pd.Series, t) -> str:
    """What the recommendation does with a station and what holds it there."""
    change = int(row.change)
    if change > 0 and b["held_by"] == "reserve" and b["lower"] > b["officers"]:
        return t["gains_reserve"].format(n=change)
    if change > 0:
        return t["gains"].format(n=change) + (
            t["at_bound"] if row.recommended >= b["upper"] else ""
        )
    if change < 0:
        held = {"reserve": t["kept_reserve"], "min_officers": t["kept_min"]}.get(
            b["held_by"], t["at_bound"]
        )
        limit = held.format(n=b["lower"]) if row.recommended <= b["lower"] else ""
        return t["gives"].format(n=-change) + limit
    if b["officers"] > 0 and b["move"] == 0:
        return t["too_few"].format(n=f"{b['officers']:.0f}")
    return t["no_gain"] if b["officers"] > 0 else t["unchanged"]


def monthly_staffing(
    bureau: Bureau,
    month: str,
    sp: Spatial,
    risk: pd.DataFrame,
    previous: pd.DataFrame | None,
    allocated: AllocationResult,
    *,
    stability: bool = True,
    reserve: pd.DataFrame | None = None,
    lang: str = "en",
) -> tuple[StaffingResult | None, list[str]]:
    """`staffing_stage` as `run` calls it every month: (its result, no diagnosis), or, where
    today's total cannot be shared out within the bounds (response reserves beyond the
    officers), (None, the diagnosis): the month's plan does not wait on a recommendation.
    A total the configuration or a scenario sets (`staffing.total`) is a question the run
    must answer: its impossibility raises InfeasiblePlan."""
    try:
        result = staffing_stage(
            bureau,
            month,
            sp,
            risk,
            previous,
            allocated,
            stability=stability,
            reserve=reserve,
            lang=lang,
        )
    except InfeasiblePlan as exc:
        if bureau.config.staffing.total > 0:
            raise
        return None, exc.diagnosis
    return result, []
