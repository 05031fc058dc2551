"""A small plan to draw: two stations over a 4 × 4 grid, and a map's page as text."""

from __future__ import annotations

import re

import geopandas as gpd
import pandas as pd
import shapely

from geo.grid import Grid
from optimizer.plan_map import jurisdiction_layer


def page_text(page) -> str:
    """A folium map's HTML with the `\\uXXXX` escapes of its embedded JSON decoded."""
    return re.sub(r"\\u([0-9a-f]{4})", lambda m: chr(int(m.group(1), 16)), page.get_root().render())


def small_plan(
    names: tuple[str, str] = ("甲派出所", "乙派出所"),
    category: str = "theft",
    offence: str = "pickpocketing",
) -> dict:
    """Two stations side by side over a 4 × 4 grid of 0.01° cells, two shifts, one hotspot;
    the stations' `names`, the hotspot's `category` and main `offence` as given."""
    ids = [(ix, iy) for ix in range(100, 104) for iy in range(200, 204)]
    cells = gpd.GeoDataFrame(
        {"cell_id": Grid.ids(*zip(*ids, strict=True))},
        geometry=[
            shapely.box(ix / 100, iy / 100, (ix + 1) / 100, (iy + 1) / 100) for ix, iy in ids
        ],
        crs="EPSG:4326",
    )
    station_of = ["S01" if ix < 102 else "S02" for ix, _ in ids]
    allocation = pd.DataFrame(
        [
            (cell, shift, station, 10.0 if station == "S01" else 0.0, 5.0)
            for cell, station in zip(cells["cell_id"], station_of, strict=True)
            for shift in ("day", "night")
        ],
        columns=["cell_id", "shift", "station_id", "hours", "prev_hours"],
    )
    stations = gpd.GeoDataFrame(
        {"station_id": ["S01", "S02"], "name": list(names)},
        geometry=[shapely.box(1.0, 2.0, 1.02, 2.04), shapely.box(1.02, 2.0, 1.04, 2.04)],
        crs="EPSG:4326",
    )
    scores = pd.DataFrame(
        {
            "station_id": ["S01", "S02"],
            "grade": ["excellent", "unqualified"],
            "total_with_bonus": [92.5, 55.0],
            "rank": [1, 2],
            "group_size": [2, 2],
            "veto": [False, True],
            "last_place_streak": [0, 3],
        }
    )
    hotspots = gpd.GeoDataFrame(
        {
            "hotspot_id": ["H001"],
            "category": [category],
            "count": [40],
            "harm": [40.0],
            "dominant_offence": [offence],
            "peak_shift": ["day"],
            "peak_weekday": ["Friday"],
            "trend": ["intensifying"],
        },
        geometry=[shapely.Point(1.01, 2.01).buffer(0.004)],
        crs="EPSG:4326",
    )
    return {
        "stations": jurisdiction_layer(stations, scores, allocation),
        "cells": cells,
        "risk": allocation.assign(risk=1.0)[["cell_id", "shift", "risk"]],
        "allocation": allocation,
        "hotspots": hotspots,
        "schedule": pd.DataFrame(
            {
                "station_id": ["S01", "S01"],
                "date": ["2026-01-01", "2026-01-01"],
                "shift": ["day", "day"],
                "visit": [1, 2],
                "cell_id": ["100_200", "101_201"],
                "minutes": [12.0, 14.0],
            }
        ),
    }
