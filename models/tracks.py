"""Delivered patrol dose from GPS / AVL pings (SPEC §13).

For each unit, consecutive pings a → b whose gap is at most `max_gap_s` and whose implied speed
is at most `max_speed_kmh` give (b − a) × officers officer-seconds to the cell and shift of ping
a; longer gaps and impossible jumps count nowhere and are counted for the quality report. Only
`status = patrol` at ping a is patrol dose (`responding` / `on_scene` is response time,
`off_duty` nothing). A visit is a continuous stay of a unit in one cell of at least
`min_visit_minutes`: consecutive counted patrol segments starting in the same cell, so its length
is the dose time of that stay, credited to the cell, shift and station of its first ping. Each
visit is also kept with its unit, arrival (the stay's first ping) and length, and the dose per
unit, so missions can be checked stop by stop (SPEC §16).

Everything runs on whole arrays (tens of millions of pings a month): no Python per ping, cell
ids built only for the groups that receive dose.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from geo.crs import project, to_wgs84
from geo.grid import Grid
from models.spread import IN_PROCESS, Spread

NS_PER_S = 1_000_000_000
PATROL, RESPONSE, OFF_DUTY = 0, 1, 2
STATUS_CODES = {"": PATROL, "patrol": PATROL, "responding": RESPONSE, "on_scene": RESPONSE}
DOSE_COLUMNS = ["station_id", "cell_id", "shift", "delivered_hours", "visits"]
UNIT_DOSE_COLUMNS = ["station_id", "unit_id", "cell_id", "shift", "delivered_hours"]
VISIT_COLUMNS = ["station_id", "unit_id", "cell_id", "shift", "arrived", "minutes"]
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
    pings in the month are all off duty, names joined by `;`) and `officers_per_unit`.
    `unit_dose` is the dose per unit (`UNIT_DOSE_COLUMNS`), `visits` every visit
    (`VISIT_COLUMNS`: `arrived` the naive local time of the stay's first ping, `minutes` its
    length)."""

    dose: pd.DataFrame
    summary: pd.DataFrame
    unit_dose: pd.DataFrame
    visits: pd.DataFrame


def _codes(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes and their labels of a text column (categorical or not)."""
    cat = series if isinstance(series.dtype, pd.CategoricalDtype) else series.astype("category")
    return cat.cat.codes.to_numpy(), np.asarray(cat.cat.categories, dtype=object)


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


def _time_order(unit: np.ndarray, ns: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Order of pings by unit, then time (stable: file order among equal times), with the
    unit codes and times in that order. Exports are usually in time order already, so a radix
    sort on the unit code is tried first."""
    small = unit.max(initial=0) < np.iinfo(np.uint16).max
    order = np.argsort(unit.astype(np.uint16 if small else np.int64), kind="stable")
    unit_sorted, ns_sorted = unit[order], ns[order]
    same = unit_sorted[1:] == unit_sorted[:-1]
    if np.any(same & (ns_sorted[1:] < ns_sorted[:-1])):
        order = np.lexsort((ns, unit))
        unit_sorted, ns_sorted = unit[order], ns[order]
    return order, unit_sorted, ns_sorted


def _exact_duplicates(
    tracks: pd.DataFrame, order: np.ndarray, unit_sorted: np.ndarray, ns_sorted: np.ndarray
) -> np.ndarray:
    """Positions (in `order`) of pings identical in every column to an earlier one. Such pings
    share unit and time, so only rows tied on both are compared."""
    tied = np.zeros(len(order), dtype=bool)
    tie = (unit_sorted[1:] == unit_sorted[:-1]) & (ns_sorted[1:] == ns_sorted[:-1])
    tied[1:] |= tie
    tied[:-1] |= tie
    positions = np.flatnonzero(tied)
    if not len(positions):
        return positions
    candidates = tracks.iloc[order[positions]].reset_index(drop=True)
    candidates = candidates.astype({c: object for c in candidates.columns})
    return positions[candidates.duplicated(keep="first").to_numpy()]


@dataclass(frozen=True)
class _Pings:
    """The columns of the month's pings as arrays by row (codes for text), read once."""

    unit: np.ndarray
    station: np.ndarray
    ns: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    status: np.ndarray
    officers: np.ndarray

    def take(self, rows: np.ndarray) -> _Pings:
        """The pings `rows`, in that order."""
        return _Pings(*(getattr(self, f.name)[rows] for f in fields(self)))


def _chunk_bounds(unit_sorted: np.ndarray, size: int) -> list[tuple[int, int]]:
    """Slices of about `size` sorted pings that never split a unit."""
    n = len(unit_sorted)
    starts = np.flatnonzero(np.r_[True, unit_sorted[1:] != unit_sorted[:-1]]) if n else []
    cuts = [0]
    for target in range(size, n, size):
        at = int(starts[min(np.searchsorted(starts, target), len(starts) - 1)])
        if at > cuts[-1]:
            cuts.append(at)
    return list(zip(cuts, [*cuts[1:], n], strict=True)) if n else []


def _groups(unit, station, shift, ix, iy, dose_s, visit_rows, n_shifts: int) -> pd.DataFrame:
    """Officer-seconds and visits per unit, station, shift and cell of patrol segments
    (`visit_rows` index those that start a visit), summed through one integer key per segment:
    the (unit, station) pairs numbered first, so the key stays far inside int64."""
    if not len(ix):
        none = np.empty(0, dtype=np.int64)
        columns = ("unit", "station", "shift", "ix", "iy")
        return pd.DataFrame({c: none for c in columns}).assign(dose_s=0.0 * none, visits=none)
    stations = int(station.max()) + 1
    pair, pairs = pd.factorize(unit.astype(np.int64) * stations + station)
    pairs = np.asarray(pairs, dtype=np.int64)
    ix0, iy0 = int(ix.min()), int(iy.min())
    width, height = int(ix.max()) - ix0 + 1, int(iy.max()) - iy0 + 1
    key = pair.astype(np.int64) * n_shifts + shift
    key = (key * width + (ix - ix0)) * height + (iy - iy0)
    codes, keys = pd.factorize(key)
    keys = np.asarray(keys, dtype=np.int64)
    rest = keys // height // width
    of_pair = pairs[rest // n_shifts]
    return pd.DataFrame(
        {
            "unit": of_pair // stations,
            "station": of_pair % stations,
            "shift": rest % n_shifts,
            "ix": keys // height % width + ix0,
            "iy": keys % height + iy0,
            "dose_s": np.bincount(codes, weights=dose_s, minlength=len(keys)),
            "visits": np.bincount(codes[visit_rows], minlength=len(keys)),
        }
    )


def _measure_chunk(
    pings: _Pings, start, end, crs, coordinates: str, rules: TrackRules
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Dose groups (`unit, station, shift, ix, iy, dose_s, visits`), per-station counts,
    per-unit flags and the visits (`unit, station, shift, ix, iy, arrived` in ns, `seconds`)
    of `pings` (whole units, each in time order)."""
    unit, station, ns = pings.unit, pings.station, pings.ns
    status, officers = pings.status, np.nan_to_num(pings.officers, nan=1.0)
    lon, lat = to_wgs84(pings.lon, pings.lat, coordinates)
    x, y = project(lon, lat, crs)
    del lon, lat
    in_month = (ns >= start) & (ns < end)

    same_unit = unit[1:] == unit[:-1]
    gap_s = (ns[1:] - ns[:-1]) / NS_PER_S
    dist_m = np.hypot(x[1:] - x[:-1], y[1:] - y[:-1])
    counted = in_month[:-1] & same_unit
    long_gap = counted & (gap_s > rules.max_gap_s)
    jump = counted & ~long_gap & (dist_m > rules.max_speed_kmh / 3.6 * gap_s)
    valid = counted & ~long_gap & ~jump
    del dist_m, same_unit, counted
    ix, iy = (v.astype(np.int32) for v in Grid(rules.cell_size_m, crs).indices(x[:-1], y[:-1]))
    del x, y
    shift = shift_codes(ns[:-1].view("datetime64[ns]"), rules.shift_hours)
    seg_station, seg_status = station[:-1], status[:-1]
    patrol = valid & (seg_status == PATROL) & (shift >= 0)
    response = valid & (seg_status == RESPONSE)

    # visits: runs of patrol segments in one cell, continuing while the stay is unbroken
    cont = np.zeros(len(patrol), dtype=bool)
    cont[1:] = patrol[:-1] & patrol[1:] & (ix[1:] == ix[:-1]) & (iy[1:] == iy[:-1])
    cont[1:] &= seg_station[1:] == seg_station[:-1]
    starts = patrol & ~cont
    del cont
    run = np.cumsum(starts[patrol]) - 1
    length = np.bincount(run, weights=gap_s[patrol], minlength=int(starts.sum()))
    is_visit = length >= rules.min_visit_minutes * 60 - 1e-9
    first = np.flatnonzero(starts)[is_visit]  # the segment (and ping) each visit starts with
    visits = pd.DataFrame(
        {
            "unit": unit[first],
            "station": seg_station[first],
            "shift": shift[first],
            "ix": ix[first],
            "iy": iy[first],
            "arrived": ns[first],
            "seconds": length[is_visit],
        }
    )
    groups = _groups(
        unit[:-1][patrol],
        seg_station[patrol],
        shift[patrol],
        ix[patrol],
        iy[patrol],
        (gap_s * officers[:-1])[patrol],
        np.flatnonzero(starts[patrol])[is_visit],
        len(rules.shift_hours),
    )

    counts = pd.DataFrame(
        {
            "pings": pd.Series(station[in_month]).value_counts(),
            "gaps": pd.Series(seg_station[long_gap]).value_counts(),
            "gap_s": pd.Series(gap_s[long_gap]).groupby(seg_station[long_gap]).sum(),
            "jumps": pd.Series(seg_station[jump]).value_counts(),
            "response_s": pd.Series((gap_s * officers[:-1])[response])
            .groupby(seg_station[response])
            .sum(),
            "officers_sum": pd.Series(officers[in_month]).groupby(station[in_month]).sum(),
        }
    ).fillna(0)
    units = (
        pd.DataFrame(
            {
                "station": station[in_month],
                "unit": unit[in_month],
                "patrolling": status[in_month] != OFF_DUTY,
            }
        )
        .groupby(["station", "unit"], as_index=False)["patrolling"]
        .any()
    )
    return groups, counts, units, visits


CHUNK_PINGS = 2_000_000  # pings measured at a time (whole units), bounding the memory used


def measure_tracks(
    tracks: pd.DataFrame,
    month: str,
    crs,
    coordinates: str,
    rules: TrackRules,
    spread: Spread = IN_PROCESS,
) -> Delivered:
    """Patrol dose and visits of `month` (YYYY-MM) from validated pings (`unit_id, station_id,
    recorded_at, lat, lon`, optional `status`, `officers`); points projected to the metric
    `crs` after converting from the bureau's `coordinates`. A pair a → b counts for the month
    of a (b may lie just after it). Units are measured a few million pings at a time, each
    batch of whole units a piece on `spread`."""
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
    station, station_names = _codes(tracks["station_id"])
    ns = times.view(np.int64)
    order, unit_sorted, ns_sorted = _time_order(unit, ns)
    dropped = _exact_duplicates(tracks, order, unit_sorted, ns_sorted)
    del ns_sorted
    dropped_rows = order[dropped]
    if len(dropped):
        order, unit_sorted = np.delete(order, dropped), np.delete(unit_sorted, dropped)
    dup_station = np.bincount(
        station[dropped_rows[times[dropped_rows] < end]], minlength=len(station_names)
    )
    if "status" in tracks.columns:
        status_text, status_labels = _codes(tracks["status"])
        lookup = np.array(
            [STATUS_CODES.get(s, OFF_DUTY) for s in status_labels] or [PATROL], dtype=np.int8
        )
        status = lookup[status_text]
    else:
        status = np.zeros(len(tracks), dtype=np.int8)
    officers = (
        tracks["officers"].to_numpy(dtype=float)  # empty cells (NaN) count as 1, per chunk
        if "officers" in tracks.columns
        else np.ones(len(tracks))
    )
    pings = _Pings(
        unit,
        station,
        ns,
        tracks["lon"].to_numpy(dtype=float),
        tracks["lat"].to_numpy(dtype=float),
        status,
        officers,
    )
    bounds = _chunk_bounds(unit_sorted, CHUNK_PINGS)
    del unit_sorted
    start_ns, end_ns = start.view(np.int64), end.view(np.int64)
    batches = (pings.take(order[a:b]) for a, b in bounds)  # made as they are measured
    parts = spread(
        _measure_chunk,
        batches,
        start=start_ns,
        end=end_ns,
        crs=crs,
        coordinates=coordinates,
        rules=rules,
    )
    del order, pings
    n_st = len(station_names)
    names = _Names(station_names, unit_names, np.asarray(list(rules.shift_hours), dtype=object))
    groups = pd.concat([p[0] for p in parts]) if parts else None
    visits = pd.concat([p[3] for p in parts]) if parts else None
    counts = (
        pd.concat([p[1] for p in parts]).groupby(level=0).sum()
        if parts
        else pd.DataFrame(columns=["pings", "gaps", "gap_s", "jumps", "response_s", "officers_sum"])
    ).reindex(range(n_st), fill_value=0)
    per_unit = (
        pd.concat([p[2] for p in parts])
        if parts
        else pd.DataFrame(columns=["station", "unit", "patrolling"])
    )
    off = per_unit[~per_unit["patrolling"].astype(bool)]
    off_names = off.groupby("station")["unit"].agg(
        lambda codes: ";".join(sorted(str(unit_names[c]) for c in codes))
    )
    pings_n = counts["pings"].to_numpy()
    summary = pd.DataFrame(
        {
            "station_id": station_names.astype(str),
            "units": np.bincount(per_unit["station"].astype(int), minlength=n_st),
            "pings": pings_n.astype(np.int64),
            "duplicates": dup_station,
            "gaps": counts["gaps"].to_numpy().astype(np.int64),
            "gap_hours": counts["gap_s"].to_numpy() / 3600.0,
            "jumps": counts["jumps"].to_numpy().astype(np.int64),
            "response_hours": counts["response_s"].to_numpy() / 3600.0,
            "off_duty_units": off_names.reindex(range(n_st), fill_value="").to_numpy(),
            "officers_per_unit": np.where(
                pings_n > 0, counts["officers_sum"].to_numpy() / np.maximum(pings_n, 1), np.nan
            ),
        }
    )
    return Delivered(
        dose=_dose_frame(groups, names),
        summary=summary[summary["pings"] + summary["duplicates"] > 0],
        unit_dose=_unit_dose_frame(groups, names),
        visits=_visit_frame(visits, names),
    )


@dataclass(frozen=True)
class _Names:
    """The text behind the codes of a month's pings: stations, units and shifts."""

    stations: np.ndarray
    units: np.ndarray
    shifts: np.ndarray

    def label(self, coded: pd.DataFrame) -> dict[str, np.ndarray]:
        """`station_id`, `unit_id`, `cell_id` and `shift` of the coded columns `coded` has."""
        out = {}
        if "station" in coded:
            out["station_id"] = self.stations[coded["station"].to_numpy()].astype(str)
        if "unit" in coded:
            out["unit_id"] = self.units[coded["unit"].to_numpy()].astype(str)
        out["cell_id"] = Grid.ids(coded["ix"].to_numpy(), coded["iy"].to_numpy())
        out["shift"] = self.shifts[coded["shift"].to_numpy()]
        return out


def _dose_frame(groups: pd.DataFrame | None, names: _Names) -> pd.DataFrame:
    """Dose groups of every chunk summed per station, cell and shift, cell ids as text."""
    if groups is None or groups.empty:
        return pd.DataFrame(columns=DOSE_COLUMNS).astype({"delivered_hours": float, "visits": int})
    keys = ["station", "shift", "ix", "iy"]
    dose = groups.groupby(keys, as_index=False, sort=True)[["dose_s", "visits"]].sum()
    return pd.DataFrame(
        {
            **names.label(dose),
            "delivered_hours": dose["dose_s"].to_numpy() / 3600.0,
            "visits": dose["visits"].to_numpy().astype(np.int64),
        }
    )[DOSE_COLUMNS]


def _unit_dose_frame(groups: pd.DataFrame | None, names: _Names) -> pd.DataFrame:
    """Dose groups of every chunk per station, unit, cell and shift, ids as text."""
    if groups is None or groups.empty:
        return pd.DataFrame(columns=UNIT_DOSE_COLUMNS).astype({"delivered_hours": float})
    keys = ["station", "unit", "shift", "ix", "iy"]
    dose = groups.groupby(keys, as_index=False, sort=True)["dose_s"].sum()
    return pd.DataFrame(
        {**names.label(dose), "delivered_hours": dose["dose_s"].to_numpy() / 3600.0}
    )[UNIT_DOSE_COLUMNS]


def _visit_frame(visits: pd.DataFrame | None, names: _Names) -> pd.DataFrame:
    """Every visit of the month by unit and arrival: ids as text, `arrived` a naive local
    datetime, `minutes` the stay's length."""
    if visits is None or visits.empty:
        empty = pd.DataFrame(columns=VISIT_COLUMNS)
        return empty.astype({"arrived": "datetime64[ns]", "minutes": float})
    visits = visits.sort_values(["unit", "arrived"], kind="stable", ignore_index=True)
    return pd.DataFrame(
        {
            **names.label(visits),
            "arrived": visits["arrived"].to_numpy().view("datetime64[ns]"),
            "minutes": visits["seconds"].to_numpy() / 60.0,
        }
    )[VISIT_COLUMNS]
