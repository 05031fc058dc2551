"""Training recommender (SPEC §7): gap rules, seat assignment under seats and hour caps, readable
reasons in both languages, the spreadsheet, and the `train` command on the demo bureau."""

from __future__ import annotations

import json
import re
import time

import numpy as np
import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from models.training import GAP_COLUMNS, find_gaps
from optimizer.cells import neutralised
from optimizer.cli import main
from optimizer.i18n import texts
from optimizer.train import (
    TIE_WEIGHT,
    TRAINING_COLUMNS,
    TrainingPlan,
    course_requests,
    plan_training,
    ranked_gaps,
    seat_demand,
    solve_seats,
    unmet_seats,
)
from optimizer.workbook import write_training_xlsx


def assign_seats(*args, **kwargs) -> pd.DataFrame:
    """The recommendations (`training.csv` rows) of `plan_training`."""
    return plan_training(*args, **kwargs).training


INDICATORS = pd.DataFrame(
    {
        "indicator_id": ["S02", "S03", "P01"],
        "name": ["Public satisfaction", "Community visits", "Burglaries"],
        "name_zh": ["群众满意度", "社区走访覆盖率", "入室盗窃发案数"],
    }
)


def panel(history: dict[str, list[float]], weight: float = 5.0) -> pd.DataFrame:
    """Indicator scores of one indicator (S02) for stations of one type, one month per entry."""
    months = [str(pd.Period("2025-01", "M") + k) for k in range(len(next(iter(history.values()))))]
    return pd.DataFrame(
        [
            {
                "station_id": s,
                "month": m,
                "station_type": "regional",
                "indicator_id": "S02",
                "score": v,
                "weight": weight,
                "missing": False,
            }
            for s, values in history.items()
            for m, v in zip(months, values, strict=True)
        ]
    )


def gap(station="A", indicator="S02", score=58.0, **flags) -> dict:
    """A `find_gaps` row; rules default to off."""
    row = {
        "station_id": station,
        "station_type": "regional",
        "indicator_id": indicator,
        "score": score,
        "weight": 1.0,
        "peer_q25": 50.0,
        "peer_last": False,
        "score_m1": score,
        "score_m2": score,
        "below": False,
        "bottom_quarter": False,
        "falling": False,
    }
    row.update(flags)
    row["priority"] = row["weight"] * (100 - score) * (1.5 if row["falling"] else 1.0)
    return row


def gaps_frame(*rows: dict) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=GAP_COLUMNS)


def courses_frame(*rows: tuple) -> pd.DataFrame:
    """(course_id, hours, seats, addresses) rows."""
    frame = pd.DataFrame(rows, columns=["course_id", "hours", "seats", "addresses"])
    return frame.assign(title=[f"Course {c}" for c in frame["course_id"]])


def stations_frame(**officers: int) -> pd.DataFrame:
    return pd.DataFrame({"station_id": list(officers), "officers": list(officers.values())})


# --- gaps -----------------------------------------------------------------------------------


def test_a_score_below_gap_score_is_a_gap_and_one_at_it_is_not():
    ind = panel({"A": [59.0], "B": [60.0], "C": [59.0], "D": [60.0]})
    gaps = find_gaps(ind, "2025-01", 60)
    assert set(gaps["station_id"]) == {"A", "C"}
    assert gaps["below"].all() and not gaps["bottom_quarter"].any() and not gaps["falling"].any()


def test_bottom_quarter_is_strictly_below_the_interpolated_25th_percentile():
    # 25th percentile of 70, 75, 90, 100 by linear interpolation: 70 + 0.75 × 5 = 73.75
    ind = panel({"A": [70.0], "B": [75.0], "C": [90.0], "D": [100.0]})
    gaps = find_gaps(ind, "2025-01", 0)
    assert list(gaps["station_id"]) == ["A"]
    assert gaps.loc[0, "peer_q25"] == pytest.approx(73.75)
    assert gaps.loc[0, "bottom_quarter"] and gaps.loc[0, "peer_last"]
    # at the percentile exactly (70, 80, 90, 100, 100 → 80) is not below it
    ind = panel({"A": [70.0], "B": [80.0], "C": [90.0], "D": [100.0], "E": [100.0]})
    assert list(find_gaps(ind, "2025-01", 0)["station_id"]) == ["A"]
    # equal peers: nobody is below
    assert find_gaps(panel({"A": [70.0], "B": [70.0]}), "2025-01", 0).empty


def test_falling_needs_three_strictly_falling_months_and_raises_priority():
    ind = panel({"A": [80.0, 75.0, 70.0], "B": [80.0, 80.0, 70.0], "C": [60.0, 65.0, 70.0]})
    gaps = find_gaps(ind, "2025-03", 0)
    assert list(gaps["station_id"]) == ["A"]
    row = gaps.iloc[0]
    assert row["falling"] and not row["below"] and not row["bottom_quarter"]
    assert (row["score_m2"], row["score_m1"]) == (80.0, 75.0)
    assert row["priority"] == pytest.approx(5.0 * (100 - 70) * 1.5)


def test_a_missing_report_is_neither_a_gap_nor_a_peer():
    # with A's 0 among the peers the 25th percentile would be 70 and B not below it
    ind = panel({"A": [0.0], "B": [70.0], "C": [80.0], "D": [90.0], "E": [100.0]})
    ind.loc[ind["station_id"] == "A", "missing"] = True
    gaps = find_gaps(ind, "2025-01", 60)
    assert list(gaps["station_id"]) == ["B"]
    assert gaps.loc[0, "peer_q25"] == pytest.approx(77.5)


# --- seats ----------------------------------------------------------------------------------


def test_a_station_without_gaps_gets_nothing():
    courses = courses_frame(("K1", 8, 10, "S02"))
    stations = stations_frame(A=20, B=20)
    out = assign_seats(gaps_frame(gap("A", below=True)), courses, stations, INDICATORS, 60, 8)
    assert list(out["station_id"]) == ["A"]
    none = assign_seats(gaps_frame(), courses, stations, INDICATORS, 60, 8)
    assert none.empty and list(none.columns) == TRAINING_COLUMNS


def test_training_leaves_seventy_percent_of_patrol_time_on_the_street():
    """10 officers × 10 patrol hours: at most 30 training hours, though 8 h each would allow
    80; the gap asks for 5 seats of 8 h."""
    courses = courses_frame(("K1", 8, 10, "S02"))
    gaps = gaps_frame(gap("A", score=10.0, below=True))
    limited = stations_frame(A=10).assign(patrol_hours_per_officer=10.0)
    out = assign_seats(gaps, courses, limited, INDICATORS, 60, 8)
    assert int(out["seats"].sum()) == 3  # 3 × 8 h ≤ 30 h < 4 × 8 h
    unlimited = assign_seats(gaps, courses, stations_frame(A=10), INDICATORS, 60, 8)
    assert int(unlimited["seats"].sum()) == 5


def test_seats_maximise_priority_under_the_hour_cap_not_greedily():
    # 2 officers × 8 h = 16 h: the top course (16 h) alone is worth 50, the two 8 h courses 80
    courses = courses_frame(("LONG", 16, 5, "P01"), ("B", 8, 5, "S02"), ("C", 8, 5, "S03"))
    gaps = gaps_frame(
        gap("A", "P01", score=50.0, below=True),
        gap("A", "S02", score=60.0, below=True),
        gap("A", "S03", score=60.0, below=True),
    )
    out = assign_seats(gaps, courses, stations_frame(A=2), INDICATORS, 70, 8)
    assert sorted(out["course_id"]) == ["B", "C"]
    assert out["seats"].tolist() == [1, 1]


def test_a_measured_course_effect_reranks_recommendations():
    courses = courses_frame(("K1", 8, 1, "S02"), ("K2", 8, 1, "S03"))
    gaps = gaps_frame(gap("A", "S02", below=True), gap("A", "S03", below=True))
    stations = stations_frame(A=1)  # 8 h: one course only
    plain = assign_seats(gaps, courses, stations, INDICATORS, 60, 8)
    assert plain["course_id"].tolist() == ["K1"]  # equal priority: the first course id
    effects = pd.DataFrame(
        {
            "course_id": ["K1", "K2"],
            "indicator_id": ["S02", "S03"],
            "effect": [-0.5, 3.0],
            "low": [-2.0, 1.0],
            "high": [1.0, 5.0],
            "n_treated": [4, 4],
            "n_controls": [6, 6],
        }
    )
    out = assign_seats(gaps, courses, stations, INDICATORS, 60, 8, effects)
    assert out["course_id"].tolist() == ["K2"]
    assert out.loc[0, "priority"] == pytest.approx(42 * 1.3)
    assert (
        "raised Community visits by 3 points where taken (95 % CI 1 to 5)" in out.loc[0, "reason"]
    )


def test_the_largest_weakest_station_is_served_before_a_small_mild_one():
    """One course of 6 seats. BIG (100 officers, score 0) needs 50 seats, SMALL (10 officers,
    score 50) needs 3: a seat is worth its gap's priority (100 against 50), so BIG takes all
    six, though per seat of need SMALL's gap is the larger share (50 / 3 against 100 / 50)."""
    courses = courses_frame(("K1", 8, 6, "S02"))
    gaps = gaps_frame(gap("BIG", score=0.0, below=True), gap("SMALL", score=50.0, below=True))
    out = assign_seats(gaps, courses, stations_frame(BIG=100, SMALL=10), INDICATORS, 60, 8)
    assert out.set_index("station_id")["seats"].to_dict() == {"BIG": 6, "SMALL": 0}


def test_an_hour_cap_passes_the_seats_to_the_next_station_in_need():
    """BIG needs 5 seats, but 10 officers × 30 % of 3 patrol hours allow 9 h: one 8 h seat;
    SMALL gets its need of 5 from the 5 left."""
    courses = courses_frame(("K1", 8, 6, "S02"))
    gaps = gaps_frame(gap("BIG", score=0.0, below=True), gap("SMALL", score=50.0, below=True))
    stations = stations_frame(BIG=10, SMALL=20).assign(patrol_hours_per_officer=[3.0, None])
    out = assign_seats(gaps, courses, stations, INDICATORS, 60, 8)
    assert out.set_index("station_id")["seats"].to_dict() == {"BIG": 1, "SMALL": 5}


def test_a_station_with_a_gap_and_no_seat_gets_a_row_saying_why():
    """K1 (8 h, 2 seats, format classroom) goes to BIG, whose gap weighs most; SMALL gets 0
    seats and the reason; LONE's gap (P01) has no course at all."""
    courses = courses_frame(("K1", 8, 2, "S02")).assign(format=["classroom"])
    gaps = gaps_frame(
        gap("BIG", score=0.0, below=True),
        gap("SMALL", score=50.0, below=True),
        gap("LONE", "P01", score=40.0, below=True, weight=2.0),
    )
    stations = stations_frame(BIG=100, SMALL=10, LONE=5).assign(name=["大所", "小所", "独所"])
    out = assign_seats(gaps, courses, stations, INDICATORS, 60, 8)
    shown = out[["station_id", "course_id", "seats", "name", "course_hours", "format"]]
    assert shown.fillna("").values.tolist() == [
        ["BIG", "K1", 2, "大所", 8, "classroom"],
        ["LONE", "", 0, "独所", "", ""],
        ["SMALL", "K1", 0, "小所", 8, "classroom"],
    ]
    assert out["priority"].tolist() == [100.0, 120.0, 50.0]  # weight × (100 − score)
    assert out.loc[2, "reason"] == (
        "Public satisfaction scores 50: below 60. No seat this month: course full: all 2 seats "
        "of the month given (to BIG)"
    )
    assert out.loc[1, "reason"] == (
        "Burglaries scores 40: below 60. No course in courses.csv addresses these gaps"
    )
    zh = assign_seats(gaps, courses, stations, INDICATORS, 60, 8, lang="zh")
    assert zh.loc[2, "reason"].endswith(
        "。本月未分配名额：课程已满：本月 2 个名额已全部分配（给 BIG）"
    )


def test_equal_priorities_go_to_the_station_whose_gaps_weigh_most():
    """A and B score 0 on S02 alike; B also lacks S03 (another course): B gets K1's seats."""
    courses = courses_frame(("K1", 8, 4, "S02"), ("K2", 8, 0, "S03"))
    gaps = gaps_frame(
        gap("A", score=0.0, below=True),
        gap("B", score=0.0, below=True),
        gap("B", "S03", score=10.0, below=True),
    )
    out = assign_seats(gaps, courses, stations_frame(A=20, B=20), INDICATORS, 60, 8)
    assert out.set_index("station_id")["seats"].to_dict() == {"A": 0, "B": 4}


def served_out_of_order(requests: pd.DataFrame, courses: pd.DataFrame, cap: pd.Series) -> list:
    """(short, served) request pairs of one course where `short` has the higher priority, is
    below its need, has the hours for one more seat, and `served` holds a seat anyway."""
    if requests.empty:
        return []
    hours = requests["seats"] * requests["hours"]
    spare = cap - hours.groupby(requests["station_id"]).sum().reindex(cap.index, fill_value=0)
    wrong = []
    for _course, rows in requests.groupby("course_id"):
        for short in rows[rows["seats"] < rows["need"]].itertuples():
            if spare[short.station_id] + 1e-9 < short.hours:
                continue
            for served in rows[rows["seats"] > 0].itertuples():
                if served.priority < short.priority - 2 * TIE_WEIGHT:
                    wrong.append((short.station_id, served.station_id, short.course_id))
    return wrong


def seat_requests(gaps, courses, stations, cap) -> pd.DataFrame:
    """`course_requests` with the seats `solve_seats` gives them."""
    requests = course_requests(ranked_gaps(gaps, courses), courses, stations)
    hour_cap = stations.set_index("station_id")["officers"] * cap
    requests["seats"] = solve_seats(requests, courses.set_index("course_id")["seats"], hour_cap)
    return requests


def test_seeded_bureau_serves_every_course_by_priority():
    """40 stations, 6 courses, gaps drawn from a seeded generator: no seat of a course goes to a
    request while one of higher priority is short and has the hours for it."""
    rng = np.random.default_rng(20251201)
    indicators = ["S02", "S03", "P01"]
    courses = courses_frame(
        *[
            (f"K{c}", int(rng.choice([4, 8, 16])), int(rng.integers(5, 40)), indicators[c % 3])
            for c in range(6)
        ]
    )
    officers = {f"S{s:02d}": int(rng.integers(5, 200)) for s in range(40)}
    rows = [
        gap(s, i, float(rng.uniform(0, 59)), below=True, weight=float(rng.uniform(1, 10)))
        for s in officers
        for i in indicators
        if rng.random() < 0.6
    ]
    stations = stations_frame(**officers)
    requests = seat_requests(gaps_frame(*rows), courses, stations, 8)
    cap = stations.set_index("station_id")["officers"] * 8.0
    assert requests["seats"].sum() > 0
    assert served_out_of_order(requests, courses, cap) == []


@st.composite
def instances(draw):
    indicators = ["S02", "S03", "P01"]
    n_courses = draw(st.integers(1, 4))
    courses = courses_frame(
        *[
            (
                f"K{c}",
                draw(st.sampled_from([0, 4, 8, 12, 24])),
                draw(st.integers(0, 12)),
                ";".join(draw(st.lists(st.sampled_from(indicators), min_size=1, max_size=3))),
            )
            for c in range(n_courses)
        ]
    )
    officers = {f"S{s}": draw(st.integers(0, 30)) for s in range(draw(st.integers(1, 5)))}
    rows = []
    for station in officers:
        for indicator in draw(st.lists(st.sampled_from(indicators), unique=True, max_size=3)):
            score = draw(st.floats(0, 99))
            rows.append(gap(station, indicator, score, below=True, weight=draw(st.floats(0.5, 10))))
    return gaps_frame(*rows), courses, stations_frame(**officers), draw(st.sampled_from([0, 4, 8]))


@settings(max_examples=40, deadline=None, derandomize=True)
@given(instances())
def test_seats_and_hour_caps_are_never_exceeded(instance):
    gaps, courses, stations, cap = instance
    out = assign_seats(gaps, courses, stations, INDICATORS, 60, cap)
    assert list(out.columns) == TRAINING_COLUMNS
    seated = out.loc[out["seats"] > 0, "station_id"]
    assert not out.loc[out["seats"] == 0, "station_id"].isin(seated).any()  # 0 only if none
    assert set(out["station_id"]) == set(gaps["station_id"])  # every station with a gap
    assert not out.duplicated(["station_id", "course_id"]).any()
    c = courses.set_index("course_id")
    used = out[out["seats"] > 0].groupby("course_id")["seats"].sum()
    assert (used <= c.loc[used.index, "seats"]).all()
    hours = (out["seats"] * out["course_id"].map(c["hours"])).groupby(out["station_id"]).sum()
    officers = stations.set_index("station_id")["officers"]
    assert (hours <= officers[hours.index] * cap + 1e-9).all()
    requests = seat_requests(gaps, courses, stations, cap)
    assert (requests["seats"] <= requests["need"]).all()
    assert served_out_of_order(requests, courses, officers * float(cap)) == []
    own = set(zip(gaps["station_id"], gaps["indicator_id"], strict=True))
    for row in out.itertuples(index=False):
        if row.course_id:  # else no course addresses the station's gaps
            assert row.indicator_id in c.loc[row.course_id, "addresses"].split(";")
        assert (row.station_id, row.indicator_id) in own


# --- reasons --------------------------------------------------------------------------------

RULES = {"below": True, "bottom_quarter": True, "peer_last": True, "falling": True}


def one_reason(lang: str, *rows: dict) -> str:
    courses = courses_frame(("K05", 8, 30, "S02;S03"))
    gaps = gaps_frame(*rows)
    out = assign_seats(gaps, courses, stations_frame(A=20), INDICATORS, 60, 8, lang=lang)
    return out.loc[0, "reason"]


def test_reason_in_chinese_has_every_rule_with_its_numbers():
    row = gap(score=58.0, peer_q25=63.0, score_m1=62.0, score_m2=66.0, **RULES)
    assert one_reason("zh", row) == (
        "群众满意度 58 分，低于 60 分；同类派出所末位（25% 分位 63 分）；连续三个月下降（66→62→58）"
    )


def test_reason_in_english_names_only_the_rules_that_hold():
    row = gap(score=58.0, peer_q25=63.0, score_m1=62.0, score_m2=66.0, **RULES)
    row.update(peer_last=False, falling=False)
    assert one_reason("en", row) == (
        "Public satisfaction scores 58: below 60, below its peers' 25th percentile of 63"
    )


def test_reason_names_every_gap_the_course_answers_first_the_one_that_ranks_it():
    rows = (
        gap(indicator="S03", score=75.5, falling=True, score_m1=78.0, score_m2=80.0),
        gap(indicator="S02", score=58.0, below=True),
    )
    zh = one_reason("zh", *rows)
    assert (
        zh == "群众满意度 58 分，低于 60 分。社区走访覆盖率 75.5 分，连续三个月下降（80→78→75.5）"
    )
    en = one_reason("en", *rows)
    assert en.index("Public satisfaction scores 58") < en.index("Community visits scores 75.5")


# --- spreadsheet and command ----------------------------------------------------------------


def small_plan(lang: str = "en", **titles: str) -> TrainingPlan:
    """Two stations and two courses: S01 takes 3 seats of K1 and 2 of K2, S02 4 of K1."""
    training = pd.DataFrame(
        {
            "station_id": ["S01", "S01", "S02"],
            "course_id": ["K1", "K2", "K1"],
            "title": [
                titles.get("K1", "群众工作与沟通"),
                titles.get("K2", "B"),
                titles.get("K1", "群众工作与沟通"),
            ],
            "seats": [3, 2, 4],
            "priority": [10.0, 5.0, 7.0],
            "indicator_id": ["S02", "S03", "S02"],
            "score": [58.0, 70.0, 40.0],
            "reason": ["x" * 200, "y", "z"],
        }
    )
    requests = training[["station_id", "course_id", "seats", "priority"]].assign(
        need=[3, 2, 6], hours=[8.0, 8.0, 8.0], hour_cap=[80.0, 80.0, 32.0]
    )
    courses = courses_frame(("K1", 8, 7, "S02"), ("K2", 8, 5, "S03"))
    names = pd.Series({"S01": "甲派出所", "S02": "乙派出所"})
    return TrainingPlan(training, requests, courses, names, lang)


def test_training_xlsx_has_frozen_filtered_sheets_by_station_and_course(tmp_path):
    write_training_xlsx(small_plan(), tmp_path / "training.xlsx")
    book = openpyxl.load_workbook(tmp_path / "training.xlsx")
    assert book.sheetnames == ["By station", "By course", "Seat demand", "Seats not given"]
    for ws in book:
        assert ws.freeze_panes == "A2"
        assert ws.auto_filter.ref.startswith("A1:")
        assert all(8 <= d.width <= 80 for d in ws.column_dimensions.values())
    by_course = pd.read_excel(tmp_path / "training.xlsx", sheet_name="By course")
    assert by_course["Seats"].tolist() == [7, 2, 9]
    assert by_course["Course"].iloc[-1] == "TOTAL"
    assert book["By course"].auto_filter.ref == "A1:F3"  # the totals row stays outside the filter
    assert book["By station"].column_dimensions["I"].width == 80  # reasons, after the name
    priority = [c.number_format for c in book["By course"]["E"][1:3]]
    assert priority == ["#,##0.0", "#,##0.0"] and book["By course"]["D2"].number_format == "#,##0"
    assert by_course["Stations trained (seats)"].tolist()[:2] == [
        "S02 乙派出所 (4), S01 甲派出所 (3)",
        "S01 甲派出所 (2)",
    ]
    by_station = pd.read_excel(tmp_path / "training.xlsx", sheet_name="By station")
    assert by_station["Station name"].tolist()[:3] == ["甲派出所", "甲派出所", "乙派出所"]


def test_every_unmet_seat_is_explained(tmp_path):
    """K1 (7 seats) is full and S02 got 4 of the 6 it needs, its 32 h cap spent; S01 is served."""
    write_training_xlsx(small_plan(), tmp_path / "training.xlsx")
    unmet = pd.read_excel(tmp_path / "training.xlsx", sheet_name="Seats not given")
    assert unmet["Station"].tolist() == ["S02", "TOTAL"]
    row = unmet.iloc[0]
    assert (row["Seats needed"], row["Seats given"], row["Seats short"]) == (6, 4, 2)
    assert row["Why not given"] == (
        "course full: all 7 seats of the month given (to S02, S01); "
        "station hour cap: 32 of 32 training hours used, a seat takes 8 h"
    )
    write_training_xlsx(small_plan("zh"), tmp_path / "zh.xlsx")
    zh = pd.read_excel(tmp_path / "zh.xlsx", sheet_name="未分配名额")
    assert zh["未分配原因"].iloc[0].startswith("课程已满：本月 7 个名额已全部分配")
    assert zh["派出所编号"].iloc[-1] == "合计"


def test_the_workbook_speaks_chinese_with_zh(tmp_path):
    write_training_xlsx(small_plan("zh"), tmp_path / "training.xlsx")
    book = openpyxl.load_workbook(tmp_path / "training.xlsx")
    assert book.sheetnames == ["按派出所", "按课程", "名额需求", "未分配名额"]
    for ws in book:
        headers = [c.value for c in ws[1]]
        assert all(re.search(r"[\u4e00-\u9fff]", h) for h in headers), (ws.title, headers)
    demand = pd.read_excel(tmp_path / "training.xlsx", sheet_name="名额需求")
    assert set(demand["课程已满"].dropna()) <= {"是", "否"}


HOSTILE = ['=HYPERLINK("http://x","click")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(1)", "\tx", "\rx"]


def test_formula_like_text_is_stored_as_text_and_numbers_stay_numbers(tmp_path):
    plan = small_plan(K1=HOSTILE[0], K2=HOSTILE[1])
    training = plan.training.assign(reason=HOSTILE[2:5], indicator_id=["=1+1", "S03", HOSTILE[5]])
    names = pd.Series({"S01": "@SUM(A1:A9)", "S02": "-乙"})
    plan = TrainingPlan(training, plan.requests, plan.courses, names, "en")
    write_training_xlsx(plan, tmp_path / "training.xlsx")
    book = openpyxl.load_workbook(tmp_path / "training.xlsx")
    texts = set()
    for ws in book:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (ws.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str):
                    texts.add(cell.value.replace("\r", "\n"))
    # the text itself, unchanged (an XML parser may read a carriage return back as a line feed)
    expected = {v.replace("\r", "\n") for v in [*HOSTILE, "=1+1", "@SUM(A1:A9)", "-乙"]}
    assert expected <= texts
    seats = [c.value for c in book["By station"]["E"][1:]]
    assert seats == [3, 2, 4, 9] and all(isinstance(v, int) for v in seats)


def test_neutralised_prefixes_formula_like_text_for_csv():
    frame = pd.DataFrame(
        {
            "text": [*HOSTILE, "plain", "-5", "+0.5", "1e-3", None],
            "number": [-1.5, -2, 3, 0, 1, 2, -7, 8, 9, 10, 11],
        }
    )
    out = neutralised(frame)
    assert out["text"].tolist()[:6] == [f"'{v}" for v in HOSTILE]
    assert out["text"].tolist()[6:10] == ["plain", "-5", "+0.5", "1e-3"]
    assert out["text"].isna().iloc[-1]
    assert out["number"].tolist() == frame["number"].tolist()
    assert out["number"].dtype == frame["number"].dtype
    assert frame["text"].iloc[0] == HOSTILE[0]  # the frame given is left as it was
    assert neutralised(frame[["number"]]).equals(frame[["number"]])


def test_the_same_plan_gives_the_same_workbook_bytes(tmp_path):
    write_training_xlsx(small_plan(), tmp_path / "a.xlsx")
    time.sleep(1.1)  # openpyxl stamps the write time to the second
    write_training_xlsx(small_plan(), tmp_path / "b.xlsx")
    assert (tmp_path / "a.xlsx").read_bytes() == (tmp_path / "b.xlsx").read_bytes()
    assert openpyxl.load_workbook(tmp_path / "a.xlsx").properties.modified.year == 2000


def test_demand_shows_the_seats_a_full_course_could_not_give(tmp_path):
    """Two stations each need 5 seats of K1 (score 0 → ⌈10 × 0.5⌉); K1 offers 6: 4 seats
    unmet, the course full, and the station given fewer named. K2 has room for its request."""
    courses = courses_frame(("K1", 4, 6, "S02"), ("K2", 4, 10, "S03"))
    gaps = gaps_frame(
        gap("A", "S02", score=0.0, below=True),
        gap("B", "S02", score=0.0, below=True),
        gap("A", "S03", score=80.0, falling=True),
    )
    stations = stations_frame(A=10, B=10)
    plan = plan_training(gaps, courses, stations, INDICATORS, 60, 8)
    training = plan.training
    demand = seat_demand(plan).set_index("course_id")
    assert demand.loc["K1", ["seats_offered", "requested", "given", "unmet"]].tolist() == [
        6,
        10,
        6,
        4,
    ]
    assert bool(demand.loc["K1", "course_full"])
    given = training[training["course_id"] == "K1"].set_index("station_id")["seats"]
    short = sorted(s for s in ("A", "B") if given.get(s, 0) < 5)
    assert demand.loc["K1", "stations_short"] == ", ".join(short)
    assert demand.loc["K2", "unmet"] == 0 and demand.loc["K2", "stations_short"] == ""
    write_training_xlsx(plan, tmp_path / "training.xlsx")
    sheet = pd.read_excel(tmp_path / "training.xlsx", sheet_name="Seat demand")
    assert sheet["Course"].tolist() == ["K1", "K2", "TOTAL"]
    assert sheet["Seats unmet"].iloc[-1] == 4
    unmet = unmet_seats(plan)
    assert unmet["short"].sum() == 4 and unmet["why"].str.startswith("course full").all()


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_train_command_writes_csv_and_xlsx_within_every_limit(lang, demo_data, tmp_path):
    result = CliRunner().invoke(
        main,
        ["--lang", lang, "train", "--data", str(demo_data), "--month", "2025-12"]
        + ["--out", str(tmp_path)],
    )
    assert result.exit_code == 0, result.output
    training = pd.read_csv(tmp_path / "training.csv")
    assert list(training.columns) == TRAINING_COLUMNS
    assert len(training) > 0 and not training.duplicated(["station_id", "course_id"]).any()
    courses = pd.read_csv(demo_data / "courses.csv").set_index("course_id")
    for row in training.itertuples(index=False):
        assert row.indicator_id in courses.loc[row.course_id, "addresses"].split(";")
    used = training.groupby("course_id")["seats"].sum()
    assert (used <= courses.loc[used.index, "seats"]).all()
    features = json.loads((demo_data / "stations.geojson").read_text(encoding="utf-8"))["features"]
    officers = pd.Series(
        {f["properties"]["station_id"]: f["properties"]["officers"] for f in features}
    )
    hours = training["seats"] * training["course_id"].map(courses["hours"])
    per_station = hours.groupby(training["station_id"]).sum()
    assert (per_station <= officers[per_station.index] * 8).all()
    assert training["reason"].str.contains("分" if lang == "zh" else "scores").all()
    words = texts(lang, "workbook")
    demand = pd.read_excel(tmp_path / "training.xlsx", sheet_name=words["sheet_demand"])
    given = demand.set_index(words["course_id"])[words["given"]].drop(words["total"])
    assert given.to_dict() == used.reindex(given.index, fill_value=0).to_dict()
