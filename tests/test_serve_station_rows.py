"""A station's rows of a table (optimizer/serve/station_view.py): the rows of its cells and the
aid it lends, each aid row named in both directions, whether the table keys a row by the cell's
station (allocation, with its lender) or by the patrolling station (schedule)."""

from __future__ import annotations

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer.serve.station_view import cell_owners, station_rows

WORDS = {"lends_to": "lends to {station}", "received_from": "received from {station}"}
ALLOCATION = pd.DataFrame(
    {
        "station_id": ["S01", "S01", "S02", "S03"],
        "cell_id": ["a", "a", "b", "c"],
        "shift": ["day"] * 4,
        "hours": ["10", "5", "8", "3"],
        "lender_station_id": ["", "S02", "", ""],
    }
)
SCHEDULE = pd.DataFrame(  # S02's officers visit S01's cell a; S01's visit only a
    {"station_id": ["S01", "S02", "S02", "S03"], "cell_id": ["a", "a", "b", "c"]}
)


def test_allocation_rows_of_the_lender_and_the_receiver():
    owners = cell_owners(ALLOCATION)
    receiver = station_rows(ALLOCATION, "S01", owners, WORDS)
    assert list(receiver["aid"]) == ["", "received from S02"]
    lender = station_rows(ALLOCATION, "S02", owners, WORDS, names={"S01": "North"})
    assert list(zip(lender["cell_id"], lender["aid"], strict=True)) == [
        ("a", "lends to S01 North"),
        ("b", ""),
    ]
    assert station_rows(ALLOCATION, "S03", owners, WORDS)["aid"].tolist() == [""]


def test_schedule_rows_placed_by_the_cells_owner():
    owners = cell_owners(ALLOCATION)
    receiver = station_rows(SCHEDULE, "S01", owners, WORDS)
    assert list(zip(receiver["station_id"], receiver["aid"], strict=True)) == [
        ("S01", ""),
        ("S02", "received from S02"),
    ]
    lender = station_rows(SCHEDULE, "S02", owners, WORDS)
    assert lender["aid"].tolist() == ["lends to S01", ""]


def test_a_table_without_cells_keeps_the_stations_own_rows():
    scores = pd.DataFrame({"station_id": ["S01", "S02"], "total": ["80", "70"]})
    assert station_rows(scores, "S02", None, WORDS)["total"].tolist() == ["70"]
    assert station_rows(pd.DataFrame({"x": [1]}), "S02", None, WORDS).empty


STATIONS = ["S01", "S02", "S03"]
plans = st.lists(
    st.tuples(st.sampled_from(STATIONS), st.sampled_from(["", *STATIONS])),
    min_size=1,
    max_size=12,
)


@settings(max_examples=50, deadline=None)
@given(plans, st.sampled_from(STATIONS))
def test_every_row_the_station_is_in_once_and_aid_named_iff_another_station_is_in_it(
    pairs, station
):
    """Whatever the rows: a station reads exactly the rows of its cells and of its officers,
    each once, named as aid exactly when the cell's station and the patrolling one differ."""
    frame = pd.DataFrame(
        {
            "station_id": [owner for owner, _ in pairs],
            "cell_id": [f"{owner}-cell" for owner, _ in pairs],
            "lender_station_id": [lender for _, lender in pairs],
        }
    )
    rows = station_rows(frame, station, cell_owners(frame), WORDS)
    patroller = frame["lender_station_id"].where(
        frame["lender_station_id"] != "", frame["station_id"]
    )
    involved = (frame["station_id"] == station) | (patroller == station)
    assert list(rows.index) == list(frame.index[involved])
    differ = frame["station_id"][involved] != patroller[involved]
    assert list(rows["aid"] != "") == list(differ)
