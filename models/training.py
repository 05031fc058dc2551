"""Training needs (SPEC §7): skill gaps from indicator scores, the courses that answer them, and
the measured effect of past training (difference-in-differences against untrained peers)."""

from __future__ import annotations

import numpy as np
import pandas as pd

EFFECT_COLUMNS = [
    "station_id", "course_id", "month", "indicator_id", "effect", "low", "high", "n_controls",
]  # fmt: skip
FALLING_BOOST = 1.5  # priority multiplier for a score falling three months running


def find_gaps(ind: pd.DataFrame, month: str, gap_score: float) -> pd.DataFrame:
    """Gaps of `month`: score below `gap_score`, strictly below the 25th percentile of the
    station's type group, or falling three months in a row. Priority = weight × (100 − score),
    raised for falling trends. Returns `station_id, indicator_id, score, weight, below,
    bottom_quarter, falling, priority`."""
    now = ind[ind["month"] == month].copy()
    q25 = now.groupby(["station_type", "indicator_id"])["score"].transform(
        lambda s: np.percentile(s, 25)
    )
    now["below"] = now["score"] < gap_score
    now["bottom_quarter"] = now["score"] < q25 - 1e-9
    prev = pd.Period(month, "M")
    lag = {
        k: ind[ind["month"] == str(prev - k)].set_index(["station_id", "indicator_id"])["score"]
        for k in (1, 2)
    }
    key = pd.MultiIndex.from_frame(now[["station_id", "indicator_id"]])
    s1, s2 = lag[1].reindex(key).to_numpy(), lag[2].reindex(key).to_numpy()
    now["falling"] = (now["score"].to_numpy() < s1) & (s1 < s2)
    now = now[now["below"] | now["bottom_quarter"] | now["falling"]]
    now = now[now["weight"] > 0]
    now["priority"] = (
        now["weight"] * (100 - now["score"]) * np.where(now["falling"], FALLING_BOOST, 1.0)
    )
    cols = [
        "station_id",
        "indicator_id",
        "score",
        "weight",
        "below",
        "bottom_quarter",
        "falling",
        "priority",
    ]
    return now[cols].sort_values(
        ["priority", "station_id"], ascending=[False, True], ignore_index=True
    )


def training_effects(
    ind: pd.DataFrame, log: pd.DataFrame, courses: pd.DataFrame, month: str, window: int = 3
) -> pd.DataFrame:
    """Difference-in-differences of addressed indicators for each training record completed
    before `month`: mean score in the `window` months after minus the `window` before, against
    the same change at stations of the same type not yet trained on that course (staggered
    adoption: later cohorts serve as controls only until they are trained). 95 % interval from
    the spread of control changes. Returns `station_id, course_id, month, indicator_id, effect,
    low, high, n_controls`."""
    if log is None or log.empty:
        return pd.DataFrame(columns=EFFECT_COLUMNS)
    addresses = {
        c: [a.strip() for a in str(t).split(";") if a.strip()]
        for c, t in courses[["course_id", "addresses"]].itertuples(index=False)
    }
    scores = ind.pivot_table(
        index=["station_id", "indicator_id"], columns="month", values="score", aggfunc="first"
    )
    types = ind.groupby("station_id")["station_type"].first()
    first_trained = log.groupby(["station_id", "course_id"])["month"].min()
    last = pd.Period(month, "M")
    rows = []
    for station, course, t_month in log[["station_id", "course_id", "month"]].itertuples(
        index=False
    ):
        t = pd.Period(t_month, "M")
        after = [str(t + k) for k in range(1, window + 1) if t + k <= last]
        before = [str(t - k) for k in range(1, window + 1)]
        if not after or not set(before + after) <= set(scores.columns):
            continue
        end = t + window
        peers = [
            s
            for s in types.index
            if s != station
            and types[s] == types.get(station)
            and not (
                first_trained.get((s, course)) is not None
                and pd.Period(first_trained[(s, course)], "M") <= end
            )
        ]
        for indicator in addresses.get(course, []):
            if (station, indicator) not in scores.index:
                continue

            def change(s, ind_id=indicator, post=tuple(after), pre=tuple(before)):
                row = scores.loc[(s, ind_id)]
                return row[list(post)].mean() - row[list(pre)].mean()

            controls = np.array([change(s) for s in peers if (s, indicator) in scores.index])
            controls = controls[np.isfinite(controls)]
            if len(controls) < 2:
                continue
            effect = change(station) - controls.mean()
            se = controls.std(ddof=1) * np.sqrt(1 + 1 / len(controls))
            rows.append(
                (
                    station,
                    course,
                    t_month,
                    indicator,
                    effect,
                    effect - 1.96 * se,
                    effect + 1.96 * se,
                    len(controls),
                )
            )
    return pd.DataFrame(
        rows,
        columns=EFFECT_COLUMNS,
    )


def training_bonus(
    effects: pd.DataFrame, weights: pd.DataFrame, month: str, cap: float
) -> pd.DataFrame:
    """Bonus per station for `month`: the weighted gain in total score (points) from training
    effects whose interval lies above zero, capped at `cap`. `weights` per station."""
    good = effects[effects["low"] > 0]
    if good.empty:
        return pd.DataFrame(columns=["station_id", "month", "bonus"])
    w = weights.set_index(["station_id", "indicator_id"])["weight"]
    total = weights.groupby("station_id")["weight"].sum()
    gain = good.assign(
        points=[
            e * w.get((s, i), 0.0) / total.get(s, np.inf)
            for s, i, e in good[["station_id", "indicator_id", "effect"]].itertuples(index=False)
        ]
    )
    bonus = gain.groupby("station_id")["points"].sum().clip(upper=cap).reset_index()
    return bonus.rename(columns={"points": "bonus"}).assign(month=month)[
        ["station_id", "month", "bonus"]
    ]


def course_effectiveness(effects: pd.DataFrame) -> pd.Series:
    """Mean measured effect (score points) per course; courses never measured are absent."""
    return effects.groupby("course_id")["effect"].mean()
