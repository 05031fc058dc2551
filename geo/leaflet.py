"""Leaflet pages that open offline and show data only as text.

folium writes the page; here Leaflet's script and stylesheet are inlined (from the
`xstatic-leaflet` package) so it needs no network, tooltips and popups put a feature's values in
as text rather than markup, the basemap's attribution is reduced to text and links, and every
element gets a fixed id, so that the same map is the same file. Names in a bureau's data (station
names, offence categories) are edited by many people and the page opens inside the police
network: none of them may run as script.
"""

from __future__ import annotations

import base64
import html
import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlparse

import folium
import xstatic.pkg.leaflet as xleaflet
from branca.element import Element, MacroElement
from folium.template import Template


def leaflet_inline() -> str:
    """Leaflet's script and stylesheet as inline tags, images as data URIs."""
    base = Path(xleaflet.BASE_DIR)
    css = (base / "leaflet.css").read_text(encoding="utf-8")

    def data_uri(match: re.Match) -> str:
        image = base / match.group(1)
        return f"url(data:image/png;base64,{base64.b64encode(image.read_bytes()).decode()})"

    css = re.sub(r"url\((images/[^)]+\.png)\)", data_uri, css)
    js = (base / "leaflet.js").read_text(encoding="utf-8")
    return f"<style>{css}</style>\n<script>{js}</script>"


class OfflineMap(folium.Map):
    """A folium map that references no remote script or stylesheet."""

    default_js: list = []
    default_css: list = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.get_root().header.add_child(folium.Element(leaflet_inline()), name="leaflet", index=0)


class _Attribution(HTMLParser):
    """An attribution as plain text with its http(s) links kept: every other tag is dropped,
    the text of scripts and styles with it, and the rest escaped."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.in_link = False
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self.skipping += 1
        href = dict(attrs).get("href") or ""
        if tag == "a" and not self.in_link and urlparse(href).scheme in ("http", "https"):
            self.parts.append(f'<a href="{html.escape(href, quote=True)}">')
            self.in_link = True

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self.skipping = max(self.skipping - 1, 0)
        if tag == "a" and self.in_link:
            self.parts.append("</a>")
            self.in_link = False

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(html.escape(data, quote=False))


def safe_attribution(text: str) -> str:
    """`text` (a basemap's attribution, from config or a provider) as HTML that can only show
    text and `http(s)` links: Leaflet inserts attributions as markup."""
    parser = _Attribution()
    parser.feed(text)
    parser.close()
    return "".join(parser.parts) + ("</a>" if parser.in_link else "")


def tile_layer(tiles: str, attribution: str, name: str) -> folium.TileLayer | None:
    """The basemap: None for `tiles = "none"`, a named provider (e.g. `openstreetmap`), or an
    `{z}/{x}/{y}` URL template whose attribution defaults to its host (Leaflet needs one); the
    attribution reduced to text and links (`safe_attribution`)."""
    if tiles.strip().lower() == "none":
        return None
    attr = attribution or ((urlparse(tiles).netloc or tiles) if "{" in tiles else None)
    layer = folium.TileLayer(tiles, attr=attr, name=html.escape(name))
    layer.options["attribution"] = safe_attribution(layer.options["attribution"])
    return layer


_TEXT_TABLE = """function(layer){
    let div = L.DomUtil.create('div');
    let table = L.DomUtil.create('table', '', div);
    function row(head, value){
        let tr = L.DomUtil.create('tr', '', table);
        L.DomUtil.create('th', '', tr).textContent = head;
        L.DomUtil.create('td', '', tr).textContent =
            value === null || value === undefined ? ''
            : typeof value === 'number' ? value.toLocaleString() : String(value);
    }
    let properties = layer.feature.properties;
    let aliases = {{ this.aliases | tojson }};
    {{ this.fields | tojson }}.forEach(function(field, i){ row(aliases[i], properties[field]); });
    {%- if this.table %}
    let cells = {{ this.table.get_name() }};
    (cells.rows[properties.cell_id] || []).forEach(function(value, i){
        if (value !== '') { row(cells.aliases[i], value); }
    });
    {%- endif %}
    return div;
}"""


class TextTooltip(folium.GeoJsonTooltip):
    """A feature's fields on hover, put in as text (`textContent`): a name from the data shows
    as written and never becomes markup, unlike folium's tooltip, which inserts it as HTML."""

    table = None
    _template = Template(
        "{% macro script(this, kwargs) %}{{ this._parent.get_name() }}.bindTooltip("
        + _TEXT_TABLE
        + ", {{ this.tooltip_options | tojavascript }});{% endmacro %}"
    )


class CellTable(MacroElement):
    """Rows about each cell that every cell layer's popup shows under its own fields, written
    once per page rather than into each layer's features: `rows` maps a cell id to its values
    (text, as the reader sees them; an empty one is left out), `aliases` heads them."""

    _template = Template(
        "{% macro script(this, kwargs) %}var {{ this.get_name() }} = "
        "{{ {'aliases': this.aliases, 'rows': this.rows} | tojson }};{% endmacro %}"
    )

    def __init__(self, aliases: list[str], rows: dict[str, list[str]]) -> None:
        super().__init__()
        self._name = "cell_table"
        self.aliases = aliases
        self.rows = rows


class TextPopup(folium.GeoJsonPopup):
    """A feature's fields on click, put in as text like `TextTooltip`; with a `table`
    (`CellTable`), its rows of the feature's `cell_id` after them."""

    _template = Template(
        "{% macro script(this, kwargs) %}{{ this._parent.get_name() }}.bindPopup("
        + _TEXT_TABLE
        + ", {{ this.popup_options | tojavascript }});{% endmacro %}"
    )

    def __init__(self, fields: list[str], aliases: list[str], table: CellTable | None = None):
        super().__init__(fields=fields, aliases=aliases)
        self.table = table


def numbered(m: folium.Map) -> folium.Map:
    """`m` with every element of its page named by its place in the page (folium names them at
    random), so that the same map is the same file."""
    seen: set[int] = set()
    order: list[Element] = []
    stack: list[Element] = [m.get_root()]
    while stack:
        element = stack.pop()
        if id(element) in seen:
            continue
        seen.add(id(element))
        order.append(element)
        parts = [getattr(element, part, None) for part in ("header", "html", "script")]
        children = [*[p for p in parts if isinstance(p, Element)], *element._children.values()]
        stack.extend(reversed(children))
    for n, element in enumerate(order):
        element._id = f"{n:04d}"
    return m
