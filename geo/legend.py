"""Classes of the map's values and the legend that explains them.

A value layer (risk, hours) is coloured in quantile classes, so a few skewed cells do not wash
every other cell out; the change against last month in four classes around zero; delivered
against planned hours in bands of the plan. Each returns a colour function and its legend
items; `LegendControl` shows each section's box while a layer it explains is on. Figures are
written for reading (`hours_figure`, `risk_figure`).
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from branca.element import Element, MacroElement
from folium.template import Template

FONTS = "'Noto Sans CJK SC','Microsoft YaHei','PingFang SC','Helvetica Neue',Arial,sans-serif"
RISK_COLOURS = ("#fee5d9", "#fcae91", "#fb6a4a", "#de2d26", "#a50f15")
HOURS_COLOURS = ("#eff3ff", "#bdd7e7", "#6baed6", "#3182bd", "#08519c")
CHANGE_COLOURS = ("#ca0020", "#f4a582", "#92c5de", "#0571b0")  # much fewer … much more hours
SCHEDULED_COLOUR = "#252525"
# delivered / planned: under half, short, on plan, over, and patrolled where nothing was planned
DELIVERY_BANDS = (0.5, 0.9, 1.1)
DELIVERY_COLOURS = ("#d7191c", "#fdae61", "#1a9641", "#2b83ba")
OFF_PLAN_COLOUR = "#7b3294"

Items = list[tuple[str, str]]  # (colour or css, label)


def class_breaks(values: pd.Series, n: int) -> np.ndarray:
    """Upper bounds of up to `n` quantile classes of the positive `values`, the last one the
    maximum. Where many values are equal (cells at the saturation dose, say) the quantiles of
    the distinct values are taken instead: `n` classes whenever the data has `n` distinct
    values, and never more classes than distinct values."""
    positive = values[values > 0].to_numpy(dtype=float)
    if not len(positive):
        return np.array([1.0])
    distinct = np.unique(positive)
    n = min(n, len(distinct))
    levels = np.linspace(0, 1, n + 1)[1:]
    breaks = np.unique(np.quantile(positive, levels))
    if len(breaks) < n:
        breaks = np.unique(np.quantile(distinct, levels))
    return breaks


def class_colours(palette: tuple[str, ...], n: int) -> list[str]:
    """`n` colours spread over `palette` (light to dark)."""
    if n == 1:
        return [palette[-1]]
    return [palette[round(i * (len(palette) - 1) / (n - 1))] for i in range(n)]


def number(value: float) -> str:
    """A legend figure: three significant digits, whole numbers from 1,000."""
    return f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"


def hours_figure(hours: float) -> str:
    """Hours for reading: to 0.1 h, thousands separated (1,234.5)."""
    return f"{hours:,.1f}"


def risk_figure(risk: float) -> str:
    """A forecast risk for reading: two significant digits (0.73, 24), whole from 100 (1,234)."""
    if risk == 0 or not math.isfinite(risk):
        return f"{risk:g}"
    two = float(f"{risk:.2g}")  # 0.0996 → 0.1, then written 0.10
    decimals = max(1 - math.floor(math.log10(abs(two))), 0)
    return f"{(two if decimals else risk):,.{decimals}f}"


def classed(breaks: np.ndarray, palette: tuple[str, ...]) -> tuple[Callable[[float], str], Items]:
    """The colour of a value in the classes ending at `breaks`, and the legend items (ranges
    from one bound to the next)."""
    colours = class_colours(palette, len(breaks))

    def colour(value: float) -> str:
        return colours[min(int(np.searchsorted(breaks, value, side="left")), len(colours) - 1)]

    lows = [None, *breaks[:-1]]
    legend = [
        (c, f"≤ {number(b)}" if low is None else f"{number(low)} – {number(b)}")
        for c, low, b in zip(colours, lows, breaks, strict=True)
    ]
    return colour, legend


def change_classes(change: pd.Series) -> tuple[Callable[[float], str], Items]:
    """Four classes of a change in hours: cuts beyond their median, smaller cuts, smaller
    additions, additions beyond their median; only the classes present in the legend."""
    cut = float(change[change < 0].abs().median()) if (change < 0).any() else 1.0
    add = float(change[change > 0].median()) if (change > 0).any() else 1.0
    bounds = (-cut, 0.0, add)

    def colour(value: float) -> str:
        return CHANGE_COLOURS[int(np.searchsorted(bounds, value, side="left"))]

    labels = (
        f"< −{number(cut)}",
        f"−{number(cut)} … 0",
        f"0 … +{number(add)}",
        f"> +{number(add)}",
    )
    present = {colour(v) for v in change}
    return colour, [(c, t) for c, t in zip(CHANGE_COLOURS, labels, strict=True) if c in present]


def delivery_classes(off_plan: str) -> tuple[Callable[[float, float], str], Items]:
    """The colour of delivered against planned hours in `DELIVERY_BANDS` of the plan, and
    `off_plan` (the words for hours patrolled where none were planned) in its own colour."""

    def colour(planned: float, delivered: float) -> str:
        if planned <= 0:
            return OFF_PLAN_COLOUR
        return DELIVERY_COLOURS[int(np.searchsorted(DELIVERY_BANDS, delivered / planned, "right"))]

    low, mid, high = (f"{b:.0%}" for b in DELIVERY_BANDS)
    labels = (f"< {low}", f"{low} – {mid}", f"{mid} – {high}", f"> {high}")
    return colour, [*zip(DELIVERY_COLOURS, labels, strict=True), (OFF_PLAN_COLOUR, off_plan)]


def _swatch(colour: str) -> str:
    return colour if ":" in colour else f"background:{colour}"


@dataclass(frozen=True)
class Section:
    """One box of the legend: its title and coloured items, shown while any of `layers` (the
    map layers it explains) is on; with `layers` None it is a note, always shown."""

    title: str
    items: Sequence[tuple[str, str]]
    layers: Sequence[Element] | None = None


# Bottom left, above the scale: the layer list is top right, the title and zoom top left. Past
# the window's height less the top-left controls' (about 150 px) the boxes scroll.
LEGEND_STYLE = (
    "#legend{max-height:calc(100vh - 150px);max-width:300px;overflow-y:auto;display:flex;"
    "flex-direction:column;gap:4px;clear:both}"
    ".lg-box{background:#fff;padding:4px 8px;font:12px/1.4 "
    + FONTS
    + ";border-radius:4px;box-shadow:0 1px 5px rgba(0,0,0,.4)}.lg-box b{display:block}"
    ".lg-item{display:inline-block;margin-right:8px;white-space:nowrap}"
    ".lg-item i{display:inline-block;width:12px;height:12px;margin-right:3px;"
    "vertical-align:-2px;border:1px solid #999}"
    f".leaflet-container{{font-family:{FONTS}}}"
)


def legend_html(sections: Sequence[Section]) -> str:
    """The legend's boxes, one per section (`id` legend-0, legend-1, …), every word escaped."""
    boxes = []
    for n, section in enumerate(sections):
        swatches = "".join(
            f'<span class="lg-item"><i style="{html.escape(_swatch(c))}"></i>'
            f"{html.escape(label)}</span>"
            for c, label in section.items
        )
        title = f"<b>{html.escape(section.title)}</b>" if section.title else ""
        boxes.append(f'<div class="lg-box" id="legend-{n}">{title}<div>{swatches}</div></div>')
    return f'<style>{LEGEND_STYLE}</style><div id="legend">{"".join(boxes)}</div>'


class LegendControl(MacroElement):
    """The legend as a Leaflet control at the bottom left, each box shown only while a layer
    it explains is on: the map's `overlayadd` and `overlayremove` events (the layer control's
    toggles) show and hide it. Add it to the map after every layer it names."""

    _template = Template(
        """{% macro html(this, kwargs) %}{{ this.markup }}{% endmacro %}
{% macro script(this, kwargs) %}
(function () {
    var map = {{ this._parent.get_name() }};
    var legend = document.getElementById('legend');
    var control = L.control({position: 'bottomleft'});
    control.onAdd = function () {
        L.DomEvent.disableClickPropagation(legend);
        L.DomEvent.disableScrollPropagation(legend);
        return legend;
    };
    control.addTo(map);
    var ties = [
    {%- for section in this.sections %}
        [{{ loop.index0 }}, {% if section.layers is none %}null{% else %}[
        {%- for layer in section.layers %}{{ layer.get_name() }}
        {%- if not loop.last %}, {% endif %}{% endfor %}]{% endif %}]
        {%- if not loop.last %},{% endif %}
    {%- endfor %}
    ];
    function show() {
        var any = false;
        ties.forEach(function (tie) {
            var on = tie[1] === null || tie[1].some(function (layer) {
                return map.hasLayer(layer);
            });
            document.getElementById('legend-' + tie[0]).style.display = on ? '' : 'none';
            any = any || on;
        });
        legend.style.display = any ? '' : 'none';
    }
    map.on('overlayadd overlayremove', show);
    show();
})();
{% endmacro %}"""
    )

    def __init__(self, sections: Sequence[Section]) -> None:
        super().__init__()
        self._name = "legend"
        self.sections = [s for s in sections if s.layers is None or len(s.layers)]
        self.markup = legend_html(self.sections)
