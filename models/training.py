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
class Comparisons:
    """Every measurable training, each trained station against the clean controls of its
    cohort, as two frames (a cohort: one training month, indicator and station type).

    `trained`: `station_id, course_id, month, indicator_id, change, cohort`, one row per
    measured training and addressed indicator, by month, station and course.
    `controls`: `cohort, station_id, change`, the control stations of each cohort by id.
    Changes are mean score after minus mean score before (points).
    """

    trained: pd.DataFrame
    controls: pd.DataFrame

    def __len__(self) -> int:
        return len(self.trained)

    def controls_of(self, row: int) -> tuple[str, ...]:
        """Control station ids of the `row`-th measured training."""
        cohort = self.trained["cohort"].iat[row]
        return tuple(self.controls.loc[self.controls["cohort"] == cohort, "station_id"])

    def cohort_stats(self) -> pd.DataFrame:
        """Per cohort: `n` controls, `mean` and `sd` (ddof 1) of their changes and `ss`, their
        sum of squared deviations from the mean; indexed by cohort."""
        changes = self.controls["change"].to_numpy()
        cohorts = self.controls["cohort"].to_numpy()
        starts = np.flatnonzero(np.r_[True, cohorts[1:] != cohorts[:-1]])
        rows = []
        for part in np.split(changes, starts[1:]) if len(changes) else []:
            mean = part.mean()
            sd = part.std(ddof=1) if len(part) > 1 else np.nan
            rows.append((len(part), mean, sd, ((part - mean) ** 2).sum()))
        index = pd.Index(cohorts[starts] if len(changes) else [], name="cohort")
        return pd.DataFrame(rows, index=index, columns=["n", "mean", "sd", "ss"])


def _ordinals(months: pd.Series) -> np.ndarray:
    """`YYYY-MM` strings as month ordinals (consecutive integers)."""
    return pd.PeriodIndex(months.astype(str), freq="M").asi8


def comparisons(
    ind: pd.DataFrame,
    log: pd.DataFrame | None,
    courses: pd.DataFrame | None,
    month: str,
    window: int = WINDOW_MONTHS,
) -> Comparisons:
    """Every measurable training up to `month`: a station's first month on a course
    (`training_log`) with `window` months of scores on either side, all up to `month`, for each
    indicator the course addresses. Controls: stations of the same type whose first training on
    any course addressing the indicator comes after the window, or never. A station trained on
    another course addressing the same indicator within the window is not measured.

    Computed once per run and shared by the §4 bonus (`training_effects`) and the §7 course
    effects (`course_effectiveness`). Each window change is computed once per training month
    for all stations, and each cohort's controls once, so the cost grows linearly with stations.
    """
    empty = Comparisons(
        pd.DataFrame(columns=[*EFFECT_COLUMNS[:4], "change", "cohort"]),
        pd.DataFrame(columns=["cohort", "station_id", "change"]),
    )
    if log is None or log.empty or courses is None:
        return empty
    scores = _observed(ind).pivot_table(
        index=["station_id", "indicator_id"], columns="month", values="score", aggfunc="first"
    )
    if scores.empty:
        return empty
    types = ind.groupby("station_id")["station_type"].first()
    first_month, last_month = _ordinals(pd.Series([min(scores.columns), month]))
    addresses = course_addresses(courses)
    taken = log[["station_id", "course_id", "month"]].merge(addresses)
    taken["period"] = _ordinals(taken["month"])
    first_on = taken.groupby(["station_id", "indicator_id"])["period"].min().rename("first_on")

    firsts = log.groupby(["station_id", "course_id"], as_index=False)["month"].min()
    firsts = firsts.sort_values(["month", "station_id", "course_id"], ignore_index=True)
    firsts["period"] = _ordinals(firsts["month"])
    firsts = firsts[
        (firsts["period"] - window >= first_month) & (firsts["period"] + window <= last_month)
    ]
    rows = firsts.reset_index().merge(addresses, on="course_id", sort=False)
    rows = rows.sort_values("index", kind="stable", ignore_index=True).drop(columns="index")
    # not measured: another course on the same indicator within the window
    other = rows.reset_index().merge(taken, on=["station_id", "indicator_id"], suffixes=("", "_o"))
    clash = other[
        (other["course_id_o"] != other["course_id"])
        & (other["period_o"] >= other["period"] - window)
        & (other["period_o"] <= other["period"] + window)
    ]
    rows = rows.drop(index=clash["index"].unique())
    rows["station_type"] = types.reindex(rows["station_id"]).to_numpy()

    trained_parts, control_parts = [], []
    for t in np.unique(rows["period"]):
        at = pd.Period(ordinal=int(t), freq="M")
        after = [str(at + k) for k in range(1, window + 1)]
        before = [str(at - k) for k in range(1, window + 1)]
        wide = scores.reindex(columns=after + before)
        change = (wide[after].mean(axis=1) - wide[before].mean(axis=1)).rename("change")
        cohort_rows = rows[rows["period"] == t]
        own = change.reindex(pd.MultiIndex.from_frame(cohort_rows[["station_id", "indicator_id"]]))
        cohort_rows = cohort_rows.assign(change=own.to_numpy())
        cohort_rows = cohort_rows[np.isfinite(cohort_rows["change"].to_numpy(float))]
        candidates = change[np.isfinite(change.to_numpy())].reset_index()
        candidates = candidates[candidates["indicator_id"].isin(cohort_rows["indicator_id"])]
        candidates = candidates.join(first_on, on=["station_id", "indicator_id"])
        candidates = candidates[~(candidates["first_on"] <= t + window)]
        candidates["station_type"] = types.reindex(candidates["station_id"]).to_numpy()
        trained_parts.append(cohort_rows)
        control_parts.append(candidates.assign(period=t))
    if not trained_parts:
        return empty
    trained = pd.concat(trained_parts).sort_index()
    controls = pd.concat(control_parts, ignore_index=True)
    key = ["period", "indicator_id", "station_type"]
    ids = trained[key].drop_duplicates().reset_index(drop=True)
    ids["cohort"] = np.arange(len(ids))
    controls = controls.merge(ids, on=key).sort_values(["cohort", "station_id"], ignore_index=True)
    trained = trained.merge(ids, on=key, how="left")
    trained = trained[trained["cohort"].isin(controls["cohort"])].reset_index(drop=True)
    return Comparisons(
        trained[[*EFFECT_COLUMNS[:4], "change", "cohort"]],
        controls[["cohort", "station_id", "change"]],
    )


def training_effects(compared: Comparisons) -> pd.DataFrame:
    """Effect of each measurable training (see `comparisons`) on each indicator its course
    addresses, in score points: the station's change minus the mean change of its controls.

    Interval: `LEVEL` t interval with the DiD standard error of a single trained station,
    sd(control changes) × √(1 + 1/n), on n − 1 degrees of freedom; needs n ≥ 2 controls.
    Returns `EFFECT_COLUMNS`."""
    stats_of = compared.cohort_stats().reindex(compared.trained["cohort"])
    n = stats_of["n"].to_numpy(float)
    keep = n >= 2
    trained, n = compared.trained[keep], n[keep]
    mean, sd = stats_of["mean"].to_numpy()[keep], stats_of["sd"].to_numpy()[keep]
    effect = trained["change"].to_numpy(float) - mean
    half = stats.t.ppf((1 + LEVEL) / 2, n - 1) * sd * np.sqrt(1 + 1 / n)
    return pd.DataFrame(
        {
            **{c: trained[c].to_numpy() for c in EFFECT_COLUMNS[:4]},
            "effect": effect,
            "low": effect - half,
            "high": effect + half,
            "n_controls": n.astype(int),
        },
        columns=EFFECT_COLUMNS,
    )


def course_effectiveness(compared: Comparisons) -> pd.DataFrame:
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
    if not len(compared):
        return pd.DataFrame(columns=COURSE_EFFECT_COLUMNS)
    cohort = compared.cohort_stats()
    trained = compared.trained.join(cohort, on="cohort")
    trained["did"] = trained["change"].to_numpy(float) - trained["mean"].to_numpy(float)
    pair = ["course_id", "indicator_id"]
    norms, n_controls = _weight_norms(trained, compared.controls, cohort["n"])
    q = (1 + LEVEL) / 2
    rows = []
    for (course, indicator), group in trained.groupby(pair, sort=True):
        dof = int((group["n"] - 1).sum())
        if dof == 0:
            continue
        variance = sum(group["ss"].tolist())
        effect = float(np.mean(group["did"].to_numpy()))
        se = np.sqrt(variance / dof * norms[(course, indicator)])
        n_c = int(n_controls[(course, indicator)])
        half = stats.t.ppf(q, max(n_c - 1, 1)) * se
        rows.append((course, indicator, effect, effect - half, effect + half, len(group), n_c))
    return pd.DataFrame(rows, columns=COURSE_EFFECT_COLUMNS)


def _weight_norms(
    trained: pd.DataFrame, controls: pd.DataFrame, cohort_size: pd.Series
) -> tuple[pd.Series, pd.Series]:
    """Per (course, indicator): Σ over stations of (Σ |weight|)², the weights being those of
    each station's window changes in the mean DiD (trained +1/R, each control of a cohort
    1/(R·n) per training measured against it), the variance factor allowing any correlation
    between one station's changes in different windows; and the number of distinct controls."""
    pair = ["course_id", "indicator_id"]
    share = 1 / trained.groupby(pair)["station_id"].transform("size")
    own = trained[[*pair, "station_id"]].assign(weight=share.to_numpy())
    uses = trained.assign(share=share).groupby([*pair, "cohort"], as_index=False)["share"].sum()
    uses["share"] /= cohort_size.reindex(uses["cohort"]).to_numpy()
    theirs = uses.merge(controls[["cohort", "station_id"]], on="cohort")
    theirs = theirs.rename(columns={"share": "weight"})[[*pair, "station_id", "weight"]]
    weights = pd.concat([own, theirs]).groupby([*pair, "station_id"])["weight"].sum()
    norms = (weights**2).groupby(level=pair).sum()
    return norms, theirs.groupby(pair)["station_id"].nunique()


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
