"""What the report says about each run, as small frames: flagged stations, a scenario's
changes in words, the key figures side by side, hours per station, the rules that bind."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from optimizer.i18n import BureauNames, texts, vocabulary
from optimizer.report.runs import Run


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
                "moved": r.plan["hours_moved"],
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
