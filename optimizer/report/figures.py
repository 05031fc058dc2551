"""What the report says about each run, as small frames: flagged stations, a scenario's
changes in words, the key figures side by side, hours per station, the rules that bind, what
the missions carry of the plan."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

import numpy as np
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


def hours_moved(plan: dict) -> float:
    """Hours moved against last month's plan; NaN for a plan made without one."""
    moved = plan.get("hours_moved")
    return math.nan if moved is None or not plan.get("previous_plan") else float(moved)


def key_figures(runs: Sequence[Run], lang: str) -> pd.DataFrame:
    """One row per scenario: harm covered (share), hours moved against last month's plan (NaN
    in a first month, when there is none), and against the first run (the baseline) with the
    harm units each such hour gains, patrol and available hours, the value of one more
    officer-hour, training seats and courses, flagged stations and vetoes, model, solver and
    changes (deltas and every config value that differs from the baseline's)."""
    rows = []
    baseline = runs[0]
    base_harm = harm_covered_units(baseline)
    for r in runs:
        cfg = r.plan["parameters"]["scoring"]
        flags = flagged_stations(r.scores, r.quality, cfg["last_place_months"], lang)
        moved = hours_moved_against(r, baseline)
        harm = harm_covered_units(r)
        gain = (
            (harm - base_harm) / moved
            if moved > 0 and harm is not None and base_harm is not None
            else math.nan
        )
        changes = scenario_changes(r.plan.get("deltas", {}), lang, r.names)
        overrides = config_overrides(r, baseline)
        if overrides:
            changes = "; ".join(
                [*([changes] if changes != texts(lang, "report")["as_is"] else []), *overrides]
            )
        rows.append(
            {
                "scenario": r.label,
                "harm": r.plan["harm_covered_share"],
                "moved": hours_moved(r.plan),
                "moved_baseline": moved if r is not baseline else math.nan,
                "harm_per_hour": gain if r is not baseline else math.nan,
                "total_hours": r.allocation["hours"].sum(),
                "budget": r.duals["budget_hours"].sum(),
                **dual_summary(r.duals, lang),
                "seats": int(r.training["seats"].sum()) if len(r.training) else 0,
                "courses": r.training["course_id"].nunique() if len(r.training) else 0,
                "flagged": flags["station_id"].nunique(),
                "vetoes": int(r.scores["veto"].sum()),
                "model": vocabulary(lang).term(r.plan["models"]["forecast"]),
                "status": vocabulary(lang).term(r.plan["solver"]["status"]),
                "settings": changes,
            }
        )
    frame = pd.DataFrame(rows)
    if len(runs) == 1:
        frame = frame.drop(columns=["moved_baseline", "harm_per_hour"])
    return frame


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


def cell_hours(run: Run) -> pd.Series:
    """Patrol hours per (cell_id, shift) of a run, own and lent together."""
    return run.allocation.groupby(["cell_id", "shift"])["hours"].sum()


def hours_moved_against(run: Run, baseline: Run) -> float:
    """Σ |hours − baseline hours| over cells and shifts: the hours a scenario places
    differently from the baseline (officer-hours per month)."""
    mine, theirs = cell_hours(run), cell_hours(baseline)
    both = mine.index.union(theirs.index)
    return float(
        (mine.reindex(both, fill_value=0.0) - theirs.reindex(both, fill_value=0.0)).abs().sum()
    )


def harm_covered_units(run: Run) -> float | None:
    """Forecast harm covered in harm units: the covered share × the run's total forecast risk
    (`risk.csv`); None without it."""
    path = run.folder / "risk.csv"
    if not path.exists():
        return None
    total = float(pd.read_csv(path, usecols=["risk"])["risk"].sum())
    return run.plan["harm_covered_share"] * total


def dual_summary(duals: pd.DataFrame, lang: str) -> dict[str, object]:
    """The value of one more officer-hour (harm units prevented per hour) over the station-
    shift budgets: budget-weighted mean, and the highest with its station and shift."""
    if duals.empty:
        return {"dual_mean": float("nan"), "dual_top": ""}
    weights = duals["budget_hours"].astype(float)
    values = duals["dual"].astype(float)
    mean = float((values * weights).sum() / weights.sum()) if weights.sum() > 0 else 0.0
    top = duals.loc[values.idxmax()]
    where = f"{top['station_id']} {vocabulary(lang).term(top['shift'])}"
    return {"dual_mean": mean, "dual_top": f"{float(top['dual']):.4g} ({where})"}


def _flat(table: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in table.items():
        if isinstance(value, dict):
            out |= _flat(value, f"{prefix}{key}.")
        else:
            out[prefix + key] = value
    return out


def config_overrides(run: Run, baseline: Run) -> list[str]:
    """Every config value of `run` that differs from the baseline's, as `key = value`
    (dotted keys as in a scenario file), sorted."""
    mine, theirs = _flat(run.plan["parameters"]), _flat(baseline.plan["parameters"])
    changed = sorted(k for k in mine.keys() | theirs.keys() if mine.get(k) != theirs.get(k))
    return [f"{k} = {json.dumps(mine.get(k), ensure_ascii=False)}" for k in changed]


SIGNIFICANT_Z = 1.96  # |z| beyond which a difference is unlikely to be chance (5 %, two-sided)


def _change(before: float, after: float) -> float | None:
    """Relative change after / before − 1; None from zero cases."""
    return after / before - 1 if before > 0 else None


def _direction(change: float, t: dict) -> str:
    """A relative change in words: fell 25 %, rose 5 %, stayed level (under half a percent)."""
    if abs(change) < 0.005:
        return t["level"]
    return t["fell" if change < 0 else "rose"].format(p=f"{abs(change):.0%}")


def evaluation_verdicts(evaluation: pd.DataFrame, lang: str) -> pd.DataFrame:
    """`station_id, verdict, wdd, z`: per row of `evaluation.csv`, in plain words, how crime
    changed in the cells where last month's plan added hours against comparable cells, and
    whether that is likely chance (|z| < `SIGNIFICANT_Z`) — a significant rise is said so."""
    t = texts(lang, "verdict")
    rows = []
    for r in evaluation.itertuples(index=False):
        z, wdd = pd.to_numeric(pd.Series([r.z, r.wdd]), errors="coerce").tolist()
        if not (np.isfinite(z) and np.isfinite(wdd)):  # too few comparable cells
            rows.append({"station_id": r.station_id, "verdict": t["no_comparison"]})
            continue
        treated = _change(float(r.before_treated), float(r.after_treated))
        control = _change(float(r.before_control), float(r.after_control))
        expected = pd.to_numeric(getattr(r, "expected_treated", np.nan), errors="coerce")
        if np.isfinite(expected):  # what comparable cells say the treated cells would have had
            head = t["expected"].format(
                bt=int(r.before_treated), at=int(r.after_treated), expected=f"{expected:,.0f}"
            )
        elif treated is None or control is None:
            head = t["counts"].format(
                bt=int(r.before_treated),
                at=int(r.after_treated),
                bc=int(r.before_control),
                ac=int(r.after_control),
            )
        else:
            gap = round(abs(treated - control) * 100, 1)
            head = t["changes"].format(
                treated=_direction(treated, t),
                control=_direction(control, t),
                better=t["better" if treated < control else "worse"].format(p=f"{gap:g}"),
            )
        significant = abs(z) >= SIGNIFICANT_Z
        chance = t["unlikely" if significant else "chance"]
        verdict = t["sentence"].format(head=head, z=f"{z:.2f}".replace("-", "−"), chance=chance)
        if significant and wdd > 0:
            verdict += t["rose_warning"]
        rows.append({"station_id": r.station_id, "verdict": verdict, "wdd": round(wdd), "z": z})
    return pd.DataFrame(rows, columns=["station_id", "verdict", "wdd", "z"])


ALL = "ALL"  # the total rows of adherence.csv and response.csv


def adherence_by_station(adherence: pd.DataFrame) -> pd.DataFrame:
    """Per station over all shifts (`adherence.csv` rows with shift ALL), stations furthest off
    plan first (lowest adherence, then most hours off plan); the overall row last."""
    rows = adherence[adherence["shift"].astype(str) == ALL].copy()
    for column in ("planned_hours", "delivered_hours", "adherence", "off_plan_share"):
        rows[column] = pd.to_numeric(rows[column], errors="coerce")
    stations = rows[rows["station_id"].astype(str) != ALL].sort_values(
        ["adherence", "off_plan_share", "station_id"], ascending=[True, False, True]
    )
    overall = rows[rows["station_id"].astype(str) == ALL]
    columns = ["station_id", "planned_hours", "delivered_hours", "adherence", "off_plan_share"]
    return pd.concat([stations, overall])[columns].reset_index(drop=True)


def response_by_station(response: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """From `response.csv`: per station over all shifts and priorities, the fewest answered
    within target first, the overall row last; and per priority over all stations and shifts."""
    frame = response.astype({"station_id": str, "shift": str, "priority": str})
    for column in ("calls", "median_min", "p90_min", "within_target_share", "unanswered"):
        frame[column] = pd.to_numeric(frame[column], errors="coerce")
    whole = frame[(frame["shift"] == ALL) & (frame["priority"] == ALL)]
    stations = whole[whole["station_id"] != ALL].sort_values(
        ["within_target_share", "p90_min", "station_id"], ascending=[True, False, True]
    )
    columns = ["calls", "median_min", "p90_min", "within_target_share", "unanswered"]
    by_station = pd.concat([stations, whole[whole["station_id"] == ALL]])
    by_priority = frame[
        (frame["station_id"] == ALL) & (frame["shift"] == ALL) & (frame["priority"] != ALL)
    ]
    return (
        by_station[["station_id", *columns]].reset_index(drop=True),
        by_priority[["priority", *columns]].reset_index(drop=True),
    )


def reserved_hours(duals: pd.DataFrame, reserve: pd.DataFrame | None = None) -> pd.DataFrame | None:
    """Officer-hours reserved for response per station (rows) and shift (columns) with the
    station's total and its share of the station's hours (patrol budget + reserve), from
    `duals.csv:reserve_hours`, else from `reserve.csv`; None when neither reserves anything."""
    if "reserve_hours" in duals.columns:
        hours = duals["reserve_hours"]
    elif reserve is not None and "reserve_hours" in reserve.columns:
        key = ["station_id", "shift"]
        hours = duals[key].merge(reserve[[*key, "reserve_hours"]], on=key, how="left")[
            "reserve_hours"
        ]
    else:
        return None
    reserve_hours = pd.to_numeric(hours, errors="coerce").fillna(0.0).to_numpy()
    if not (reserve_hours > 0).any():
        return None
    frame = duals.assign(reserve_hours=reserve_hours)
    table = frame.pivot_table(
        index="station_id", columns="shift", values="reserve_hours", aggfunc="sum", sort=False
    )
    budget = frame.groupby("station_id")["budget_hours"].sum()
    table["reserve_hours"] = table.sum(axis=1)
    table["reserve_share"] = table["reserve_hours"] / (budget + table["reserve_hours"])
    return table.rename_axis(columns=None).reset_index()


def _hours(value: float) -> str:
    """Officer-hours to one decimal; a positive amount below 0.05 h as "< 0.1", never as 0."""
    return "< 0.1" if 0 < value < 0.05 else f"{value:,.1f}"


def unplaced_first(summary: pd.DataFrame) -> pd.DataFrame:
    """`missions_summary.csv` rows, the most unplaced hours first, then by station and shift."""
    return summary.sort_values(
        ["unplaced_hours", "station_id", "shift"], ascending=[False, True, True]
    )


def mission_sentences(summary: pd.DataFrame, names: pd.Series, lang: str) -> list[str]:
    """What the missions carry of the plan (`missions_summary.csv`), in words: the share of the
    LP's officer-hours on scene, the hours no route could carry and the longest route; then one
    sentence for every station and shift with unplaced hours, most first — none is left out."""
    t = texts(lang, "report")
    words = vocabulary(lang)
    lp, scene = float(summary["lp_hours"].sum()), float(summary["mission_hours"].sum())
    unplaced = unplaced_first(summary)
    unplaced = unplaced[unplaced["unplaced_hours"] > 0]
    sentences = [
        t["missions_carry"].format(
            share=f"{scene / lp:.1%}" if lp > 0 else t["na"],
            lp=_hours(lp),
            unplaced=_hours(float(summary["unplaced_hours"].sum())),
            longest=f"{summary['longest_route_min'].max():,.0f}" if len(summary) else t["na"],
        )
    ]
    for row in unplaced.itertuples(index=False):
        name = names.get(row.station_id, "")
        sentences.append(
            t["unplaced"].format(
                station=f"{row.station_id} {name}".strip(),
                shift=words.term(row.shift),
                hours=_hours(row.unplaced_hours),
                lp=_hours(row.lp_hours),
            )
        )
    if unplaced.empty:
        sentences.append(t["all_placed"])
    return sentences


def stops_by_station(done: pd.DataFrame) -> pd.DataFrame:
    """From `missions_done.csv`: per station the mission stops planned, those visited and
    their share, the lowest share first; the overall row last."""
    visited = done["visited"].astype(str).eq("True")
    counts = visited.groupby(done["station_id"].astype(str)).agg(["size", "sum"])
    rows = pd.DataFrame(
        {
            "station_id": counts.index.to_numpy(),
            "stops": counts["size"].to_numpy(),
            "stops_visited": counts["sum"].to_numpy(),
        }
    )
    rows = pd.concat(
        [
            rows.assign(share=rows["stops_visited"] / rows["stops"]).sort_values(
                ["share", "station_id"]
            ),
            pd.DataFrame(
                {"station_id": [ALL], "stops": [len(done)], "stops_visited": [visited.sum()]}
            ),
        ]
    ).drop(columns="share")
    rows["visited_share"] = rows["stops_visited"] / rows["stops"]
    return rows.reset_index(drop=True)
