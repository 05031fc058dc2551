"""Planner maps (SPEC §9) and the GIS copy of a plan.

`plan_map` is a folium page that opens on an air-gapped network and shows the data's names only
as text (`geo.leaflet`); only the basemap tiles are fetched, and `tiles = "none"` turns them
off, leaving the jurisdictions' outlines and names as context. `svg_map` draws small inline-SVG
maps for the leadership report on an `SvgView` (printed pages draw on one too), and
`write_geopackage` writes the layers QGIS and ArcGIS open as one file. All frames are WGS84.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from geo.crs import frame_to_gcj02
from geo.grid import Grid
from geo.layers import (
    DECIMALS,
    LABEL_STYLE,
    MAX_CELLS,
    LineGroup,
    MapText,
    block_size,
    cell_table,
    change_layer,
    crew_text,
    delivery_layers,
    hotspot_layers,
    line_layer,
    outline_layers,
    rounded,
    scheduled_layer,
    scheduled_visits,
    shift_layers,
    station_layer,
)
from geo.leaflet import OfflineMap, numbered, tile_layer
from geo.legend import (
    FONTS,
    HOURS_COLOURS,
    RISK_COLOURS,
    SCHEDULED_COLOUR,
    Items,
    LegendControl,
    Section,
)

GPKG_STAMP = "2000-01-01T00:00:00Z"  # GeoPackage write time when none is given: files compare
EXECUTION_COLUMNS = ["station_id", "cell_id", "shift", "planned_hours", "delivered_hours", "visits"]
CREW_COLUMNS = ["cell_id", "shift", "by", "hours", "lender"]
PLACE_COLUMNS = ["cell_id", "station"]


def plan_map(
    stations: gpd.GeoDataFrame,
    cells: gpd.GeoDataFrame,
    risk: pd.DataFrame,
    allocation: pd.DataFrame,
    hotspots: gpd.GeoDataFrame,
    schedule: pd.DataFrame,
    tiles: str,
    attribution: str,
    text: MapText,
    legends: Sequence[tuple[str, str, Items]] = (),
    title: str = "",
    crews: pd.DataFrame | None = None,
    change: bool = True,
    execution: pd.DataFrame | None = None,
    max_cells: int = MAX_CELLS,
    tiles_datum: str = "wgs84",
    lines: Sequence[LineGroup] = (),
    places: pd.DataFrame | None = None,
) -> folium.Map:
    """A planner's map, every word from `text`, every shift in its configured order.

    Layers: jurisdictions filled with their `fill` colour (hover and popup: the columns `text`
    heads, and `hours_<shift>`), their outlines and `label`s over everything; forecast risk and
    patrol hours per shift (the busiest shift's hours on at start; with `crews`, `cell_id,
    shift, by, hours, lender`, whose officers patrol each cell, `lender` naming the station
    that lends them as mutual aid, "" for the cell's own); with `change`, the change in hours
    against last month; with `execution` (`EXECUTION_COLUMNS`), delivered against planned hours
    per shift; cells with visits in the schedule; hotspots one layer per `layer` value outlined
    in their `colour` (popup: the columns `text` heads). A click on any cell shows its station
    (`places`: `cell_id, station`, named as the reader names it), its id, its risk and hours
    per shift and the aid it receives (`cell_table`). Each legend box (`legends`, each `(kind,
    title, items)` tied to the layers of `kind` — "stations", "hotspots" or "routes" — or
    always shown for kind "", then the classes drawn here, with units) shows while a layer it
    explains is on; a layer control at the top right. `stations` and `hotspots` carry their
    values as the reader should see them; `cells` holds `cell_id, geometry`, `risk` is
    `cell_id, shift, risk`, `allocation` is `cell_id, shift, hours, prev_hours` per cell and
    shift, `schedule` is `schedule.csv`. Past `max_cells` cell polygons (all layers together)
    the grid is drawn in k×k blocks, their values summed (see `block_size`). Each of `lines` is
    a layer of coloured lines and points along them, over the hotspots (`line_layer`, off at
    start). `tiles_datum = "gcj02"` shifts every layer onto GCJ-02 basemap tiles."""
    if tiles_datum == "gcj02":
        stations, cells, hotspots = (frame_to_gcj02(f) for f in (stations, cells, hotspots))
        lines = [
            replace(g, lines=frame_to_gcj02(g.lines), points=frame_to_gcj02(g.points))
            for g in lines
        ]
    labels = text.layers
    visits = scheduled_visits(schedule)
    risk = risk[risk["risk"] > 0]
    moved = (allocation["hours"] - allocation["prev_hours"]).abs() >= 0.05
    drawn = [
        risk[["shift", "cell_id"]].assign(layer="risk"),
        allocation.loc[allocation["hours"] > 0, ["shift", "cell_id"]].assign(layer="hours"),
        visits[["cell_id"]].assign(layer="scheduled", shift=""),
    ]
    if change:
        drawn.append(allocation.loc[moved, ["cell_id"]].assign(layer="change", shift=""))
    if execution is not None:
        drawn.append(execution[["shift", "cell_id"]].assign(layer="delivered"))
    drawn_frame = pd.concat(drawn)
    k = block_size(drawn_frame, max_cells)
    blocks = Grid.block_ids(cells["cell_id"], k)
    shapes = cells[["cell_id", "geometry"]].assign(cell_id=blocks.to_numpy())
    if k > 1:  # merged squares keep their inner corners: simplifying drops them
        shapes = shapes.dissolve("cell_id", method="coverage", as_index=False)
    shapes = rounded(shapes, tolerance=10**-DECIMALS / 2 if k > 1 else 0.0)
    to_block = dict(zip(cells["cell_id"].astype(str), blocks, strict=True))

    def in_blocks(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(cell_id=frame["cell_id"].astype(str).map(to_block))

    def per_block(frame: pd.DataFrame, values: list[str]) -> pd.DataFrame:
        return (
            in_blocks(frame).groupby(["cell_id", "shift"], as_index=False, sort=False)[values].sum()
        )

    minx, miny, maxx, maxy = stations.total_bounds
    m = OfflineMap(location=[(miny + maxy) / 2, (minx + maxx) / 2], tiles=None, control_scale=True)
    m.fit_bounds([[miny, minx], [maxy, maxx]])
    basemap = tile_layer(tiles, attribution, labels["basemap"])
    if basemap is not None:
        basemap.add_to(m)
    station = station_layer(m, stations, text)

    risk = per_block(risk, ["risk"])
    alloc = per_block(allocation, ["hours", "prev_hours"])
    hours = alloc.loc[alloc["hours"] > 0, ["cell_id", "shift", "hours"]]
    crews = in_blocks(crews if crews is not None else pd.DataFrame(columns=CREW_COLUMNS))
    table = cell_table(
        in_blocks(drawn_frame)["cell_id"].dropna(),  # cells off the grid are not drawn
        in_blocks(places if places is not None else pd.DataFrame(columns=PLACE_COLUMNS)),
        risk,
        alloc,
        crews[crews["lender"] != ""],
        text,
    )
    table.add_to(m)

    risk_layers = shift_layers(m, shapes, risk, "risk", RISK_COLOURS, text, table)
    sections = [(text.titled("risk"), *risk_layers)]
    busiest = hours.groupby("shift", sort=False)["hours"].sum().idxmax() if len(hours) else None
    fields: tuple[str, ...] = ()
    if len(crews):
        hours = hours.merge(crew_text(crews, text), on=["cell_id", "shift"], how="left")
        hours["by"] = hours["by"].fillna("")
        fields = ("by",)
    sections.append(
        (
            text.titled("hours"),
            *shift_layers(m, shapes, hours, "hours", HOURS_COLOURS, text, table, fields, busiest),
        )
    )
    if change:
        sections.append((text.titled("change"), *change_layer(m, shapes, alloc, text, table)))
    if execution is not None:
        done = per_block(execution, ["planned_hours", "delivered_hours", "visits"])
        done = done.round({"planned_hours": 1, "delivered_hours": 1})
        sections.append((text.titled("delivered"), *delivery_layers(m, shapes, done, text, table)))
    scheduled = scheduled_layer(m, shapes, visits, to_block, text, table)
    sections.append(
        (
            labels["scheduled"],
            [(f"border:2px dashed {SCHEDULED_COLOUR}", labels["outline"])],
            [scheduled] if scheduled is not None else [],
        )
    )
    tied = {
        "stations": [station] if station is not None else [],
        "hotspots": hotspot_layers(m, hotspots, text),
        "routes": [line_layer(m, group, text) for group in lines],
        "": None,
    }
    outline_layers(m, stations, text)

    root = m.get_root()
    root.header.add_child(folium.Element(f"<style>{LABEL_STYLE}</style>"), name="labels")
    if title:
        root.html.add_child(
            folium.Element(
                '<div id="map-title" style="position:fixed;top:10px;left:56px;z-index:9999;'
                f"background:#fff;padding:4px 10px;font:bold 15px {FONTS};border-radius:4px;"
                f'box-shadow:0 1px 5px rgba(0,0,0,.4)">{html.escape(title)}</div>'
            )
        )
    folium.LayerControl(collapsed=False).add_to(m)
    note = [Section(labels["blocks"].format(k=k), ())] if k > 1 else []
    LegendControl(
        [
            *(Section(title, items, tied[kind]) for kind, title, items in legends),
            *(Section(title, items, layers) for title, items, layers in sections),
            *note,
        ]
    ).add_to(m)
    return numbered(m)


@dataclass(frozen=True)
class SvgView:
    """WGS84 longitude and latitude onto an SVG canvas of `width` × `height` px, north up:
    equirectangular at the mid latitude of what it shows (good at city scale), `scale` px per
    degree of latitude, the drawing `pad` px inside every edge."""

    west: float
    north: float
    kx: float  # px of a degree of longitude / px of a degree of latitude
    scale: float
    width: int
    height: int
    pad: float = 2.0

    @classmethod
    def fit(
        cls,
        bounds: tuple[float, float, float, float] | np.ndarray,
        width: int,
        height: int | None = None,
        pad: float = 2.0,
        min_span: float = 0.0,
    ) -> SvgView:
        """The view of `bounds` (west, south, east, north in degrees) `width` px wide: as tall
        as the bounds' shape asks when `height` is None, else fitted into `height` and centred.
        Each side spans at least `min_span` degrees (of latitude; a few points close together
        are not blown up to fill the canvas)."""
        minx, miny, maxx, maxy = (float(b) for b in bounds)
        kx = math.cos(math.radians((miny + maxy) / 2))
        grow_x = max(min_span / kx - (maxx - minx), 0.0) / 2
        grow_y = max(min_span - (maxy - miny), 0.0) / 2
        minx, maxx, miny, maxy = minx - grow_x, maxx + grow_x, miny - grow_y, maxy + grow_y
        scale = (width - 2 * pad) / max((maxx - minx) * kx, 1e-9)
        if height is None:
            tall = math.ceil((maxy - miny) * scale + 2 * pad)
            return cls(minx, maxy, kx, scale, width, tall, pad)
        scale = min(scale, (height - 2 * pad) / max(maxy - miny, 1e-9))
        west = (minx + maxx) / 2 - (width / 2 - pad) / (scale * kx)
        north = (miny + maxy) / 2 + (height / 2 - pad) / scale
        return cls(west, north, kx, scale, width, height, pad)

    def px(self, lonlat: np.ndarray) -> np.ndarray:
        """Points (n × 2: longitude, latitude) as canvas pixels (n × 2: x right, y down)."""
        xy = np.asarray(lonlat, dtype=float).reshape(-1, 2)
        return np.column_stack(
            (
                self.pad + (xy[:, 0] - self.west) * self.kx * self.scale,
                self.pad + (self.north - xy[:, 1]) * self.scale,
            )
        )


def svg_map(
    frame: gpd.GeoDataFrame,
    fill: pd.Series,
    labels: pd.Series | None = None,
    titles: pd.Series | None = None,
    width: int = 260,
) -> str:
    """`frame`'s polygons as inline SVG, each filled with its `fill` colour, labelled with
    `labels` at an inside point and with `titles` as hover text: a small map that needs no
    script, for the report (`SvgView`)."""
    geo = frame.to_crs("EPSG:4326")
    view = SvgView.fit(geo.total_bounds, width)
    width, height = view.width, view.height
    shapes = shapely.simplify(shapely.transform(geo.geometry.values, view.px), 0.4)
    parts = []
    for i, shape in enumerate(shapes):
        rings = [
            ring
            for polygon in getattr(shape, "geoms", [shape])
            for ring in (polygon.exterior, *polygon.interiors)
        ]
        path = "".join(
            "M" + "L".join(f"{x:.1f},{y:.1f}" for x, y in ring.coords[:-1]) + "Z" for ring in rings
        )
        title = f"<title>{html.escape(str(titles.iloc[i]))}</title>" if titles is not None else ""
        parts.append(
            f'<path d="{path}" fill="{html.escape(str(fill.iloc[i]))}" stroke="#444" '
            f'stroke-width="0.8" fill-rule="evenodd">{title}</path>'
        )
    if labels is not None:
        for shape, label in zip(shapes, labels, strict=True):
            point = shape.representative_point()
            parts.append(
                f'<text x="{point.x:.1f}" y="{point.y + 3:.1f}" font-size="9" '
                'text-anchor="middle" stroke="#fff" stroke-width="2" paint-order="stroke">'
                f"{html.escape(str(label))}</text>"
            )
    return (
        f'<svg class="map" width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
        f"{''.join(parts)}</svg>"
    )


@contextmanager
def _gdal_options(**options: str) -> Iterator[None]:
    before = {key: pyogrio.get_gdal_config_option(key) for key in options}
    pyogrio.set_gdal_config_options(options)
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options(before)


def write_geopackage(
    layers: dict[str, gpd.GeoDataFrame], path: Path, stamp: str = GPKG_STAMP
) -> None:
    """Every frame as a layer of one GeoPackage at `path` (replaced), the form QGIS and ArcGIS
    open directly. `stamp` (ISO 8601, UTC) is the write time the file records, so the same
    layers give the same bytes."""
    path.unlink(missing_ok=True)
    with _gdal_options(OGR_CURRENT_DATE=stamp):
        for name, frame in layers.items():
            frame.to_file(path, layer=name, driver="GPKG")
