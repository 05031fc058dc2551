"""Each role's desk in headless Chromium (Debian's), in Chinese and English, with every request
but loopback refused: a leader fills the scenario form, watches the job finish on the jobs page
(it refreshes itself), opens the comparison and adopts the scenario; an administrator adds a
user and disables it; a station's home page shows its name, its map and its aid. Screenshots go
to `test-artifacts/`."""

from __future__ import annotations

import json
import shutil
import time

import pytest

from optimizer.adoption import stored_adoption
from optimizer.i18n import texts
from optimizer.manifest import default_store_url
from optimizer.serve.deps import Settings
from optimizer.serve.users import is_disabled, read_users
from tests.cdp import Browser, Tab
from tests.serve_helpers import PASSWORDS, served_copy, serving
from tests.test_browser import CHROMIUM, OFFLINE
from tests.test_serve_browser import page_problems, screenshot

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="Debian's chromium is not installed at /usr/bin/chromium (apt-get install chromium)",
)


@pytest.fixture(scope="module")
def site(demo_run, tmp_path_factory):
    """The service with the bureau's data folder (scenario runs) on a free loopback port."""
    folder = tmp_path_factory.mktemp("desk-browser")
    out = served_copy(demo_run, folder)
    data = shutil.copytree(demo_run.parents[1] / "demo-data", folder / "data")
    settings = Settings(
        out=out, db=default_store_url(out), users_file=out / "users.toml", data=data
    )
    with serving(settings) as url:
        yield url, out


@pytest.fixture
def tab(tmp_path):
    dropped = ("--virtual-time", "--proxy-bypass-list")
    flags = [f for f in OFFLINE if not f.startswith(dropped)] + ["--window-size=1280,900"]
    browser = Browser(CHROMIUM, flags, tmp_path / "profile")
    try:
        yield Tab(browser)
    finally:
        browser.close()


def sign_in(tab: Tab, base: str, role: str, lang: str) -> None:
    tab.open(f"{base}/login?lang={lang}", settle_s=0)
    tab.submit({"username": role, "password": PASSWORDS[role]})
    assert tab.evaluate("location.pathname") == "/"


def send(tab: Tab, selector: str, fields: dict[str, str] | None = None) -> None:
    """Fill the fields of the form `selector` and send it; waits for the next page."""
    script = "".join(
        f"form.querySelector('[name=\"{name}\"]').value = {json.dumps(value)};"
        for name, value in (fields or {}).items()
    )
    fresh_load(tab)
    tab.evaluate(f"(() => {{ const form = document.querySelector({json.dumps(selector)});"
                 f"{script} form.submit(); }})()")  # fmt: skip
    tab.browser.wait_for("Page.loadEventFired")


def click(tab: Tab, selector: str) -> None:
    """Click the link `selector`; waits for the page it opens."""
    fresh_load(tab)
    tab.evaluate(f"document.querySelector({json.dumps(selector)}).click()")
    tab.browser.wait_for("Page.loadEventFired")


def fresh_load(tab: Tab) -> None:
    """Forget the loads seen so far (the jobs page reloads itself), so a wait is for the next."""
    events = tab.browser.events
    events[:] = [e for e in events if e.get("method") != "Page.loadEventFired"]


def text(tab: Tab) -> str:
    return tab.evaluate("document.body.innerText")


@pytest.mark.parametrize("lang", ["zh"])
def test_leader_runs_a_scenario_from_the_form_and_adopts_it(site, tab, lang):
    base, out = site
    d = texts(lang, "serve")["desk"]
    sign_in(tab, base, "leader", lang)
    tab.open(f"{base}/scenarios/new?lang={lang}", settle_s=0)
    assert d["officers_legend"] in text(tab)
    send(
        tab,
        'form[action="/scenarios/new"]',
        {"name": "more-s01", "officers.S01": "10", "harm.theft": "1.5"},
    )
    assert tab.evaluate("location.pathname") == "/jobs"
    screenshot(tab, f"desk-jobs-{lang}.png")
    deadline = time.monotonic() + 600
    while not tab.evaluate("!!document.querySelector('tr.job-done a.compare')"):
        assert time.monotonic() < deadline, text(tab)
        assert not tab.evaluate("!!document.querySelector('tr.job-failed, tr.job-infeasible')")
        time.sleep(1)  # the page refreshes itself every two seconds
    assert d["job_states"]["done"] in text(tab)
    click(tab, "tr.job-done a.compare")
    time.sleep(1)  # the report in its frame
    report = "document.querySelector('iframe.report').contentDocument"  # null: sandboxed
    assert tab.evaluate(f"{report} === null")
    assert d["adopt_explained"] in text(tab)
    screenshot(tab, f"desk-compare-{lang}.png")
    send(tab, 'form[action="/runs/2026-01/more-s01/adopt"]')
    assert tab.evaluate("location.pathname") == "/compare"
    assert f"more-s01: {d['adopted_mark']}" in text(tab)
    tab.open(f"{base}/?lang={lang}", settle_s=0)
    row = tab.evaluate(
        "[...document.querySelectorAll('tr')].find(r => r.querySelector('.adopted')).innerText"
    )
    assert "more-s01" in row and d["adopted_mark"] in row
    assert stored_adoption(default_store_url(out), "2026-01").scenario == "more-s01"
    screenshot(tab, f"desk-adopted-{lang}.png")
    assert page_problems(tab) == []


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_admin_adds_a_user_and_disables_it(site, tab, lang):
    base, out = site
    d = texts(lang, "serve")["desk"]
    name = f"chief-{lang}"
    sign_in(tab, base, "admin", lang)
    tab.open(f"{base}/admin/users?lang={lang}", settle_s=0)
    send(
        tab,
        "#add-user",
        {"username": name, "role": "station", "station": "S02", "password": "a long pass phrase"},
    )
    assert read_users(out / "users.toml")[name][0].station == "S02"
    row = f"document.querySelector('tr[data-name=\"{name}\"]')"
    assert d["enabled"] in tab.evaluate(f"{row}.innerText")
    send(tab, f'form[action="/admin/users/{name}/disable"]')
    assert d["disabled"] in tab.evaluate(f"{row}.innerText")
    assert is_disabled(read_users(out / "users.toml")[name][1])
    screenshot(tab, f"desk-users-{lang}.png")
    tab.open(f"{base}/admin/audit?lang={lang}", settle_s=0)
    assert d["audit_verified"] in text(tab)
    assert page_problems(tab) == []


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_station_home_page_shows_its_name_map_and_aid(site, tab, lang):
    base, _out = site
    d = texts(lang, "serve")["desk"]
    sign_in(tab, base, "station", lang)
    click(tab, 'nav.desk a[href^="/stations/"]')
    shown = text(tab)
    assert "凉城新村派出所 (S01)" in shown
    assert d["received_from"].format(station="S02 江湾镇派出所") in shown
    assert tab.evaluate("document.querySelectorAll('svg.station-map path.cell').length") > 10
    assert tab.evaluate("document.querySelectorAll('svg.station-map polyline.route').length") > 0
    width = tab.evaluate("document.querySelector('svg.station-map').getBoundingClientRect().width")
    assert 300 < width <= 1100
    screenshot(tab, f"desk-station-{lang}.png")
    send(tab, 'form[action="/logout"]')
    assert tab.evaluate("location.search") == f"?lang={lang}"
    assert page_problems(tab) == []
