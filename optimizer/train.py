"""Seat assignment for training (SPEC §7): gaps mapped to courses, seats given greedily by
priority under each course's monthly seats and each station's training-hour cap."""

from __future__ import annotations

import math

import pandas as pd

TRAINING_COLUMNS = [
    "station_id",
    "course_id",
    "title",
    "seats",
    "priority",
    "indicator_id",
    "score",
    "reason",
]


REASON_TEXT = {
    "en": {"below": "below {gap:g}", "bottom_quarter": "in the bottom quarter of its peers",
           "falling": "falling three months running", "score": "{name} scores {score:.0f}, ",
           "join": ", ", "sep": "; "},
    "zh": {"below": "低于 {gap:g} 分", "bottom_quarter": "处于同类派出所后 25%",
           "falling": "连续三个月下降", "score": "{name} {score:.0f} 分，", "join": "；",
           "sep": "；"},
}  # fmt: skip


def _reason(gaps: pd.DataFrame, names: dict[str, str], gap_score: float, lang: str) -> str:
    """One readable sentence naming every gap a course answers, with its score and rules."""
    text = REASON_TEXT[lang]
    parts = []
    for g in gaps.itertuples(index=False):
        rules = [
            text[rule].format(gap=gap_score)
            for rule in ("below", "bottom_quarter", "falling")
            if getattr(g, rule)
        ]
        head = text["score"].format(name=names.get(g.indicator_id, g.indicator_id), score=g.score)
        parts.append(head + text["join"].join(rules))
    return text["sep"].join(parts)


def assign_seats(
    gaps: pd.DataFrame,
    courses: pd.DataFrame,
    stations: pd.DataFrame,
    indicators: pd.DataFrame,
    gap_score: float,
    max_hours_per_officer: float,
    effectiveness: pd.Series | None = None,
    lang: str = "en",
) -> pd.DataFrame:
    """One row per station and recommended course (`TRAINING_COLUMNS`).

    A station wants ⌈officers × (100 − score) / 200⌉ seats on a course for its worst gap the
    course answers; requests are served by priority (scaled up for courses with a measured
    positive effect) while course seats and the station's hours (officers × cap) last.
    """
    addresses = courses.assign(indicator_id=courses["addresses"].str.split(";")).explode(
        "indicator_id"
    )
    addresses["indicator_id"] = addresses["indicator_id"].str.strip()
    matched = gaps.merge(
        addresses[["course_id", "indicator_id", "title", "hours"]], on="indicator_id"
    )
    if matched.empty:
        return pd.DataFrame(columns=TRAINING_COLUMNS)
    boost = (
        matched["course_id"].map(effectiveness).fillna(0.0) if effectiveness is not None else 0.0
    )
    matched["rank_priority"] = matched["priority"] * (
        1 + (boost.clip(lower=0) / 10 if effectiveness is not None else 0)
    )
    name_col = "name_zh" if lang == "zh" and "name_zh" in indicators.columns else "name"
    names = dict(zip(indicators["indicator_id"], indicators[name_col], strict=True))
    seats_left = dict(zip(courses["course_id"], courses["seats"].astype(int), strict=True))
    officers = stations.set_index("station_id")["officers"]
    hours_left = {s: officers[s] * max_hours_per_officer for s in officers.index}
    requests = matched.groupby(["station_id", "course_id"]).agg(
        priority=("rank_priority", "sum"), title=("title", "first"), hours=("hours", "first")
    )
    rows = []
    for (station, course), req in requests.sort_values("priority", ascending=False).iterrows():
        answered = matched[(matched["station_id"] == station) & (matched["course_id"] == course)]
        first = answered.sort_values("priority", ascending=False).iloc[0]
        want = math.ceil(officers[station] * (100 - first["score"]) / 200)
        by_hours = int(hours_left[station] // req["hours"]) if req["hours"] > 0 else want
        seats = min(want, seats_left[course], by_hours)
        if seats <= 0:
            continue
        seats_left[course] -= seats
        hours_left[station] -= seats * req["hours"]
        rows.append(
            {
                "station_id": station,
                "course_id": course,
                "title": req["title"],
                "seats": seats,
                "priority": round(float(req["priority"]), 3),
                "indicator_id": first["indicator_id"],
                "score": round(first["score"], 2),
                "reason": _reason(answered, names, gap_score, lang),
            }
        )
    return pd.DataFrame(rows, columns=TRAINING_COLUMNS)


def write_training_xlsx(training: pd.DataFrame, path) -> None:
    """`training.xlsx`: a sheet by station and a sheet by course (with totals), frozen header,
    filters and fitted column widths."""
    by_course = training.groupby(["course_id", "title"], as_index=False).agg(
        seats=("seats", "sum"), stations=("station_id", "nunique")
    )
    if len(by_course):
        by_course.loc[len(by_course)] = [
            "TOTAL",
            "",
            by_course["seats"].sum(),
            training["station_id"].nunique(),
        ]
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        for sheet, frame in (
            (
                "by_station",
                training.sort_values(["station_id", "priority"], ascending=[True, False]),
            ),
            ("by_course", by_course),
        ):
            frame.to_excel(writer, sheet_name=sheet, index=False)
            ws = writer.sheets[sheet]
            ws.freeze_panes = "A2"
            ws.auto_filter.ref = ws.dimensions
            for col in ws.columns:
                width = max(len(str(c.value or "")) for c in col)
                ws.column_dimensions[col[0].column_letter].width = min(max(10, width + 2), 80)
