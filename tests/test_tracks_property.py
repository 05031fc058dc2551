"""The vectorised dose and visits agree with the rules of SPEC §13 read one ping at a time."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import CRS, Transformer

from models.tracks import TrackRules, measure_tracks

METRIC = "EPSG:32651"
SHIFTS = {"day": (8, 16), "evening": (16, 24), "night": (0, 8)}
RULES = TrackRules(
    max_gap_s=120, max_speed_kmh=120, min_visit_minutes=2, cell_size_m=250, shift_hours=SHIFTS
)
TO_WGS84 = Transformer.from_crs(METRIC, "EPSG:4326", always_xy=True)
X0, Y0 = 350_000.0, 3_460_000.0

ping = st.tuples(
    st.integers(0, 2),  # unit
    st.integers(0, 6 * 3600),  # seconds after 2025-12-31 13:00 (crosses shifts and the month)
    st.integers(0, 3),  # cell column
    st.integers(0, 1),  # cell row
    st.sampled_from(["patrol", "patrol", "patrol", "responding", "off_duty"]),
    st.integers(1, 3),  # officers
)


def _shift(when: pd.Timestamp) -> str:
    return next(n for n, (a, b) in SHIFTS.items() if (a <= when.hour < b))


def _reference(frame: pd.DataFrame) -> tuple[dict, dict]:
    """Dose (officer-seconds) and visits per (station, cell, shift), one ping at a time."""
    dose, visits = defaultdict(float), defaultdict(int)
    end = pd.Timestamp("2026-01-01")
    for _, pings in frame.drop_duplicates().groupby("unit_id"):
        pings = pings.sort_values("recorded_at", kind="stable").to_dict("records")
        stay, stay_key = 0.0, None
        for a, b in zip(pings, pings[1:], strict=False):
            gap = (b["recorded_at"] - a["recorded_at"]).total_seconds()
            dist = np.hypot(b["x"] - a["x"], b["y"] - a["y"])
            ok = a["recorded_at"] < end and gap <= 120 and dist <= 120 / 3.6 * gap
            key = (a["station_id"], a["cell"], _shift(a["recorded_at"]))
            patrol = ok and a["status"] == "patrol"
            if patrol and stay_key is not None and a["cell"] == stay_key[1]:
                stay += gap
            else:
                if stay_key is not None and stay >= 120:
                    visits[stay_key] += 1
                stay, stay_key = (gap, key) if patrol else (0.0, None)
            if patrol:
                dose[key] += gap * a["officers"]
        if stay_key is not None and stay >= 120:
            visits[stay_key] += 1
    return dose, visits


@settings(max_examples=40, deadline=None)
@given(st.lists(ping, min_size=2, max_size=60))
def test_vectorised_dose_matches_the_rules(rows):
    start = pd.Timestamp("2025-12-31 13:00:00")
    frame = pd.DataFrame(rows, columns=["unit", "t", "col", "row", "status", "officers"])
    frame["x"] = X0 + 250 * frame["col"] + 125.0
    frame["y"] = Y0 + 250 * frame["row"] + 125.0
    lon, lat = TO_WGS84.transform(frame["x"].to_numpy(), frame["y"].to_numpy())
    tracks = pd.DataFrame(
        {
            "unit_id": "U" + frame["unit"].astype(str),
            "station_id": "S" + (frame["unit"] % 2).astype(str),
            "recorded_at": start + pd.to_timedelta(frame["t"], unit="s"),
            "lat": lat,
            "lon": lon,
            "status": frame["status"],
            "officers": frame["officers"].astype(float),
        }
    )
    got = measure_tracks(tracks, "2025-12", CRS(METRIC), "wgs84", RULES).dose
    reference = tracks.assign(
        x=frame["x"], y=frame["y"], cell=(1400 + frame["col"]).astype(str) + "_"
    )
    reference["cell"] += (13840 + frame["row"]).astype(str)
    dose, visits = _reference(reference)
    measured = {
        (r.station_id, r.cell_id, r.shift): (r.delivered_hours, r.visits)
        for r in got.itertuples(index=False)
    }
    expected = {k: (dose[k] / 3600, visits.get(k, 0)) for k in dose}
    assert measured.keys() == expected.keys()
    for key, (hours, count) in expected.items():
        assert np.isclose(measured[key][0], hours), key
        assert measured[key][1] == count, key
