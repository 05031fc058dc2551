"""Build a synthetic province: a seeded data folder (SPEC §2, the demo's format) of any size.

    python scripts/make_province.py --out DIR [--stations 2000] [--cases 10000000]
                                    [--months 24] [--end 2025-12] [--station-km2 4] [--seed 7]
                                    [--format parquet|csv]

Jurisdictions are Voronoi tiles of a jittered lattice (about `--station-km2` km² each) on a
square near Nanjing (UTM 50N); cases gather around each station's centre and a few hotspots
per station, with the demo's offences, shift profiles and clearance rates; the case-derived
indicators follow the cases, the others vary around their targets; about 2 % of stations
attend a course each month. Big tables (cases, scores) are Parquet unless `--format csv`;
everything is generated with vectorised numpy (a 10 M-case province in about a minute).
The month to run is the last one: `patrolopt run --data DIR --month <end>`.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import shapely
from pyproj import CRS

from geo.crs import unproject
from geo.jurisdictions import station_of_points
from optimizer.demo import COURSES, INDICATORS, OFFENCES, WEIGHTS

METRIC = CRS.from_epsg(32650)  # UTM 50N
ORIGIN = (580_000.0, 3_500_000.0)  # south-west corner, metres (about 118.9°E, 31.6°N)
SHIFT_STARTS = np.array([8, 16, 0])  # the demo's shift order: day, evening, night (hours)
HOTSPOT_SHARE = 0.3  # of a station's cases, drawn around its hotspots
INDICATOR_COLUMNS = [
    "indicator_id", "name", "name_zh", "quadrant", "perspective", "direction", "source",
    "temporary", "target", "method", "redline", "pool", "case_metric",
]  # fmt: skip


def jurisdictions(rng: np.random.Generator, n: int, km2: float) -> tuple[np.ndarray, np.ndarray]:
    """`n` Voronoi tiles of a jittered lattice with `km2` km² per tile, clipped to their
    square, and their seed points (metres)."""
    spacing = np.sqrt(km2) * 1000.0
    side = int(np.ceil(np.sqrt(n)))
    ix, iy = np.arange(n) % side, np.arange(n) // side
    seeds = np.column_stack(
        [
            ORIGIN[0] + (ix + 0.5 + rng.uniform(-0.35, 0.35, n)) * spacing,
            ORIGIN[1] + (iy + 0.5 + rng.uniform(-0.35, 0.35, n)) * spacing,
        ]
    )
    square = shapely.box(
        ORIGIN[0], ORIGIN[1], ORIGIN[0] + side * spacing, ORIGIN[1] + (iy.max() + 1) * spacing
    )
    tiles = shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=square, ordered=True)
    tiles = shapely.intersection(shapely.get_parts(tiles), square)
    return shapely.set_precision(tiles, 0.01), seeds


def stations_frame(
    rng: np.random.Generator, n: int, km2: float
) -> tuple[gpd.GeoDataFrame, np.ndarray]:
    tiles, seeds = jurisdictions(rng, n, km2)
    stations = gpd.GeoDataFrame(
        {
            "station_id": [f"P{i:04d}" for i in range(n)],
            "name": [f"Station {i:04d}" for i in range(n)],
            "station_type": np.where(rng.random(n) < 0.3, "public_security", "regional"),
            "officers": rng.integers(25, 80, n),
        },
        geometry=tiles,
        crs=METRIC,
    )
    return stations, seeds


def case_table(
    rng: np.random.Generator,
    stations: gpd.GeoDataFrame,
    seeds: np.ndarray,
    n: int,
    months: pd.PeriodIndex,
    km2: float,
) -> tuple[pa.Table, pd.DataFrame]:
    """`n` cases as an Arrow table in `cases` columns, and per case the fields the indicators
    need (`station_id, month, category, solved, response_minutes`)."""
    spacing = np.sqrt(km2) * 1000.0
    counts = np.array([o[7] for o in OFFENCES], float)
    offence = rng.choice(len(OFFENCES), n, p=counts / counts.sum())
    # where: around a station's centre or one of its three hotspots; stations differ in volume
    volume = rng.lognormal(0.0, 0.5, len(seeds))
    home = rng.choice(len(seeds), n, p=volume / volume.sum())
    spots = seeds[:, None, :] + rng.normal(0, 0.25 * spacing, (len(seeds), 3, 2))
    at_spot = rng.random(n) < HOTSPOT_SHARE
    centre = np.where(at_spot[:, None], spots[home, rng.integers(0, 3, n)], seeds[home])
    spread = np.where(at_spot, 60.0, 0.3 * spacing)[:, None]
    xy = centre + rng.normal(0, 1, (n, 2)) * spread
    x0, y0, x1, y1 = stations.total_bounds
    x = np.clip(xy[:, 0], x0 + 1, x1 - 1)
    y = np.clip(xy[:, 1], y0 + 1, y1 - 1)
    del xy, centre
    # when: month uniform with a mild season, day in month, minute by the offence's shifts
    season = 1.0 + 0.15 * np.sin(2 * np.pi * (months.month.to_numpy() - 4) / 12)
    month = rng.choice(len(months), n, p=season / season.sum())
    start = months.start_time.to_numpy().astype("datetime64[m]")
    days = months.days_in_month.to_numpy()
    shares = np.array([o[8] for o in OFFENCES])
    shift = (rng.random(n)[:, None] > np.cumsum(shares, axis=1)[offence]).sum(axis=1)
    minute = SHIFT_STARTS[np.minimum(shift, 2)] * 60 + rng.integers(0, 8 * 60, n)
    day = (rng.random(n) * days[month]).astype(np.int64)
    occurred = start[month] + (day * 1440 + minute).astype("timedelta64[m]")
    station = station_of_points(stations, x, y)
    station_id = pd.array(station, dtype="string")
    solve_p = np.array([o[9] for o in OFFENCES])[offence]
    solved = rng.random(n) < solve_p
    response = np.round(rng.lognormal(np.log(10.0), 0.35, n), 1)
    delay = np.round(rng.exponential(45, n)).astype(np.int64) + 5
    reported = occurred + delay.astype("timedelta64[m]")
    lon, lat = unproject(x, y, METRIC)
    names = np.array([o[0] for o in OFFENCES])
    ids = pc.binary_join_element_wise(
        "C", pc.utf8_lpad(pc.cast(pa.array(np.arange(n)), pa.string()), 8, "0"), ""
    )
    table = pa.table(
        {
            "case_id": ids,
            "occurred_at": pa.array(np.datetime_as_string(occurred, unit="m")),
            "offence": pa.DictionaryArray.from_arrays(offence.astype(np.int32), names).cast(
                pa.string()
            ),
            "lat": np.round(lat, 6),
            "lon": np.round(lon, 6),
            "station_id": pa.array(station_id.to_numpy(na_value=None), pa.string()),
            "reported_at": pa.array(np.datetime_as_string(reported, unit="m")),
            "solved": solved,
            "response_minutes": response,
        }
    )
    categories, category = np.unique([o[1] for o in OFFENCES], return_inverse=True)
    derived = pd.DataFrame(
        {
            "station_id": station_id,
            "month": pd.Categorical.from_codes(month, [str(m) for m in months]),
            "category": pd.Categorical.from_codes(category[offence], categories),
            "solved": solved,
            "response_minutes": response,
        }
    )
    return table, derived


def indicator_values(
    rng: np.random.Generator,
    derived: pd.DataFrame,
    stations: pd.DataFrame,
    months: pd.PeriodIndex,
) -> pd.DataFrame:
    """`scores` rows: every station, month and indicator. Case-derived indicators
    (`case_metric`) are computed from the cases; the others vary around a station's own level
    (percentages clipped to 0–100). About 0.25 % of reports are missing, 2 % late."""
    ids = stations["station_id"].to_numpy()
    labels = [str(m) for m in months]
    index = pd.MultiIndex.from_product([ids, labels], names=["station_id", "month"])
    keys = [derived["station_id"], derived["month"]]
    frames = []
    for ind, *_rest, target, _method, redline, _pool, metric in INDICATORS:
        if metric.startswith("count:"):
            hit = derived["category"] == metric[6:]
            value = hit.groupby(keys, observed=False).sum().reindex(index, fill_value=0)
        elif metric.startswith("solved_rate:"):
            part = derived[derived["category"] == metric[12:]]
            rate = (
                100.0
                * part["solved"].groupby([part["station_id"], part["month"]], observed=False).mean()
            )
            value = rate.reindex(index).fillna(100.0)
        elif metric == "mean_response":
            value = derived["response_minutes"].groupby(keys, observed=False).mean()
            value = value.reindex(index).fillna(10.0)
        elif redline:
            value = pd.Series((rng.random(len(index)) < 0.002).astype(float), index=index)
        else:
            level = np.repeat(rng.normal(0, 1, len(ids)), len(labels))
            centre = float(target) - 5 if target is not None else 20.0
            raw = centre + 3 * level + rng.normal(0, 1.5, len(index))
            value = pd.Series(np.clip(raw, 0, 100), index=index)
        frames.append(value.rename("value").reset_index().assign(indicator_id=ind))
    scores = pd.concat(frames, ignore_index=True)
    scores["value"] = scores["value"].astype(float).round(2)
    late = rng.random(len(scores)) < 0.02
    day = np.where(late, 28, rng.integers(18, 28, len(scores)))
    scores["reported_at"] = scores["month"].astype(str) + "-" + pd.Series(day).map("{:02d}".format)
    scores["source"] = "system"
    keep = rng.random(len(scores)) >= 0.0025
    columns = ["station_id", "month", "indicator_id", "value", "reported_at", "source"]
    return scores.loc[keep, columns].reset_index(drop=True)


def training_log(rng: np.random.Generator, ids: np.ndarray, months: pd.PeriodIndex) -> pd.DataFrame:
    """About 2 % of stations attend a random course each month from the 4th to the 4th last;
    one row per station and course (its first month)."""
    picks = [
        (station, COURSES[int(rng.integers(len(COURSES)))][0], str(month), int(rng.integers(4, 12)))
        for month in months[3:-3]
        for station in rng.choice(ids, size=max(len(ids) // 50, 1), replace=False)
    ]
    log = pd.DataFrame(picks, columns=["station_id", "course_id", "month", "attendees"])
    return log.drop_duplicates(["station_id", "course_id"], ignore_index=True)


def write_province(
    folder: Path,
    stations: int,
    cases: int,
    months: int,
    end: str,
    km2: float,
    seed: int,
    big_format: str,
) -> dict:
    """Write the province's data folder; return what was written (counts, seconds)."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    periods = pd.period_range(end=end, periods=months, freq="M")
    frame, seeds = stations_frame(rng, stations, km2)
    table, derived = case_table(rng, frame, seeds, cases, periods, km2)
    scores = indicator_values(rng, derived, frame, periods)
    del derived
    log = training_log(rng, frame["station_id"].to_numpy(), periods)

    out = frame.to_crs("EPSG:4326")
    out["geometry"] = shapely.set_precision(out.geometry.to_numpy(), 1e-7)
    (folder / "stations.geojson").write_text(out.to_json(drop_id=True), encoding="utf-8")
    for stale in ("cases", "scores"):
        for suffix in (".csv", ".parquet"):
            (folder / f"{stale}{suffix}").unlink(missing_ok=True)
    if big_format == "parquet":
        pq.write_table(table, folder / "cases.parquet")
        scores.to_parquet(folder / "scores.parquet", index=False)
    else:
        table.to_pandas().to_csv(folder / "cases.csv", index=False)
        scores.to_csv(folder / "scores.csv", index=False)
    pd.DataFrame(
        [(o, c, h, ps, pv, mj, zh) for o, c, h, ps, pv, mj, zh, *_ in OFFENCES],
        columns=["offence", "category", "harm_weight", "patrol_sensitive", "preventable",
                 "major", "name_zh"],
    ).to_csv(folder / "offences.csv", index=False)  # fmt: skip
    pd.DataFrame(INDICATORS, columns=INDICATOR_COLUMNS).to_csv(
        folder / "indicators.csv", index=False
    )
    pd.DataFrame(
        [(i, t, w) for t, ws in WEIGHTS.items() for i, w in ws.items()],
        columns=["indicator_id", "station_type", "weight"],
    ).to_csv(folder / "weights.csv", index=False)
    pd.DataFrame(
        [(c, t, h, s * max(stations // 20, 1), a, f, zh) for c, t, zh, h, s, a, f in COURSES],
        columns=["course_id", "title", "hours", "seats", "addresses", "format", "title_zh"],
    ).to_csv(folder / "courses.csv", index=False)
    log.to_csv(folder / "training_log.csv", index=False)
    (folder / "config.toml").write_text(
        f"# Synthetic province: {stations} stations, {cases} cases over {months} months "
        f"(scripts/make_province.py, seed {seed}).\n"
        f"[scoring]\naward_places = {max(stations // 5, 1)}\n",
        encoding="utf-8",
    )
    return {
        "folder": str(folder),
        "stations": stations,
        "cases": table.num_rows,
        "scores": len(scores),
        "training_log": len(log),
        "months": [str(periods[0]), str(periods[-1])],
        "seconds": round(time.perf_counter() - t0, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--stations", type=int, default=2000)
    parser.add_argument("--cases", type=int, default=10_000_000)
    parser.add_argument("--months", type=int, default=24)
    parser.add_argument("--end", default="2025-12", help="last month (YYYY-MM), the one to run")
    parser.add_argument("--station-km2", type=float, default=4.0, help="area per jurisdiction")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--format", choices=["parquet", "csv"], default="parquet")
    args = parser.parse_args()
    written = write_province(
        args.out, args.stations, args.cases, args.months, args.end, args.station_km2, args.seed,
        args.format,
    )  # fmt: skip
    print(written)


if __name__ == "__main__":
    main()
