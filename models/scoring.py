"""Monthly assessment scoring (SPEC §4): normalised indicator scores, weighted totals by station
type, red-line veto, grades, ranks among peers, streaks, roll-ups, awards and rank sensitivity.

Stations are only ever compared with stations of their own `station_type`; a higher total is
better; rank 1 is best and tied stations share the better rank.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.stats import rankdata

from models.config import ScoringConfig
from models.policy import QUADRANTS

GRADES = ("excellent", "good", "qualified", "unqualified")
SCORE_COLUMNS = [
    "station_id", "month", "station_type", "total", "prevention", "major_case", "service",
    "compliance", "bonus", "total_with_bonus", "veto", "grade", "rank", "group_size",
    "last_place_streak",
]  # fmt: skip
ASSESSMENT_COLUMNS = (  # a station's assessment as the map's stations layer shows it
    "station_id", "grade", "total_with_bonus", "rank", "group_size", "veto", "last_place_streak",
)  # fmt: skip


def indicator_method(indicators: pd.DataFrame) -> pd.Series:
    """Normalisation method per indicator: as declared, else `target` where a target exists,
    else `peer_minmax`. A `target` method without a target falls back to `peer_minmax`."""
    target = indicators.get("target", pd.Series(np.nan, index=indicators.index))
    has_target = pd.to_numeric(target, errors="coerce").notna()
    declared = indicators.get("method", pd.Series("", index=indicators.index)).fillna("")
    method = declared.where(declared != "", np.where(has_target, "target", "peer_minmax"))
    method = method.where(~((method == "target") & ~has_target), "peer_minmax")
    return pd.Series(method.to_numpy(), index=indicators["indicator_id"].to_numpy())


def _target_score(value: np.ndarray, target: np.ndarray, higher: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        up = 100.0 * np.minimum(np.maximum(value, 0) / target, 1.0)
        down = np.where(value <= 0, 100.0, 100.0 * np.minimum(target / value, 1.0))
    up = np.where(target > 0, up, 100.0)
    return np.where(higher, up, down)


def normalise(frame: pd.DataFrame, indicators: pd.DataFrame) -> pd.Series:
    """Score in [0, 100] for each row of `frame` (`month, station_type, indicator_id, value`).

    Peer methods compare rows of the same month, station type and indicator; missing values are
    left NaN (the caller decides between zero and exclusion).
    """
    meta = indicators.set_index("indicator_id")
    method = frame["indicator_id"].map(indicator_method(indicators))
    higher = frame["indicator_id"].map(meta["direction"]).eq("higher").to_numpy()
    value = frame["value"].to_numpy(dtype=float)
    score = np.full(len(frame), np.nan)

    is_target = (method == "target").to_numpy()
    if is_target.any():
        target = frame["indicator_id"].map(pd.to_numeric(meta["target"], errors="coerce"))
        score[is_target] = _target_score(
            value[is_target], target.to_numpy(dtype=float)[is_target], higher[is_target]
        )
    keys = ["month", "station_type", "indicator_id"]
    peer = frame.loc[~is_target, keys].assign(value=value[~is_target], higher=higher[~is_target])
    if len(peer):
        groups = peer.groupby(keys, sort=False)["value"]
        lo, hi = groups.transform("min").to_numpy(), groups.transform("max").to_numpy()
        v, up = peer["value"].to_numpy(), peer["higher"].to_numpy()
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            minmax = np.where(hi > lo, 100.0 * np.where(up, v - lo, hi - v) / (hi - lo), 100.0)
        minmax[np.isnan(v)] = np.nan
        # rank from the worst: ascending values for higher-is-better, descending for lower
        signed = peer.assign(key=np.where(up, v, -v))
        rank = signed.groupby(keys, sort=False)["key"].rank(method="average").to_numpy()
        n = signed.groupby(keys, sort=False)["key"].transform("count").to_numpy()
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            pct = np.where(n > 1, 100.0 * (rank - 1) / (n - 1), 100.0)
        pct[np.isnan(v)] = np.nan
        is_pct = method[~is_target].eq("peer_percentile").to_numpy()
        score[~is_target] = np.where(is_pct, pct, minmax)
    return pd.Series(np.clip(score, 0.0, 100.0), index=frame.index)


def indicator_scores(
    scores: pd.DataFrame,
    indicators: pd.DataFrame,
    weights: pd.DataFrame,
    stations: pd.DataFrame,
    months: list[str],
    missing: str = "zero",
) -> pd.DataFrame:
    """`station_id, month, station_type, indicator_id, value, score, weight, missing` for every
    station, month and indicator weighted for the station.

    `weights` is per station (`station_id, indicator_id, weight`). A missing value scores 0
    (`missing = "zero"`) or drops out of the total with its weight (`"exclude"`).
    """
    base = weights[weights["weight"] > 0].merge(
        stations[["station_id", "station_type"]], on="station_id"
    )
    grid = base.merge(pd.DataFrame({"month": months}), how="cross")
    values = scores[["station_id", "month", "indicator_id", "value"]]
    frame = grid.merge(values, on=["station_id", "month", "indicator_id"], how="left")
    frame["score"] = normalise(frame, indicators)
    frame["missing"] = frame["value"].isna()
    if missing == "zero":
        frame["score"] = frame["score"].fillna(0.0)
    else:
        frame.loc[frame["missing"], "weight"] = 0.0
    cols = [
        "station_id",
        "month",
        "station_type",
        "indicator_id",
        "value",
        "score",
        "weight",
        "missing",
    ]
    return frame[cols].sort_values(["month", "station_id", "indicator_id"], ignore_index=True)


def _weighted(frame: pd.DataFrame, keys: list[str]) -> pd.Series:
    ws = (frame["score"].fillna(0.0) * frame["weight"]).groupby([frame[k] for k in keys]).sum()
    w = frame["weight"].groupby([frame[k] for k in keys]).sum()
    return ws / w.where(w > 0)


def grade_by_thresholds(total: pd.Series, thresholds: dict[str, float]) -> pd.Series:
    """excellent ≥ t_e, good ≥ t_g, qualified ≥ t_q, else unqualified."""
    t = total.to_numpy(dtype=float)
    grade = np.select(
        [t >= thresholds["excellent"], t >= thresholds["good"], t >= thresholds["qualified"]],
        ["excellent", "good", "qualified"],
        "unqualified",
    )
    return pd.Series(grade, index=total.index)


def apply_quota(frame: pd.DataFrame) -> pd.Series:
    """Quota grades within each (month, station_type) group: at most ⌈0.25·n⌉ excellent and
    ⌈0.5·n⌉ good; stations beyond a quota drop one grade, lowest totals first.

    `frame` holds `month, station_type, station_id, total_with_bonus, grade`.
    """
    grades = frame["grade"].copy()
    for _, group in frame.groupby(["month", "station_type"], sort=False):
        n = len(group)
        for grade, quota, lower in (
            ("excellent", math.ceil(0.25 * n), "good"),
            ("good", math.ceil(0.5 * n), "qualified"),
        ):
            current = group.assign(grade=grades.loc[group.index])
            holders = current[current["grade"] == grade].sort_values(
                ["total_with_bonus", "station_id"], ascending=[False, True]
            )
            grades.loc[holders.index[quota:]] = lower
    return grades


def _streaks(last: pd.DataFrame) -> pd.Series:
    """Consecutive months up to each row spent last (`station_id, month, is_last`)."""
    ordered = last.sort_values(["station_id", "month"])
    month_no = ordered["month"].str[:4].astype(int) * 12 + ordered["month"].str[5:7].astype(int)
    same_station = ordered["station_id"].eq(ordered["station_id"].shift())
    follows = same_station & month_no.diff().eq(1)
    is_last = ordered["is_last"].astype(bool)
    # a run restarts wherever a month is not last or does not follow the previous row
    breaks = (~is_last | ~follows).cumsum()
    run = is_last.groupby(breaks).cumsum()
    return run.where(is_last, 0).astype(int).reindex(last.index)


def score_months(
    ind: pd.DataFrame,
    indicators: pd.DataFrame,
    config: ScoringConfig,
    bonus: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """`scores.csv` rows for every station and month of `ind` (from `indicator_scores`).

    `bonus` (`station_id, month, bonus`) is the capped training bonus; absent means 0.
    """
    keys = ["station_id", "month"]
    out = ind.groupby(keys)["station_type"].first().to_frame()
    out["total"] = _weighted(ind, keys)
    quadrant = ind["indicator_id"].map(indicators.set_index("indicator_id")["quadrant"])
    for q in QUADRANTS:
        part = ind[quadrant == q]
        out[q] = _weighted(part, keys) if len(part) else np.nan
    out = out.reset_index()
    out["total"] = out["total"].fillna(0.0)
    out["bonus"] = 0.0
    if bonus is not None and len(bonus):
        b = out.merge(bonus, on=keys, how="left", suffixes=("", "_b"))["bonus_b"]
        out["bonus"] = np.minimum(b.fillna(0.0).to_numpy(), config.bonus_cap)
    out["total_with_bonus"] = out["total"] + out["bonus"]
    redline = set(
        indicators.loc[
            indicators.get("redline", pd.Series(False, index=indicators.index))
            .fillna(False)
            .astype(bool),
            "indicator_id",
        ]
    )
    red = ind[ind["indicator_id"].isin(redline) & (ind["value"] > 0)]
    vetoed = set(zip(red["station_id"], red["month"], strict=True))
    out["veto"] = [(s, m) in vetoed for s, m in zip(out["station_id"], out["month"], strict=True)]
    out["grade"] = grade_by_thresholds(out["total_with_bonus"], config.grade_thresholds)
    if config.grade_mode == "quota":
        out["grade"] = apply_quota(out)
    out.loc[out["veto"], "grade"] = "unqualified"
    group = out.groupby(["month", "station_type"])["total_with_bonus"]
    out["rank"] = group.rank(method="min", ascending=False).astype(int)
    out["group_size"] = group.transform("size").astype(int)
    lowest = group.transform("min")
    out["is_last"] = (out["total_with_bonus"] <= lowest + 1e-9) & (out["group_size"] > 1)
    out["last_place_streak"] = _streaks(out).astype(int)
    return out[SCORE_COLUMNS].sort_values(
        ["month", "station_type", "rank", "station_id"], ignore_index=True
    )


def rollups(scores: pd.DataFrame, config: ScoringConfig) -> pd.DataFrame:
    """Quarterly (mean of its months) and yearly (mean of its quarters) totals with grade and
    rank within type; `last_two_years` flags a station last in its group two years running."""
    frame = scores.assign(period=pd.PeriodIndex(scores["month"], freq="M").asfreq("Q").astype(str))
    quarters = frame.groupby(["station_id", "station_type", "period"], as_index=False)[
        "total_with_bonus"
    ].mean()
    quarters["year"] = quarters["period"].str[:4]
    years = (
        quarters.groupby(["station_id", "station_type", "year"], as_index=False)["total_with_bonus"]
        .mean()
        .rename(columns={"year": "period"})
    )
    quarters = quarters.drop(columns="year")
    quarters["period"] = quarters["period"].str.replace("Q", "-Q")
    out = []
    for frame in (quarters, years):
        frame = frame.rename(columns={"total_with_bonus": "total"})
        group = frame.groupby(["period", "station_type"])["total"]
        frame["rank"] = group.rank(method="min", ascending=False).astype(int)
        frame["is_last"] = (frame["total"] <= group.transform("min") + 1e-9) & (
            group.transform("size") > 1
        )
        frame["grade"] = grade_by_thresholds(frame["total"], config.grade_thresholds)
        out.append(frame)
    quarters, years = out
    years = years.sort_values(["station_id", "period"])
    prev_last = years.groupby("station_id")["is_last"].shift(1, fill_value=False)
    prev_year = years.groupby("station_id")["period"].shift(1)
    consecutive = prev_year.notna() & (
        pd.to_numeric(prev_year, errors="coerce") == years["period"].astype(int) - 1
    )
    years["last_two_years"] = years["is_last"] & prev_last.astype(bool) & consecutive
    quarters["last_two_years"] = False
    cols = ["station_id", "period", "total", "grade", "rank", "last_two_years"]
    return pd.concat([quarters[cols], years[cols]], ignore_index=True).sort_values(
        ["period", "station_id"], ignore_index=True
    )


def awards(month_scores: pd.DataFrame, config: ScoringConfig) -> pd.DataFrame:
    """Commendation places for one month shared out by grade weight, largest remainder.

    Returns `station_id, grade, places`; ties in remainder go to the higher total.
    """
    frame = month_scores[["station_id", "grade", "total_with_bonus"]].copy()
    weight = frame["grade"].map(config.award_weight).fillna(0.0).to_numpy(dtype=float)
    places = np.zeros(len(frame), dtype=int)
    if config.award_places > 0 and weight.sum() > 0:
        quota = config.award_places * weight / weight.sum()
        places = np.floor(quota).astype(int)
        left = config.award_places - places.sum()
        order = np.lexsort((-frame["total_with_bonus"].to_numpy(), -(quota - places)))
        places[order[:left]] += 1
    frame["places"] = places
    return frame[["station_id", "grade", "places"]].sort_values("station_id", ignore_index=True)


def rank_sensitivity(
    month_ind: pd.DataFrame,
    month_scores: pd.DataFrame,
    draws: int = 1000,
    spread: float = 0.20,
    seed: int = 0,
) -> pd.DataFrame:
    """Ranks under `draws` random weight perturbations (each weight × U(1−spread, 1+spread),
    drawn per station type and indicator, seeded): `station_id, rank, rank_p05, rank_p95`."""
    rng = np.random.default_rng(seed)
    rows = []
    bonus = month_scores.set_index("station_id")["bonus"]
    for _kind, part in month_ind.groupby("station_type", sort=True):
        stations = sorted(part["station_id"].unique())
        inds = sorted(part["indicator_id"].unique())
        s = (
            part.pivot_table(
                index="station_id", columns="indicator_id", values="score", aggfunc="first"
            )
            .reindex(index=stations, columns=inds)
            .fillna(0.0)
        )
        w = (
            part.pivot_table(
                index="station_id", columns="indicator_id", values="weight", aggfunc="first"
            )
            .reindex(index=stations, columns=inds)
            .fillna(0.0)
        )
        factors = rng.uniform(1 - spread, 1 + spread, size=(draws, len(inds)))
        sw = (s.to_numpy() * w.to_numpy()) @ factors.T
        ww = w.to_numpy() @ factors.T
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            totals = np.where(ww > 0, sw / ww, 0.0) + bonus.reindex(stations).to_numpy()[:, None]
        ranks = rankdata(-np.round(totals, 9), method="min", axis=0)
        for i, station in enumerate(stations):
            rows.append((station, np.percentile(ranks[i], 5), np.percentile(ranks[i], 95)))
    sens = pd.DataFrame(rows, columns=["station_id", "rank_p05", "rank_p95"])
    out = month_scores[["station_id", "rank"]].merge(sens, on="station_id")
    return out.sort_values(["rank", "station_id"], ignore_index=True)


def redundant_pairs(scores: pd.DataFrame, min_rho: float = 0.9, min_n: int = 12) -> pd.DataFrame:
    """Indicator pairs with |Spearman ρ| ≥ `min_rho` over ≥ `min_n` common station-months:
    `indicator_a, indicator_b, rho, n` (merge candidates). ρ is computed on the station-months
    where both are reported (average ranks for ties); a pair constant there has none."""
    wide = scores.pivot_table(
        index=["station_id", "month"], columns="indicator_id", values="value", aggfunc="first"
    )
    wide = wide.reindex(columns=sorted(wide.columns))
    rho = wide.corr(method="spearman", min_periods=max(min_n, 2)).to_numpy()
    present = wide.notna().to_numpy(float)
    common = present.T @ present
    a, b = np.triu_indices(len(wide.columns), k=1)
    keep = (np.abs(rho[a, b]) >= min_rho) & (common[a, b] >= min_n)
    cols = wide.columns.to_numpy()
    return pd.DataFrame(
        {
            "indicator_a": cols[a[keep]],
            "indicator_b": cols[b[keep]],
            "rho": np.round(rho[a, b][keep], 4),
            "n": common[a, b][keep].astype(int),
        }
    )
