"""A tiny run folder with missions to read: two stations, two days, two shifts (the night one
past midnight), two units per station and shift, two stops per unit, WGS84 coordinates. The
values are laid out so a reader can check them by hand (see `tiny_missions`)."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely

from optimizer.manifest import OUTPUTS, SERVED, write_outputs
from optimizer.missions.columns import MISSION_COLUMNS, ROUTE_COLUMNS, SUMMARY_COLUMNS

PLAN_MONTH = "2026-01"
DAYS = ("2026-01-01", "2026-01-02")
SHIFT_HOURS = {"day": [7, 23], "night": [23, 7]}
STATIONS = {"S01": ("甲派出所", (116.40, 39.90)), "S02": ("乙派出所", (116.42, 39.90))}
DRIVE_MIN, SCENE_MIN, BACK_MIN = 6, 12, 5  # before each stop, on scene, stop 2 → station
UNPLACED = ("S02", "night", 1.5)  # the one station-shift whose hours no route could carry
STOPS, ROUTES, SUMMARY = (SERVED[name].name for name in ("missions", "routes", "missions_summary"))


def twin(name: str) -> str:
    """The file holding `name`'s columns in the other format ([output] schedule_format)."""
    columns = OUTPUTS[name].columns
    return next(o.name for o in OUTPUTS.values() if o.columns == columns and o.name != name)


def tiny_missions() -> dict[str, pd.DataFrame]:
    """The three mission files by name. Unit `<station>-<shift>-<n>` leaves (n − 1) × 30 min
    after the shift's start, drives 6 min to its first stop, stays 12, drives 6 to the second,
    stays 12, drives 5 back: stops at +6 and +24 min, back at +41 (night unit 2: leaves 23:30,
    second stop 23:54–00:06, back 00:11 the next day). Its stops lie n × 0.002° north of the
    station, then 0.002° east of that. Two officers per unit."""
    stops, routes = [], []
    for station, (_name, (lon, lat)) in STATIONS.items():
        for day in DAYS:
            for shift, (start, _end) in SHIFT_HOURS.items():
                for n in (1, 2):
                    unit = f"{station}-{shift}-{n}"
                    leave = pd.Timestamp(day) + pd.Timedelta(hours=start, minutes=30 * (n - 1))
                    places = [(lon, lat + 0.002 * n), (lon + 0.002, lat + 0.002 * n)]
                    for stop, (x, y) in enumerate(places, start=1):
                        arrive = leave + pd.Timedelta(minutes=(DRIVE_MIN + SCENE_MIN) * stop - 12)
                        depart = arrive + pd.Timedelta(minutes=SCENE_MIN)
                        times = (t.strftime("%Y-%m-%dT%H:%M") for t in (arrive, depart))
                        cell = f"{464 + stop}_{4430 + n}"
                        stops.append(
                            (
                                station,
                                day,
                                shift,
                                unit,
                                stop,
                                cell,
                                y,
                                x,
                                *times,
                                SCENE_MIN,
                                DRIVE_MIN,
                                2,
                            )
                        )
                    line = shapely.LineString([(lon, lat), *places, (lon, lat)])
                    drive = 2 * DRIVE_MIN + BACK_MIN
                    routes.append((station, day, shift, unit, 2, 2 * SCENE_MIN, drive, line))
    unplaced = {UNPLACED[:2]: UNPLACED[2]}
    summary = pd.DataFrame(
        [  # 2 units × 2 days × 2 officers × 24 min on scene = 3.2 h, × 17 min of drive = 2.27 h
            (
                station,
                shift,
                2,
                3.2 + unplaced.get((station, shift), 0.0),
                3.2,
                2.27,
                unplaced.get((station, shift), 0.0),
                41,
            )
            for station in STATIONS
            for shift in SHIFT_HOURS
        ],  # fmt: skip
        columns=SUMMARY_COLUMNS,
    )
    *route_values, geometry = zip(*routes, strict=True)
    return {
        STOPS: pd.DataFrame(stops, columns=MISSION_COLUMNS),
        ROUTES: gpd.GeoDataFrame(
            dict(zip(ROUTE_COLUMNS, route_values, strict=True)),
            geometry=list(geometry),
            crs="EPSG:4326",
        ),
        SUMMARY: summary,
    }


def tiny_run(folder: Path, files: dict[str, pd.DataFrame] | None = None) -> Path:
    """A run folder holding `plan.json`, `jurisdictions.geojson` and the mission files
    (`tiny_missions` unless `files` are given); written with the manifest's writer."""
    folder.mkdir(parents=True, exist_ok=True)
    plan = {
        "month": "2025-12",
        "plan_month": PLAN_MONTH,
        "scenario": "baseline",
        "parameters": {"allocation": {"shift_hours": SHIFT_HOURS}},
    }
    (folder / "plan.json").write_text(json.dumps(plan), encoding="utf-8")
    jurisdictions = gpd.GeoDataFrame(
        {"station_id": list(STATIONS), "name": [name for name, _ in STATIONS.values()]},
        geometry=[shapely.Point(xy).buffer(0.01) for _, xy in STATIONS.values()],
        crs="EPSG:4326",
    )
    write_outputs(folder, {"jurisdictions.geojson": jurisdictions})
    write_outputs(folder, tiny_missions() if files is None else files)
    return folder
