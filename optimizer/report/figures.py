"""What the report says about each run, as small frames: flagged stations, a scenario's
changes in words, the key figures side by side, hours per station, the rules that bind, what
the missions carry of the plan."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from models.config import AllocationConfig
from models.scenarios import BASELINE
from optimizer.allocation.frames import benefit
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


def baseline_of(run: Run, runs: Sequence[Run]) -> Run:
    """The run `run` is compared with (SPEC §18): the run named `baseline` of its plan month
    among `runs`, else the first run of that month."""
    same = [r for r in runs if r.plan["plan_month"] == run.plan["plan_month"]]
    return next((r for r in same if r.plan.get("scenario") == BASELINE), same[0])


@dataclass(frozen=True)
class Measure:
    """What a run's "forecast harm covered" counts: its forecast risk per (cell_id, shift), in
    harm units (`risk.csv`), and the benefit curve of its allocation settings (SPEC §6)."""

    risk: pd.Series
    config: AllocationConfig

    @property
    def total(self) -> float:
        """The month's forecast harm, harm units."""
        return float(self.risk.sum())

    def same_as(self, other: Measure) -> bool:
        """Whether both count the same: the same cells and shifts, risks equal to the 6
        decimals of `risk.csv`, and the same benefit curve."""
        curve = ("max_hours_cell", "benefit_breakpoints", "benefit_slopes")
        return (
            all(getattr(self.config, k) == getattr(other.config, k) for k in curve)
            and self.risk.index.equals(other.risk.index)
            and bool(np.allclose(self.risk.to_numpy(), other.risk.to_numpy(), rtol=0, atol=1e-6))
        )


def measure_of(run: Run) -> Measure | None:
    """The run's own measure; None without `risk.csv`."""
    path = run.folder / "risk.csv"
    if not path.exists():
        return None
    risk = pd.read_csv(path, usecols=["cell_id", "shift", "risk"], dtype={"cell_id": str})
    by_unit = risk.astype({"shift": str}).groupby(["cell_id", "shift"])["risk"].sum()
    return Measure(by_unit, AllocationConfig.model_validate(run.plan["parameters"]["allocation"]))


def covered_share(run: Run, measure: Measure) -> float:
    """The share of `measure`'s forecast harm that `run`'s hours cover: Σ risk · benefit(hours)
    over cells and shifts ÷ Σ risk (SPEC §6), hours of cells `measure` has no risk for
    ignored. On a run's own measure this is its `harm_covered_share`."""
    hours = cell_hours(run)
    hours.index = pd.MultiIndex.from_arrays(
        [hours.index.get_level_values(i).astype(str) for i in (0, 1)]
    )
    aligned = hours.groupby(level=[0, 1]).sum().reindex(measure.risk.index, fill_value=0.0)
    total = measure.total
    if total <= 0:
        return 0.0
    return benefit(aligned.to_numpy(), measure.risk.to_numpy(), measure.config) / total


LOSS_SHARE = 0.10  # a station losing more than this share of its baseline hours is named
NAMED = 6  # stations listed in a sentence; more are counted


def gains_and_costs(run: Run, baseline: Run, harm_points: float, moved: float, lang: str) -> str:
    """One plain sentence of what `run` gains and costs against `baseline`: officer-hours
    patrolled more or fewer (and placed differently), points of the baseline's forecast harm
    covered more or less (`harm_points`, percentage points; NaN when unknown), and the
    stations losing more than `LOSS_SHARE` of their baseline hours."""
    t = texts(lang, "compare")
    if run is baseline:
        return t["is_baseline"]
    mine = run.allocation.groupby("station_id")["hours"].sum()
    theirs = baseline.allocation.groupby("station_id")["hours"].sum()
    mine = mine.reindex(theirs.index.union(mine.index), fill_value=0.0)
    theirs = theirs.reindex(mine.index, fill_value=0.0)
    extra = float(mine.sum() - theirs.sum())
    kind = "same_hours" if abs(extra) < 0.05 else "more_hours" if extra > 0 else "fewer_hours"
    hours = t[kind].format(hours=_hours(abs(extra)), moved=_hours(moved))
    if pd.isna(harm_points):
        harm = t["harm_unknown"]
    else:
        size = round(abs(harm_points), 1)
        kind = "same_harm" if size == 0 else "more_harm" if harm_points > 0 else "less_harm"
        harm = t[kind].format(p=f"{size:g}")
    losing = sorted(mine.index[(theirs > 0) & (mine < theirs * (1 - LOSS_SHARE))])
    share = f"{LOSS_SHARE:.0%}"
    if losing:
        shown = ", ".join(losing[:NAMED]) + (
            f" … (+{len(losing) - NAMED})" if len(losing) > NAMED else ""
        )
        losses = t["losses"].format(n=len(losing), share=share, stations=shown)
    else:
        losses = t["no_losses"].format(share=share)
    return t["sentence"].format(hours=hours, harm=harm, losses=losses)


def key_figures(runs: Sequence[Run], lang: str) -> pd.DataFrame:
    """One row per scenario: its changes (deltas and every config value that differs from its
    baseline's, `baseline_of`), a sentence of what it gains and costs against the baseline,
    forecast harm covered on its own measure and on the baseline's (SPEC §18) with `measure`
    saying when the two differ, hours moved against last month's plan (NaN when planned
    without one), and against the baseline with the baseline's harm units each such hour
    gains, patrol and available hours, the value of one more officer-hour, training seats and
    courses, flagged stations and vetoes, model and solver."""
    t = texts(lang, "compare")
    measures = {id(r): measure_of(r) for r in runs}
    rows = []
    for r in runs:
        baseline = baseline_of(r, runs)
        cfg = r.plan["parameters"]["scoring"]
        flags = flagged_stations(r.scores, r.quality, cfg["last_place_months"], lang)
        moved = hours_moved_against(r, baseline)
        mine, theirs = measures[id(r)], measures[id(baseline)]
        on_base = covered_share(r, theirs) if theirs is not None else math.nan
        base_share = covered_share(baseline, theirs) if theirs is not None else math.nan
        gain = (on_base - base_share) * theirs.total / moved if moved > 0 else math.nan
        changes = scenario_changes(r.plan.get("deltas", {}), lang, r.names)
        overrides = config_overrides(r, baseline)
        if overrides:
            changes = "; ".join(
                [*([changes] if changes != texts(lang, "report")["as_is"] else []), *overrides]
            )
        other = mine is not None and theirs is not None and not mine.same_as(theirs)
        rows.append(
            {
                "scenario": r.label,
                "baseline": baseline.label,
                "settings": changes,
                "sentence": gains_and_costs(r, baseline, (on_base - base_share) * 100, moved, lang),
                "harm": r.plan["harm_covered_share"],
                "harm_baseline": on_base,
                "measure": t["other_measure"].format(changes=changes) if other else "",
                "moved": hours_moved(r.plan),
                "moved_baseline": moved if r is not baseline else math.nan,
                "harm_per_hour": gain if r is not baseline else math.nan,
                "total_hours": r.allocation["hours"].sum(),
                "budget": r.duals["budget_hours"].sum(),
                **dual_summary(r.duals, lang),
                "seats": int(r.training["seats"].sum()) if len(r.training) else 0,
                "courses": r.training.loc[r.training["seats"] > 0, "course_id"].nunique(),
                "flagged": flags["station_id"].nunique(),
                "vetoes": int(r.scores["veto"].sum()),
                "model": vocabulary(lang).term(r.plan["models"]["forecast"]),
                "status": vocabulary(lang).term(r.plan["solver"]["status"]),
            }
        )
    frame = pd.DataFrame(rows)
    if len(runs) == 1:
        frame = frame.drop(columns=["baseline", "sentence", "moved_baseline", "harm_per_hour"])
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


def _wdd_sentence(r: object, t: dict) -> tuple[str, bool]:
    """The WDD statement of one `evaluation.csv` row (planned hours against comparable cells)
    and whether its z-score says a significant rise."""
    z, wdd = float(r.z), float(r.wdd)
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
    sentence = t["sentence"].format(head=head, z=f"{z:.2f}".replace("-", "−"), chance=chance)
    return sentence, significant and wdd > 0


def _dose_sentence(r: object, d: dict) -> str:
    """The dose–response statement of one `evaluation.csv` row (harm against hours delivered,
    per 100 hours, over every cell with risk or a change of hours); "" where not measured."""
    effect = pd.to_numeric(getattr(r, "dose_response", None), errors="coerce")
    low = pd.to_numeric(getattr(r, "dose_response_low", None), errors="coerce")
    high = pd.to_numeric(getattr(r, "dose_response_high", None), errors="coerce")
    if pd.isna(effect) or pd.isna(low) or pd.isna(high):
        return ""
    clear = low > 0 or high < 0
    kind = ("fewer" if high < 0 else "more") if clear else "unclear"
    values = {"effect": abs(effect) if clear else effect, "low": low, "high": high}
    return d[kind].format(**{k: f"{v:.1f}".replace("-", "−") for k, v in values.items()})


def evaluation_verdicts(evaluation: pd.DataFrame, lang: str) -> pd.DataFrame:
    """`station_id, verdict, wdd, z`: per row of `evaluation.csv`, in plain words, what each
    measure says, named so that they never seem to contradict: the WDD (crime where last
    month's plan added hours against comparable cells without added hours, and whether that
    is likely chance, |z| < `SIGNIFICANT_Z`; a significant rise is said so) and the
    dose–response (harm against the hours delivered). Without enough comparable cells (no
    `wdd`: too few control cells to learn how cells fall back) no WDD comparison is
    possible: that is said instead of a verdict, `wdd` and `z` (text for reading) are left
    blank and only the dose–response speaks."""
    t, d = texts(lang, "verdict"), texts(lang, "dose")
    rows = []
    for r in evaluation.itertuples(index=False):
        dose = _dose_sentence(r, d)
        no_wdd = not np.isfinite(pd.to_numeric(r.wdd, errors="coerce"))
        if no_wdd or int(float(r.control_cells)) == 0:  # too few comparable cells
            parts = [d["no_comparison"].format(treated=int(float(r.treated_cells))), dose]
            wdd = z = ""
        else:
            wdd_text, rose = _wdd_sentence(r, t)
            parts = [d["wdd"] + wdd_text + (t["rose_warning"] if rose else ""), dose]
            wdd, z = f"{float(r.wdd):,.0f}", f"{float(r.z):.2f}"
        verdict = d["joint"].join(p for p in parts if p)
        rows.append({"station_id": r.station_id, "verdict": verdict, "wdd": wdd, "z": z})
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


EXPERIMENT_HEADINGS = {  # experiment.csv's columns as the report names them
    "pair": "experiment_pair",
    "arm": "experiment_arm",
    "lp_hours": "hours_without_experiment",
    "hours": "experiment_hours",
}


def experiment_section(
    experiment: pd.DataFrame, plan: dict, lang: str, several: bool
) -> tuple[str, str, pd.DataFrame]:
    """A run's randomized dose experiment (models/experiment.py) for the report: its title
    (naming the run when `several` are shown), why these cells are in it, and the cells (pair,
    dose, hours without and with the experiment)."""
    t = texts(lang, "experiment")
    cells = experiment.assign(arm=experiment["arm"].map(t).fillna(experiment["arm"]))
    share = float(plan.get("parameters", {}).get("evaluation", {}).get("experiment_share", 0))
    why = t["why"].format(
        pairs=experiment["pair"].nunique(), cells=len(experiment), share=f"{share:.0%}"
    )
    run = f"{plan['plan_month']}/{plan['scenario']}"
    title = t["title"].format(scenario=run) if several else t["title_one"]
    return title, why, cells.rename(columns=EXPERIMENT_HEADINGS)


STAFFING_SHOWN = [  # staffing.csv's columns the report's table shows, after the station
    "officers",
    "recommended",
    "change",
    "harm_prevented_before",
    "harm_prevented_after",
    "reason",
]


def staffing_sentences(staffing: pd.DataFrame, names: pd.Series, lang: str) -> list[str]:
    """The staffing recommendation for leadership (SPEC §19, `staffing.csv`): the bureau's
    harm prevented with today's officers and with the recommended ones, and the stations that
    gain and lose officers, most first."""
    t = texts(lang, "report")
    before = float(staffing["harm_prevented_before"].sum())
    after = float(staffing["harm_prevented_after"].sum())
    moved = staffing[staffing["change"] != 0].sort_values("change", key=abs, ascending=False)

    def listed(rows: pd.DataFrame) -> str:
        return ", ".join(
            f"{r.station_id} {names.get(r.station_id, '')}".strip() + f" {r.change:+d}"
            for r in rows.itertuples(index=False)
        )

    sentences = [
        t["staffing_gain"].format(
            officers=int(staffing["change"].clip(lower=0).sum()),
            total=int(staffing["recommended"].sum()),
            before=f"{before:,.2f}",
            after=f"{after:,.2f}",
            gain=f"{after - before:+,.2f}",
            share=f"{(after - before) / before:+.1%}" if before > 0 else t["na"],
        )
    ]
    gains, losses = moved[moved["change"] > 0], moved[moved["change"] < 0]
    if len(gains):
        sentences.append(t["staffing_gains"].format(stations=listed(gains)))
    if len(losses):
        sentences.append(t["staffing_losses"].format(stations=listed(losses)))
    if moved.empty:
        sentences.append(t["staffing_none"])
    return sentences
