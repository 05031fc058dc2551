"""The demo's map and report in headless Chromium with every network request refused, in English
and Chinese: Leaflet starts and draws its layers with no script error, the report's charts and
small maps render. Screenshots are kept in `test-artifacts/` for a person to look at."""

from __future__ import annotations

import re
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import geopandas as gpd
import pytest
from click.testing import CliRunner

from optimizer.cli import main
from optimizer.i18n import texts

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
        assert label in dom, label
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
