"""Leadership report (SPEC §9): one self-contained HTML page for one or more finished runs.

The key figures of every scenario in one table, their hours per station against the first run,
then a column per scenario: small maps, hours per station and shift, what one more hour buys,
training seats, flagged stations, assessment, rank sensitivity and patrol balance. Charts and maps
are inline SVG and the page has no script and no remote file, so it opens (and prints) anywhere.
"""

from __future__ import annotations

import html
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from geo.legend import FONTS, HOURS_COLOURS, class_colours
from geo.maps import svg_map
from models.errors import InputError, Problem
from optimizer.i18n import BureauNames, texts, vocabulary
from optimizer.plan_map import GRADE_COLOURS

REQUIRED = [
    "plan.json",
    "allocation.csv",
    "allocation.geojson",
    "duals.csv",
    "training.csv",
    "scores.csv",
    "quality.csv",
    "rank_sensitivity.csv",
]
SHIFT_PALETTE = ("#c6dbef", "#6baed6", "#2171b5", "#08306b")
MORE, FEWER = "#2166ac", "#d6604d"  # more / fewer hours than the first run


@dataclass
class Run:
    """One finished run folder as the report reads it. `stations` holds the jurisdictions
    (`station_id`, `name` when known, geometry) with the month's scores."""

    folder: Path
    label: str
    plan: dict
    allocation: pd.DataFrame
    duals: pd.DataFrame
    training: pd.DataFrame
    scores: pd.DataFrame
    quality: pd.DataFrame
    sensitivity: pd.DataFrame
    stations: gpd.GeoDataFrame
    balance: pd.DataFrame | None
    policy: pd.DataFrame | None
    evaluation: pd.DataFrame | None
    binding: pd.DataFrame | None
    names: BureauNames


def _optional(path: Path) -> pd.DataFrame | None:
    return pd.read_csv(path, keep_default_na=False) if path.exists() else None


def _jurisdictions(folder: Path) -> gpd.GeoDataFrame:
    """`jurisdictions.geojson`, or for runs written before it the allocation cells merged per
    station."""
    if (folder / "jurisdictions.geojson").exists():
        frame = gpd.read_file(folder / "jurisdictions.geojson")
        return frame[[c for c in ("station_id", "name", "geometry") if c in frame.columns]]
    cells = gpd.read_file(folder / "allocation.geojson").drop_duplicates("cell_id")
    return cells[["station_id", "geometry"]].dissolve("station_id", as_index=False)


def load_runs(folders: Sequence[Path], plans: Sequence[dict] | None = None) -> list[Run]:
    """Every run folder's tables; an `InputError` names every missing file of every folder.
    `plans` stand in for the folders' plan.json (a run being written has none yet)."""
    required = REQUIRED if plans is None else [n for n in REQUIRED if n != "plan.json"]
    problems = [
        Problem(str(Path(folder) / name), 0, "", "missing: not a finished run folder")
        for folder in folders
        for name in required
        if not (Path(folder) / name).exists()
    ]
    if problems:
        raise InputError(problems)
    folders = [Path(folder) for folder in folders]
    if plans is None:
        plans = [json.loads((f / "plan.json").read_text(encoding="utf-8")) for f in folders]
    runs = []
    for folder, plan, label in zip(folders, plans, run_labels(plans), strict=True):
        scores = pd.read_csv(folder / "scores.csv", keep_default_na=False)
        scores["veto"] = scores["veto"].astype(str).eq("True")
        allocation = pd.read_csv(folder / "allocation.csv", keep_default_na=False)
        allocation["hours"] = pd.to_numeric(allocation["hours"])
        stations = _jurisdictions(folder).merge(
            scores[["station_id", "grade"]], on="station_id", how="left"
        )
        runs.append(
            Run(
                folder=folder,
                label=label,
                plan=plan,
                allocation=allocation,
                duals=pd.read_csv(folder / "duals.csv"),
                training=pd.read_csv(folder / "training.csv", keep_default_na=False),
                scores=scores,
                quality=pd.read_csv(folder / "quality.csv", keep_default_na=False, dtype=str),
                sensitivity=pd.read_csv(folder / "rank_sensitivity.csv"),
                stations=stations,
                balance=_optional(folder / "patrol_balance.csv"),
                policy=_optional(folder / "policy.csv"),
                evaluation=_optional(folder / "evaluation.csv"),
                binding=_optional(folder / "binding.csv"),
                names=BureauNames.from_json(plan.get("names")),
            )
        )
    return runs


def run_labels(plans: Sequence[dict]) -> list[str]:
    """A distinct column heading per run: its scenario, with the plan month when the runs are of
    several months, numbered when still repeated."""
    several_months = len({p["plan_month"] for p in plans}) > 1
    labels = [
        f"{p['scenario']} {p['plan_month']}" if several_months else p["scenario"] for p in plans
    ]
    return [
        f"{label} ({labels[:i].count(label) + 1})" if labels[:i].count(label) else label
        for i, label in enumerate(labels)
    ]


def flagged_stations(
    scores: pd.DataFrame, quality: pd.DataFrame, last_place_months: int, lang: str
) -> pd.DataFrame:
    """`station_id, flag`: red-line vetoes, stations last in their group for
    `last_place_months` or more months running, and stations with data-quality flags."""
    t = texts(lang, "report")
    rows = []
    for r in scores.itertuples(index=False):
        if r.veto:
            rows.append((r.station_id, t["veto"]))
        if r.last_place_streak >= last_place_months:
            rows.append((r.station_id, t["streak"].format(n=r.last_place_streak)))
    for station, n in quality[quality["station_id"] != ""].groupby("station_id").size().items():
        rows.append((station, t["quality_flags"].format(n=n)))
    return pd.DataFrame(rows, columns=["station_id", "flag"])


def scenario_changes(deltas: dict, lang: str, names: BureauNames | None = None) -> str:
    """A scenario's deltas in words (officers, harm multipliers, stability); `names` are the
    bureau's own for its categories."""
    t = texts(lang, "report")
    words = vocabulary(lang, names)
    parts = [
        t["officers"].format(who=t["all"] if who == "*" else who, change=f"{change:+.0%}")
        for who, change in deltas.get("officers", {}).items()
    ]
    parts += [
        t["harm_x"].format(category=words.term(category, "category"), factor=factor)
        for category, factor in deltas.get("harm", {}).items()
    ]
    if not deltas.get("stability", True):
        parts.append(t["no_stability"])
    return "; ".join(parts) or t["as_is"]


def key_figures(runs: Sequence[Run], lang: str) -> pd.DataFrame:
    """One row per scenario: harm covered (share), hours moved, patrol and available hours,
    training seats and courses, flagged stations and vetoes, model, solver and changes."""
    rows = []
    for r in runs:
        cfg = r.plan["parameters"]["scoring"]
        flags = flagged_stations(r.scores, r.quality, cfg["last_place_months"], lang)
        rows.append(
            {
                "scenario": r.label,
                "harm": r.plan["harm_covered_share"],
                "moved": "n/a" if r.plan["hours_moved"] is None else r.plan["hours_moved"],
                "total_hours": r.allocation["hours"].sum(),
                "budget": r.duals["budget_hours"].sum(),
                "seats": int(r.training["seats"].sum()) if len(r.training) else 0,
                "courses": r.training["course_id"].nunique() if len(r.training) else 0,
                "flagged": flags["station_id"].nunique(),
                "vetoes": int(r.scores["veto"].sum()),
                "model": vocabulary(lang).term(r.plan["models"]["forecast"]),
                "status": vocabulary(lang).term(r.plan["solver"]["status"]),
                "settings": scenario_changes(r.plan.get("deltas", {}), lang, r.names),
            }
        )
    return pd.DataFrame(rows)


def station_hours(runs: Sequence[Run]) -> pd.DataFrame:
    """Patrol hours per station (rows) and scenario (columns, by label)."""
    return pd.concat(
        {r.label: r.allocation.groupby("station_id")["hours"].sum() for r in runs}, axis=1
    ).fillna(0.0)


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.3g}"


def _text_width(text: str, size: float = 11) -> float:
    """Rough width in pixels: CJK glyphs are square, Latin ones about 0.6 em."""
    return sum(size if ord(ch) > 0x2E80 else 0.6 * size for ch in text)


def bar_chart(
    frame: pd.DataFrame | pd.Series,
    colours: Sequence[str] = ("#2171b5",),
    stacked: bool = False,
    width: int = 460,
    fmt: Callable[[float], str] = _number,
    negative: str | None = None,
) -> str:
    """Horizontal bars as inline SVG: a row per index label, a bar per column (side by side, or
    stacked) in `colours` (one per column), each value printed at its bar's end and in its hover
    title; negative values extend left of a zero line, in the `negative` colour when given.
    Several columns get a legend."""
    frame = frame.to_frame() if isinstance(frame, pd.Series) else frame
    if frame.empty:
        return ""
    frame = frame.fillna(0.0).astype(float)
    labels = [str(i) for i in frame.index]
    series = list(frame.columns)
    ends = frame.sum(axis=1) if stacked else frame.stack()
    lo, hi = min(0.0, float(ends.min())), max(0.0, float(ends.max()))
    label_w = max(_text_width(label) for label in labels) + 8
    value_w = 58
    plot_w = max(width - label_w - value_w * (2 if lo < 0 else 1), 60)
    span = (hi - lo) or 1.0
    zero = label_w + (value_w if lo < 0 else 0) + -lo / span * plot_w
    bar_h = 12 if stacked or len(series) == 1 else 8
    row_h = bar_h * (1 if stacked else len(series)) + 6
    top = 18 if len(series) > 1 else 0
    parts = []
    if len(series) > 1:
        x = 0.0
        for name, colour in zip(series, colours, strict=False):
            parts.append(
                f'<rect x="{x:.1f}" y="3" width="10" height="10" fill="{colour}"/>'
                f'<text x="{x + 14:.1f}" y="12" font-size="10">{html.escape(str(name))}</text>'
            )
            x += 24 + _text_width(str(name), 10)
    for i, (label, row) in enumerate(zip(labels, frame.itertuples(index=False), strict=True)):
        y = top + i * row_h
        parts.append(
            f'<text x="0" y="{y + row_h / 2 + 4:.1f}" font-size="11">{html.escape(label)}</text>'
        )
        x = zero
        for j, (name, value) in enumerate(zip(series, row, strict=True)):
            w = abs(value) / span * plot_w
            if stacked:
                left, bar_y = x, y + 3
                x += w
            else:
                left, bar_y = (zero if value >= 0 else zero - w), y + 3 + j * bar_h
            title = html.escape(f"{label} · {name}: {fmt(value)}")
            fill = negative if negative and value < 0 else colours[j % len(colours)]
            parts.append(
                f'<rect x="{left:.1f}" y="{bar_y:.1f}" width="{w:.1f}" '
                f'height="{bar_h - 1}" fill="{fill}">'
                f"<title>{title}</title></rect>"
            )
            if not stacked:
                end, anchor = (left + w + 3, "start") if value >= 0 else (left - 3, "end")
                parts.append(
                    f'<text x="{end:.1f}" y="{bar_y + bar_h - 2:.1f}" font-size="9" '
                    f'text-anchor="{anchor}">{html.escape(fmt(value))}</text>'
                )
        if stacked:
            parts.append(
                f'<text x="{x + 3:.1f}" y="{y + bar_h + 1:.1f}" font-size="9">'
                f"{html.escape(fmt(sum(row)))}</text>"
            )
    height = top + len(labels) * row_h + 4
    if lo < 0:
        parts.append(
            f'<line x1="{zero:.1f}" x2="{zero:.1f}" y1="{top}" y2="{height}" stroke="#555"/>'
        )
    return (
        f'<svg class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
        f"{''.join(parts)}</svg>"
    )


def rank_chart(sensitivity: pd.DataFrame, width: int = 460) -> str:
    """Each station's rank (dot) and its 5–95 % range (bar) when the weights vary, in the order
    of the rows: a long bar is a rank the weights, not the work, decide."""
    if sensitivity.empty:
        return ""
    frame = sensitivity
    label_w = max(_text_width(str(s)) for s in frame["station_id"]) + 8
    worst = float(max(frame["rank_p95"].max(), frame["rank"].max(), 2))
    plot_w = width - label_w - 20

    def x(rank: float) -> float:
        return label_w + (rank - 1) / (worst - 1) * plot_w

    parts = []
    for i, r in enumerate(frame.itertuples(index=False)):
        y = i * 16
        left, right = x(r.rank_p05), x(r.rank_p95)
        parts.append(
            f'<text x="0" y="{y + 12}" font-size="11">{html.escape(str(r.station_id))}</text>'
            f'<rect x="{left:.1f}" y="{y + 5}" width="{max(right - left, 2):.1f}" height="6" '
            f'fill="#bdbdbd"><title>{r.rank_p05:g}–{r.rank_p95:g}</title></rect>'
            f'<circle cx="{x(r.rank):.1f}" cy="{y + 8}" r="4" fill="#08519c"/>'
        )
    height = len(frame) * 16 + 16
    ticks = "".join(
        f'<text x="{x(k):.1f}" y="{height - 2}" font-size="9" text-anchor="middle">{k}</text>'
        for k in range(1, int(worst) + 1)
    )
    return (
        f'<svg class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
        f"{''.join(parts)}{ticks}</svg>"
    )


def _legend(items: Sequence[tuple[str, str]]) -> str:
    return (
        '<div class="legend">'
        + "".join(
            f'<span><i style="background:{c}"></i>{html.escape(label)}</span>' for c, label in items
        )
        + "</div>"
    )


def _hours_fill(
    hours: pd.Series, span: tuple[float, float]
) -> tuple[pd.Series, list[tuple[str, str]]]:
    """Five equal classes of hours over `span` (the fewest and most hours of any station in any
    scenario, so the maps of all scenarios compare) and their legend."""
    colours = list(HOURS_COLOURS)
    bounds = np.linspace(*span, 6)[1:]
    index = np.minimum(np.searchsorted(bounds, hours.to_numpy(), side="left"), 4)
    legend = [(c, f"≤ {_number(b)}") for c, b in zip(colours, bounds, strict=True)]
    return pd.Series([colours[i] for i in index], index=hours.index), legend


def _station_label(stations: gpd.GeoDataFrame) -> pd.Series:
    names = stations["name"].fillna("") if "name" in stations else ""
    return (stations["station_id"] + " " + names).str.strip()


def _maps(run: Run, span: tuple[float, float], lang: str) -> str:
    t = texts(lang, "report")
    st = run.stations
    hours = st["station_id"].map(run.allocation.groupby("station_id")["hours"].sum()).fillna(0.0)
    grade_fill = st["grade"].map(GRADE_COLOURS).fillna("#cccccc")
    hours_fill, hours_legend = _hours_fill(hours, span)
    label = _station_label(st)
    grade_titles = label + ": " + st["grade"].fillna("").map(lambda g: vocabulary(lang).term(g))
    hour_titles = label + ": " + hours.map(_number) + " h"
    return (
        '<div class="maps"><figure>'
        + svg_map(st, grade_fill, st["station_id"], grade_titles)
        + f"<figcaption>{t['map_grade']}</figcaption>"
        + _legend([(c, vocabulary(lang).term(g)) for g, c in GRADE_COLOURS.items()])
        + "</figure><figure>"
        + svg_map(st, hours_fill, st["station_id"], hour_titles)
        + f"<figcaption>{t['map_hours']}</figcaption>"
        + _legend(hours_legend)
        + "</figure></div>"
    )


def _named(frame: pd.DataFrame, names: pd.Series) -> pd.DataFrame:
    """`frame` with each station's name after its id, when names are known."""
    if names.empty or "station_id" not in frame or "name" in frame:
        return frame
    at = frame.columns.get_loc("station_id") + 1
    return frame.assign(name=frame["station_id"].map(names).fillna("")).iloc[
        :, [*range(at), len(frame.columns), *range(at, len(frame.columns))]
    ]


def _moved(plan: dict) -> str:
    """Hours moved against last month's plan, "n/a" for a plan made without one."""
    moved = plan.get("hours_moved")
    return "n/a" if moved is None else f"{moved:,.0f}"


def _table(
    frame: pd.DataFrame,
    lang: str,
    names: pd.Series | None = None,
    limit: int = 60,
    decimals: int = 2,
    bureau: BureauNames | None = None,
) -> str:
    """An HTML table with headings and codes (grade, shift, check, station type, veto) in
    `lang`, station names after their ids when `names` are given, station types named as the
    `bureau` names them."""
    t = texts(lang, "report")
    if frame.empty:
        return f"<p>{t['none']}</p>"
    shown = _named(frame.head(limit).copy(), names if names is not None else pd.Series(dtype=str))
    words = vocabulary(lang, bureau)
    kinds = {"grade": None, "shift": None, "check": None, "station_type": "station_type"}
    for column, kind in kinds.items():
        if column in shown:
            shown[column] = shown[column].map(lambda v, k=kind: words.term(v, k))
    if "veto" in shown:
        shown["veto"] = shown["veto"].map(lambda v: t["yes"] if str(v) == "True" else t["no"])
    shown = shown.rename(columns=lambda c: texts(lang, "columns").get(c, c))
    return shown.to_html(
        index=False, float_format=lambda v: f"{v:,.{decimals}f}", border=0, classes="t"
    )


def _figures_table(figures: pd.DataFrame, lang: str) -> str:
    """Scenario × figure, each figure after the first scenario also as a difference to it."""
    t = texts(lang, "report")
    first = figures.iloc[0]
    head = "".join(f"<th>{html.escape(t[c])}</th>" for c in figures.columns if c != "scenario")
    rows = []
    for i, row in figures.iterrows():
        cells = []
        for column, value in row.items():
            if column == "scenario":
                continue
            if column == "harm":
                text = f"{value:.1%}"
                delta = f"{(value - first[column]) * 100:+.1f} pp"
            elif isinstance(value, str):
                text, delta = html.escape(value), ""
            else:
                text = _number(value)
                delta = f"{value - first[column]:+,.0f}"
            if i and delta and value != first[column]:
                text += f' <span class="delta">({delta})</span>'
            cells.append(f"<td>{text}</td>")
        rows.append(f"<tr><th>{html.escape(row['scenario'])}</th>{''.join(cells)}</tr>")
    return (
        f'<table class="t figures"><thead><tr><th>{texts(lang, "columns")["scenario"]}</th>'
        f"{head}</tr>"
        f"</thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _differences(runs: Sequence[Run], hours: pd.DataFrame, lang: str) -> str:
    """Per-station hours of every scenario and their difference against the first, as a
    table, a diverging chart and a small map per scenario."""
    t = texts(lang, "report")
    first = runs[0].label
    diff = hours.drop(columns=first).sub(hours[first], axis=0)
    table = hours.copy()
    for label in diff.columns:
        table[t["difference"].format(label=label)] = diff[label]
    table = table.round(1).rename_axis("station_id").reset_index()
    stations = runs[0].stations
    names = stations.set_index("station_id")["name"] if "name" in stations else None
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
            f'<section class="scenario"><h3>{html.escape(label)}</h3>'
            f"<figure>{svg_map(stations, pd.Series(colours), stations['station_id'], titles)}"
            f"<figcaption>{html.escape(t['map_change'].format(first=first))}</figcaption>"
            f"{_legend([(MORE, t['more']), (FEWER, t['fewer'])])}</figure>{chart}</section>"
        )
    return (
        f"<h2>{html.escape(t['vs'].format(first=first))}</h2>"
        f"<h3>{t['station_hours']}</h3>{_table(table, lang, names, decimals=1)}"
        f'<div class="grid">{"".join(blocks)}</div>'
    )


def binding_summary(binding: pd.DataFrame, lang: str, shown: int = 8) -> pd.DataFrame:
    """`rule, count, where`: each binding rule of `binding.csv` in words, how many station-shifts
    (or stations) it binds, and the first few of them."""
    t = texts(lang, "report")
    words = vocabulary(lang)
    rows = []
    for rule, group in binding.groupby("rule", sort=False):
        where = [
            f"{r.station_id} {words.term(r.shift)}".strip() for r in group.itertuples(index=False)
        ]
        more = f" … (+{len(where) - shown})" if len(where) > shown else ""
        rows.append(
            {
                "rule": t["rules"].get(rule, rule),
                "count": len(where),
                "where": ", ".join(where[:shown]) + more,
            }
        )
    return pd.DataFrame(rows, columns=["rule", "count", "where"])


def _scenario(run: Run, span: tuple[float, float], lang: str) -> str:
    """One scenario's column."""
    t, columns = texts(lang, "report"), texts(lang, "columns")
    words = vocabulary(lang, run.names)
    st = run.stations
    names = st.set_index("station_id")["name"] if "name" in st else None
    plan = run.plan
    per_shift = run.allocation.pivot_table(
        index="station_id", columns="shift", values="hours", aggfunc="sum", fill_value=0.0
    )
    per_shift = per_shift.rename(columns=words.term)
    best = run.duals.sort_values("dual", ascending=False).head(3)
    buys = "".join(
        "<li>"
        + html.escape(
            t["buys"].format(station=r.station_id, shift=words.term(r.shift), value=r.dual)
        )
        + "</li>"
        for r in best.itertuples(index=False)
    )
    duals = run.duals.pivot_table(index="station_id", columns="shift", values="dual")
    duals = duals.rename(columns=words.term)
    training = run.training
    seats = int(training["seats"].sum()) if len(training) else 0
    courses = (
        training.groupby(["course_id", "title"], as_index=False)
        .agg(seats=("seats", "sum"), stations=("station_id", lambda s: ", ".join(sorted(s))))
        .sort_values("seats", ascending=False)
        if len(training)
        else training
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
    body = [
        f"<h3>{html.escape(run.label)} — {plan['plan_month']}</h3>",
        f"<p>{t['harm']}: <b>{plan['harm_covered_share']:.1%}</b> · {t['moved']}: "
        f"<b>{_moved(plan)}</b> · {t['total_hours']}: "
        f"<b>{run.allocation['hours'].sum():,.0f}</b></p>",
        f"<h4>{t['maps']}</h4>",
        _maps(run, span, lang),
        f"<h4>{t['hours']}</h4>",
        bar_chart(per_shift, class_colours(SHIFT_PALETTE, per_shift.shape[1]), stacked=True),
        f"<h4>{t['duals']}</h4><ul>{buys}</ul>",
        f"<p class='note'>{t['duals_chart']}</p>",
        bar_chart(duals, class_colours(("#fdae6b", "#e6550d", "#a63603"), duals.shape[1])),
        f"<h4>{t['training'].format(seats=seats, courses=len(courses))}</h4>",
        bar_chart(courses.set_index("title")["seats"].rename(columns["seats"]), ("#41ab5d",))
        if len(courses)
        else "",
        _table(courses, lang),
        f"<h4>{t['training_rows']}</h4>",
        _table(
            training[["station_id", "course_id", "seats", "reason"]] if len(training) else training,
            lang,
            names,
        ),
        f"<h4>{t['flags']}</h4>",
        _table(flags, lang, names),
        f"<h4>{t['scores']}</h4>",
        _table(scores, lang, names, bureau=run.names),
        f"<h4>{t['sens']}</h4>",
        rank_chart(scores[["station_id"]].merge(run.sensitivity, on="station_id", how="inner")),
        f"<h4>{t['quality']}</h4>",
        _table(run.quality.groupby("check").size().rename("count").reset_index(), lang),
    ]
    if run.balance is not None:
        shares = run.balance.set_index("station_id")[["hours_share", "harm_share"]].astype(float)
        shares.columns = [columns["hours_share"], columns["harm_share"]]
        body += [
            f"<h4>{t['balance']}</h4>",
            bar_chart(shares, ("#2171b5", "#cb181d"), fmt=lambda v: f"{v:.1%}"),
            _table(run.balance, lang, names),
        ]
    if run.binding is not None:
        body += [f"<h4>{t['binding']}</h4>", _table(binding_summary(run.binding, lang), lang)]
    if run.policy is not None:
        body += [f"<h4>{t['policy']}</h4>", _table(run.policy, lang, bureau=run.names)]
    if run.evaluation is not None:
        body += [f"<h4>{t['evaluation']}</h4>", _table(run.evaluation, lang, names)]
    return f'<section class="scenario">{"".join(body)}</section>'


STYLE = (
    f"body{{font:13px/1.45 {FONTS};margin:16px 24px;color:#222}}"
    "h1{margin:0 0 4px}h2{margin:28px 0 8px;border-bottom:2px solid #2171b5}"
    "h3{margin:18px 0 6px}h4{margin:16px 0 4px}.sub{color:#555;margin:0}"
    ".grid{display:flex;gap:28px;align-items:flex-start;overflow-x:auto}"
    ".scenario{flex:1 0 460px;max-width:720px}.note{color:#555;margin:2px 0}"
    "table.t{border-collapse:collapse;margin:4px 0}"
    "table.t td,table.t th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:left;"
    "vertical-align:top;white-space:nowrap}table.t td:last-child{white-space:normal}"
    "table.figures th{background:#f3f6fa;white-space:normal}.delta{color:#555;font-size:11px}"
    ".maps{display:flex;gap:12px;flex-wrap:wrap}figure{margin:4px 0}"
    "figcaption{font-weight:bold;font-size:12px}.legend span{margin-right:8px;font-size:11px;"
    "white-space:nowrap}.legend i{display:inline-block;width:10px;height:10px;margin-right:3px;"
    "border:1px solid #999}svg text{font-family:inherit}"
    "@media print{.grid{display:block}.scenario{break-inside:avoid-page}}"
)


def render_report(
    run_dirs: Sequence[Path], lang: str = "en", plans: Sequence[dict] | None = None
) -> str:
    """The report for one or more finished run folders (`plans` in place of their plan.json);
    with several, the first is the reference the others are compared with."""
    t = texts(lang, "report")
    runs = load_runs(run_dirs, plans)
    figures = key_figures(runs, lang)
    hours = station_hours(runs)
    span = (float(hours.to_numpy().min()), float(hours.to_numpy().max()))
    months = ", ".join(sorted({r.plan["plan_month"] for r in runs}))
    labels = ", ".join(r.label for r in runs)
    parts = [
        f"<h1>{t['title']}</h1>",
        f'<p class="sub">{html.escape(t["subtitle"].format(months=months, labels=labels))}</p>',
        f"<h2>{t['overview']}</h2>",
        _figures_table(figures, lang),
    ]
    if len(runs) > 1:
        parts += [
            f"<h3>{t['harm']}</h3>",
            bar_chart(figures.set_index("scenario")["harm"], fmt=lambda v: f"{v:.1%}"),
            _differences(runs, hours, lang),
        ]
    parts.append(
        f'<h2>{t["details"]}</h2><div class="grid">'
        + "".join(_scenario(r, span, lang) for r in runs)
        + "</div>"
    )
    return (
        f'<!DOCTYPE html><html lang="{"zh-CN" if lang == "zh" else "en"}"><head>'
        f'<meta charset="utf-8"><meta name="viewport" content="width=device-width">'
        f"<title>{t['title']}</title><style>{STYLE}</style></head><body>"
        f"{''.join(parts)}</body></html>"
    )
