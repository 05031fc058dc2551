"""Seat assignment for training (SPEC §7): skill gaps mapped to the courses that address them,
seats given by an integer program under each course's monthly seats and each station's
training-hour cap, with a sentence per recommendation saying which gaps it answers and why."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pulp

from models.training import LEVEL, course_addresses
from optimizer.highs import banner_silenced
from optimizer.i18n import texts

MIN_FRONTLINE_SHARE = 0.70  # share of a station's patrol hours training must leave

RECOMMENDATION_COLUMNS = [  # SPEC §7's columns of training.csv, in its order
    "station_id",
    "course_id",
    "title",
    "seats",
    "priority",
    "indicator_id",
    "score",
    "reason",
]
TRAINING_COLUMNS = [
    *RECOMMENDATION_COLUMNS,
    "name",  # the station's
    "course_hours",  # hours one seat of the course takes
    "format",  # the course's, as courses.csv gives it ("" when it gives none)
]
PRIORITY_UNIT = "weight × score points below 100"  # of `priority`: Σ weight × (100 − score)
NEED_SHARE = 0.5  # share of a station's officers who need a course for a gap of 100 points
EFFECT_SCALE = 10.0  # score points of measured gain that double a gap's priority
MULTIPLIER_BOUNDS = (0.5, 2.0)  # measured effects move a gap's priority at most this far


def _num(x: float) -> str:
    """A score for reading: one decimal, none when it is whole (58, 59.7)."""
    return f"{round(float(x), 1):g}"


def _reason(
    gaps: pd.DataFrame,
    names: dict[str, str],
    gap_score: float,
    lang: str,
    effects: Sequence[tuple] = (),
) -> str:
    """One readable text naming every gap a course answers, with its score and the rules that
    make it a gap (`find_gaps` columns), then the course's significant measured effects
    (`effects`: rows with `indicator_id, effect, low, high`)."""
    text = texts(lang, "reasons")
    parts = []
    for g in gaps.itertuples(index=False):
        values = {
            "name": names.get(g.indicator_id, g.indicator_id),
            "score": _num(g.score),
            "gap": _num(gap_score),
        }
        rules = []
        if g.below:
            rules.append(text["below"].format(**values))
        if g.bottom_quarter:
            rule = "last" if g.peer_last else "bottom_quarter"
            rules.append(text[rule].format(q25=_num(g.peer_q25)))
        if g.falling:
            rules.append(text["falling"].format(m2=_num(g.score_m2), m1=_num(g.score_m1), **values))
        parts.append(text["score"].format(**values) + text["head"] + text["rule"].join(rules))
    sentence = text["gap"].join(parts)
    for e in effects:
        sentence += text["end"] + text["effect"].format(
            name=names.get(e.indicator_id, e.indicator_id),
            effect=_num(e.effect),
            low=_num(e.low),
            high=_num(e.high),
            level=f"{100 * LEVEL:g}",
        )
    return sentence


def significant_effects(effectiveness: pd.DataFrame | None) -> pd.DataFrame:
    """Rows of `course_effectiveness` whose interval excludes zero."""
    if effectiveness is None or effectiveness.empty:
        return pd.DataFrame(columns=["course_id", "indicator_id", "effect", "low", "high"])
    return effectiveness[(effectiveness["low"] > 0) | (effectiveness["high"] < 0)]


def effect_multipliers(effectiveness: pd.DataFrame | None) -> pd.Series:
    """Priority multiplier per (course_id, indicator_id) from measured course effects
    (`course_effectiveness`, score points): 1 + effect / `EFFECT_SCALE` within
    `MULTIPLIER_BOUNDS` where the interval excludes zero; absent (= 1) otherwise."""
    known = significant_effects(effectiveness)
    factor = (1 + known["effect"].astype(float) / EFFECT_SCALE).clip(*MULTIPLIER_BOUNDS)
    return pd.Series(
        factor.to_numpy(),
        index=pd.MultiIndex.from_frame(known[["course_id", "indicator_id"]]),
        dtype=float,
    )


def ranked_gaps(
    gaps: pd.DataFrame, courses: pd.DataFrame, effectiveness: pd.DataFrame | None = None
) -> pd.DataFrame:
    """Every gap (`find_gaps` rows) paired with each course addressing it, `ranked` = its
    priority × the course's measured effect on it (`effect_multipliers`); by station, course
    and `ranked`, highest first."""
    matched = gaps.merge(course_addresses(courses), on="indicator_id")
    key = pd.MultiIndex.from_frame(matched[["course_id", "indicator_id"]])
    factor = effect_multipliers(effectiveness).reindex(key).fillna(1.0).to_numpy()
    matched["ranked"] = matched["priority"].to_numpy(dtype=float) * factor
    return matched.sort_values(
        ["station_id", "course_id", "ranked", "indicator_id"],
        ascending=[True, True, False, True],
        ignore_index=True,
    )


def course_requests(
    ranked: pd.DataFrame, courses: pd.DataFrame, stations: pd.DataFrame
) -> pd.DataFrame:
    """One row per station and course that addresses at least one of its gaps (`ranked_gaps`):
    `station_id, course_id, priority, indicator_id, score, need, hours`.

    `priority` sums the ranked priorities of the gaps the course answers; `indicator_id, score`
    are those of the gap ranked first. `need` = seats that would close it, ⌈officers ×
    `NEED_SHARE` × (100 − score) / 100⌉; `hours` per seat."""
    requests = ranked.groupby(["station_id", "course_id"], as_index=False).agg(
        priority=("ranked", "sum"), indicator_id=("indicator_id", "first"), score=("score", "first")
    )
    officers = requests["station_id"].map(stations.set_index("station_id")["officers"])
    requests["need"] = [
        math.ceil(n * NEED_SHARE * (100 - s) / 100 - 1e-9)
        for n, s in zip(officers, requests["score"], strict=True)
    ]
    requests["hours"] = requests["course_id"].map(courses.set_index("course_id")["hours"])
    return requests


TIE_WEIGHT = 1e-3  # priority points per seat at most; ties go to the station whose gaps weigh most


def solve_seats(requests: pd.DataFrame, seats: pd.Series, hour_cap: pd.Series) -> pd.Series:
    """Whole seats per request (`course_requests` rows), need first: maximise Σ priority × seats
    under Σ seats ≤ `seats[course]` (per month), Σ hours × seats ≤ `hour_cap[station]` (hours
    per month) and seats ≤ need.

    Each seat is worth its request's priority — the weighted severity of the gaps it answers —
    and a station's need caps its seats instead of dividing its value, so a large station with
    severe gaps is not worth less per seat for needing many. Hence no seat goes to a request
    while one of higher priority for the same course is short and its station has the hours
    for another seat. Ties go to the station whose gaps weigh most in total (`TIE_WEIGHT`
    per seat, scaled to that station's share of the largest total). An integer program solved
    with HiGHS; deterministic. Returns seats aligned to `requests`."""
    if requests.empty:
        return pd.Series(0, index=requests.index, dtype=int)
    rows = requests.reset_index(drop=True)
    weight = rows.groupby("station_id")["priority"].transform("sum")
    value = rows["priority"] + TIE_WEIGHT * weight / max(float(weight.max()), 1e-12)
    model = pulp.LpProblem("training_seats", pulp.LpMaximize)
    x = [
        pulp.LpVariable(f"x_{i}", 0, int(need), cat="Integer")
        for i, need in enumerate(rows["need"])
    ]
    model += pulp.lpSum(v * seat for v, seat in zip(value, x, strict=True))
    for course, idx in rows.groupby("course_id").groups.items():
        model += (pulp.lpSum(x[i] for i in idx) <= int(seats[course]), f"seats_{course}")
    for n, (station, idx) in enumerate(rows.groupby("station_id").groups.items()):
        used = pulp.lpSum(float(rows.at[i, "hours"]) * x[i] for i in idx)
        model += (used <= float(hour_cap[station]), f"hours_{n}")
    with banner_silenced():
        model.solve(pulp.HiGHS(msg=False, gapRel=0))
    if pulp.LpStatus[model.status] != "Optimal":
        raise RuntimeError(f"training seats: solver ended {pulp.LpStatus[model.status]}")
    return pd.Series([round(v.value() or 0) for v in x], index=requests.index, dtype=int)


def hour_caps(stations: pd.DataFrame, max_hours_per_officer: float) -> pd.Series:
    """Training hours a station may spend per month: officers × `max_hours_per_officer`, and
    where it sets `patrol_hours_per_officer`, at most 30 % of them (MIN_FRONTLINE_SHARE stays
    on the street)."""
    table = stations.set_index("station_id")
    per_officer = pd.Series(float(max_hours_per_officer), index=table.index)
    if "patrol_hours_per_officer" in table.columns:
        frontline = table["patrol_hours_per_officer"].astype(float).fillna(np.inf)
        per_officer = per_officer.clip(upper=(1 - MIN_FRONTLINE_SHARE) * frontline)
    return table["officers"] * per_officer


@dataclass(frozen=True)
class TrainingPlan:
    """The month's training: `training` (`TRAINING_COLUMNS`: every station and course given
    seats, and with 0 seats every station with a gap and none), every station-course request
    (`course_requests` with `seats` given and the station's `hour_cap`, hours per month),
    the courses' seats offered, station names and the language of titles and reasons."""

    training: pd.DataFrame
    requests: pd.DataFrame
    courses: pd.DataFrame
    names: pd.Series
    lang: str


def plan_training(
    gaps: pd.DataFrame,
    courses: pd.DataFrame,
    stations: pd.DataFrame,
    indicators: pd.DataFrame,
    gap_score: float,
    max_hours_per_officer: float,
    effectiveness: pd.DataFrame | None = None,
    lang: str = "en",
) -> TrainingPlan:
    """Seats for the gaps of a month (`find_gaps`) under each course's seats and each
    station's `hour_caps`, solved once by `solve_seats`; `effectiveness` from
    `course_effectiveness` re-ranks gaps by measured course effects. Titles, indicator names
    and reasons follow `lang` (`title_zh` / `name_zh` where present)."""
    ranked = ranked_gaps(gaps, courses, effectiveness)
    requests = course_requests(ranked, courses, stations)
    caps = hour_caps(stations, max_hours_per_officer)
    requests["hour_cap"] = requests["station_id"].map(caps)
    requests["seats"] = solve_seats(requests, courses.set_index("course_id")["seats"], caps)
    given = _recommendations(ranked, requests, courses, indicators, gap_score, effectiveness, lang)
    names = (
        stations.set_index("station_id")["name"].fillna("").astype(str)
        if "name" in stations.columns
        else pd.Series("", index=stations["station_id"])
    )
    plan = TrainingPlan(given, requests, courses, names, lang)
    unseated = _without_seats(gaps, ranked, plan, indicators, gap_score)
    training = pd.concat([given, unseated], ignore_index=True) if len(unseated) else given
    training = (
        training.assign(_seated=training["seats"] > 0)
        .sort_values(
            ["station_id", "_seated", "priority", "course_id"],
            ascending=[True, False, False, True],
            ignore_index=True,
        )
        .drop(columns="_seated")
    )
    return TrainingPlan(_described(training, courses, names), requests, courses, names, lang)


def _described(training: pd.DataFrame, courses: pd.DataFrame, names: pd.Series) -> pd.DataFrame:
    """`training` with the station's name, the course's hours per seat and its format."""
    table = courses.set_index("course_id")
    formats = table["format"].fillna("").astype(str) if "format" in table else pd.Series(dtype=str)
    out = training.astype({"seats": int, "priority": float, "score": float}).assign(
        name=training["station_id"].map(names).fillna(""),
        course_hours=training["course_id"].map(table["hours"]),
        format=training["course_id"].map(formats).fillna(""),
    )
    return out[TRAINING_COLUMNS]


def _without_seats(
    gaps: pd.DataFrame,
    ranked: pd.DataFrame,
    plan: TrainingPlan,
    indicators: pd.DataFrame,
    gap_score: float,
) -> pd.DataFrame:
    """A row with 0 seats for every station with a gap and no seat at all, so training
    departments see it: each course its gaps asked for, with the gaps and why no seat was
    given (`unmet_seats`); or, where no course addresses its gaps, one row without a course
    naming them. Priority and the gap ranked first as in the rows with seats."""
    seated = set(plan.training["station_id"])
    waiting = gaps[~gaps["station_id"].isin(seated)]
    if waiting.empty:
        return pd.DataFrame(columns=RECOMMENDATION_COLUMNS)
    text = texts(plan.lang, "reasons")
    indicator_names = _localised(indicators, "indicator_id", "name", plan.lang == "zh")
    titles = _localised(plan.courses, "course_id", "title", plan.lang == "zh")
    unmet = unmet_seats(plan)
    why = dict(
        zip(zip(unmet["station_id"], unmet["course_id"], strict=True), unmet["why"], strict=True)
    )
    rows = []
    for r in plan.requests[~plan.requests["station_id"].isin(seated)].itertuples(index=False):
        answered = ranked[
            (ranked["station_id"] == r.station_id) & (ranked["course_id"] == r.course_id)
        ]
        reason = _reason(answered, indicator_names, gap_score, plan.lang)
        because = why.get((r.station_id, r.course_id), "")
        rows.append(
            (r.station_id, r.course_id, titles.get(r.course_id, ""), 0, r.priority, r.indicator_id,
             r.score, reason + text["end"] + text["no_seat"].format(why=because))
        )  # fmt: skip
    unmatched = waiting[~waiting["station_id"].isin(plan.requests["station_id"])]
    for station, group in unmatched.groupby("station_id", sort=True):
        first = group.sort_values(["priority", "indicator_id"], ascending=[False, True]).iloc[0]
        reason = _reason(group, indicator_names, gap_score, plan.lang)
        rows.append(
            (station, "", "", 0, group["priority"].sum(), first["indicator_id"], first["score"],
             reason + text["end"] + text["no_course"])
        )  # fmt: skip
    out = pd.DataFrame(rows, columns=RECOMMENDATION_COLUMNS)
    return out.assign(priority=out["priority"].round(2), score=out["score"].round(2))


def _recommendations(
    ranked: pd.DataFrame,
    requests: pd.DataFrame,
    courses: pd.DataFrame,
    indicators: pd.DataFrame,
    gap_score: float,
    effectiveness: pd.DataFrame | None,
    lang: str,
) -> pd.DataFrame:
    """The requests given seats as `RECOMMENDATION_COLUMNS`, each with its reason."""
    given = requests[requests["seats"] > 0].sort_values(
        ["station_id", "priority", "course_id"], ascending=[True, False, True], ignore_index=True
    )
    if given.empty:
        return pd.DataFrame(columns=RECOMMENDATION_COLUMNS)
    zh = lang == "zh"
    names = _localised(indicators, "indicator_id", "name", zh)
    measured = significant_effects(effectiveness)
    reasons = []
    for station, course in given[["station_id", "course_id"]].itertuples(index=False):
        answered = ranked[(ranked["station_id"] == station) & (ranked["course_id"] == course)]
        effects = measured[
            (measured["course_id"] == course)
            & measured["indicator_id"].isin(answered["indicator_id"])
        ]
        reasons.append(
            _reason(answered, names, gap_score, lang, list(effects.itertuples(index=False)))
        )
    given["title"] = given["course_id"].map(_localised(courses, "course_id", "title", zh))
    given["priority"] = given["priority"].round(2)
    given["score"] = given["score"].round(2)
    given["reason"] = reasons
    return given[RECOMMENDATION_COLUMNS]


DEMAND_COLUMNS = [
    "course_id",
    "title",
    "seats_offered",
    "requested",
    "given",
    "unmet",
    "course_full",
    "stations_short",
]


def seat_demand(plan: TrainingPlan) -> pd.DataFrame:
    """Per course with any request (`DEMAND_COLUMNS`): seats offered this month, seats the
    stations' gaps ask for, seats given, the shortfall, whether the course is full, and the
    stations left short — where training departments could add a class. Courses are ordered
    by shortfall, largest first."""
    requests = plan.requests
    if requests.empty:
        return pd.DataFrame(columns=DEMAND_COLUMNS)
    short = requests[requests["seats"] < requests["need"]]
    demand = requests.groupby("course_id", as_index=False).agg(
        requested=("need", "sum"), given=("seats", "sum")
    )
    offered = plan.courses.set_index("course_id")
    titles = _localised(plan.courses, "course_id", "title", plan.lang == "zh")
    demand["title"] = demand["course_id"].map(titles)
    demand["seats_offered"] = demand["course_id"].map(offered["seats"]).astype(int)
    demand["unmet"] = demand["requested"] - demand["given"]
    demand["course_full"] = demand["given"] >= demand["seats_offered"]
    waiting = short.groupby("course_id")["station_id"].agg(lambda s: ", ".join(sorted(s)))
    demand["stations_short"] = demand["course_id"].map(waiting).fillna("")
    demand = demand.sort_values(["unmet", "course_id"], ascending=[False, True])
    return demand[DEMAND_COLUMNS].reset_index(drop=True)


UNMET_COLUMNS = [
    "station_id",
    "name",
    "course_id",
    "title",
    "need",
    "given",
    "short",
    "course_full",
    "hour_cap",
    "why",
]


def unmet_seats(plan: TrainingPlan) -> pd.DataFrame:
    """Every request given fewer seats than it needs (`UNMET_COLUMNS`), with why: the course
    is full (every seat of the month given, to stations whose gaps rank higher) and/or the
    station's training-hour cap leaves less than one more seat's hours. By station, then the
    seats short, most first."""
    requests = plan.requests
    short = requests[requests["seats"] < requests["need"]].copy()
    if short.empty:
        return pd.DataFrame(columns=UNMET_COLUMNS)
    text = texts(plan.lang, "unmet")
    offered = plan.courses.set_index("course_id")["seats"]
    given_per_course = requests.groupby("course_id")["seats"].sum()
    used = (requests["seats"] * requests["hours"]).groupby(requests["station_id"]).sum()
    short["given"] = short["seats"]
    short["short"] = short["need"] - short["seats"]
    short["course_full"] = short["course_id"].map(given_per_course) >= short["course_id"].map(
        offered
    )
    spent = short["station_id"].map(used)
    short["hour_capped"] = short["hour_cap"] - spent < short["hours"] - 1e-9
    holders = (
        requests[requests["seats"] > 0]
        .sort_values(["course_id", "seats", "station_id"], ascending=[True, False, True])
        .groupby("course_id")["station_id"]
        .agg(", ".join)
    )
    why = []
    for r, spent_hours in zip(short.itertuples(index=False), spent, strict=True):
        parts = []
        if r.course_full:
            parts.append(
                text["course_full"].format(seats=int(offered[r.course_id]))
                + (
                    text["went_to"].format(holders=holders[r.course_id])
                    if r.course_id in holders
                    else ""
                )
            )
        if r.hour_capped:
            parts.append(
                text["hour_cap"].format(
                    used=_num(spent_hours), cap=_num(r.hour_cap), hours=_num(r.hours)
                )
            )
        why.append(text["and"].join(parts))
    short["why"] = why
    short["name"] = short["station_id"].map(plan.names).fillna("")
    short["title"] = short["course_id"].map(
        _localised(plan.courses, "course_id", "title", plan.lang == "zh")
    )
    short["hour_cap"] = short["hour_cap"].round(1)
    short = short.sort_values(["station_id", "short", "course_id"], ascending=[True, False, True])
    return short[UNMET_COLUMNS].reset_index(drop=True)


def _localised(frame: pd.DataFrame, key: str, column: str, zh: bool) -> dict[str, str]:
    """`column` per `key`, from `<column>_zh` where asked for and filled in."""
    text = frame[column].astype(str)
    if zh and f"{column}_zh" in frame.columns:
        local = frame[f"{column}_zh"].fillna("").astype(str)
        text = local.where(local.str.strip() != "", text)
    return dict(zip(frame[key], text, strict=True))
