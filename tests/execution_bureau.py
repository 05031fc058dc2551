"""A small bureau with execution data whose figures are worked out by hand (SPEC §13).

Two stations side by side in UTM 51N (EPSG:32651), 250 m cells. Station S1 holds x in
[350 000, 351 000), S2 x in [351 000, 352 000), both y in [3 460 000, 3 461 000). Pings sit at
cell centres. Times are December 2025, day shift 08–16, evening 16–24, night 00–08.

Unit U1 (S1, 2 officers), day 2025-12-01 09:00:00 + t seconds:
  t = 0 … 600 every 60 s in cell A; t = 660 and 720 in B; t = 1020 in B (a 300 s gap: nowhere);
  t = 1080 50 km east (a jump: nowhere); t = 1140 back in B (a jump again); t = 1200 in B
  responding; t = 1260 in B responding; t = 1320 in B off duty. Ping t = 300 is sent twice.
  A: 11 segments × 60 s × 2 officers = 1320 officer-s = 0.366667 h, one visit of 11 min.
  B: 660→720 and 1140→1200 (patrol at a): 2 × 60 s × 2 = 240 officer-s = 0.066667 h, no visit.
  Responding: 1200→1260 and 1260→1320: 240 officer-s = 0.066667 h of response.
Unit U2 (S1, officers column empty = 1), night 2025-12-02 03:00:00 + t: t = 0 … 360 every
  30 s in A, t = 390 in C: A gets 390 s = 0.108333 h, one visit of 6.5 min; C nothing.
Unit U3 (S2): every ping off duty, day 2025-12-03.
Unit U4 (S2): day 2025-12-03 10:00 + t, t = 0 … 600 every 60 s 50 km west of the grid:
  600 s = 0.166667 h and one visit in a cell outside every jurisdiction.

Plan for 2025-12: S1 A day 1 h, S1 A night 0.1 h, S1 B day 0 h, S1 D day 2 h, S2 E day 1 h.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from models.tracks import TrackRules

CRS = "EPSG:32651"
SHIFTS = {"day": (8, 16), "evening": (16, 24), "night": (0, 8)}
RULES = TrackRules(  # the track rules the hand-made pings are read by
    max_gap_s=120, max_speed_kmh=120, min_visit_minutes=5, cell_size_m=250, shift_hours=SHIFTS
)
X0, Y0 = 350_000.0, 3_460_000.0
A = (X0 + 125, Y0 + 125)  # cell 1400_13840, S1
B = (X0 + 375, Y0 + 125)  # cell 1401_13840, S1
C = (X0 + 125, Y0 + 375)  # cell 1400_13841, S1
D = (X0 + 625, Y0 + 625)  # cell 1402_13842, S1
E = (X0 + 1125, Y0 + 125)  # cell 1404_13840, S2
FAR_EAST = (X0 + 50_125, Y0 + 125)
FAR_WEST = (X0 - 49_875, Y0 + 125)
CELL = {"A": "1400_13840", "B": "1401_13840", "C": "1400_13841", "D": "1402_13842"}
CELL["E"] = "1404_13840"
CELL["west"] = "1200_13840"

_TO_WGS84 = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)


def lonlat(point: tuple[float, float]) -> tuple[float, float]:
    lon, lat = _TO_WGS84.transform(*point)
    return round(float(lon), 8), round(float(lat), 8)


def stations() -> gpd.GeoDataFrame:
    polys = [
        shapely.box(X0, Y0, X0 + 1000, Y0 + 1000),
        shapely.box(X0 + 1000, Y0, X0 + 2000, Y0 + 1000),
    ]
    frame = gpd.GeoDataFrame(
        {
            "station_id": ["S1", "S2"],
            "name": ["一所", "二所"],
            "station_type": ["regional", "regional"],
            "officers": [30, 30],
        },
        geometry=polys,
        crs=CRS,
    )
    return frame.to_crs("EPSG:4326")


def _ping(unit, station, when, point, status="patrol", officers="") -> dict:
    lon, lat = lonlat(point)
    return {
        "unit_id": unit,
        "station_id": station,
        "recorded_at": when.strftime("%Y-%m-%dT%H:%M:%S"),
        "lat": lat,
        "lon": lon,
        "status": status,
        "officers": officers,
    }


def pings() -> pd.DataFrame:
    rows = []
    day = pd.Timestamp("2025-12-01 09:00:00")
    for t in range(0, 601, 60):
        rows.append(_ping("U1", "S1", day + pd.Timedelta(seconds=t), A, officers=2))
    rows.append(_ping("U1", "S1", day + pd.Timedelta(seconds=300), A, officers=2))  # duplicate
    for t, point, status in [
        (660, B, "patrol"),
        (720, B, "patrol"),
        (1020, B, "patrol"),
        (1080, FAR_EAST, "patrol"),
        (1140, B, "patrol"),
        (1200, B, "responding"),
        (1260, B, "responding"),
        (1320, B, "off_duty"),
    ]:
        rows.append(_ping("U1", "S1", day + pd.Timedelta(seconds=t), point, status, 2))
    night = pd.Timestamp("2025-12-02 03:00:00")
    for t in range(0, 361, 30):
        rows.append(_ping("U2", "S1", night + pd.Timedelta(seconds=t), A))
    rows.append(_ping("U2", "S1", night + pd.Timedelta(seconds=390), C))
    third = pd.Timestamp("2025-12-03 10:00:00")
    for t in range(0, 601, 60):
        rows.append(_ping("U3", "S2", third + pd.Timedelta(seconds=t), E, "off_duty"))
        rows.append(_ping("U4", "S2", third + pd.Timedelta(seconds=t), FAR_WEST))
    frame = pd.DataFrame(rows)
    return frame.sample(frac=1.0, random_state=7).reset_index(drop=True)  # out of order


def plan() -> pd.DataFrame:
    rows = [
        ("S1", CELL["A"], "day", 1.0),
        ("S1", CELL["A"], "night", 0.1),
        ("S1", CELL["B"], "day", 0.0),
        ("S1", CELL["D"], "day", 2.0),
        ("S2", CELL["E"], "day", 1.0),
    ]
    frame = pd.DataFrame(rows, columns=["station_id", "cell_id", "shift", "hours"])
    return frame.assign(prev_hours=0.0, risk=1.0, lender_station_id="")


def calls() -> pd.DataFrame:
    """S1: two priority-1 calls answered in 8 and 12 min, a priority-2 call in 15 min and an
    unanswered priority-1 call, all in the day shift; one priority-3 call without a station
    in S2's jurisdiction, evening, 60 min."""
    lon, lat = lonlat(A)
    lon2, lat2 = lonlat(E)
    rows = [
        ("c1", "2025-12-05T09:00:00", lat, lon, "S1", 1, "2025-12-05T09:01:00",
         "2025-12-05T09:08:00", "2025-12-05T09:31:00"),
        ("c2", "2025-12-05T10:00:00", lat, lon, "S1", 1, "", "2025-12-05T10:12:00", ""),
        ("c3", "2025-12-06T11:00:00", lat, lon, "S1", 2, "", "2025-12-06T11:15:00", ""),
        ("c4", "2025-12-06T12:00:00", lat, lon, "S1", 1, "", "", ""),
        ("c5", "2025-12-07T20:00:00", lat2, lon2, "", 3, "", "2025-12-07T21:00:00", ""),
    ]  # fmt: skip
    return pd.DataFrame(
        rows,
        columns=[
            "call_id",
            "received_at",
            "lat",
            "lon",
            "station_id",
            "priority",
            "dispatched_at",
            "arrived_at",
            "cleared_at",
        ],
    )


def write_folder(folder: Path) -> Path:
    """The tracks and calls above in a data folder with the two stations (CSV)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "stations.geojson").write_text(stations().to_json(drop_id=True), encoding="utf-8")
    pings().to_csv(folder / "patrol_tracks.csv", index=False)
    calls().to_csv(folder / "calls.csv", index=False)
    return folder


EXPECTED_DOSE = {  # (station, cell, shift): (delivered officer-hours, visits)
    ("S1", CELL["A"], "day"): (1320 / 3600, 1),
    ("S1", CELL["B"], "day"): (240 / 3600, 0),
    ("S1", CELL["A"], "night"): (390 / 3600, 1),
    ("S2", CELL["west"], "day"): (600 / 3600, 1),
}
assert np.isclose(sum(h for h, _ in EXPECTED_DOSE.values()), 2550 / 3600)


def store_only(out: Path, tables: dict[str, pd.DataFrame]) -> None:
    """A store in `out` holding the baseline plan for 2025-12 (`plan()`) and `tables` (name →
    rows) of that month and scenario, with no run folder beside it (archived, say)."""
    from sqlalchemy import create_engine

    from optimizer.manifest import default_store_url

    out.mkdir()
    stored = {"plan_month": "2025-12", "scenario": "baseline"}
    engine = create_engine(default_store_url(out))
    try:
        for name, rows in {"allocation": plan(), **tables}.items():
            rows.assign(**stored).to_sql(name, engine, index=False)
        pd.DataFrame([stored]).to_sql("runs", engine, index=False)
    finally:
        engine.dispose()
