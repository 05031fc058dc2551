"""The demo's map in headless Chromium (Debian's), driven over the DevTools pipe with every
request refused: the legend boxes stay clear of the layer list and the title at 1400 × 1000 and
1024 × 768, toggling a layer shows and hides its legend, and a click on a cell opens a popup
with its cell id and station."""

from __future__ import annotations

import pytest

from optimizer.i18n import texts
from tests.cdp import Browser, Tab
from tests.test_browser import CHROMIUM, OFFLINE

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="Debian's chromium is not installed at /usr/bin/chromium (apt-get install chromium)",
)

# The boxes of the shown legends, the layer list, the title and the zoom buttons, in px.
BOXES = """(() => {
  const box = e => { const r = e.getBoundingClientRect();
                     return [r.left, r.top, r.right, r.bottom]; };
  const shown = e => e.offsetParent !== null;
  return {
    legends: [...document.querySelectorAll('.lg-box')].filter(shown).map(
      e => [e.querySelector('b').textContent, box(e)]),
    controls: ['.leaflet-control-layers', '#map-title', '.leaflet-control-zoom'].map(
      s => box(document.querySelector(s))),
  };
})()"""


def toggle(name: str) -> str:
    """Script clicking the layer list's checkbox of layer `name`."""
    return f"""[...document.querySelectorAll('.leaflet-control-layers-overlays label')]
      .find(l => l.textContent.trim() === {name!r}).querySelector('input').click()"""


def overlap(a: list[float], b: list[float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@pytest.fixture(scope="module")
def tab(tmp_path_factory):
    flags = [f for f in OFFLINE if not f.startswith("--virtual-time")]
    browser = Browser(CHROMIUM, [*flags, "--window-size=1400,1000"], tmp_path_factory.mktemp("p"))
    try:
        yield Tab(browser)
    finally:
        browser.close()


@pytest.mark.parametrize("size", [(1400, 1000), (1024, 768)])
def test_legends_clear_of_the_layer_list_and_shown_with_their_layers(demo_run, tab, size):
    width, height = size
    tab.send(
        "Emulation.setDeviceMetricsOverride",
        width=width,
        height=height,
        deviceScaleFactor=1,
        mobile=False,
    )
    tab.open((demo_run / "map.html").as_uri())
    labels = texts("en", "map")
    risk = f"{labels['risk']} · day"
    before = tab.evaluate(BOXES)
    titles = [title for title, _ in before["legends"]]
    assert labels["grade"] in titles and not any(t.startswith(labels["risk"]) for t in titles)
    tab.evaluate(toggle(risk))  # on: its legend shows
    tab.evaluate(toggle(labels["stations"]))  # off: the grade legend goes
    after = tab.evaluate(BOXES)
    titles = [title for title, _ in after["legends"]]
    assert any(t.startswith(labels["risk"]) for t in titles) and labels["grade"] not in titles
    for _, box in before["legends"] + after["legends"]:
        assert box[2] - box[0] > 0 and box[1] >= 0 and box[3] <= height
        for control in after["controls"]:
            assert not overlap(box, control), (box, control)
    tab.evaluate(toggle(risk))
    assert not any(t.startswith(labels["risk"]) for t, _ in tab.evaluate(BOXES)["legends"])
    events = tab.browser.events
    assert not [e for e in events if e.get("method") == "Runtime.exceptionThrown"]


def test_a_click_on_a_cell_opens_its_popup(demo_run, tab):
    tab.open((demo_run / "map.html").as_uri())
    labels = texts("en", "map")
    tab.evaluate(toggle(f"{labels['risk']} · day"))
    # the first cell of the risk layer, clicked where it is drawn
    seen = tab.evaluate(
        """(() => {
      const layer = Object.values(window).find(v => v instanceof L.GeoJSON &&
          v.getLayers().length && 'risk' in v.getLayers()[0].feature.properties &&
          v._map);
      const cell = layer.getLayers()[0];
      const r = cell._path.getBoundingClientRect();
      cell._path.dispatchEvent(new MouseEvent('click', {bubbles: true, cancelable: true,
          clientX: (r.left + r.right) / 2, clientY: (r.top + r.bottom) / 2}));
      const popup = document.querySelector('.leaflet-popup-content');
      return [cell.feature.properties.cell_id, popup ? popup.textContent : ''];
    })()"""
    )
    cell_id, popup = seen
    fields = texts("en", "fields")
    assert cell_id and cell_id in popup
    assert fields["station_id"] in popup and f"{fields['hours']} · day" in popup
