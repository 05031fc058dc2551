"""Printable mission sheets (SPEC §16): what each patrol unit of a station does on one day —
its crew, its stops in order with their times, cells, minutes on scene and the drive before
each, the drive back and the totals, and a small route map — one HTML page per station and
day, in the reader's language, printing one unit to an A4 page.

Sheets are made on demand from a run folder (a province would need tens of thousands), by
`patrolopt sheets` and by the desk. `read_missions` reads and checks the run's mission files in
either format (`[output] schedule_format`), `sheet_page` and `sheet_pages` build the pages
(jinja2, autoescaped: names from the data reach the page only as text), `write_sheets` writes
them as `<station_id>/<date>.html`. A run without missions, an unknown station or a day outside
the plan month is bad input (`InputError`), found before anything is written."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.legend import FONTS
from geo.maps import SvgView
from models.columns import Column, coerce
from models.errors import InputError, Problem
from models.reading import Table, as_text, located, read_table
from optimizer.i18n import Vocabulary, vocabulary
from optimizer.manifest import OUTPUTS, SERVED
from optimizer.report.environment import environment

PLAN_FILE = OUTPUTS["plan.json"].name
JURISDICTIONS = OUTPUTS["jurisdictions.geojson"].name
STOPS, ROUTES = "missions", "routes"  # the desk's names of the two tables (manifest SERVED)
DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
MAP_PX, MAP_PAD, MAP_MIN_SPAN = 260, 14, 0.004  # route map: px square, px inside, degrees
TYPED = {  # the cells of the mission files that are not plain text
    "date": Column("date", "datetime"),
    "stop": Column("stop", "integer", minimum=1),
    "lat": Column("lat", "number", minimum=-90, maximum=90),
    "lon": Column("lon", "number", minimum=-180, maximum=180),
    "arrive": Column("arrive", "datetime"),
    "depart": Column("depart", "datetime"),
    "minutes": Column("minutes", "number", minimum=0),
    "travel_min": Column("travel_min", "number", minimum=0),
    "officers": Column("officers", "integer", minimum=0),
    "stops": Column("stops", "integer", minimum=0),
    "patrol_min": Column("patrol_min", "number", minimum=0),
}
UNSAFE = re.compile(r'[\x00-\x1f/\\:*?"<>|%]')  # characters a file name cannot hold as they are


def written_as(folder: Path, served: str) -> Path | None:
    """The file of `folder` holding the desk's table `served`: its own file, else the file of
    the same columns in the other format (`[output] schedule_format = "parquet"`); None when
    the run has neither."""
    own = SERVED[served]
    twins = [o.name for o in OUTPUTS.values() if o.columns == own.columns and o is not own]
    return next((folder / n for n in (own.name, *twins) if (folder / n).is_file()), None)


@dataclass(frozen=True)
class Missions:
    """A run's missions as the sheets read them. `stations` maps every station of the run to
    its name ('' when the run names none); `stops` has the mission columns with `date` as
    YYYY-MM-DD text and `arrive`, `depart` as local times; `routes` the route columns and
    each route's line (WGS84, station → stops → station); `shift_hours` the plan's shifts
    (start, end hour), empty when the plan does not record them."""

    folder: Path
    plan_month: str
    stations: pd.Series
    stops: pd.DataFrame
    routes: gpd.GeoDataFrame
    shift_hours: dict[str, tuple[int, int]]
    stops_file: str

    @property
    def days(self) -> list[str]:
        """Every day of the plan month, YYYY-MM-DD."""
        period = pd.Period(self.plan_month, "M")
        return [str(day) for day in pd.period_range(period.start_time, period.end_time, freq="D")]


def _checked(table: Table, names: list[str]) -> pd.DataFrame:
    """`table` typed by `TYPED` (other named columns text, whole numbers as integers), every
    problem of its cells raised at once; dates as YYYY-MM-DD text."""
    columns = [TYPED.get(name, Column(name)) for name in names]
    typed = coerce(table, columns, UTC)
    if typed.problems:
        raise InputError(typed.problems)
    whole = {c.name: "int64" for c in columns if c.kind == "integer"}
    return typed.frame.astype(whole).assign(date=typed.frame["date"].dt.strftime("%Y-%m-%d"))


def _read_stops(path: Path) -> pd.DataFrame:
    numbers = {name for name, column in TYPED.items() if column.kind in ("number", "integer")}
    table = replace(read_table(path, numbers), file=str(path))
    return _checked(table, list(SERVED[STOPS].columns))


def _read_routes(path: Path) -> gpd.GeoDataFrame:
    """The routes (GeoJSON or GeoParquet) with their lines, each a LineString."""
    with located(str(path)):
        layer = gpd.read_parquet(path) if path.suffix == ".parquet" else gpd.read_file(path)
    properties = pd.DataFrame(layer.drop(columns=layer.geometry.name))
    if path.suffix != ".parquet":
        properties = as_text(properties)  # GeoJSON: checked as text, like a CSV
    frame = _checked(Table(str(path), path, properties, 1), list(SERVED[ROUTES].columns))
    lines = layer.geometry.to_crs("EPSG:4326") if layer.crs else layer.geometry
    bad = ~lines.geom_type.eq("LineString").to_numpy()
    if bad.any():
        rows = np.flatnonzero(bad)[:20] + 1
        raise InputError([Problem(str(path), int(r), "geometry", "not a LineString") for r in rows])
    return gpd.GeoDataFrame(frame, geometry=lines.to_numpy(), crs="EPSG:4326")


def _station_names(folder: Path, ids: pd.Series) -> pd.Series:
    """Station id → name, from the run's jurisdictions where it has them; every id in `ids`."""
    path = folder / JURISDICTIONS
    names = pd.Series(dtype=str)
    if path.is_file():
        with located(str(path)):
            layer = gpd.read_file(path, columns=["station_id", "name"], ignore_geometry=True)
        if "name" in layer:
            text = as_text(layer[["station_id", "name"]])
            names = text.drop_duplicates("station_id").set_index("station_id")["name"]
    every = pd.Index(sorted(set(names.index) | set(ids)), name="station_id")
    return names.reindex(every).fillna("").rename("name")


def read_missions(folder: Path) -> Missions:
    """The missions of the run in `folder` (`OUT/<plan month>/<scenario>/`), checked: an
    `InputError` naming the file, row and column of every problem, or the missing file when
    `folder` is not a run or holds no missions."""
    folder = Path(folder)
    plan_path = folder / PLAN_FILE
    if not plan_path.is_file():
        raise InputError([Problem(str(plan_path), 0, "", "missing: not a finished run folder")])
    with located(str(plan_path)):
        plan = json.loads(plan_path.read_text(encoding="utf-8"))
        plan_month = str(plan["plan_month"])
    paths = {name: written_as(folder, name) for name in (STOPS, ROUTES)}
    missing = [
        Problem(str(folder / SERVED[name].name), 0, "", "missing: this run has no missions")
        for name, path in paths.items()
        if path is None
    ]
    if missing:
        raise InputError(missing)
    stops, routes = _read_stops(paths[STOPS]), _read_routes(paths[ROUTES])
    shifts = plan.get("parameters", {}).get("allocation", {}).get("shift_hours", {})
    return Missions(
        folder=folder,
        plan_month=plan_month,
        stations=_station_names(folder, pd.concat([stops["station_id"], routes["station_id"]])),
        stops=stops,
        routes=routes,
        shift_hours={name: (int(start), int(end)) for name, (start, end) in shifts.items()},
        stops_file=str(paths[STOPS]),
    )


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


def _clock(moment: pd.Timestamp, day: pd.Timestamp) -> str:
    """HH:MM, with (+n) when the moment falls n days after the sheet's `day`."""
    later = (moment.normalize() - day).days
    return moment.strftime("%H:%M") + (f" (+{later})" if later > 0 else "")


def _figure(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"


def _route_map(line, stops: pd.DataFrame, day: pd.Timestamp) -> dict | None:
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
        f"{row.stop} · {_clock(row.arrive, day)}–{_clock(row.depart, day)} · {row.cell_id}"
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
    """One unit's part of a sheet: its stops in order, when it leaves and is back, totals."""
    stops = stops.sort_values("stop")
    drive_to_stops = float(stops["travel_min"].sum())
    drive = float(route["travel_min"]) if route is not None else drive_to_stops
    officers = int(stops["officers"].max()) if len(stops) else None
    leave = back = ""
    if len(stops):
        first, last = stops.iloc[0], stops.iloc[-1]
        leave = _clock(first["arrive"] - pd.Timedelta(minutes=float(first["travel_min"])), day)
        if route is not None:
            back_min = max(drive - drive_to_stops, 0.0)
            back = _clock(last["depart"] + pd.Timedelta(minutes=back_min), day)
    scene = float(stops["minutes"].sum())
    return {
        "unit_id": unit_id,
        "officers": officers,
        "leave": leave,
        "back": back,
        "back_drive": _figure(max(drive - drive_to_stops, 0.0)) if route is not None else "",
        "stops": [
            {
                "stop": int(row.stop),
                "time": f"{_clock(row.arrive, day)}–{_clock(row.depart, day)}",
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
        "map": _route_map(route.geometry if route is not None else None, stops, day),
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
