"""The report page (SPEC §9) from its runs: the view of every section computed here, the markup
in `templates/` (jinja2, autoescaped), so names from the data reach the page only escaped."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from markupsafe import Markup

from geo.legend import FONTS, HOURS_COLOURS, class_colours
from geo.maps import svg_map
from optimizer.i18n import BureauNames, texts, vocabulary
from optimizer.plan_map import GRADE_COLOURS
from optimizer.report.charts import bar_chart, number, rank_chart
from optimizer.report.environment import render
from optimizer.report.figures import (
    ALL,
    STAFFING_SHOWN,
    adherence_by_station,
    baseline_of,
    binding_summary,
    evaluation_verdicts,
    experiment_section,
    flagged_stations,
    hours_moved,
    key_figures,
    mission_sentences,
    reserved_hours,
    response_by_station,
    staffing_sentences,
    station_hours,
    stops_by_station,
    unplaced_first,
)
from optimizer.report.runs import MISSIONS_SUMMARY, Run, load_runs

SHIFT_PALETTE = ("#c6dbef", "#6baed6", "#2171b5", "#08306b")
MORE, FEWER = "#2166ac", "#d6604d"  # more / fewer hours than the baseline


@dataclass(frozen=True)
class Section:
    """One part of a scenario's column; what it lacks is not drawn. `table` None with
    `has_table` is an empty table, shown as "none"."""

    title: str = ""
    maps: list = field(default_factory=list)
    bullets: list = field(default_factory=list)
    note: str = ""
    chart: Markup = Markup("")
    table: dict | None = None
    has_table: bool = False


def _section(**parts: object) -> Section:
    return Section(has_table="table" in parts, **parts)


def _cell(value: object, decimals: int) -> str:
    if isinstance(value, float | np.floating):
        return "" if np.isnan(value) else f"{value:,.{decimals}f}"
    return str(value)


def table(
    frame: pd.DataFrame,
    lang: str,
    names: pd.Series | None = None,
    limit: int = 60,
    decimals: int = 2,
    bureau: BureauNames | None = None,
) -> dict | None:
    """A table's headings and cells: codes (grade, shift, check, station type, veto) in
    `lang`, station names after their ids when `names` are given, station types named as the
    `bureau` names them, floats to `decimals`; None when `frame` is empty."""
    if frame.empty:
        return None
    t = texts(lang, "report")
    shown = frame.head(limit).copy()
    if names is not None and not names.empty and "station_id" in shown and "name" not in shown:
        at = shown.columns.get_loc("station_id") + 1
        shown.insert(at, "name", shown["station_id"].map(names).fillna(""))
    words = vocabulary(lang, bureau)
    kinds = {"grade": None, "shift": None, "check": None, "station_type": "station_type"}
    for column, kind in kinds.items():
        if column in shown:
            shown[column] = shown[column].map(lambda v, k=kind: words.term(v, k))
    if "veto" in shown:
        shown["veto"] = shown["veto"].map(lambda v: t["yes"] if str(v) == "True" else t["no"])
    headings = texts(lang, "columns")
    return {
        "headers": [headings.get(c, c) for c in shown.columns],
        "rows": [[_cell(v, decimals) for v in row] for row in shown.itertuples(index=False)],
    }


def _legend_hours(
    hours: pd.Series, span: tuple[float, float]
) -> tuple[pd.Series, list[tuple[str, str]]]:
    """Five equal classes of hours over `span` (the fewest and most hours of any station in any
    scenario, so the maps of all scenarios compare) and their legend."""
    colours = list(HOURS_COLOURS)
    bounds = np.linspace(*span, 6)[1:]
    index = np.minimum(np.searchsorted(bounds, hours.to_numpy(), side="left"), 4)
    legend = [(c, f"≤ {number(b)}") for c, b in zip(colours, bounds, strict=True)]
    return pd.Series([colours[i] for i in index], index=hours.index), legend


def _station_label(stations: pd.DataFrame) -> pd.Series:
    names = stations["name"].fillna("") if "name" in stations else ""
    return (stations["station_id"] + " " + names).str.strip()


def _maps(run: Run, span: tuple[float, float], lang: str) -> list[dict]:
    """The grade map and the hours map of one run, each with caption and legend."""
    t = texts(lang, "report")
    words = vocabulary(lang)
    st = run.stations
    hours = st["station_id"].map(run.allocation.groupby("station_id")["hours"].sum()).fillna(0.0)
    grade_fill = st["grade"].map(GRADE_COLOURS).fillna("#cccccc")
    hours_fill, hours_legend = _legend_hours(hours, span)
    label = _station_label(st)
    grade_titles = label + ": " + st["grade"].fillna("").map(words.term)
    hour_titles = label + ": " + hours.map(number) + " h"
    return [
        {
            "svg": Markup(svg_map(st, grade_fill, st["station_id"], grade_titles)),
            "caption": t["map_grade"],
            "legend": [(c, words.term(g)) for g, c in GRADE_COLOURS.items()],
        },
        {
            "svg": Markup(svg_map(st, hours_fill, st["station_id"], hour_titles)),
            "caption": t["map_hours"],
            "legend": hours_legend,
        },
    ]


HOURS = ("moved", "moved_baseline", "total_hours", "budget")  # officer-hours, to 0.1 h
SHARES_OF_HARM = ("harm", "harm_baseline")  # shares, as % to 0.1
FIGURE_FORMATS = {
    **dict.fromkeys(SHARES_OF_HARM, lambda v: f"{v:.1%}"),
    **dict.fromkeys(HOURS, lambda v: f"{v:,.1f}"),
    "dual_mean": lambda v: f"{v:.4g}",
    "harm_per_hour": lambda v: f"{v:.3g}",
}
DELTA_FORMATS = {
    **dict.fromkeys(SHARES_OF_HARM, lambda d: f"{d * 100:+.1f} pp"),
    **dict.fromkeys(HOURS, lambda d: f"{d:+,.1f}"),
    "dual_mean": lambda d: f"{d:+.4g}",
}
NOT_SHOWN = ("scenario", "baseline", "measure")  # columns of `key_figures` said otherwise
NO_DELTA = ("moved_baseline", "harm_per_hour")  # already against the baseline


def _missing(column: str, row: pd.Series, t: Mapping, c: Mapping) -> str:
    """Why a figure is n/a, in words."""
    if column == "moved":
        return c["no_previous"]
    if row.get("baseline", row["scenario"]) == row["scenario"]:
        return c["the_baseline"]
    return c["none_moved"] if column == "harm_per_hour" else t["na"]


def _figure_cell(column: str, row: pd.Series, base: pd.Series, t: Mapping, c: Mapping) -> dict:
    """One figure of one scenario: its text (n/a with its reason), the difference to its
    baseline where it differs, and a note where the figure is on another measure."""
    value = row[column]
    if isinstance(value, str):
        return {"text": value, "delta": "", "note": ""}
    if pd.isna(value):
        return {"text": _missing(column, row, t, c), "delta": "", "note": ""}
    text = FIGURE_FORMATS.get(column, lambda v: f"{v:,.0f}")(value)
    other = column == "harm" and bool(row.get("measure"))
    delta = ""
    compared = row is not base and column not in NO_DELTA and not other
    if compared and not pd.isna(base[column]) and abs(value - base[column]) > 1e-9:
        delta = DELTA_FORMATS.get(column, lambda d: f"{d:+,.0f}")(value - base[column])
    return {"text": text, "delta": delta, "note": c["own_measure"] if other else ""}


def _figures(figures: pd.DataFrame, lang: str) -> dict:
    """Figure × scenario, the scenarios as columns so that each one's changes and the sentence
    of what it gains and costs lead the table and stay in view on any screen; each figure
    also as a difference to its baseline, n/a with its reason, and a note under the table
    for every scenario whose own harm figure is on another measure than its baseline's."""
    t, c = texts(lang, "report"), texts(lang, "compare")
    headings = {**t, "harm_baseline": c["harm_baseline"], "sentence": c["what"]}
    rows = [row for _, row in figures.iterrows()]
    by_label = {row["scenario"]: row for row in rows}
    bases = [by_label[row["baseline"]] if "baseline" in row else row for row in rows]
    shown = [col for col in figures.columns if col not in NOT_SHOWN]
    lines = [
        {
            "heading": headings[column],
            "wide": column in ("settings", "sentence"),
            "cells": [
                _figure_cell(column, row, base, t, c) for row, base in zip(rows, bases, strict=True)
            ],
        }
        for column in shown
    ]
    notes = [f"{row['scenario']}: {row['measure']}" for row in rows if row.get("measure")]
    return {
        "scenario": texts(lang, "columns")["scenario"],
        "labels": [row["scenario"] for row in rows],
        "rows": lines,
        "notes": notes,
    }


def _hours_explained(run: Run, lang: str) -> str:
    """Where "Hours available" and "Patrol hours" part, from `duals.csv`: the officers' hours
    less the response reserve and the missions' drive are available; the plan places patrol
    hours in cells, at most those."""
    c = texts(lang, "compare")
    duals = run.duals
    total = {
        k: float(pd.to_numeric(duals[k], errors="coerce").fillna(0.0).sum()) if k in duals else 0.0
        for k in ("budget_hours", "reserve_hours", "drive_hours")
    }
    patrol = float(run.allocation["hours"].sum())
    unused = total["budget_hours"] - patrol
    return c["hours_explained"].format(
        available=f"{total['budget_hours']:,.1f}",
        reserve=f"{total['reserve_hours']:,.1f}",
        drive=f"{total['drive_hours']:,.1f}",
        patrol=f"{patrol:,.1f}",
        unused=c["unused"].format(unused=f"{unused:,.1f}") if unused >= 0.05 else "",
    )


def _outcomes(runs: Sequence[Run], lang: str) -> list[dict]:
    """Last month's plan evaluated in words, once per plan month (scenarios of a month share
    the plan they evaluate), stations with names; the overall row last."""
    t, words = texts(lang, "report"), texts(lang, "verdict")
    several = len({r.plan["plan_month"] for r in runs}) > 1
    seen, out = set(), []
    for r in runs:
        if r.evaluation is None or r.evaluation.empty or r.plan["plan_month"] in seen:
            continue
        seen.add(r.plan["plan_month"])
        verdicts = evaluation_verdicts(r.evaluation, lang)
        verdicts["station_id"] = verdicts["station_id"].replace({ALL: words["overall"]})
        title = t["outcome_of"].format(month=r.plan["month"]) if several else t["outcome"]
        out.append({"title": title, "table": table(verdicts, lang, r.station_names)})
    return out


def _experiments(runs: Sequence[Run], lang: str) -> list[dict]:
    """Per run with a randomized dose experiment: which cells are in it and why."""
    out = []
    for r in runs:
        if r.experiment is not None and not r.experiment.empty:
            title, why, cells = experiment_section(r.experiment, r.plan, lang, len(runs) > 1)
            out.append({"title": title, "why": why, "table": table(cells, lang, r.station_names)})
    return out


SHARES = ("adherence", "off_plan_share", "within_target_share", "reserve_share", "visited_share")


def _percent(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with its share columns as percentages to one decimal (blank where undefined)."""
    out = frame.copy()
    for column in SHARES:
        if column in out:
            out[column] = out[column].map(lambda v: "" if pd.isna(v) else f"{float(v):.1%}")
    return out


def _execution(runs: Sequence[Run], lang: str) -> list[dict]:
    """What patrols and dispatch did under last month's plan (SPEC §13), once per plan month:
    adherence per station (furthest off plan first, with a chart), response times per station
    and per priority, the hours reserved for response in this plan, and the mission stops each
    station's units visited (SPEC §16)."""
    t = texts(lang, "report")
    words = texts(lang, "verdict")
    shift = vocabulary(lang).term
    kept = ("station_id", "reserve_hours", "reserve_share")  # the other columns are shifts
    seen, out = set(), []
    for r in runs:
        reserve = reserved_hours(r.duals, r.reserve)
        if (r.adherence is None and r.response is None and reserve is None) or (
            r.plan["plan_month"] in seen
        ):
            continue
        seen.add(r.plan["plan_month"])
        parts = []
        if r.adherence is not None and not r.adherence.empty:
            adherence = adherence_by_station(r.adherence)
            shown = adherence["station_id"] != "ALL"
            chart = bar_chart(
                adherence[shown]
                .set_index("station_id")["adherence"]
                .rename(texts(lang, "columns")["adherence"]),
                ("#31a354",),
                fmt=lambda v: f"{v:.0%}",
            )
            adherence["station_id"] = adherence["station_id"].replace({"ALL": words["overall"]})
            parts.append(
                {
                    "title": t["adherence_title"],
                    "chart": chart,
                    "table": table(_percent(adherence), lang, r.station_names, decimals=1),
                }
            )
        if r.response is not None and not r.response.empty:
            by_station, by_priority = response_by_station(r.response)
            by_station["station_id"] = by_station["station_id"].replace({"ALL": words["overall"]})
            parts.append(
                {
                    "title": t["response_title"],
                    "chart": Markup(""),
                    "table": table(_percent(by_station), lang, r.station_names, decimals=1),
                }
            )
            parts.append(
                {
                    "title": t["response_priority"],
                    "chart": Markup(""),
                    "table": table(_percent(by_priority), lang, decimals=1),
                }
            )
        if reserve is not None:
            total = float(reserve["reserve_hours"].sum())
            parts.append(
                {
                    "title": t["reserve_title"].format(hours=number(total)),
                    "chart": Markup(""),
                    "table": table(
                        _percent(reserve.rename(columns=lambda c: c if c in kept else shift(c))),
                        lang,
                        r.station_names,
                        decimals=1,
                    ),
                }
            )
        if r.missions_done is not None and not r.missions_done.empty:
            parts.append(_stops_visited(r, lang))
        out.append({"title": t["execution"], "parts": parts})
    return out


def _stops_visited(run: Run, lang: str) -> dict:
    """The mission stops each station's units visited on time (SPEC §16), fewest first."""
    stops = stops_by_station(run.missions_done)
    stops["station_id"] = stops["station_id"].replace({"ALL": texts(lang, "verdict")["overall"]})
    return {
        "title": texts(lang, "report")["stops_title"],
        "chart": Markup(""),
        "table": table(_percent(stops), lang, run.station_names, decimals=1),
    }


def _glossary(lang: str) -> list[tuple[str, str]]:
    """(term, definition) of every term the report's figures use."""
    g = texts(lang, "glossary")
    terms = ("harm_covered", "harm_units", "moved", "per_hour", "wdd", "z", "dual", "adherence")
    return [(g[k], g[f"{k}_def"]) for k in terms]


def _differences(runs: Sequence[Run], hours: pd.DataFrame, lang: str) -> dict:
    """Per-station hours of every scenario and their difference against the baseline of the
    first (`baseline_of`), as a
    table, a diverging chart and a small map per scenario."""
    t = texts(lang, "report")
    reference = baseline_of(runs[0], runs)
    first = reference.label
    diff = hours.drop(columns=first).sub(hours[first], axis=0)
    frame = hours.copy()
    for label in diff.columns:
        frame[t["difference"].format(label=label)] = diff[label]
    frame = frame.round(1).rename_axis("station_id").reset_index()
    stations = reference.stations
    blocks = []
    for label in diff.columns:
        values = diff[label]
        chart = bar_chart(values.rename(label), (MORE,), negative=FEWER, fmt=lambda v: f"{v:+,.0f}")
        fill = stations["station_id"].map(values).fillna(0.0)
        top = float(values.abs().max()) or 1.0
        colours = [
            MORE if v > 0.05 * top else FEWER if v < -0.05 * top else "#f7f7f7" for v in fill
        ]
        titles = _station_label(stations) + ": " + fill.map(lambda v: f"{v:+,.0f} h")
        blocks.append(
            {
                "label": label,
                "svg": Markup(
                    svg_map(stations, pd.Series(colours), stations["station_id"], titles)
                ),
                "caption": t["map_change"].format(first=first),
                "legend": [(MORE, t["more"]), (FEWER, t["fewer"])],
                "chart": chart,
            }
        )
    return {
        "title": t["vs"].format(first=first),
        "table": table(frame, lang, reference.station_names, decimals=1),
        "blocks": blocks,
    }


MISSION_TABLE_ROWS = 60  # station-shifts listed; the sentences name every unplaced hour


def _missions(run: Run, lang: str) -> Section:
    """What the missions carry of the plan (SPEC §16), in sentences (every station-shift with
    unplaced hours named) and per station and shift, those with unplaced hours first."""
    t = texts(lang, "report")
    summary = unplaced_first(run.missions)
    more = len(summary) - MISSION_TABLE_ROWS
    return _section(
        title=t["missions"],
        bullets=mission_sentences(summary, run.station_names, lang),
        note=t["missions_more"].format(n=more, shown=MISSION_TABLE_ROWS, file=MISSIONS_SUMMARY)
        if more > 0
        else "",
        table=table(summary, lang, run.station_names, limit=MISSION_TABLE_ROWS, decimals=1),
    )


def _scenario(run: Run, span: tuple[float, float], lang: str) -> dict:
    """One scenario's column: every section as headings, charts and tables."""
    t, columns = texts(lang, "report"), texts(lang, "columns")
    words = vocabulary(lang, run.names)
    names = run.station_names
    plan = run.plan
    per_shift = run.allocation.pivot_table(
        index="station_id", columns="shift", values="hours", aggfunc="sum", fill_value=0.0
    ).rename(columns=words.term)
    best = run.duals.sort_values("dual", ascending=False).head(3)
    buys = [
        t["buys"].format(station=r.station_id, shift=words.term(r.shift), value=r.dual)
        for r in best.itertuples(index=False)
    ]
    duals = run.duals.pivot_table(index="station_id", columns="shift", values="dual")
    duals = duals.rename(columns=words.term)
    training = run.training
    seated = training[training["seats"] > 0] if len(training) else training
    courses = (
        seated.groupby(["course_id", "title"], as_index=False)
        .agg(seats=("seats", "sum"), stations=("station_id", lambda s: ", ".join(sorted(s))))
        .sort_values("seats", ascending=False)
        if len(seated)
        else seated
    )
    flags = flagged_stations(
        run.scores, run.quality, plan["parameters"]["scoring"]["last_place_months"], lang
    )
    scores = run.scores[
        [
            "station_id",
            "station_type",
            "total_with_bonus",
            "grade",
            "rank",
            "group_size",
            "veto",
            "last_place_streak",
        ]
    ].sort_values(["station_type", "rank"])
    sections = [
        _section(title=t["maps"], maps=_maps(run, span, lang)),
        _section(
            title=t["hours"],
            chart=bar_chart(
                per_shift, class_colours(SHIFT_PALETTE, per_shift.shape[1]), stacked=True
            ),
        ),
        *([_missions(run, lang)] if run.missions is not None else []),
        _section(title=t["duals"], bullets=buys, note=t["duals_chart"]),
        _section(
            chart=bar_chart(duals, class_colours(("#fdae6b", "#e6550d", "#a63603"), duals.shape[1]))
        ),
        _section(
            title=t["training"].format(
                seats=int(training["seats"].sum()) if len(training) else 0, courses=len(courses)
            ),
            chart=bar_chart(
                courses.set_index("title")["seats"].rename(columns["seats"]), ("#41ab5d",)
            )
            if len(courses)
            else Markup(""),
            table=table(courses, lang),
        ),
        _section(
            title=t["training_rows"],
            table=table(
                training[["station_id", "course_id", "seats", "reason"]]
                if len(training)
                else training,
                lang,
                names,
            ),
        ),
        _section(title=t["flags"], table=table(flags, lang, names)),
        _section(title=t["scores"], table=table(scores, lang, names, bureau=run.names)),
        _section(
            title=t["sens"],
            chart=rank_chart(
                scores[["station_id"]].merge(run.sensitivity, on="station_id", how="inner")
            ),
        ),
        _section(
            title=t["quality"],
            table=table(run.quality.groupby("check").size().rename("count").reset_index(), lang),
        ),
    ]
    if run.balance is not None:
        shares = run.balance.set_index("station_id")[["hours_share", "harm_share"]].astype(float)
        shares.columns = [columns["hours_share"], columns["harm_share"]]
        sections.append(
            _section(
                title=t["balance"],
                chart=bar_chart(shares, ("#2171b5", "#cb181d"), fmt=lambda v: f"{v:.1%}"),
                table=table(run.balance, lang, names),
            )
        )
    if run.staffing is not None:
        sections.append(
            _section(
                title=t["staffing"],
                bullets=staffing_sentences(run.staffing, names, lang),
                note=t["staffing_note"],
                table=table(run.staffing[["station_id", *STAFFING_SHOWN]], lang, names),
            )
        )
    if run.binding is not None:
        sections.append(
            _section(title=t["binding"], table=table(binding_summary(run.binding, lang), lang))
        )
    if run.policy is not None:
        sections.append(
            _section(title=t["policy"], table=table(run.policy, lang, bureau=run.names))
        )
    if run.evaluation is not None:
        evaluation = run.evaluation.replace(
            {"station_id": {ALL: texts(lang, "verdict")["overall"]}}
        )
        sections.append(_section(title=t["evaluation"], table=table(evaluation, lang, names)))
    return {
        "label": run.label,
        "month": plan["plan_month"],
        "harm": f"{plan['harm_covered_share']:.1%}",
        "moved": texts(lang, "compare")["no_previous"]
        if pd.isna(hours_moved(plan))
        else f"{hours_moved(plan):,.1f}",
        "total": f"{run.allocation['hours'].sum():,.1f}",
        "sections": sections,
    }


def render_report(
    run_dirs: Sequence[Path], lang: str = "en", plans: Sequence[dict] | None = None
) -> str:
    """The report for one or more finished run folders (`plans` in place of their plan.json);
    with several, each is compared with the baseline of its plan month (`baseline_of`)."""
    t = texts(lang, "report")
    runs = load_runs(run_dirs, plans, lang)
    figures = key_figures(runs, lang)
    hours = station_hours(runs)
    span = (float(hours.to_numpy().min()), float(hours.to_numpy().max()))
    several = len(runs) > 1
    return render(
        "report.html.j2",
        lang="zh-CN" if lang == "zh" else "en",
        t=t,
        fonts=FONTS,
        subtitle=t["subtitle"].format(
            months=", ".join(sorted({r.plan["plan_month"] for r in runs})),
            labels=", ".join(r.label for r in runs),
        ),
        figures=_figures(figures, lang),
        hours_explained=_hours_explained(baseline_of(runs[0], runs), lang),
        harm_title=texts(lang, "compare")["harm_chart"],
        harm_chart=bar_chart(
            figures.set_index("scenario")["harm_baseline"].dropna(), fmt=lambda v: f"{v:.1%}"
        )
        if several
        else None,
        differences=_differences(runs, hours, lang) if several else None,
        outcomes=_outcomes(runs, lang),
        experiments=_experiments(runs, lang),
        execution=_execution(runs, lang),
        glossary={"title": texts(lang, "glossary")["title"], "terms": _glossary(lang)},
        scenarios=[_scenario(r, span, lang) for r in runs],
    )
