"""The demo's map and report in headless Chromium with every network request refused, in English
and Chinese: Leaflet starts and draws its layers with no script error, the report's charts and
small maps render. Screenshots are kept in `test-artifacts/` for a person to look at."""

from __future__ import annotations

import html
import re
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import folium
import geopandas as gpd
import pytest
import shapely
from click.testing import CliRunner
from mapdata import small_plan

from geo.leaflet import leaflet_inline
from optimizer.cli import main
from optimizer.i18n import BureauNames, texts
from optimizer.plan_map import plan_map

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
OFFLINE = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--proxy-server=127.0.0.1:9",  # nothing listens there: every request fails
    "--proxy-bypass-list=<-loopback>",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--virtual-time-budget=5000",
    "--enable-logging=stderr",
    "--v=0",
]

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="Debian's chromium is not installed at /usr/bin/chromium (apt-get install chromium)",
)


def chromium(page: Path, *args: str) -> subprocess.CompletedProcess:
    """Open `page` offline in a fresh profile; stdout holds what `--dump-dom` prints, stderr the
    page's console lines."""
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [str(CHROMIUM), *OFFLINE, f"--user-data-dir={profile}", *args, page.as_uri()],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 0, done.stderr[-2000:]
    return done


@pytest.fixture(scope="module")
def zh_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo-zh")
    result = CliRunner().invoke(main, ["--lang", "zh", "demo", "--out", str(out)])
    assert result.exit_code == 0, result.output
    return out / "2026-01" / "baseline"


@pytest.fixture(scope="module")
def opened(demo_run, zh_run) -> dict:
    """For each language and page: its DOM after the scripts ran, its console lines, and a
    1280 × 900 screenshot in `test-artifacts/` (the Chromium runs go two at a time)."""
    ARTIFACTS.mkdir(exist_ok=True)
    doms, shots = {}, []
    with ThreadPoolExecutor(max_workers=2) as pool:
        for lang, run in {"en": demo_run, "zh": zh_run}.items():
            for page in ("map", "report"):
                path = run / f"{page}.html"
                doms[lang, page] = (run, pool.submit(chromium, path, "--dump-dom"))
                shot = ARTIFACTS / f"{page}-{lang}.png"
                shots.append(
                    pool.submit(chromium, path, f"--screenshot={shot}", "--window-size=1280,900")
                )
        for job in shots:
            job.result()  # raises when a screenshot failed
        return {
            key: {"run": run, "dom": job.result().stdout, "console": job.result().stderr}
            for key, (run, job) in doms.items()
        }


def console_errors(console: str) -> list[str]:
    return [line for line in console.splitlines() if "CONSOLE" in line and "Uncaught" in line]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_map_starts_and_draws_its_layers_offline(opened, lang):
    page = opened[lang, "map"]
    dom, run = page["dom"], page["run"]
    assert console_errors(page["console"]) == []
    assert re.search(r'<div[^>]*class="[^"]*leaflet-container', dom)
    drawn = len(re.findall(r'<path[^>]*class="[^"]*leaflet-interactive', dom))
    stations = len(gpd.read_file(run / "jurisdictions.geojson"))
    hotspots = len(gpd.read_file(run / "hotspots.geojson"))
    assert drawn >= stations + hotspots  # the layers shown at start
    assert 'class="leaflet-control-layers-overlays"' in dom
    labels = texts(lang, "map")
    for label in (labels["stations"], labels["change"], labels["scheduled"]):
        assert label in dom, label  # the demo's month has last month's plan to compare with
    for label in (labels["outlines"], labels["labels"], labels["delivered"]):
        assert label in dom, label
    assert len(re.findall(r'<div class="station-label">', dom)) == stations
    assert 'id="legend"' in dom and labels["grade"] in dom
    assert (ARTIFACTS / f"map-{lang}.png").stat().st_size > 20_000


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_report_charts_and_maps_render_offline(opened, lang):
    page = opened[lang, "report"]
    dom = page["dom"]
    assert console_errors(page["console"]) == []
    stations = len(gpd.read_file(page["run"] / "jurisdictions.geojson"))
    charts = re.findall(r'<svg class="chart".*?</svg>', dom, flags=re.S)
    assert len(charts) >= 4
    assert sum(chart.count("<rect") for chart in charts) >= 3 * stations
    maps = re.findall(r'<svg class="map".*?</svg>', dom, flags=re.S)
    assert len(maps) == 2 and all(m.count("<path") == stations for m in maps)
    report = texts(lang, "report")
    assert report["title"] in dom and report["overview"] in dom
    assert (ARTIFACTS / f"report-{lang}.png").stat().st_size > 20_000


def _mark(where: str) -> str:
    """Script that, if it ever runs, leaves `where` in the page's `data-ran` attribute."""
    return f"var d=document.documentElement.dataset;d.ran=(d.ran||'')+'{where};'"


def hostile(where: str) -> str:
    """A name that runs `_mark(where)` wherever a page inserts it as markup or closes a script."""
    return (
        f'<img src=x onerror="{_mark(where)}">'
        f"</script><script>{_mark(where + '-script')}</script>"
        f'<svg onload="{_mark(where + "-svg")}"></svg>'
    )


HOSTILE_ATTRIBUTION = (
    f'<img src=x onerror="{_mark("attribution")}">'
    f'<a href="javascript:{_mark("link")}" onclick="{_mark("onclick")}">tiles</a>'
    '<a href="https://tiles.example.gov.cn/terms">terms</a>'
)
# Turns every overlay on, then hovers and clicks every drawn shape; what the tooltips and popups
# showed is written, as text, into <pre id="seen">, and the number of shapes into data-exercised.
HARNESS = """<script>
window.addEventListener('load', function () {
  setTimeout(function () {
    document.querySelectorAll('input.leaflet-control-layers-selector').forEach(function (box) {
      if (box.type === 'checkbox' && !box.checked) { box.click(); }
    });
    setTimeout(function () {
      var seen = [];
      var shapes = document.querySelectorAll('path.leaflet-interactive');
      shapes.forEach(function (shape) {
        ['mouseover', 'mousemove', 'click'].forEach(function (type) {
          shape.dispatchEvent(new MouseEvent(type, {bubbles: true, cancelable: true,
                                                    clientX: 300, clientY: 300}));
        });
        document.querySelectorAll('.leaflet-tooltip, .leaflet-popup-content').forEach(
          function (box) { seen.push(box.textContent); });
      });
      var out = document.createElement('pre');
      out.id = 'seen';
      out.textContent = seen.join('\\n');
      document.body.appendChild(out);
      document.documentElement.dataset.exercised = shapes.length;
    }, 300);
  }, 300);
});
</script>"""


def exercised(page: str, tmp_path: Path) -> tuple[str, str]:
    """`page` opened offline with `HARNESS` acting as a planner: its DOM after every shape was
    hovered and clicked, and its console."""
    path = tmp_path / "exercised.html"
    path.write_text(page.replace("</body>", HARNESS + "</body>"), encoding="utf-8")
    done = chromium(path, "--dump-dom")
    return done.stdout, done.stderr


def ran(dom: str) -> str:
    found = re.search(r'<html[^>]*\sdata-ran="([^"]*)"', dom)
    return found.group(1) if found else ""


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_hostile_names_show_as_text_and_never_run(lang, tmp_path):
    """Station names, offence categories and main offences (as codes in English, as the
    bureau's Chinese names in Chinese), the scenario in the title and the attribution all carry
    markup and script; the planner turns every layer on, hovers and clicks every shape."""
    station, category, offence = hostile("station"), hostile("category"), hostile("offence")
    if lang == "en":
        plan, names = small_plan((station, "乙派出所"), category, offence), None
    else:
        plan = small_plan(("S01", "乙派出所"), "theft", "pickpocketing")
        plan["stations"]["name"] = [station, "乙派出所"]
        names = BureauNames(offence={"pickpocketing": offence}, category={"theft": category})
    page = plan_map(
        **plan,
        tiles="https://tiles.example.gov.cn/{z}/{x}/{y}.png",
        attribution=HOSTILE_ATTRIBUTION,
        lang=lang,
        title=hostile("title"),
        names=names,
    )
    dom, console = exercised(page.get_root().render(), tmp_path)
    assert console_errors(console) == []
    assert ran(dom) == ""
    shapes = int(re.search(r'data-exercised="(\d+)"', dom).group(1))
    assert shapes >= 2 + 1 + 16  # both stations, the hotspot, the cells of every layer
    seen = html.unescape(re.search(r'<pre id="seen">(.*?)</pre>', dom, flags=re.S).group(1))
    for name in (station, category, offence):
        assert name in seen  # shown, as written, in the tooltip or popup
    layers = html.unescape(re.search(r"leaflet-control-layers-list.*?</section>", dom, re.S)[0])
    assert category in layers  # the hotspot layer's name, as text
    assert re.search(r'<a href="https://tiles.example.gov.cn/terms">terms</a>', dom)
    assert "javascript:" not in dom.split('class="leaflet-control-attribution')[1]


def test_the_harness_sees_a_name_run_when_a_page_inserts_it_as_markup(tmp_path):
    """The check above can fail: folium's own tooltip, popup and layer names insert a name as
    markup, and the same harness finds the injected handlers ran on hover, click and load."""
    shape = gpd.GeoDataFrame(
        {"name": [hostile("tooltip")]},
        geometry=[shapely.box(1.0, 2.0, 1.02, 2.04)],
        crs="EPSG:4326",
    )
    m = folium.Map(location=[2.02, 1.01], tiles=None, zoom_start=12)
    folium.GeoJson(
        shape.to_geo_dict(),
        name=hostile("layer"),
        tooltip=folium.GeoJsonTooltip(fields=["name"]),
    ).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    page = m.get_root().render()
    page = re.sub(r"<script src=[^>]*></script>|<link [^>]*>", "", page)  # offline: no CDN
    dom, _ = exercised(page.replace("<head>", "<head>" + leaflet_inline(), 1), tmp_path)
    assert "tooltip;" in ran(dom) and "layer;" in ran(dom)
