"""The service in headless Chromium (Debian's), driven over the DevTools pipe with every
request but loopback refused: a leader signs in through the form, opens the runs, the map (its
scripts run under the page's CSP and draw the layers) and the comparison, and downloads the
training workbook. Screenshots go to `test-artifacts/`."""

from __future__ import annotations

import base64

import pytest

from optimizer.i18n import texts
from optimizer.manifest import default_store_url
from optimizer.serve.deps import Settings
from tests.cdp import Browser, Tab
from tests.serve_helpers import PASSWORDS, served_copy, serving
from tests.test_browser import ARTIFACTS, CHROMIUM, OFFLINE

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="Debian's chromium is not installed at /usr/bin/chromium (apt-get install chromium)",
)


@pytest.fixture(scope="module")
def site(demo_run, tmp_path_factory):
    """The service on a free loopback port, in a thread; its base URL and output folder."""
    out = served_copy(demo_run, tmp_path_factory.mktemp("browser"))
    settings = Settings(out=out, db=default_store_url(out), users_file=out / "users.toml")
    with serving(settings) as url:
        yield url, out


@pytest.fixture(scope="module")
def tab(tmp_path_factory):
    # every request fails but those to loopback, which Chromium sends past the proxy
    dropped = ("--virtual-time", "--proxy-bypass-list")
    flags = [f for f in OFFLINE if not f.startswith(dropped)] + ["--window-size=1280,900"]
    browser = Browser(CHROMIUM, flags, tmp_path_factory.mktemp("profile"))
    try:
        yield Tab(browser)
    finally:
        browser.close()


def screenshot(tab: Tab, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    shot = tab.send("Page.captureScreenshot", format="png")["data"]
    (ARTIFACTS / name).write_bytes(base64.b64decode(shot))


def page_problems(tab: Tab) -> list[str]:
    """Script errors and CSP refusals; failed tile requests are expected offline."""
    return [
        event["params"]["entry"]["text"]
        if event.get("method") == "Log.entryAdded"
        else str(event["params"]["exceptionDetails"])
        for event in tab.browser.events
        if (
            event.get("method") == "Log.entryAdded"
            and event["params"]["entry"]["level"] == "error"
            and event["params"]["entry"].get("source") != "network"
        )
        or event.get("method") == "Runtime.exceptionThrown"
    ]


def test_leader_signs_in_opens_map_and_comparison_and_downloads_the_workbook(site, tab, tmp_path):
    base, out = site
    tab.open(f"{base}/", settle_s=0)
    assert "/login" in tab.evaluate("document.body.innerHTML")  # 401 page points to the form
    tab.open(f"{base}/login?lang=zh", settle_s=0)
    tab.submit({"username": "leader", "password": PASSWORDS["leader"]})
    assert tab.evaluate("location.pathname") == "/"
    runs = [p for p in out.glob("20*-*/*") if (p / "plan.json").exists()]
    assert tab.evaluate("document.querySelectorAll('input[name=run]').length") == len(runs) >= 2
    assert tab.evaluate("document.cookie") == ""  # HttpOnly: no script sees the session
    screenshot(tab, "serve-runs.png")

    tab.open(f"{base}/runs/2026-01/baseline/map", settle_s=3)
    drawn = tab.evaluate("document.querySelectorAll('path.leaflet-interactive').length")
    assert drawn > 10
    assert texts("en", "map")["stations"] in tab.evaluate("document.body.innerText")
    screenshot(tab, "serve-map.png")

    tab.open(f"{base}/compare/report?run=2026-01/baseline&run=2026-01/copy&lang=zh")
    text = tab.evaluate("document.body.innerText")
    assert texts("zh", "report")["title"] in text and "基准方案, copy" in text
    assert tab.evaluate("document.querySelectorAll('svg.chart').length") >= 4
    screenshot(tab, "serve-compare.png")
    assert page_problems(tab) == []

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    tab.browser.send(
        "Browser.setDownloadBehavior",
        behavior="allow",
        downloadPath=str(downloads),
        eventsEnabled=True,
    )
    tab.open(f"{base}/", settle_s=0)
    tab.evaluate("document.querySelector('a.workbook[href*=\"/2026-01/baseline/\"]').click()")
    tab.browser.wait_for("Browser.downloadProgress", state="completed")
    (book,) = downloads.iterdir()
    assert book.name == "training-2026-01-baseline.xlsx"
    assert book.read_bytes() == (out / "2026-01" / "baseline" / "training.xlsx").read_bytes()
