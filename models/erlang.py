"""Response reserve (SPEC §13): how many units a station must keep on call in a shift.

Calls arrive at λ per hour and keep a unit busy for a mean of 1/μ hours; with m units on call
(an M/M/m queue, offered load a = λ/μ Erlangs) the Erlang C formula gives the probability that
a call finds every unit busy,

    C(m, a) = B(m, a) / (1 − (a/m)(1 − B(m, a))),
    B(0, a) = 1,  B(k, a) = a·B(k−1, a) / (k + a·B(k−1, a))

(B is Erlang B, computed by its stable recursion), and the probability that it waits at least t
is C(m, a) · exp(−(m − a) · μ · t). The reserve is the fewest m with that probability at most
`max_wait_probability` for t = `response_wait_min`, held for the whole shift on every day of the
planned month by the officers a unit carries.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

RESERVE_COLUMNS = [
    "station_id",
    "shift",
    "calls",
    "calls_per_hour",
    "mean_busy_min",
    "load_erlangs",
    "units",
    "officers_per_unit",
    "reserve_hours",
]
WINDOW_MONTHS = 3  # months of calls the arrival rate is measured over


def erlang_c(units: int, load: float) -> float:
    """Probability that a call finds all `units` busy under `load` Erlangs (1 when the load
    reaches the units: the queue grows without bound)."""
    if load <= 0:
        return 0.0
    if units <= load:
        return 1.0
    blocked = 1.0
    for k in range(1, units + 1):
        blocked = load * blocked / (k + load * blocked)
    return units * blocked / (units - load * (1.0 - blocked))


def wait_probability(units: int, load: float, busy_min: float, wait_min: float) -> float:
    """Probability that a call waits at least `wait_min` minutes for one of `units` units,
    each call keeping a unit busy `busy_min` minutes on average."""
    if units <= load:
        return 1.0
    return erlang_c(units, load) * math.exp(-(units - load) * wait_min / busy_min)


def units_needed(load: float, busy_min: float, wait_min: float, max_probability: float) -> int:
    """Fewest units on call for which a call waits at least `wait_min` with probability at
    most `max_probability`; none without load."""
    if load <= 0:
        return 0
    units = math.floor(load) + 1
    while wait_probability(units, load, busy_min, wait_min) > max_probability:
        units += 1
    return units


def shift_length_h(start: int, end: int) -> int:
    """Hours of a shift from its start and end hour (a shift may wrap past midnight)."""
    return (end - start) % 24 or 24


def response_reserve(
    calls: pd.DataFrame,
    month: str,
    shift_hours: dict[str, tuple[int, int]],
    officers_per_unit: pd.Series,
    default_busy_min: float,
    wait_min: float,
    max_probability: float,
) -> pd.DataFrame:
    """Reserve per station and shift for the month after `month`, from the calls (`station_id,
    shift, received_at, busy_min`) of the last three months up to `month` — fewer where the
    records begin later. Busy time is dispatched → cleared, else `default_busy_min`; officers
    per unit from the station's tracks (`officers_per_unit` by station), else 1. Empty without
    calls in the window."""
    last = pd.Period(month, "M")
    received = calls["received_at"].dt.to_period("M")
    first = max(last - (WINDOW_MONTHS - 1), received.min()) if len(calls) else last
    window = calls[((received >= first) & (received <= last)).to_numpy()]
    window = window[window["station_id"] != ""]
    if window.empty:
        return pd.DataFrame(columns=RESERVE_COLUMNS)
    days = sum(p.days_in_month for p in pd.period_range(first, last, freq="M"))
    plan_days = (last + 1).days_in_month
    frame = window.assign(busy=window["busy_min"].fillna(default_busy_min))
    grouped = frame.groupby(["station_id", "shift"], as_index=False).agg(
        calls=("busy", "size"), mean_busy_min=("busy", "mean")
    )
    grouped = grouped[grouped["shift"].isin(list(shift_hours))]
    hours = grouped["shift"].map({k: shift_length_h(*v) for k, v in shift_hours.items()})
    grouped["calls_per_hour"] = grouped["calls"] / (hours * days)
    grouped["load_erlangs"] = grouped["calls_per_hour"] * grouped["mean_busy_min"] / 60.0
    grouped["units"] = [
        units_needed(load, busy, wait_min, max_probability)
        for load, busy in zip(grouped["load_erlangs"], grouped["mean_busy_min"], strict=True)
    ]
    officers = grouped["station_id"].map(officers_per_unit).astype(float)
    grouped["officers_per_unit"] = officers.fillna(1.0).to_numpy()
    grouped["reserve_hours"] = (
        grouped["units"] * hours * plan_days * grouped["officers_per_unit"]
    ).astype(float)
    rank = {name: i for i, name in enumerate(shift_hours)}
    grouped = grouped.assign(_shift=grouped["shift"].map(rank)).sort_values(
        ["station_id", "_shift"]
    )
    for column, digits in (("calls_per_hour", 6), ("mean_busy_min", 4), ("load_erlangs", 6)):
        grouped[column] = grouped[column].round(digits)
    grouped["reserve_hours"] = np.round(grouped["reserve_hours"], 4)
    return grouped[RESERVE_COLUMNS].reset_index(drop=True)
