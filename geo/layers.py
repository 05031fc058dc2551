"""The layers of a planner map, each from frames already in the reader's words.

`MapText` carries every word; the functions here add one kind of layer each to a folium map
(jurisdictions, outlines and names, value classes per shift, change, delivered hours, scheduled
visits, hotspots, coloured lines with points along them), show the data's values only as text,
and draw the grid in k×k blocks where it has more cells than a browser draws quickly
(`block_size`).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo.grid import Grid
from geo.leaflet import CellTable, TextPopup, TextTooltip
from geo.legend import (
    FONTS,
    SCHEDULED_COLOUR,
    change_classes,
    class_breaks,
    classed,
    delivery_classes,
    hours_figure,
    risk_figure,
)

MAX_CELLS = 50_000  # cell polygons on one map, all layers together; beyond, k×k blocks
VISIT_ROWS = 1 << 22  # schedule rows counted at a time
DECIMALS = 5  # coordinate decimals on the page: about 1 m, plenty for 100 m cells
OUTLINE_COLOUR = "#202020"
LABEL_STYLE = (
    f".station-label{{font:bold 12px/1.2 {FONTS};color:#111;white-space:nowrap;"
    "text-align:center;transform:translate(-50%,-50%);width:max-content;"
    "text-shadow:0 0 3px #fff,0 0 3px #fff,0 0 2px #fff}"
)


@dataclass(frozen=True)
class MapText:
    """Every word of a planner map in its reader's language; the map itself knows none.

    `layers` names the layers, legend titles and notes (keys `basemap`, `stations`, `outlines`,
    `labels`, `risk`, `hours`, `change`, `delivered`, `scheduled`, `hotspots`; the units
    `risk_unit`, `hours_unit`, `change_unit`, `delivered_unit` and `titled` with `{layer}` and
    `{unit}`; `off_plan`, `by_hours` with `{by}` and `{hours}`, `blocks` with `{k}`, `outline`);
    `fields` heads the tooltip and popup rows by column; `shifts` names each shift code, in
    the order the bureau configured its shifts (the map lists shifts in that order)."""

    layers: Mapping[str, str]
    fields: Mapping[str, str]
    shifts: Mapping[str, str] = field(default_factory=dict)

    def shift(self, code: object) -> str:
        return self.shifts.get(str(code), str(code))

    def ordered(self, codes: Iterable[object]) -> list[str]:
        """The distinct shift `codes` in the configured order; codes not configured after them,
        in the order given."""
        given = list(dict.fromkeys(str(c) for c in codes))
        return [s for s in self.shifts if s in given] + [s for s in given if s not in self.shifts]

    def heading(self, column: str) -> str:
        """Column `column` as a tooltip heading; `hours_<shift>` becomes "hours · shift"."""
        if column in self.fields:
            return self.fields[column]
        kind, _, shift = column.partition("_")
        if kind in ("hours", "change", "risk") and shift:
            return f"{self.fields.get(kind, kind)} · {self.shift(shift)}"
        return column

    def titled(self, key: str) -> str:
        """Layer `key`'s legend title with its unit."""
        return self.layers["titled"].format(layer=self.layers[key], unit=self.layers[key + "_unit"])


def rounded(frame: gpd.GeoDataFrame, tolerance: float = 0.0) -> gpd.GeoDataFrame:
    """`frame` with its outlines simplified by `tolerance` degrees and its coordinates rounded to
    `DECIMALS`: the page carries about a third of the digits and looks the same."""
    geoms = frame.geometry.values
    if tolerance:
        geoms = shapely.simplify(geoms, tolerance, preserve_topology=True)
    geoms = shapely.transform(geoms, lambda xy: np.round(xy, DECIMALS))
    return frame.set_geometry(gpd.GeoSeries(geoms, index=frame.index, crs=frame.crs))


def block_size(drawn: pd.DataFrame, max_cells: int = MAX_CELLS) -> int:
    """The smallest block side k that keeps the map's cell polygons, all layers together, at
    `max_cells` or fewer: `drawn` has a row per polygon the layers would draw cell by cell
    (`layer, shift, cell_id`). Past the limit a browser slows and the page swells (about 300
    bytes a polygon), so cells are merged into k×k blocks (`Grid.block_ids`: the block of
    cell (ix, iy) is the one of (ix // k, iy // k), so blocks are counted on those indices)."""
    drawn = drawn.drop_duplicates()
    if len(drawn) <= max_cells:
        return 1
    cell, ids = pd.factorize(drawn["cell_id"])  # layers share cells: each id parsed once
    ix, iy = (axis[cell] for axis in Grid.parse(ids))
    kind = drawn.groupby(["layer", "shift"], sort=False).ngroup().to_numpy()
    k = 2
    while len(pd.DataFrame({"kind": kind, "x": ix // k, "y": iy // k}).drop_duplicates()) > (
        max_cells
    ):
        k += 1
    return k


def geojson(frame: gpd.GeoDataFrame) -> dict:
    return frame.to_geo_dict(drop_id=True)


def add_layer(
    m: folium.Map | folium.FeatureGroup,
    frame: gpd.GeoDataFrame,
    name: str,
    style,
    fields: list[str],
    text: MapText,
    show: bool = False,
    popup: bool = False,
    hover: Sequence[str] | None = None,
    marker: folium.CircleMarker | None = None,
    table: CellTable | None = None,
    headings: Mapping[str, str] | None = None,
) -> folium.GeoJson | None:
    """Add `frame` as a layer and return it (None when `frame` is empty): hovering shows the
    `hover` fields (with `popup` the first two of `fields` by default, else all) and with
    `popup` a click shows all `fields`, then the `table`'s rows of the feature's cell, as text;
    `headings` overrides a field's heading. `name` is escaped for the layer control, which
    shows it as HTML. Points are drawn as `marker` (Leaflet's default pin without one)."""
    if frame.empty:
        return None
    headings = headings or {}
    heads = {f: headings.get(f) or text.heading(f) for f in [*fields, *(hover or ())]}
    shown = list(hover) if hover is not None else fields[: 2 if popup else len(fields)]
    layer = folium.GeoJson(
        geojson(frame),
        name=html.escape(name),
        show=show,
        style_function=style,
        tooltip=TextTooltip(fields=shown, aliases=[heads[f] for f in shown]),
        popup=TextPopup(fields, [heads[f] for f in fields], table) if popup else None,
        marker=marker,
    )
    layer.add_to(m)
    return layer


def filled(feature: dict) -> dict:
    """The style of a value layer's cell: the colour of its `fill` property."""
    return {"fillColor": feature["properties"]["fill"], "weight": 0, "fillOpacity": 0.75}


def station_layer(
    m: folium.Map, stations: gpd.GeoDataFrame, text: MapText
) -> folium.GeoJson | None:
    """Jurisdictions filled with their `fill` colour; hover and popup: the columns `text`
    heads, then the hours of each shift in the configured order and in total."""
    per_shift = {c.removeprefix("hours_"): c for c in stations.columns if c.startswith("hours_")}
    fields = [
        *(c for c in stations.columns if c in text.fields and c != "hours"),
        *(per_shift[s] for s in text.ordered(per_shift)),
        *(["hours"] if "hours" in stations.columns else []),
    ]
    return add_layer(
        m,
        rounded(stations),
        text.layers["stations"],
        lambda f: {
            "fillColor": f["properties"]["fill"],
            "color": "#333333",
            "weight": 1,
            "fillOpacity": 0.35,
        },
        fields,
        text,
        show=True,
        popup=True,
    )


def outline_layers(m: folium.Map, stations: gpd.GeoDataFrame, text: MapText) -> None:
    """Every jurisdiction's outline and its station's `label` at an inside point, over every
    other layer and passing clicks through: the context a map without basemap needs."""
    outlines = rounded(stations[["geometry"]])
    folium.GeoJson(
        geojson(outlines),
        name=html.escape(text.layers["outlines"]),
        style_function=lambda f: {"fill": False, "color": OUTLINE_COLOUR, "weight": 2.5},
        interactive=False,
    ).add_to(m)
    names = folium.FeatureGroup(name=html.escape(text.layers["labels"]))
    points = stations.geometry.representative_point()
    names_of = stations["label"] if "label" in stations else stations["station_id"]
    for label, point in zip(names_of.astype(str), points, strict=True):
        folium.Marker(
            [round(point.y, DECIMALS), round(point.x, DECIMALS)],
            icon=folium.DivIcon(
                html=f'<div class="station-label">{html.escape(label)}</div>',
                class_name="station-label-icon",
                icon_size=(0, 0),
            ),
            interactive=False,
            keyboard=False,
        ).add_to(names)
    names.add_to(m)


def hotspot_layers(
    m: folium.Map, hotspots: gpd.GeoDataFrame, text: MapText
) -> list[folium.GeoJson]:
    """One layer per `layer` value of `hotspots`, each outlined in its `colour`."""
    spots = rounded(hotspots, tolerance=10**-DECIMALS)
    fields = [c for c in spots.columns if c in text.fields]
    layers = [
        add_layer(
            m,
            part,
            f"{text.layers['hotspots']} · {layer} ({len(part)})",
            lambda f: {"color": f["properties"]["colour"], "weight": 2, "fillOpacity": 0.15},
            fields,
            text,
            show=True,
            popup=True,
        )
        for layer, part in spots.groupby("layer", sort=False)
    ]
    return [layer for layer in layers if layer is not None]


def cell_table(
    cells: Sequence[str],
    places: pd.DataFrame,
    risk: pd.DataFrame,
    hours: pd.DataFrame,
    aid: pd.DataFrame,
    text: MapText,
) -> CellTable:
    """What a click on any cell layer shows of each of `cells` (drawn cell or block ids): its
    station (`places`: `cell_id, station`, as the reader names it; a block's stations joined),
    the cell id, forecast risk and patrol hours per shift in the configured order (`risk`:
    `cell_id, shift, risk`; `hours`: `cell_id, shift, hours`; a missing one is 0), and the
    hours other stations lend it as mutual aid (`aid`: `cell_id, shift, lender, hours`), each
    figure for reading."""
    index = pd.Index(sorted(set(cells)), name="cell_id")
    station = places.groupby("cell_id")["station"].agg(lambda s: ", ".join(dict.fromkeys(s)))
    columns = {"station_id": station.reindex(index).fillna(""), "cell_id": index.to_series()}
    for kind, frame, figure in (("risk", risk, risk_figure), ("hours", hours, hours_figure)):
        wide = frame.pivot_table(index="cell_id", columns="shift", values=kind, aggfunc="sum")
        for shift in text.ordered(wide.columns):
            columns[f"{kind}_{shift}"] = wide[shift].reindex(index).fillna(0.0).map(figure)
    lent = aid.groupby(["cell_id", "shift", "lender"], as_index=False, sort=False)["hours"].sum()
    lent = lent[lent["hours"] >= 0.05]
    order = {s: i for i, s in enumerate(text.ordered(lent["shift"]))}
    lent = lent.assign(order=lent["shift"].map(order)).sort_values(["cell_id", "order", "lender"])
    lent["aid"] = [
        f"{text.layers['by_hours'].format(by=by, hours=hours_figure(h))} · {text.shift(shift)}"
        for by, h, shift in zip(lent["lender"], lent["hours"], lent["shift"], strict=True)
    ]
    columns["aid"] = lent.groupby("cell_id", sort=False)["aid"].agg("; ".join).reindex(index)
    table = pd.DataFrame(columns).fillna("")
    return CellTable(
        [text.heading(c) for c in table.columns],
        dict(zip(index, table.to_numpy().tolist(), strict=True)),
    )


def shift_layers(
    m: folium.Map,
    shapes: gpd.GeoDataFrame,
    values: pd.DataFrame,
    column: str,
    palette: tuple[str, ...],
    text: MapText,
    table: CellTable,
    fields: tuple[str, ...] = (),
    shown: str | None = None,
) -> tuple[list[tuple[str, str]], list[folium.GeoJson]]:
    """One layer per shift of `values[column]` (in the configured order) in quantile classes,
    with `fields` after the value in its tooltip and popup, then the `table`'s rows of the
    cell; the layer of shift `shown` on at start. Returns the legend items and the layers."""
    colour, legend = classed(class_breaks(values[column], len(palette)), palette)
    figure = risk_figure if column == "risk" else hours_figure
    layers = []
    for shift in text.ordered(values["shift"]):
        part = values.loc[values["shift"] == shift, ["cell_id", column, *fields]]
        part = part.assign(fill=part[column].map(colour), **{column: part[column].map(figure)})
        layer = add_layer(
            m,
            shapes.merge(part, on="cell_id"),
            f"{text.layers[column]} · {text.shift(shift)}",
            filled,
            [column, *fields],
            text,
            show=shift == shown,
            popup=True,
            hover=[column, *fields, "cell_id"],
            table=table,
            headings={column: text.heading(f"{column}_{shift}")},
        )
        layers.append(layer)
    return legend, [layer for layer in layers if layer is not None]


def crew_text(crews: pd.DataFrame, text: MapText) -> pd.DataFrame:
    """`cell_id, shift, by`: whose officers patrol each (block of) cell(s) in each shift and
    how many hours, most first."""
    per = crews.groupby(["cell_id", "shift", "by"], as_index=False, sort=False)["hours"].sum()
    per = per[per["hours"] >= 0.05].sort_values(
        ["cell_id", "shift", "hours", "by"], ascending=[True, True, False, True]
    )
    per["by"] = [
        text.layers["by_hours"].format(by=b, hours=hours_figure(h))
        for b, h in zip(per["by"], per["hours"], strict=True)
    ]
    return per.groupby(["cell_id", "shift"], as_index=False, sort=False)["by"].agg("; ".join)


def delivery_layers(
    m: folium.Map,
    shapes: gpd.GeoDataFrame,
    execution: pd.DataFrame,
    text: MapText,
    table: CellTable,
) -> tuple[list[tuple[str, str]], list[folium.GeoJson]]:
    """One layer per shift of delivered against planned hours (`EXECUTION_COLUMNS`, summed per
    drawn cell), then the `table`'s rows of the cell; returns the legend items and layers."""
    colour, legend = delivery_classes(text.layers["off_plan"])
    planned, delivered = execution["planned_hours"], execution["delivered_hours"]
    shares = delivered / planned.where(planned > 0)
    shown = execution.assign(
        fill=[colour(p, d) for p, d in zip(planned, delivered, strict=True)],
        delivered_share=shares.map(lambda s: "" if pd.isna(s) else f"{s:.0%}"),
        planned_hours=planned.map(hours_figure),
        delivered_hours=delivered.map(hours_figure),
    )
    fields = ["planned_hours", "delivered_hours", "delivered_share", "visits"]
    layers = [
        add_layer(
            m,
            shapes.merge(
                shown.loc[shown["shift"] == shift, ["cell_id", "fill", *fields]], on="cell_id"
            ),
            f"{text.layers['delivered']} · {text.shift(shift)}",
            filled,
            fields,
            text,
            popup=True,
            hover=[*fields, "cell_id"],
            table=table,
        )
        for shift in text.ordered(shown["shift"])
    ]
    return legend, [layer for layer in layers if layer is not None]


def change_layer(
    m: folium.Map, shapes: gpd.GeoDataFrame, alloc: pd.DataFrame, text: MapText, table: CellTable
) -> tuple[list[tuple[str, str]], list[folium.GeoJson]]:
    """Cells whose hours moved against last month (in total and per shift, in the configured
    order), then the `table`'s rows of the cell; returns the legend items and the layer."""
    change = alloc.assign(change=alloc["hours"] - alloc["prev_hours"]).pivot_table(
        index="cell_id", columns="shift", values="change", aggfunc="sum", fill_value=0.0
    )
    change = change[text.ordered(change.columns)].round(1)
    change = change.add_prefix("change_").assign(change=change.sum(axis=1).round(1))
    change = change[change["change"].abs() >= 0.05].reset_index()
    colour, legend = change_classes(change["change"])
    per_shift = [c for c in change.columns if c.startswith("change_")]
    shown = change.assign(fill=change["change"].map(colour))
    for column in ("change", *per_shift):
        shown[column] = change[column].map(lambda v: f"{v:+,.1f}".replace("-", "−"))
    layer = add_layer(
        m,
        shapes.merge(shown, on="cell_id"),
        text.layers["change"],
        filled,
        ["change", *per_shift],
        text,
        popup=True,
        hover=["change", "cell_id"],
        table=table,
    )
    return legend, [layer] if layer is not None else []


def scheduled_visits(schedule: pd.DataFrame) -> pd.DataFrame:
    """`cell_id, shift, visits, minutes`: the visits of `schedule` (`schedule.csv`, one row per
    visit) and their minutes per cell and shift, the few rows a map draws from a schedule of
    millions of visits; counted on the codes of its categorical ids, `VISIT_ROWS` rows at a
    time."""
    cell = schedule["cell_id"].astype("category").cat
    shift = schedule["shift"].astype("category").cat
    cells, shifts = cell.codes.to_numpy(), shift.codes.to_numpy()
    minutes = schedule["minutes"].to_numpy()
    n_shifts = len(shift.categories)
    size = len(cell.categories) * n_shifts
    visits, total = np.zeros(size, np.int64), np.zeros(size)
    for start in range(0, len(schedule), VISIT_ROWS):
        part = slice(start, start + VISIT_ROWS)
        key = cells[part].astype(np.int64) * n_shifts + shifts[part]
        visits += np.bincount(key, minlength=size)
        total += np.bincount(key, weights=minutes[part], minlength=size)
    seen = np.flatnonzero(visits)
    return pd.DataFrame(
        {
            "cell_id": pd.Series(cell.categories[seen // n_shifts], dtype=str),
            "shift": pd.Series(shift.categories[seen % n_shifts], dtype=str),
            "visits": visits[seen],
            "minutes": total[seen].astype(np.int64),  # whole minutes, summed exactly
        }
    )


def scheduled_layer(
    m: folium.Map,
    shapes: gpd.GeoDataFrame,
    visits: pd.DataFrame,
    to_block: dict[str, str],
    text: MapText,
    table: CellTable,
) -> folium.GeoJson | None:
    """Cells with visits (`scheduled_visits`), their visits, minutes and shifts (in the
    configured order) per drawn cell, then the `table`'s rows of the cell."""
    per = visits.assign(cell_id=visits["cell_id"].map(to_block))
    per = per.groupby("cell_id", as_index=False).agg(
        visits=("visits", "sum"),
        minutes=("minutes", "sum"),
        shifts=("shift", lambda s: ", ".join(text.shift(x) for x in text.ordered(s))),
    )
    return add_layer(
        m,
        shapes.merge(per, on="cell_id"),
        text.layers["scheduled"],
        lambda f: {
            "color": SCHEDULED_COLOUR,
            "weight": 1.5,
            "dashArray": "4 3",
            "fillColor": SCHEDULED_COLOUR,
            "fillOpacity": 0.05,
        },
        ["visits", "minutes", "shifts"],
        text,
        popup=True,
        hover=["visits", "shifts", "cell_id"],
        table=table,
    )


@dataclass(frozen=True)
class LineGroup:
    """Lines and points along them, drawn together as one layer `name`, each in the colour of
    its `colour` column: hovering a line shows its `line_fields`, clicking a point shows its
    `point_fields` (both frames WGS84)."""

    name: str
    lines: gpd.GeoDataFrame
    points: gpd.GeoDataFrame
    line_fields: tuple[str, ...] = ()
    point_fields: tuple[str, ...] = ()


def line_layer(
    m: folium.Map, group: LineGroup, text: MapText, show: bool = False
) -> folium.FeatureGroup:
    """`group` as one layer of `m` (off at start unless `show`), returned: its lines, then its
    points as small circles over them."""
    layer = folium.FeatureGroup(name=html.escape(group.name), show=show)
    add_layer(
        layer,
        rounded(group.lines),
        group.name,
        lambda f: {"color": f["properties"]["colour"], "weight": 3, "opacity": 0.85},
        list(group.line_fields),
        text,
        show=True,  # inside the group: shown with it
    )
    add_layer(
        layer,
        rounded(group.points),
        group.name,
        lambda f: {
            "color": f["properties"]["colour"],
            "fillColor": "#ffffff",
            "fillOpacity": 1.0,
            "weight": 2,
        },
        list(group.point_fields),
        text,
        show=True,
        popup=True,
        marker=folium.CircleMarker(radius=5),
    )
    layer.add_to(m)
    return layer
