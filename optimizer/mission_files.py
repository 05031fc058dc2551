"""A run's mission files (SPEC §16) read and checked for the sheets, the desk and the map: the
stops (`missions.csv`, or `missions.parquet`) and the routes (`missions.geojson`, or the
GeoParquet `missions_routes.parquet`) in whichever format the run wrote them, every problem named
by file, row and column (`InputError`), the plan month, shifts and station names beside them;
and a mission's moment as a clock time, the way the sheets and the map both show it."""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import UTC
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from models.columns import Column, coerce
from models.errors import InputError, Problem
from models.reading import Table, as_text, located, read_table
from optimizer.manifest import OUTPUTS, PLAN_FILE, SERVED

JURISDICTIONS = OUTPUTS["jurisdictions.geojson"].name
STOPS, ROUTES = "missions", "routes"  # the desk's names of the two tables (manifest SERVED)
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


def clock(moment: pd.Timestamp, day: pd.Timestamp) -> str:
    """HH:MM, with (+n) when the moment falls n days after the sheet's `day`."""
    later = (moment.normalize() - day).days
    return moment.strftime("%H:%M") + (f" (+{later})" if later > 0 else "")
