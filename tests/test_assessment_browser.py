"""The assessment desk's month in headless Chromium (Debian's), in Chinese and English, with
every request but loopback refused: a business department types a value wrongly, sees the
problem beside its row, corrects it and submits; the assessment office finds it in the
review, is refused the close while values are missing, closes with a reason and follows the
run it queued; the station opens its results and files an appeal. Screenshots go to
`test-artifacts/`."""

from __future__ import annotations

import pandas as pd
import pytest
import uvicorn

from optimizer.i18n import texts
from tests.cdp import Tab
from tests.desk_helpers import RecordedJobs, desk_app, desk_settings
from tests.serve_helpers import serving
from tests.test_assessment_desk import MONTH, PASSWORD
from tests.test_browser import CHROMIUM
from tests.test_serve_browser import page_problems, screenshot
from tests.test_serve_desk_browser import click, send, tab, text  # noqa: F401 (tab: a fixture)

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="Debian's chromium is not installed at /usr/bin/chromium (apt-get install chromium)",
)


@pytest.fixture
def site(demo_copy, tmp_path):
    """The desk over the demo data without its last month, on a free loopback port; its run
    queue records the runs it is given and runs none. The base URL, the queue, the data."""
    removed = pd.read_csv(demo_copy / "scores.csv").query("month == @MONTH")
    jobs = RecordedJobs()
    app = desk_app(desk_settings(demo_copy, tmp_path / "out"), jobs)
    with serving(uvicorn.Config(app, log_level="warning")) as url:
        yield url, jobs, demo_copy, removed


def sign_in(page: Tab, base: str, name: str, lang: str) -> None:
    page.open(f"{base}/login?lang={lang}", settle_s=0)
    page.submit({"username": name, "password": PASSWORD})


def row_text(page: Tab, station: str, indicator: str) -> str:
    selector = f'tr[data-station="{station}"][data-indicator="{indicator}"]'
    return page.evaluate(f"document.querySelector({selector!r}).innerText")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_a_month_submitted_reviewed_closed_and_appealed(site, tab, lang):  # noqa: F811
    base, jobs, data, removed = site
    words = texts(lang, "serve")["assessment"]

    sign_in(tab, base, "political", lang)
    assert tab.evaluate("location.pathname") == "/assessment/submit"
    click(tab, f'a[href="/assessment/submit/{MONTH}?lang={lang}"]')
    assert words["deadline_passed"] in text(tab)
    values = removed[removed["indicator_id"] == "L01"].set_index("station_id")["value"]
    stations = tab.evaluate(
        "[...document.querySelectorAll('#values input[name^=\"station.\"]')].map(i => i.value)"
    )
    typed = {f"value.{n}": f"{values[s]:g}" for n, s in enumerate(stations)}
    send(tab, "#values", {**typed, "value.1": "ninety"})
    assert "not a number: 'ninety'" in row_text(tab, stations[1], "L01")
    assert tab.evaluate("document.querySelector('[name=\"value.0\"]').value") == typed["value.0"]
    screenshot(tab, f"assessment-refused-{lang}.png")
    send(tab, "#values", typed)
    assert words["done"]["submitted"] in text(tab)
    assert words["statuses"]["late"] in row_text(tab, "S01", "L01")
    screenshot(tab, f"assessment-department-{lang}.png")
    assert page_problems(tab) == []

    sign_in(tab, base, "office", lang)
    assert tab.evaluate("location.pathname") == "/assessment/office"
    click(tab, f'.open-months a[href="/assessment/office/{MONTH}?lang={lang}"]')
    counts = tab.evaluate("document.querySelector('tr[data-department=\"political\"]').innerText")
    assert counts.split() == ["political", "0", "12", "0", "0"]
    send(tab, "#close")
    assert words["close_refused"] in text(tab)
    missing = tab.evaluate("document.querySelector('.missing').innerText")
    assert "P01" in missing and "command" in missing and "L01" not in missing
    screenshot(tab, f"assessment-close-refused-{lang}.png")
    send(tab, "#close", {"reason": "<b>the others report next week</b>"})
    (job,) = jobs.jobs.values()
    assert words["job_queued"].format(job=job.id) in text(tab)
    assert "<b>the others report next week</b>" in text(tab)  # the reason shown as typed
    assert (pd.read_csv(data / "scores.csv")["month"] == MONTH).sum() == len(values)
    screenshot(tab, f"assessment-closed-{lang}.png")
    click(tab, "a.follow-job")
    assert texts(lang, "serve")["desk"]["job_states"]["queued"] in text(tab)
    assert page_problems(tab) == []

    sign_in(tab, base, "s01", lang)
    click(tab, "nav.desk a.assessment")
    assert tab.evaluate("location.pathname") == "/assessment/station"
    click(tab, f'.closed-months a[href="/assessment/station/{MONTH}?lang={lang}"]')
    shown = tab.evaluate("document.querySelector('table.values').innerText")
    assert f"{values['S01']:g}" in shown
    send(tab, "#appeal", {"indicator_id": "L01", "reason": "our open day's forms were missed"})
    assert words["done"]["appealed"] in text(tab)
    appeals = tab.evaluate("document.querySelector('table.appeals').innerText")
    assert "our open day's forms were missed" in appeals
    assert words["appeal_states"]["pending"] in appeals
    screenshot(tab, f"assessment-appeal-{lang}.png")
    assert page_problems(tab) == []
