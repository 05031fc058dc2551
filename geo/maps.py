"""Planner maps (SPEC §9) and the GIS copy of a plan.

`plan_map` is a folium page that opens on an air-gapped network and shows the data's names only
as text (`geo.leaflet`); only the basemap tiles are fetched, and `tiles = "none"` turns them
off. `svg_map` draws small inline-SVG maps for the leadership report, and `write_geopackage`
writes the layers QGIS and ArcGIS open as one file. All frames are WGS84.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely

from geo.crs import frame_to_gcj02
from geo.leaflet import OfflineMap, TextPopup, TextTooltip, numbered, tile_layer

MAX_CELLS = 50_000  # cell polygons on one map, all layers together; beyond, k×k blocks
DECIMALS = 5  # coordinate decimals on the page: about 1 m, plenty for 100 m cells
FONTS = "'Noto Sans CJK SC','Microsoft YaHei','PingFang SC','Helvetica Neue',Arial,sans-serif"

RISK_COLOURS = ("#fee5d9", "#fcae91", "#fb6a4a", "#de2d26", "#a50f15")
HOURS_COLOURS = ("#eff3ff", "#bdd7e7", "#6baed6", "#3182bd", "#08519c")
CHANGE_COLOURS = ("#ca0020", "#f4a582", "#92c5de", "#0571b0")  # much fewer … much more hours
SCHEDULED_COLOUR = "#252525"
GPKG_STAMP = "2000-01-01T00:00:00Z"  # GeoPackage write time when none is given: files compare


@dataclass(frozen=True)
class MapText:
    """Every word of a planner map in its reader's language; the map itself knows none.

    `layers` names the layers, legend titles and notes (keys `basemap`, `risk`, `hours`,
    `change`, `scheduled`, `stations`, `hotspots`, `blocks` with `{k}`, `outline`); `fields` heads
    the tooltip and popup rows by column; `shifts` names each shift code."""

    layers: Mapping[str, str]
    fields: Mapping[str, str]
    shifts: Mapping[str, str] = field(default_factory=dict)

    def shift(self, code: object) -> str:
        return self.shifts.get(str(code), str(code))

    def heading(self, column: str) -> str:
        """Column `column` as a tooltip heading; `hours_<shift>` becomes "hours · shift"."""
        if column in self.fields:
            return self.fields[column]
        kind, _, shift = column.partition("_")
        if kind in ("hours", "change") and shift:
            return f"{self.fields.get(kind, kind)} · {self.shift(shift)}"
        return column


def rounded(frame: gpd.GeoDataFrame, tolerance: float = 0.0) -> gpd.GeoDataFrame:
    """`frame` with its outlines simplified by `tolerance` degrees and its coordinates rounded to
    `DECIMALS`: the page carries about a third of the digits and looks the same."""
    geoms = frame.geometry.values
    if tolerance:
        geoms = shapely.simplify(geoms, tolerance, preserve_topology=True)
    geoms = shapely.transform(geoms, lambda xy: np.round(xy, DECIMALS))
    return frame.set_geometry(gpd.GeoSeries(geoms, index=frame.index, crs=frame.crs))


def block_ids(cell_ids: pd.Series, k: int) -> pd.Series:
    """The k×k block of every grid cell, named after its lower-left cell (`"{ix}_{iy}"`); with
    k = 1 the cells themselves."""
    ids = cell_ids.astype(str)
    if k == 1:
        return ids
    ij = ids.str.split("_", expand=True).astype(np.int64)
    return ((ij[0] // k) * k).astype(str) + "_" + ((ij[1] // k) * k).astype(str)


def block_size(drawn: pd.DataFrame, max_cells: int = MAX_CELLS) -> int:
    """The smallest block side k that keeps the map's cell polygons, all layers together, at
    `max_cells` or fewer: `drawn` has a row per polygon the layers would draw cell by cell
    (`layer, shift, cell_id`). Past the limit a browser slows and the page swells (about 300
    bytes a polygon), so cells are merged into k×k blocks."""
    drawn = drawn.drop_duplicates()
    k = 1
    while len(drawn.assign(cell_id=block_ids(drawn["cell_id"], k)).drop_duplicates()) > max_cells:
        k += 1
    return k


def class_breaks(values: pd.Series, n: int) -> np.ndarray:
    """Upper bounds of up to `n` quantile classes of the positive `values`, the last one the
    maximum: a few skewed cells do not wash every other cell out."""
    positive = values[values > 0]
    if positive.empty:
        return np.array([1.0])
    return np.unique(np.quantile(positive, np.linspace(0, 1, n + 1)[1:]))


def class_colours(palette: tuple[str, ...], n: int) -> list[str]:
    """`n` colours spread over `palette` (light to dark)."""
    if n == 1:
        return [palette[-1]]
    return [palette[round(i * (len(palette) - 1) / (n - 1))] for i in range(n)]


def _number(value: float) -> str:
    return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def _classed(breaks: np.ndarray, palette: tuple[str, ...]):
    colours = class_colours(palette, len(breaks))

    def colour(value: float) -> str:
        return colours[min(int(np.searchsorted(breaks, value, side="left")), len(colours) - 1)]

    legend = [(c, f"≤ {_number(b)}") for c, b in zip(colours, breaks, strict=True)]
    return colour, legend


def _change_classes(change: pd.Series):
    cut = float(change[change < 0].abs().median()) if (change < 0).any() else 1.0
    add = float(change[change > 0].median()) if (change > 0).any() else 1.0
    bounds = (-cut, 0.0, add)

    def colour(value: float) -> str:
        return CHANGE_COLOURS[int(np.searchsorted(bounds, value, side="left"))]

    labels = (
        f"< −{_number(cut)}",
        f"−{_number(cut)} … 0",
        f"0 … +{_number(add)}",
        f"> +{_number(add)}",
    )
    present = {colour(v) for v in change}
    return colour, [(c, t) for c, t in zip(CHANGE_COLOURS, labels, strict=True) if c in present]


def _geojson(frame: gpd.GeoDataFrame) -> dict:
    return frame.to_geo_dict(drop_id=True)


def _add_layer(
    m: folium.Map,
    frame: gpd.GeoDataFrame,
    name: str,
    style,
    fields: list[str],
    text: MapText,
    show: bool = False,
    popup: bool = False,
) -> None:
    """Add `frame` as a layer: hovering shows `fields` (with `popup`, the first two, and a click
    shows them all), as text; `name` is escaped for the layer control, which shows it as HTML."""
    if frame.empty:
        return
    aliases = [text.heading(f) for f in fields]
    hover = fields[:2] if popup else fields
    folium.GeoJson(
        _geojson(frame),
        name=html.escape(name),
        show=show,
        style_function=style,
        tooltip=TextTooltip(fields=hover, aliases=aliases[: len(hover)]),
        popup=TextPopup(fields=fields, aliases=aliases) if popup else None,
    ).add_to(m)


def _swatch(colour: str) -> str:
    return colour if ":" in colour else f"background:{colour}"


Legend = Sequence[tuple[str, Sequence[tuple[str, str]]]]  # (title, [(colour or css, label)])


def _legend(sections: Legend, note: str) -> str:
    rows = []
    for title, items in sections:
        swatches = "".join(
            f'<span class="lg-item"><i style="{html.escape(_swatch(c))}"></i>'
            f"{html.escape(label)}</span>"
            for c, label in items
        )
        rows.append(f"<div><b>{html.escape(title)}</b><div>{swatches}</div></div>")
    if note:
        rows.append(f"<div><i>{html.escape(note)}</i></div>")
    return (
        "<style>#legend{position:fixed;bottom:24px;right:10px;z-index:9999;background:#fff;"
        f"padding:6px 8px;font:12px/1.4 {FONTS};max-width:380px;border-radius:4px;"
        "box-shadow:0 1px 5px rgba(0,0,0,.4)}#legend b{display:block;margin-top:2px}"
        ".lg-item{display:inline-block;margin-right:8px;white-space:nowrap}"
        ".lg-item i{display:inline-block;width:12px;height:12px;margin-right:3px;"
        "vertical-align:-2px;border:1px solid #999}"
        f".leaflet-container{{font-family:{FONTS}}}</style>"
        f'<div id="legend">{"".join(rows)}</div>'
    )


def _station_layer(m: folium.Map, stations: gpd.GeoDataFrame, text: MapText) -> None:
    fields = [c for c in stations.columns if c in text.fields or c.startswith("hours_")]
    _add_layer(
        m,
        rounded(stations),
        text.layers["stations"],
        lambda f: {
            "fillColor": f["properties"]["fill"],
            "color": "#333333",
            "weight": 1.5,
            "fillOpacity": 0.35,
        },
        fields,
        text,
        show=True,
        popup=True,
    )


def _hotspot_layers(m: folium.Map, hotspots: gpd.GeoDataFrame, text: MapText) -> None:
    spots = rounded(hotspots, tolerance=10**-DECIMALS)
    fields = [c for c in spots.columns if c in text.fields]
    for layer, part in spots.groupby("layer", sort=False):
        _add_layer(
            m,
            part,
            f"{text.layers['hotspots']} · {layer} ({len(part)})",
            lambda f: {"color": f["properties"]["colour"], "weight": 2, "fillOpacity": 0.15},
            fields,
            text,
            show=True,
            popup=True,
        )


def _shift_layers(
    m: folium.Map,
    shapes: gpd.GeoDataFrame,
    values: pd.DataFrame,
    column: str,
    palette: tuple[str, ...],
    text: MapText,
) -> list[tuple[str, str]]:
    """One layer per shift of `values[column]` in quantile classes; returns the legend items."""
    colour, legend = _classed(class_breaks(values[column], len(palette)), palette)
    for shift, part in values.groupby("shift", sort=False):
        _add_layer(
            m,
            shapes.merge(part.assign(shift=text.shift(shift)), on="cell_id"),
            f"{text.layers[column]} · {text.shift(shift)}",
            lambda f, c=column: {
                "fillColor": colour(float(f["properties"][c])),
                "weight": 0,
                "fillOpacity": 0.75,
            },
            ["cell_id", "shift", column],
            text,
        )
    return legend


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
    legends: Legend = (),
    title: str = "",
    max_cells: int = MAX_CELLS,
    tiles_datum: str = "wgs84",
) -> folium.Map:
    """A planner's map, every word from `text`.

    Layers: jurisdictions filled with their `fill` colour (hover and popup: the columns `text`
    heads, and `hours_<shift>`), forecast risk and patrol hours per shift, change in hours
    against last month, cells with visits in the schedule, hotspots one layer per `layer` value
    outlined in their `colour` (popup: the columns `text` heads); a legend (`legends` first,
    then the classes drawn here) and a layer control. `stations` and `hotspots` carry their
    values as the reader should see them; `cells` holds `cell_id, geometry`, `risk` is `cell_id,
    shift, risk`, `allocation` is `cell_id, shift, hours, prev_hours` per cell and shift,
    `schedule` is `schedule.csv`. Past `max_cells` cell polygons (all layers together) the grid
    is drawn in k×k blocks, their values summed (see `block_size`). `tiles_datum = "gcj02"`
    shifts every layer onto GCJ-02 basemap tiles."""
    if tiles_datum == "gcj02":
        stations, cells, hotspots = (frame_to_gcj02(f) for f in (stations, cells, hotspots))
    labels = text.layers
    risk = risk[risk["risk"] > 0]
    moved = (allocation["hours"] - allocation["prev_hours"]).abs() >= 0.05
    drawn = pd.concat(
        [
            risk[["shift", "cell_id"]].assign(layer="risk"),
            allocation.loc[allocation["hours"] > 0, ["shift", "cell_id"]].assign(layer="hours"),
            allocation.loc[moved, ["cell_id"]].assign(layer="change", shift=""),
            schedule[["cell_id"]].assign(layer="scheduled", shift=""),
        ]
    )
    k = block_size(drawn, max_cells)
    blocks = block_ids(cells["cell_id"], k)
    shapes = cells[["cell_id", "geometry"]].assign(cell_id=blocks.to_numpy())
    if k > 1:  # merged squares keep their inner corners: simplifying drops them
        shapes = shapes.dissolve("cell_id", method="coverage", as_index=False)
    shapes = rounded(shapes, tolerance=10**-DECIMALS / 2 if k > 1 else 0.0)
    to_block = dict(zip(cells["cell_id"].astype(str), blocks, strict=True))

    def per_block(frame: pd.DataFrame, values: list[str]) -> pd.DataFrame:
        frame = frame.assign(cell_id=frame["cell_id"].astype(str).map(to_block))
        return frame.groupby(["cell_id", "shift"], as_index=False, sort=False)[values].sum()

    minx, miny, maxx, maxy = stations.total_bounds
    m = OfflineMap(location=[(miny + maxy) / 2, (minx + maxx) / 2], tiles=None, control_scale=True)
    m.fit_bounds([[miny, minx], [maxy, maxx]])
    basemap = tile_layer(tiles, attribution, labels["basemap"])
    if basemap is not None:
        basemap.add_to(m)
    _station_layer(m, stations, text)

    risk = per_block(risk, ["risk"]).round({"risk": 3})
    risk_legend = _shift_layers(m, shapes, risk, "risk", RISK_COLOURS, text)
    alloc = per_block(allocation, ["hours", "prev_hours"])
    hours = alloc.loc[alloc["hours"] > 0, ["cell_id", "shift", "hours"]].round({"hours": 1})
    hours_legend = _shift_layers(m, shapes, hours, "hours", HOURS_COLOURS, text)

    change = alloc.assign(change=alloc["hours"] - alloc["prev_hours"]).pivot_table(
        index="cell_id", columns="shift", values="change", aggfunc="sum", fill_value=0.0
    )
    change = change.add_prefix("change_").assign(change=change.sum(axis=1)).round(1)
    change = change[change["change"].abs() >= 0.05].reset_index()
    change_colour, change_legend = _change_classes(change["change"])
    _add_layer(
        m,
        shapes.merge(change, on="cell_id"),
        labels["change"],
        lambda f: {
            "fillColor": change_colour(float(f["properties"]["change"])),
            "weight": 0,
            "fillOpacity": 0.75,
        },
        ["cell_id", "change", *[c for c in change.columns if c.startswith("change_")]],
        text,
    )

    visits = schedule.assign(cell_id=schedule["cell_id"].astype(str).map(to_block))
    visits = visits.groupby("cell_id", as_index=False).agg(
        visits=("visit", "size"),
        minutes=("minutes", "sum"),
        shifts=("shift", lambda s: ", ".join(text.shift(x) for x in sorted(s.unique()))),
    )
    _add_layer(
        m,
        shapes.merge(visits, on="cell_id"),
        labels["scheduled"],
        lambda f: {
            "color": SCHEDULED_COLOUR,
            "weight": 1.5,
            "dashArray": "4 3",
            "fillColor": SCHEDULED_COLOUR,
            "fillOpacity": 0.05,
        },
        ["cell_id", "visits", "minutes", "shifts"],
        text,
    )
    _hotspot_layers(m, hotspots, text)

    sections = [
        *legends,
        (labels["risk"], risk_legend),
        (labels["hours"], hours_legend),
        (labels["change"], change_legend),
        (labels["scheduled"], [(f"border:2px dashed {SCHEDULED_COLOUR}", labels["outline"])]),
    ]
    root = m.get_root()
    root.html.add_child(
        folium.Element(_legend(sections, labels["blocks"].format(k=k) if k > 1 else ""))
    )
    if title:
        root.html.add_child(
            folium.Element(
                '<div id="map-title" style="position:fixed;top:10px;left:56px;z-index:9999;'
                f"background:#fff;padding:4px 10px;font:bold 15px {FONTS};border-radius:4px;"
                f'box-shadow:0 1px 5px rgba(0,0,0,.4)">{html.escape(title)}</div>'
            )
        )
    folium.LayerControl(collapsed=False).add_to(m)
    return numbered(m)


def svg_map(
    frame: gpd.GeoDataFrame,
    fill: pd.Series,
    labels: pd.Series | None = None,
    titles: pd.Series | None = None,
    width: int = 260,
) -> str:
    """`frame`'s polygons as inline SVG, each filled with its `fill` colour, labelled with
    `labels` at an inside point and with `titles` as hover text: a small map that needs no
    script, for the report. Equirectangular at the frame's mid latitude, good at city scale."""
    geo = frame.to_crs("EPSG:4326")
    minx, miny, maxx, maxy = geo.total_bounds
    kx = math.cos(math.radians((miny + maxy) / 2))
    scale = (width - 4) / max((maxx - minx) * kx, 1e-9)
    height = math.ceil((maxy - miny) * scale) + 4

    def to_px(xy: np.ndarray) -> np.ndarray:
        return np.column_stack((2 + (xy[:, 0] - minx) * kx * scale, 2 + (maxy - xy[:, 1]) * scale))

    shapes = shapely.simplify(shapely.transform(geo.geometry.values, to_px), 0.4)
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
