"""Training needs (SPEC §7): skill gaps from indicator scores, the courses that answer them, and
the measured effect of past training.

Effects are differences in differences on indicator scores (points, 0–100). A trained station's
change is the mean score of the `window` months after its training month minus the mean of the
`window` months before (the training month itself is left out; so are months with a missing
report). It is compared with the same change at stations of its type not yet trained on the
indicator by the end of that window: each cohort has its own clean comparison group, so staggered
adoption never lets an already-trained station act as a control.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

GAP_COLUMNS = [
    "station_id", "station_type", "indicator_id", "score", "weight", "peer_q25", "peer_last",
    "score_m1", "score_m2", "below", "bottom_quarter", "falling", "priority",
]  # fmt: skip
EFFECT_COLUMNS = [
    "station_id", "course_id", "month", "indicator_id", "effect", "low", "high", "n_controls",
]  # fmt: skip
COURSE_EFFECT_COLUMNS = [
    "course_id", "indicator_id", "effect", "low", "high", "n_treated", "n_controls",
]  # fmt: skip
FALLING_BOOST = 1.5  # priority multiplier for a score falling three months running
WINDOW_MONTHS = 3  # months before and after the training month
LEVEL = 0.95  # confidence level of every effect interval


def course_addresses(courses: pd.DataFrame) -> pd.DataFrame:
    """`course_id, indicator_id`: one row per indicator a course addresses (`addresses` joined
    by `;`, blanks ignored)."""
    pairs = courses[["course_id", "addresses"]].assign(
        indicator_id=courses["addresses"].astype(str).str.split(";")
    )
    pairs = pairs.explode("indicator_id")
    pairs["indicator_id"] = pairs["indicator_id"].str.strip()
    pairs = pairs[pairs["indicator_id"] != ""]
    return pairs[["course_id", "indicator_id"]].drop_duplicates(ignore_index=True)


def _observed(ind: pd.DataFrame) -> pd.DataFrame:
    """Rows of `ind` with a reported value (a missing report is a data problem, not a skill)."""
    if "missing" not in ind.columns:
        return ind
    return ind[~ind["missing"].astype(bool)]


def find_gaps(ind: pd.DataFrame, month: str, gap_score: float) -> pd.DataFrame:
    """Skill gaps of `month` from indicator scores (`station_id, month, station_type,
    indicator_id, score, weight[, missing]`; scores in points 0–100, higher is better).

    A weighted indicator is a gap when its score is below `gap_score`, strictly below the 25th
    percentile (linear interpolation) of the scores of its station type that month, or falling
    three months in a row (score(M) < score(M−1) < score(M−2)). Missing reports are neither
    gaps nor peers. Priority = weight × (100 − score), × `FALLING_BOOST` when falling.
    Returns `GAP_COLUMNS` (`peer_q25` the percentile, `peer_last` the station is the lowest of
    a group of two or more, `score_m1`/`score_m2` the two months before), highest priority first.
    """
    observed = _observed(ind)
    now = observed[(observed["month"] == month) & (observed["weight"] > 0)].copy()
    if now.empty:
        return pd.DataFrame(columns=GAP_COLUMNS)
    group = now.groupby(["station_type", "indicator_id"])["score"]
    now["peer_q25"] = group.transform(lambda s: s.quantile(0.25, interpolation="linear"))
    now["peer_last"] = (now["score"] <= group.transform("min")) & (group.transform("size") > 1)
    previous = pd.Period(month, "M")
    key = pd.MultiIndex.from_frame(now[["station_id", "indicator_id"]])
    for lag in (1, 2):
        past = observed[observed["month"] == str(previous - lag)]
        now[f"score_m{lag}"] = (
            past.set_index(["station_id", "indicator_id"])["score"].reindex(key).to_numpy()
        )
    now["below"] = now["score"] < gap_score
    now["bottom_quarter"] = now["score"] < now["peer_q25"]
    now["falling"] = (now["score"] < now["score_m1"]) & (now["score_m1"] < now["score_m2"])
    gaps = now[now["below"] | now["bottom_quarter"] | now["falling"]].copy()
    gaps["priority"] = (
        gaps["weight"] * (100 - gaps["score"]) * np.where(gaps["falling"], FALLING_BOOST, 1.0)
    )
    return gaps[GAP_COLUMNS].sort_values(
        ["priority", "station_id", "indicator_id"], ascending=[False, True, True], ignore_index=True
    )


@dataclass(frozen=True)
class Comparison:
    """One trained station against its clean controls on one addressed indicator.

    `change` and `control_changes` are mean score after minus mean score before (points);
    `controls` are the control stations in the order of `control_changes`.
    """

    station_id: str
    course_id: str
    month: str
    indicator_id: str
    change: float
    controls: tuple[str, ...]
    control_changes: np.ndarray


def comparisons(
    ind: pd.DataFrame,
    log: pd.DataFrame | None,
    courses: pd.DataFrame,
    month: str,
    window: int = WINDOW_MONTHS,
) -> list[Comparison]:
    """Every measurable training up to `month`: a station's first month on a course
    (`training_log`) with `window` months of scores on either side, all up to `month`, for each
    indicator the course addresses. Controls: stations of the same type whose first training on
    any course addressing the indicator comes after the window, or never. A station trained on
    another course addressing the same indicator within the window is not measured."""
    if log is None or log.empty:
        return []
    scores = _observed(ind).pivot_table(
        index=["station_id", "indicator_id"], columns="month", values="score", aggfunc="first"
    )
    if scores.empty:
        return []
    types = ind.groupby("station_id")["station_type"].first()
    first_month, last_month = pd.Period(min(scores.columns), "M"), pd.Period(month, "M")
    addresses = course_addresses(courses)
    taken = log[["station_id", "course_id", "month"]].merge(addresses)
    taken["period"] = [pd.Period(m, "M") for m in taken["month"]]
    first_on = taken.groupby(["station_id", "indicator_id"])["period"].min()
    answers = addresses.groupby("course_id")["indicator_id"].agg(list)
    firsts = log.groupby(["station_id", "course_id"], as_index=False)["month"].min()
    firsts = firsts.sort_values(["month", "station_id", "course_id"])
    out = []
    for station, course, t_month in firsts.itertuples(index=False):
        t = pd.Period(t_month, "M")
        if t - window < first_month or t + window > last_month:
            continue
        after = [str(t + k) for k in range(1, window + 1)]
        before = [str(t - k) for k in range(1, window + 1)]
        change = scores[after].mean(axis=1) - scores[before].mean(axis=1)
        own = taken[(taken["station_id"] == station) & (taken["course_id"] != course)]
        for indicator in answers.get(course, []):
            other = own.loc[own["indicator_id"] == indicator, "period"]
            delta = change.get((station, indicator), np.nan)
            if ((other >= t - window) & (other <= t + window)).any() or not np.isfinite(delta):
                continue
            trained = {s for (s, k), p in first_on.items() if k == indicator and p <= t + window}
            peers = tuple(
                s
                for s in types.index
                if types[s] == types[station]
                and s not in trained
                and np.isfinite(change.get((s, indicator), np.nan))
            )
            if peers:
                out.append(
                    Comparison(
                        station_id=station,
                        course_id=course,
                        month=t_month,
                        indicator_id=indicator,
                        change=float(delta),
                        controls=peers,
                        control_changes=np.array([change[(s, indicator)] for s in peers]),
                    )
                )
    return out


def training_effects(
    ind: pd.DataFrame,
    log: pd.DataFrame | None,
    courses: pd.DataFrame,
    month: str,
    window: int = WINDOW_MONTHS,
) -> pd.DataFrame:
    """Effect of each measurable training (see `comparisons`) on each indicator its course
    addresses, in score points: the station's change minus the mean change of its controls.

    Interval: `LEVEL` t interval with the DiD standard error of a single trained station,
    sd(control changes) × √(1 + 1/n), on n − 1 degrees of freedom; needs n ≥ 2 controls.
    Returns `EFFECT_COLUMNS`."""
    rows = []
    q = (1 + LEVEL) / 2
    for c in comparisons(ind, log, courses, month, window):
        n = len(c.control_changes)
        if n < 2:
            continue
        effect = c.change - c.control_changes.mean()
        half = stats.t.ppf(q, n - 1) * c.control_changes.std(ddof=1) * np.sqrt(1 + 1 / n)
        rows.append(
            (
                c.station_id,
                c.course_id,
                c.month,
                c.indicator_id,
                effect,
                effect - half,
                effect + half,
                n,
            )
        )
    return pd.DataFrame(rows, columns=EFFECT_COLUMNS)


def course_effectiveness(
    ind: pd.DataFrame,
    log: pd.DataFrame | None,
    courses: pd.DataFrame,
    month: str,
    window: int = WINDOW_MONTHS,
) -> pd.DataFrame:
    """Average effect of each course on each indicator it addresses (score points) over every
    measurable training of it (see `comparisons`): the mean of the trained stations' differences
    in differences, each cohort against its own not-yet-trained controls.

    Interval: `LEVEL` t interval with the DiD standard error. The mean DiD is a weighted sum of
    station window changes (trained +1/R, each control −1/(R·n)); the variance of a change is
    pooled from the spread of control changes within cohorts, and a station's changes in
    different windows may be correlated in any way (a control shared by several cohorts, a
    trend), so its weights add up in absolute value: Var ≤ σ²·Σₛ(Σ|w|)². Degrees of freedom:
    distinct control stations − 1. Returns `COURSE_EFFECT_COLUMNS`; a course measured only
    against single controls is absent, as is one never measured."""
    groups: dict[tuple[str, str], list[Comparison]] = {}
    for c in comparisons(ind, log, courses, month, window):
        groups.setdefault((c.course_id, c.indicator_id), []).append(c)
    q = (1 + LEVEL) / 2
    rows = []
    for (course, indicator), group in sorted(groups.items()):
        dof = sum(len(c.control_changes) - 1 for c in group)
        if dof == 0:
            continue
        variance = sum(((c.control_changes - c.control_changes.mean()) ** 2).sum() for c in group)
        effect = float(np.mean([c.change - c.control_changes.mean() for c in group]))
        se = np.sqrt(variance / dof * _weight_norm(group))
        n_controls = len({s for c in group for s in c.controls})
        half = stats.t.ppf(q, max(n_controls - 1, 1)) * se
        rows.append(
            (course, indicator, effect, effect - half, effect + half, len(group), n_controls)
        )
    return pd.DataFrame(rows, columns=COURSE_EFFECT_COLUMNS)


def _weight_norm(group: list[Comparison]) -> float:
    """Σ over stations of (Σ |weight|)², the weights being those of each station's window
    changes in the mean DiD of `group`: the variance factor allowing any correlation between
    one station's changes in different windows."""
    weights: dict[str, float] = {}
    share = 1 / len(group)
    for c in group:
        weights[c.station_id] = weights.get(c.station_id, 0.0) + share
        for s in c.controls:
            weights[s] = weights.get(s, 0.0) + share / len(c.controls)
    return float(sum(w * w for w in weights.values()))


def training_bonus(
    effects: pd.DataFrame, weights: pd.DataFrame, month: str, cap: float
) -> pd.DataFrame:
    """Bonus per station for `month` (total-score points): the gain in its weighted total from
    training effects (`training_effects`) whose interval lies above zero, capped at `cap`.
    `weights` is per station (`station_id, indicator_id, weight`). Returns `station_id, month,
    bonus`."""
    good = effects[effects["low"] > 0]
    if good.empty:
        return pd.DataFrame(columns=["station_id", "month", "bonus"])
    share = weights.assign(
        share=weights["weight"] / weights.groupby("station_id")["weight"].transform("sum")
    )
    gain = good.merge(share[["station_id", "indicator_id", "share"]], how="left")
    gain["points"] = gain["effect"] * gain["share"].fillna(0.0)
    bonus = gain.groupby("station_id", as_index=False)["points"].sum()
    bonus["bonus"] = bonus["points"].clip(upper=cap)
    return bonus.assign(month=month)[["station_id", "month", "bonus"]]
