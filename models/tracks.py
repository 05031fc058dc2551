"""Delivered patrol dose from GPS / AVL pings (SPEC §13).

For each unit, consecutive pings a → b whose gap is at most `max_gap_s` and whose implied speed
is at most `max_speed_kmh` give (b − a) × officers officer-seconds to the cell and shift of ping
a; longer gaps and impossible jumps count nowhere and are counted for the quality report. Only
`status = patrol` at ping a is patrol dose (`responding` / `on_scene` is response time,
`off_duty` nothing). A visit is a continuous stay of a unit in one cell of at least
`min_visit_minutes`: consecutive counted patrol segments starting in the same cell, so its length
is the dose time of that stay, credited to the cell, shift and station of its first ping.

Everything runs on whole arrays (tens of millions of pings a month): no Python per ping, cell
ids built only for the groups that receive dose.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from geo.crs import project, to_wgs84
from geo.grid import cell_ids, cell_indices

NS_PER_S = 1_000_000_000
PATROL, RESPONSE, OFF_DUTY = 0, 1, 2
STATUS_CODES = {"": PATROL, "patrol": PATROL, "responding": RESPONSE, "on_scene": RESPONSE}
DOSE_COLUMNS = ["station_id", "cell_id", "shift", "delivered_hours", "visits"]
SUMMARY_COLUMNS = [
    "station_id",
    "units",
    "pings",
    "duplicates",
    "gaps",
    "gap_hours",
    "jumps",
    "response_hours",
    "off_duty_units",
    "officers_per_unit",
]


@dataclass(frozen=True)
class TrackRules:
    """The `[execution]` rules that read pings, and the grid and shifts they credit."""

    max_gap_s: float
    max_speed_kmh: float
    min_visit_minutes: float
    cell_size_m: float
    shift_hours: dict[str, tuple[int, int]]


@dataclass(frozen=True)
class Delivered:
    """A month of pings read: `dose` per station, cell and shift (`delivered_hours` in
    officer-hours of patrol, `visits`), and per station a `summary` of what counted nowhere
    (`duplicates` dropped, `gaps` and their `gap_hours` beyond the allowed gap, `jumps`),
    `response_hours` (officer-hours responding or on scene), `off_duty_units` (units whose
    pings in the month are all off duty, names joined by `;`) and `officers_per_unit`."""

    dose: pd.DataFrame
    summary: pd.DataFrame


def _codes(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes and their labels of a text column (categorical or not)."""
    cat = series if isinstance(series.dtype, pd.CategoricalDtype) else series.astype("category")
    codes = cat.cat.codes.to_numpy()
    return codes.astype(np.int32, copy=False), np.asarray(cat.cat.categories, dtype=object)


def shift_codes(times: np.ndarray, shift_hours: dict[str, tuple[int, int]]) -> np.ndarray:
    """Index into `shift_hours` of the shift holding each naive datetime64[ns]; −1 where no
    shift covers the hour."""
    table = np.full(24, -1, dtype=np.int8)
    for code, (start, end) in enumerate(shift_hours.values()):
        hours = np.arange(24)
        inside = (
            (hours >= start) & (hours < end) if start < end else (hours >= start) | (hours < end)
        )
        table[inside & (table == -1)] = code
    hour = (times.astype("datetime64[h]").astype(np.int64)) % 24
    return table[hour]


def _time_order(unit: np.ndarray, ns: np.ndarray) -> np.ndarray:
    """Order of pings by unit, then time (stable: file order among equal times). Exports are
    usually in time order already, so a radix sort on the unit code is tried first."""
    small = unit.max(initial=0) < np.iinfo(np.uint16).max
    order = np.argsort(unit.astype(np.uint16 if small else np.int64), kind="stable")
    t = ns[order]
    same = unit[order][1:] == unit[order][:-1]
    if np.any(same & (t[1:] < t[:-1])):
        order = np.lexsort((ns, unit))
    return order


def _exact_duplicates(tracks: pd.DataFrame, order: np.ndarray, unit, ns) -> np.ndarray:
    """Positions (in `order`) of pings identical in every column to an earlier one. Such pings
    share unit and time, so only rows tied on both are compared."""
    u, t = unit[order], ns[order]
    tied = np.zeros(len(order), dtype=bool)
    tie = (u[1:] == u[:-1]) & (t[1:] == t[:-1])
    tied[1:] |= tie
    tied[:-1] |= tie
    positions = np.flatnonzero(tied)
    if not len(positions):
        return positions
    candidates = tracks.iloc[order[positions]].reset_index(drop=True)
    candidates = candidates.astype({c: object for c in candidates.columns})
    return positions[candidates.duplicated(keep="first").to_numpy()]


def _dose_by_cell(
    station, shift, ix, iy, dose_s, visit_rows, station_names, shifts
) -> pd.DataFrame:
    """Officer-seconds and visits summed per station, shift and cell over patrol segments
    (`visit_rows` index the segments that start a visit), through one integer key per segment
    so that only the distinct groups become text."""
    if not len(ix):
        return pd.DataFrame(columns=DOSE_COLUMNS).astype({"delivered_hours": float, "visits": int})
    ix0, iy0 = int(ix.min()), int(iy.min())
    width, height = int(ix.max()) - ix0 + 1, int(iy.max()) - iy0 + 1
    key = station.astype(np.int64) * len(shifts) + shift
    key = (key * width + (ix - ix0)) * height + (iy - iy0)
    codes, groups = pd.factorize(key, sort=True)
    seconds = np.bincount(codes, weights=dose_s, minlength=len(groups))
    visits = np.bincount(codes[visit_rows], minlength=len(groups))
    groups = np.asarray(groups, dtype=np.int64)
    cell_y = groups % height + iy0
    rest = groups // height
    cell_x = rest % width + ix0
    rest //= width
    return pd.DataFrame(
        {
            "station_id": station_names[rest // len(shifts)].astype(str),
            "cell_id": cell_ids(cell_x, cell_y),
            "shift": np.asarray(shifts, dtype=object)[rest % len(shifts)],
            "delivered_hours": seconds / 3600.0,
            "visits": visits.astype(np.int64),
        }
    )


def measure_tracks(
    tracks: pd.DataFrame, month: str, crs, coordinates: str, rules: TrackRules
) -> Delivered:
    """Patrol dose and visits of `month` (YYYY-MM) from validated pings (`unit_id, station_id,
    recorded_at, lat, lon`, optional `status`, `officers`); points projected to the metric
    `crs` after converting from the bureau's `coordinates`. A pair a → b counts for the month
    of a (b may lie just after it)."""
    start = pd.Period(month, "M").start_time.to_datetime64().astype("datetime64[ns]")
    end = (pd.Period(month, "M") + 1).start_time.to_datetime64().astype("datetime64[ns]")
    times = tracks["recorded_at"].to_numpy().astype("datetime64[ns]", copy=False)
    tail = np.timedelta64(int(np.ceil(rules.max_gap_s * NS_PER_S)), "ns")
    keep = (times >= start) & (times < end + tail)
    if not keep.all():  # a whole month's file is kept as it is, not copied
        tracks = tracks[keep]
        times = times[keep]
    del keep
    unit, unit_names = _codes(tracks["unit_id"])
    ns = times.view(np.int64)
    order = _time_order(unit, ns)
    dropped = _exact_duplicates(tracks, order, unit, ns)
    dropped_rows = order[dropped]
    order = np.delete(order, dropped)
    station, station_names = _codes(tracks["station_id"])
    dup_station = np.bincount(
        station[dropped_rows[times[dropped_rows] < end]], minlength=len(station_names)
    )

    unit, station, ns = unit[order], station[order], ns[order]
    times = ns.view("datetime64[ns]")
    lon, lat = to_wgs84(
        tracks["lon"].to_numpy(dtype=float)[order],
        tracks["lat"].to_numpy(dtype=float)[order],
        coordinates,
    )
    x, y = project(lon, lat, crs)
    del lon, lat
    if "status" in tracks.columns:
        status_text, status_labels = _codes(tracks["status"])
        lookup = np.array([STATUS_CODES.get(s, OFF_DUTY) for s in status_labels], dtype=np.int8)
        status = lookup[status_text[order]] if len(lookup) else np.zeros(len(order), np.int8)
    else:
        status = np.zeros(len(order), dtype=np.int8)
    if "officers" in tracks.columns:
        officers = np.nan_to_num(tracks["officers"].to_numpy(dtype=float)[order], nan=1.0)
    else:
        officers = np.ones(len(order))
    in_month = (times >= start) & (times < end)
    del times, order

    same_unit = unit[1:] == unit[:-1]
    gap_s = (ns[1:] - ns[:-1]) / NS_PER_S
    dist_m = np.hypot(x[1:] - x[:-1], y[1:] - y[:-1])
    counted = in_month[:-1] & same_unit
    long_gap = counted & (gap_s > rules.max_gap_s)
    jump = counted & ~long_gap & (dist_m > rules.max_speed_kmh / 3.6 * gap_s)
    valid = counted & ~long_gap & ~jump
    del dist_m
    ix, iy = (v.astype(np.int32) for v in cell_indices(x[:-1], y[:-1], rules.cell_size_m))
    del x, y
    shift = shift_codes(ns[:-1].view("datetime64[ns]"), rules.shift_hours)
    seg_station, seg_status = station[:-1], status[:-1]
    patrol = valid & (seg_status == PATROL) & (shift >= 0)
    dose_s = np.where(patrol, gap_s * officers[:-1], 0.0)

    # visits: runs of patrol segments in one cell, continuing while the stay is unbroken
    cont = np.zeros(len(patrol), dtype=bool)
    cont[1:] = patrol[:-1] & patrol[1:] & (ix[1:] == ix[:-1]) & (iy[1:] == iy[:-1])
    cont[1:] &= seg_station[1:] == seg_station[:-1]
    starts = patrol & ~cont
    run = np.cumsum(starts) - 1
    length = np.bincount(run[patrol], weights=gap_s[patrol], minlength=int(starts.sum()))
    is_visit = length >= rules.min_visit_minutes * 60 - 1e-9

    dose_frame = _dose_by_cell(
        seg_station[patrol],
        shift[patrol],
        ix[patrol],
        iy[patrol],
        dose_s[patrol],
        np.flatnonzero(starts[patrol])[is_visit],
        station_names,
        list(rules.shift_hours),
    )

    n_st = len(station_names)
    month_ping = in_month
    response = valid & (seg_status == RESPONSE)
    ping_station = station[month_ping]
    units_by_station = pd.DataFrame({"station": ping_station, "unit": unit[month_ping]})
    units_by_station["patrolling"] = status[month_ping] != OFF_DUTY
    per_unit = units_by_station.groupby(["station", "unit"])["patrolling"].any().reset_index()
    off = per_unit[~per_unit["patrolling"]]
    off_names = off.groupby("station")["unit"].agg(
        lambda codes: ";".join(sorted(str(unit_names[c]) for c in codes))
    )
    mean_officers = pd.Series(officers[month_ping]).groupby(ping_station).mean()
    summary = pd.DataFrame(
        {
            "station_id": station_names.astype(str),
            "units": np.bincount(per_unit["station"], minlength=n_st),
            "pings": np.bincount(ping_station, minlength=n_st),
            "duplicates": dup_station,
            "gaps": np.bincount(seg_station[long_gap], minlength=n_st),
            "gap_hours": np.bincount(seg_station[long_gap], gap_s[long_gap], n_st) / 3600.0,
            "jumps": np.bincount(seg_station[jump], minlength=n_st),
            "response_hours": np.bincount(
                seg_station[response], (gap_s * officers[:-1])[response], n_st
            )
            / 3600.0,
            "off_duty_units": off_names.reindex(range(n_st), fill_value="").to_numpy(),
            "officers_per_unit": mean_officers.reindex(range(n_st)).to_numpy(),
        }
    )
    return Delivered(dose_frame, summary[summary["pings"] + summary["duplicates"] > 0])
