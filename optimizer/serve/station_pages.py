"""A station's home page (SPEC §14, §18): its name, the plan its month carries out (adopted,
else the baseline), its own map (jurisdiction, cells' hours per shift, the routes of its units
on a chosen day), its hours per shift, the mutual aid it lends and receives named as aid in both
directions, its training places and its scores. A station user reads its own; planners and
leaders any station's."""

from __future__ import annotations

from typing import Annotated

import pandas as pd
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from models.errors import InputError
from optimizer.i18n import texts
from optimizer.serve.deps import StationId, service
from optimizer.serve.page_kit import Lang, PageRefused, page_lang, page_user, render
from optimizer.serve.roles import MISSION_ROLES
from optimizer.serve.runs import RunNotFound, carried_out, list_runs, run_folder, run_missions
from optimizer.serve.station_view import (
    AID,
    CELLS,
    LENDER,
    cell_owners,
    plan_shifts,
    read_layer_of,
    station_map,
    station_names,
    station_rows,
)

router = APIRouter(include_in_schema=False)
STATION_PAGE_ROLES = MISSION_ROLES  # planner, leader, station
Choice = Annotated[str | None, Query(max_length=40)]


@router.get("/station")
def own_station(request: Request, lang: Lang = None) -> RedirectResponse:
    """A station user's home page."""
    lang = page_lang(request, lang)
    user = page_user(request, lang, {"station"})
    return RedirectResponse(f"/stations/{user.station}?lang={lang}", status_code=303)


def _table(state, folder, name: str) -> pd.DataFrame:
    try:
        return state.tables.read(folder, name)
    except RunNotFound:
        return pd.DataFrame()


@router.get("/stations/{station}")
def station_page(
    request: Request,
    station: StationId,
    lang: Lang = None,
    month: Choice = None,
    day: Choice = None,
) -> HTMLResponse:
    """The station's home page for `month` (default: the latest plan month) and `day` of its
    missions (default: the month's first)."""
    lang = page_lang(request, lang)
    user = page_user(request, lang, STATION_PAGE_ROLES)
    if user.role == "station" and station != user.station:
        raise PageRefused(403, lang, user)
    state = service(request)
    out = state.settings.out
    months = sorted({run["month"] for run in list_runs(out)}, reverse=True)
    if not months or (month is not None and month not in months):
        raise PageRefused(404, lang, user)
    month = month or months[0]
    scenario = carried_out(out, month)
    try:
        folder = run_folder(out, month, scenario)
    except RunNotFound:
        raise PageRefused(404, lang, user) from None
    names = station_names(folder)
    allocation = _table(state, folder, "allocation")
    if station not in names and station not in set(allocation.get("station_id", ())):
        raise PageRefused(404, lang, user)
    d = texts(lang, "serve")["desk"]
    terms = texts(lang, "terms")
    shifts = plan_shifts(folder)
    owners = cell_owners(allocation) if len(allocation) else None
    own_allocation = (
        station_rows(allocation, station, owners, d, names) if len(allocation) else allocation
    )
    schedule = _table(state, folder, "schedule")
    own_schedule = station_rows(schedule, station, owners, d, names) if len(schedule) else schedule
    try:
        missions = run_missions(folder)
    except InputError:
        missions = None
    days = missions.days if missions is not None else []
    day = day if day in days else (days[0] if days else None)
    return render(
        request,
        "station.html",
        lang,
        "station_title",
        user=user,
        title=f"{names.get(station, station)} ({station})",
        station=station,
        months=months,
        month=month,
        scenario=scenario,
        days=days,
        day=day,
        shifts=[(s, terms.get(s, s)) for s in shifts],
        map=_map(folder, station, missions, day, shifts, d, terms),
        hours=_hours(own_allocation, station, shifts),
        aid=_aid_hours(own_allocation, shifts),
        aid_visits=_aid_visits(own_schedule),
        training=_table(state, folder, "training").pipe(_own, station),
        scores=_table(state, folder, "scores").pipe(_own, station),
    )


def _own(frame: pd.DataFrame, station: str) -> list[dict]:
    if "station_id" not in frame.columns:
        return []
    return frame[frame["station_id"] == station].to_dict("records")


def _map(folder, station, missions, day, shifts, d, terms):
    """The shapes of the station's map; None for a run without its cells' layer."""
    cells = read_layer_of(folder, CELLS)
    jurisdictions = read_layer_of(folder, "jurisdictions.geojson")
    if cells is None or jurisdictions is None:
        return None
    own = cells[cells["station_id"].astype(str) == station]
    mine = jurisdictions[jurisdictions["station_id"] == station]
    if own.empty and mine.empty:
        return None
    own = own.assign(hours=pd.to_numeric(own["hours"]), risk=pd.to_numeric(own["risk"]))
    routes = missions.routes if missions is not None else None
    if routes is None or day is None:
        routes = own.iloc[:0]
    else:
        routes = routes[(routes["station_id"] == station) & (routes["date"].astype(str) == day)]
    return station_map(mine.geometry, own, routes, shifts, d, terms)


def _hours(allocation: pd.DataFrame, station: str, shifts: list[str]) -> list[dict]:
    """Per shift: hours in the station's cells by its own officers, received as aid, lent."""
    if allocation.empty:
        return []
    hours = pd.to_numeric(allocation["hours"])
    lender = allocation[LENDER].fillna("")
    own_cells = allocation["station_id"] == station
    kinds = {
        "own": own_cells & lender.isin(["", station]),
        "received": own_cells & ~lender.isin(["", station]),
        "lent": ~own_cells,
    }
    return [
        {
            "shift": s,
            **{k: float(hours[m & (allocation["shift"] == s)].sum()) for k, m in kinds.items()},
        }
        for s in shifts
    ]


def _aid_hours(allocation: pd.DataFrame, shifts: list[str]) -> list[dict]:
    """The allocation's aid rows with hours, both directions, in shift order."""
    if allocation.empty:
        return []
    rows = allocation[(allocation[AID] != "") & (pd.to_numeric(allocation["hours"]) > 0)]
    order = {s: n for n, s in enumerate(shifts)}
    rows = rows.assign(_order=rows["shift"].map(order)).sort_values([AID, "_order", "cell_id"])
    return rows.to_dict("records")


def _aid_visits(schedule: pd.DataFrame) -> list[dict]:
    """The schedule's aid visits summed by direction and station: visits and hours."""
    if schedule.empty or AID not in schedule.columns:
        return []
    aid = schedule[schedule[AID] != ""]
    minutes = pd.to_numeric(aid["minutes"])
    grouped = minutes.groupby(aid[AID]).agg(["count", "sum"])
    return [
        {"aid": label, "visits": int(row["count"]), "hours": float(row["sum"]) / 60}
        for label, row in grouped.iterrows()
    ]
