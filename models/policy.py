"""Policy rules on weights (SPEC §4): temporary indicators capped, subjective and public shares
reported, quadrant shares against their targets, flexible weights bounded and pool-only."""

from __future__ import annotations

import pandas as pd

from models.errors import Problem

QUADRANTS = ("prevention", "major_case", "service", "compliance")
PERSPECTIVES = ("strategy", "public", "process", "learning")


def policy_shares(weights: pd.DataFrame, indicators: pd.DataFrame) -> pd.DataFrame:
    """Per station type: shares (0..1) of total weight that are temporary, subjective, public
    perspective, and in each quadrant. One row per station type, sorted."""
    merged = weights.merge(indicators, on="indicator_id", how="left")
    total = merged.groupby("station_type")["weight"].sum()
    shares = pd.DataFrame(index=total.index)

    def share(mask: pd.Series) -> pd.Series:
        part = merged[mask.fillna(False).astype(bool)].groupby("station_type")["weight"].sum()
        return (part.reindex(total.index, fill_value=0.0) / total.where(total > 0)).fillna(0.0)

    shares["temporary"] = share(merged["temporary"])
    shares["subjective"] = share(merged["source"] == "subjective")
    shares["public"] = share(merged["perspective"] == "public")
    for quadrant in QUADRANTS:
        shares[quadrant] = share(merged["quadrant"] == quadrant)
    shares["total_weight"] = total
    return shares.reset_index().sort_values("station_type", ignore_index=True)


def temporary_share_problems(
    weights: pd.DataFrame,
    indicators: pd.DataFrame,
    max_share: float,
    file: str = "weights.csv",
    first_row: int = 2,
) -> list[Problem]:
    """An error per station type whose temporary share exceeds `max_share`, pointing at the
    largest temporary weight row of that type."""
    shares = policy_shares(weights, indicators).set_index("station_type")
    temporary = set(
        indicators.loc[indicators["temporary"].fillna(False).astype(bool), "indicator_id"]
    )
    problems = []
    for kind, share in shares["temporary"].items():
        if share <= max_share + 1e-12:
            continue
        rows = weights[(weights["station_type"] == kind) & weights["indicator_id"].isin(temporary)]
        row = int(rows["weight"].idxmax()) + first_row
        problems.append(
            Problem(
                file,
                row,
                "weight",
                f"station type {kind!r}: temporary indicators carry {share:.1%} of the weight; "
                f"at most {max_share:.0%} allowed (max_temporary_share)",
            )
        )
    return problems


def station_weights(
    weights: pd.DataFrame, stations: pd.DataFrame, flex: pd.DataFrame | None
) -> pd.DataFrame:
    """Weights per station: its type's weights, overridden by its own flexible weights.

    Returns `station_id, indicator_id, weight` for every station and weighted indicator.
    """
    base = stations[["station_id", "station_type"]].merge(weights, on="station_type")
    base = base[["station_id", "indicator_id", "weight"]]
    if flex is None or flex.empty:
        return base.reset_index(drop=True)
    own = flex[["station_id", "indicator_id", "weight"]]
    merged = base.merge(own, on=["station_id", "indicator_id"], how="outer", suffixes=("", "_f"))
    merged["weight"] = merged["weight_f"].fillna(merged["weight"])
    return merged[["station_id", "indicator_id", "weight"]].fillna({"weight": 0.0})


def flex_weight_problems(
    flex: pd.DataFrame,
    weights: pd.DataFrame,
    indicators: pd.DataFrame,
    stations: pd.DataFrame,
    max_share: float,
    file: str = "flex_weights.csv",
    first_row: int = 2,
) -> list[Problem]:
    """Errors for stations whose flexible weights move more than `max_share` of their total
    weight, or move weight onto indicators outside the pool (`pool = false`)."""
    if flex is None or flex.empty or stations is None:
        return []
    pool = (
        set(
            indicators.loc[
                indicators.get("pool", pd.Series(dtype=bool)).fillna(False).astype(bool),
                "indicator_id",
            ]
        )
        if "pool" in indicators.columns
        else set()
    )
    base = station_weights(weights, stations, None)
    problems = []
    for station, rows in flex.groupby("station_id", sort=True):
        own = base[base["station_id"] == station].set_index("indicator_id")["weight"]
        total = float(own.sum())
        moved = 0.0
        for index, row in rows.iterrows():
            before = float(own.get(row["indicator_id"], 0.0))
            gain = float(row["weight"]) - before
            if gain > 0:
                moved += gain
                if row["indicator_id"] not in pool:
                    problems.append(
                        Problem(
                            file,
                            int(index) + first_row,
                            "indicator_id",
                            f"station {station}: weight moved onto {row['indicator_id']!r}, "
                            "which is not in the indicator pool (pool = true)",
                        )
                    )
        if total > 0 and moved > max_share * total + 1e-9:
            problems.append(
                Problem(
                    file,
                    int(rows.index[0]) + first_row,
                    "weight",
                    f"station {station}: flexible weights move {moved / total:.1%} of its total "
                    f"weight; at most {max_share:.0%} allowed (max_flex_share)",
                )
            )
    return problems
