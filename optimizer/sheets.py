"""Printable mission sheets (SPEC §16): what each patrol unit of a station does on one day —
its crew, its stops in order with their times, cells, minutes on scene and the drive before
each, the drive back and the totals, and a small route map — one HTML page per station and
day, in the reader's language, printing one unit to an A4 page.

Sheets are made on demand from a run folder (a province would need tens of thousands), by
`patrolopt sheets` and by the desk, from its missions as `optimizer.mission_files` reads them:
`sheet_page` and `sheet_pages` build the pages (jinja2, autoescaped: names from the data reach
the page only as text), `write_sheets` writes them as `<station_id>/<date>.html`. A run without
missions, an unknown station or a day outside the plan month is bad input (`InputError`), found
before anything is written."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.legend import FONTS
from geo.maps import SvgView
from models.errors import InputError, Problem
from optimizer.i18n import Vocabulary, vocabulary
from optimizer.manifest import PLAN_FILE
from optimizer.mission_files import Missions, clock, read_missions
from optimizer.report.environment import environment

MAP_PX, MAP_PAD, MAP_MIN_SPAN = 260, 14, 0.004  # route map: px square, px inside, degrees
UNSAFE = re.compile(r'[\x00-\x1f/\\:*?"<>|%]')  # characters a file name cannot hold as they are


def check_selection(missions: Missions, station: str | None, date: str | None) -> None:
    """An `InputError` for a station the run does not know or a day outside its plan month."""
    problems = []
    if station is not None and station not in missions.stations.index:
        known = ", ".join(missions.stations.index[:20])
        message = f"no station {station!r} in this run (its stations: {known})"
        problems.append(Problem(missions.stops_file, 0, "station_id", message))
    if date is not None and date not in missions.days:
        message = f"{date!r} is not a day of the plan month {missions.plan_month} (YYYY-MM-DD)"
        problems.append(Problem(str(missions.folder / PLAN_FILE), 0, "plan_month", message))
    if problems:
        raise InputError(problems)


def file_name(text: str) -> str:
    """`text` (a station id) as one file or folder name: characters no file name holds as they
    are written %XX, a leading dot too, so no id reaches outside the folder it is written in."""
    name = UNSAFE.sub(lambda m: f"%{ord(m.group()):02X}", text)
    return "%2E" + name[1:] if name.startswith(".") else name


def _figure(value: float) -> str:
    """Minutes as a sheet prints them: whole ones without decimals, else to one decimal."""
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _route_map(
    line: shapely.LineString | None, stops: pd.DataFrame, day: pd.Timestamp
) -> dict | None:
    """Pixel geometry of one unit's route map: the route's path, its stops numbered with their
    times and cells as hover text, the station (the route's first point)."""
    points = stops[["lon", "lat"]].to_numpy(dtype=float)
    path = np.asarray(line.coords)[:, :2] if line is not None else points
    if not len(path):
        return None
    everything = np.vstack([path, points])
    view = SvgView.fit(
        (*everything.min(axis=0), *everything.max(axis=0)),
        MAP_PX,
        MAP_PX,
        pad=MAP_PAD,
        min_span=MAP_MIN_SPAN,
    )
    at = view.px(points)
    titles = [
        f"{row.stop} · {clock(row.arrive, day)}–{clock(row.depart, day)} · {row.cell_id}"
        for row in stops.itertuples(index=False)
    ]
    home = view.px(path[:1])[0] if line is not None else None
    return {
        "size": MAP_PX,
        "path": " ".join(f"{x:.1f},{y:.1f}" for x, y in view.px(path)),
        "stops": [
            {"x": f"{x:.1f}", "y": f"{y:.1f}", "label": str(stop), "title": title}
            for (x, y), stop, title in zip(at, stops["stop"], titles, strict=True)
        ],
        "station": None if home is None else {"x": f"{home[0]:.1f}", "y": f"{home[1]:.1f}"},
    }


def _unit(unit_id: str, stops: pd.DataFrame, route: pd.Series | None, day: pd.Timestamp) -> dict:
    """One unit's part of a sheet: its crew, its stops in order, when it leaves the station and
    is back (the route's drive less the drives to its stops), on-scene and driving minutes,
    officer-hours on scene and its route map."""
    stops = stops.sort_values("stop")
    drive_to_stops = float(stops["travel_min"].sum())
    drive = float(route["travel_min"]) if route is not None else drive_to_stops
    drive_back = max(drive - drive_to_stops, 0.0) if route is not None else None
    officers = int(stops["officers"].max()) if len(stops) else None
    leave = back = ""
    if len(stops):
        first, last = stops.iloc[0], stops.iloc[-1]
        leave = clock(first["arrive"] - pd.Timedelta(minutes=float(first["travel_min"])), day)
        if drive_back is not None:
            back = clock(last["depart"] + pd.Timedelta(minutes=drive_back), day)
    scene = float(stops["minutes"].sum())
    return {
        "unit_id": unit_id,
        "officers": officers,
        "leave": leave,
        "back": back,
        "back_drive": _figure(drive_back) if drive_back is not None else "",
        "stops": [
            {
                "stop": int(row.stop),
                "time": f"{clock(row.arrive, day)}–{clock(row.depart, day)}",
                "cell_id": row.cell_id,
                "minutes": _figure(row.minutes),
                "travel_min": _figure(row.travel_min),
            }
            for row in stops.itertuples(index=False)
        ],
        "count": len(stops),
        "scene": _figure(scene),
        "drive": _figure(drive),
        "officer_hours": f"{scene * (officers or 0) / 60:,.1f}",
        "map": _route_map(route["geometry"] if route is not None else None, stops, day),
    }


def _natural(text: str) -> list:
    """A sort key reading runs of digits as numbers: unit S01-day-2 before S01-day-10."""
    return [
        (0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", text)
    ]


def _shift_order(missions: Missions, shifts: set[str]) -> list[str]:
    """The shifts of a day as the day runs: by their start hour, shifts the plan does not
    record last, by name."""
    hours = missions.shift_hours
    return sorted(shifts, key=lambda s: (s not in hours, hours.get(s, (0, 0))[0], s))


def _page(
    missions: Missions,
    station: str,
    date: str,
    stops: pd.DataFrame,
    routes: gpd.GeoDataFrame,
    words: Vocabulary,
) -> str:
    """The sheet of `station` on `date` from its `stops` and `routes` of that day."""
    day = pd.Timestamp(date)
    shifts = []
    for shift in _shift_order(missions, set(stops["shift"]) | set(routes["shift"])):
        shift_stops = stops[stops["shift"] == shift]
        shift_routes = routes[routes["shift"] == shift].drop_duplicates("unit_id")
        by_unit = dict(tuple(shift_stops.groupby("unit_id", sort=False)))
        route_of = {row["unit_id"]: row for _, row in shift_routes.iterrows()}
        units = sorted(set(by_unit) | set(route_of), key=_natural)
        hours = missions.shift_hours.get(shift)
        shifts.append(
            {
                "name": words.term(shift),
                "hours": f"{hours[0]:02d}:00–{hours[1]:02d}:00" if hours else "",
                "units": [
                    _unit(u, by_unit.get(u, stops.iloc[:0]), route_of.get(u), day) for u in units
                ],
            }
        )
    name = missions.stations.get(station, "")
    return (
        environment()
        .get_template("sheet.html.j2")
        .render(
            lang="zh-CN" if words.lang == "zh" else "en",
            t=words.section("sheets"),
            fonts=FONTS,
            station=f"{name} ({station})" if name else station,
            date=date,
            weekday=words.term(day.day_name()),
            month=missions.plan_month,
            shifts=shifts,
        )
    )


def sheet_page(missions: Missions, station: str, date: str, lang: str = "en") -> str:
    """The sheet of one station and day (`InputError` for a station or day the run does not
    have): a page for the desk or the printer."""
    check_selection(missions, station, date)
    stops, routes = (
        frame[(frame["station_id"] == station) & (frame["date"] == date)]
        for frame in (missions.stops, missions.routes)
    )
    return _page(missions, station, date, stops, routes, vocabulary(lang))


def sheet_pages(
    missions: Missions, *, station: str | None = None, date: str | None = None, lang: str = "en"
) -> Iterator[tuple[str, str]]:
    """(`<station_id>/<date>.html`, page) of every station and day of the plan month, or of
    the `station` and `date` given, made one at a time (a province has tens of thousands); the
    selection is checked at once, before the first page (`check_selection`)."""
    check_selection(missions, station, date)
    words = vocabulary(lang)
    stations = list(missions.stations.index) if station is None else [station]
    days = missions.days if date is None else [date]
    keys = ["station_id", "date"]
    stops = dict(tuple(missions.stops.groupby(keys, sort=False)))
    routes = dict(tuple(missions.routes.groupby(keys, sort=False)))
    no_stops, no_routes = missions.stops.iloc[:0], missions.routes.iloc[:0]
    return (
        (
            f"{file_name(s)}/{d}.html",
            _page(
                missions, s, d, stops.get((s, d), no_stops), routes.get((s, d), no_routes), words
            ),
        )
        for s in stations
        for d in days
    )


def mission_sheets(
    run_folder: Path, *, station: str | None = None, date: str | None = None, lang: str = "en"
) -> dict[str, str]:
    """Every sheet of a run folder (or of one `station` and/or `date`) by relative path
    `<station_id>/<date>.html`."""
    return dict(sheet_pages(read_missions(run_folder), station=station, date=date, lang=lang))


def write_sheets(
    run_folder: Path,
    out: Path,
    *,
    station: str | None = None,
    date: str | None = None,
    lang: str = "en",
) -> list[Path]:
    """`patrolopt sheets`: the sheets of a run folder written to `out/<station_id>/<date>.html`
    (every station and day of the plan month, or the `station` and `date` given); nothing is
    written when the folder, the station or the day is wrong. Returns the files written."""
    pages = sheet_pages(read_missions(run_folder), station=station, date=date, lang=lang)
    written = []
    for relative, page in pages:
        path = Path(out) / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(page, encoding="utf-8")
        written.append(path)
    return written
