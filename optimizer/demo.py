"""The demo bureau: a seeded synthetic district written as a SPEC §2 data folder.

Twelve stations tile an approximate outline of Hongkou District, Shanghai (WGS84). Cases come from
persistent, emerging and fading hotspots per offence category over 24 months, with day / evening /
night patterns and telecom fraud that patrols cannot prevent. Indicator values follow the case
data; one course has a planted effect on public satisfaction so the training estimator can be
checked against a known truth. The folder doubles as the reference example of the input format.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS

from geo.crs import project, unproject
from geo.jurisdictions import station_of_points

NAMES_ZH = tomllib.loads(  # the demo bureau's own names, as it writes them in its data
    (files("optimizer") / "locales" / "demo-bureau.zh.toml").read_text("utf-8")
)
OFFENCE_ZH, INDICATOR_ZH, COURSE_ZH = (NAMES_ZH[k] for k in ("offences", "indicators", "courses"))
DEMO_SEED = 20240101
DEMO_MONTHS = pd.period_range("2024-01", "2025-12", freq="M")
METRIC = CRS.from_epsg(32651)  # UTM 51N, Shanghai

# Approximate outline of Hongkou District, Shanghai (lon, lat), about 28 km².
OUTLINE_LONLAT = [
    (121.4755, 31.2440), (121.4900, 31.2425), (121.5080, 31.2450), (121.5180, 31.2520),
    (121.5250, 31.2600), (121.5200, 31.2720), (121.5130, 31.2850), (121.5120, 31.2980),
    (121.5050, 31.3100), (121.4900, 31.3120), (121.4800, 31.3000), (121.4770, 31.2850),
    (121.4700, 31.2700), (121.4720, 31.2550),
]  # fmt: skip

STATION_NAMES = list(
    zip(
        NAMES_ZH["stations"],
        [
            "regional",
            "regional",
            "regional",
            "regional",
            "regional",
            "regional",
            "public_security",
            "regional",
            "public_security",
            "regional",
            "public_security",
            "regional",
        ],
        strict=True,
    )
)

# offence, category, harm, patrol_sensitive, preventable, major, name_zh, cases/month,
# shift shares (day, evening, night), solve probability
OFFENCES = [
    ("pickpocketing", "theft", 1.0, True, True, False, OFFENCE_ZH["pickpocketing"], 520, (0.60,
     0.35, 0.05), 0.20),
    ("ebike_theft", "theft", 1.0, True, True, False, OFFENCE_ZH["ebike_theft"], 380, (0.30, 0.30,
     0.40), 0.25),
    ("burglary", "burglary", 3.0, True, True, False, OFFENCE_ZH["burglary"], 230, (0.45, 0.20,
     0.35), 0.35),
    ("robbery", "robbery", 8.0, True, True, True, OFFENCE_ZH["robbery"], 40, (0.15, 0.35, 0.50),
     0.80),
    ("assault", "violence", 6.0, True, True, True, OFFENCE_ZH["assault"], 120, (0.15, 0.45, 0.40),
     0.90),
    ("brawling", "public_order", 2.0, True, True, False, OFFENCE_ZH["brawling"], 170, (0.10, 0.50,
     0.40), 0.95),
    ("telecom_fraud", "fraud", 3.0, False, False, False, OFFENCE_ZH["telecom_fraud"], 800,
     (0.55, 0.35, 0.10), 0.10),
]  # fmt: skip

CATEGORY_ZH = NAMES_ZH["categories"]
TYPE_ZH = NAMES_ZH["station_types"]

INDICATORS = [
    # id, name, name_zh, quadrant, perspective, direction, source, temporary, target, method,
    # redline, pool, case_metric
    ("P01", "Burglaries reported", INDICATOR_ZH["P01"], "prevention", "strategy", "lower", "auto",
     False, None, "peer_minmax", False, False, "count:burglary"),
    ("P02", "Thefts reported", INDICATOR_ZH["P02"], "prevention", "strategy", "lower", "auto",
     False, None, "peer_minmax", False, False, "count:theft"),
    ("P03", "Patrol visibility rate (%)", INDICATOR_ZH["P03"], "prevention", "process", "higher",
     "manual", False, 95, "target", False, False, "patrol_coverage"),
    ("P04", "Telecom fraud dissuasion rate (%)", INDICATOR_ZH["P04"], "prevention",
     "process", "higher", "auto", True, 90, "target", False, False, ""),
    ("M01", "Robbery clearance rate (%)", INDICATOR_ZH["M01"], "major_case", "strategy", "higher",
     "auto", False, 90, "target", False, False, "solved_rate:robbery"),
    ("M02", "Violent crime clearance rate (%)", INDICATOR_ZH["M02"], "major_case", "strategy",
     "higher", "auto", False, 95, "target", False, False, "solved_rate:violence"),
    ("M03", "Theft clearance rate (%)", INDICATOR_ZH["M03"], "major_case", "strategy", "higher",
     "auto", False, 30, "target", False, False, "solved_rate:theft"),
    ("M04", "Fugitives arrested", INDICATOR_ZH["M04"], "major_case", "process", "higher", "manual",
     False, None, "peer_percentile", False, False, ""),
    ("S01", "Mean response time (min)", INDICATOR_ZH["S01"], "service", "process", "lower",
     "auto", False, 10, "target", False, False, "mean_response"),
    ("S02", "Public satisfaction", INDICATOR_ZH["S02"], "service", "public", "higher", "subjective",
     False, 95, "target", False, False, ""),
    ("S03", "Community visit coverage (%)", INDICATOR_ZH["S03"], "service", "public", "higher",
     "manual", False, 100, "target", False, True, ""),
    ("C01", "Major enforcement errors", INDICATOR_ZH["C01"], "compliance", "process", "lower",
     "manual", False, None, "peer_minmax", True, False, ""),
    ("C02", "Enforcement quality rating", INDICATOR_ZH["C02"], "compliance", "process", "higher",
     "manual", False, 95, "target", False, True, ""),
    ("L01", "Training completion (%)", INDICATOR_ZH["L01"], "compliance", "learning", "higher",
     "manual", False, 100, "target", False, True, ""),
]  # fmt: skip

# the department reporting each indicator (SPEC §17): the command centre's call and case
# records, the criminal investigation department, patrol, legal affairs, the political
# department's training records
OWNERS = {
    "P01": "command", "P02": "command", "P04": "command", "S01": "command", "S02": "command",
    "M01": "investigation", "M02": "investigation", "M03": "investigation", "M04": "investigation",
    "P03": "patrol", "S03": "patrol", "C01": "legal", "C02": "legal", "L01": "political",
}  # fmt: skip
SURVEYED = {"S02"}  # valued from the public's answers when there are enough

WEIGHTS = {
    "regional": {"P01": 10, "P02": 10, "P03": 5, "P04": 5, "M01": 12, "M02": 12, "M03": 10,
                 "M04": 6, "S01": 8, "S02": 7, "S03": 5, "C01": 4, "C02": 4, "L01": 2},
    "public_security": {"P01": 8, "P02": 14, "P03": 8, "P04": 5, "M01": 12, "M02": 10,
                        "M03": 10, "M04": 3, "S01": 10, "S02": 6, "S03": 4, "C01": 4,
                        "C02": 4, "L01": 2},
}  # fmt: skip

COURSES = [
    ("K01", "Burglary prevention and scene work", COURSE_ZH["K01"], 16, 20, "P01;M03",
     "field"),
    ("K02", "Street patrol and visible policing", COURSE_ZH["K02"], 12, 24, "P02;P03", "field"),
    ("K03", "Telecom fraud dissuasion", COURSE_ZH["K03"], 8, 30, "P04", "online"),
    ("K04", "Property crime investigation", COURSE_ZH["K04"], 24, 16, "M01;M03", "classroom"),
    ("K05", "Community engagement and communication", COURSE_ZH["K05"], 8, 30, "S02;S03",
     "classroom"),
    ("K06", "Call handling and rapid response", COURSE_ZH["K06"], 8, 30, "S01", "online"),
    ("K07", "Law enforcement standards", COURSE_ZH["K07"], 16, 20, "C01;C02", "classroom"),
    ("K08", "Fugitive tracking", COURSE_ZH["K08"], 12, 16, "M04", "field"),
    ("K09", "Violent crime investigation", COURSE_ZH["K09"], 24, 12, "M02", "classroom"),
]  # fmt: skip

PLANTED_COURSE = "K05"
PLANTED_EFFECT = 4.0  # points of public satisfaction (S02) from the month after the course


@dataclass(frozen=True)
class Hotspot:
    """A Gaussian source of cases: centre (metres), spread (metres), share of its category,
    and how its intensity moves over the months."""

    x: float
    y: float
    sigma_m: float
    weight: float
    kind: str  # persistent | emerging | fading
    pivot: int  # month index where emerging starts / fading is half gone


def _outline() -> shapely.Polygon:
    lon, lat = zip(*OUTLINE_LONLAT, strict=True)
    x, y = project(lon, lat, METRIC)
    return shapely.Polygon(zip(x, y, strict=True))


def _random_inside(rng: np.random.Generator, area: shapely.Polygon, n: int) -> np.ndarray:
    minx, miny, maxx, maxy = area.bounds
    out = np.empty((0, 2))
    while len(out) < n:
        pts = rng.uniform([minx, miny], [maxx, maxy], size=(2 * n + 16, 2))
        out = np.vstack([out, pts[shapely.contains_xy(area, pts[:, 0], pts[:, 1])]])
    return out[:n]


def _jurisdictions(rng: np.random.Generator, area: shapely.Polygon) -> list[shapely.Geometry]:
    """Twelve compact jurisdictions: Lloyd-relaxed Voronoi cells clipped to the outline,
    ordered north to south."""
    seeds = _random_inside(rng, area, len(STATION_NAMES))
    samples = _random_inside(rng, area, 20000)
    for _ in range(8):
        d = ((samples[:, None, :] - seeds[None, :, :]) ** 2).sum(axis=2)
        nearest = d.argmin(axis=1)
        seeds = np.array([samples[nearest == k].mean(axis=0) for k in range(len(seeds))])
    cells = shapely.voronoi_polygons(shapely.MultiPoint(seeds), extend_to=area)
    polys = [shapely.intersection(c, area) for c in shapely.get_parts(cells)]
    return sorted(polys, key=lambda p: (-round(p.centroid.y, -2), p.centroid.x))


def _hotspots(rng: np.random.Generator, area: shapely.Polygon, n_months: int) -> dict:
    """Per category: persistent, emerging and fading hotspots; fraud follows residential areas."""
    plan = {}
    for category in sorted({o[1] for o in OFFENCES}):
        centres = _random_inside(rng, area, 6)
        kinds = ["persistent", "persistent", "emerging", "fading", "persistent", "emerging"]
        plan[category] = [
            Hotspot(
                x=float(cx),
                y=float(cy),
                sigma_m=float(rng.uniform(90, 260)),
                weight=float(rng.uniform(0.6, 1.4)),
                kind=kind,
                pivot=int(rng.integers(n_months // 3, 2 * n_months // 3)),
            )
            for (cx, cy), kind in zip(centres, kinds, strict=True)
        ]
    return plan


def _intensity(spot: Hotspot, month: int) -> float:
    if spot.kind == "emerging":
        return 0.0 if month < spot.pivot else min(1.8, 0.4 + 0.2 * (month - spot.pivot))
    if spot.kind == "fading":
        return 1.6 / (1.0 + math.exp((month - spot.pivot) / 2.0))
    return 1.0


def _cases(rng, area, stations: gpd.GeoDataFrame, spots: dict) -> pd.DataFrame:
    frames = []
    shift_starts = np.array([8, 16, 0])
    for m, period in enumerate(DEMO_MONTHS):
        season = 1.0 + 0.15 * math.sin(2 * math.pi * (period.month - 4) / 12)
        days = period.days_in_month
        for offence, category, *_rest, rate, shifts, solve_p in OFFENCES:
            n = rng.poisson(rate * season)
            sources = spots[category]
            strength = np.array([s.weight * _intensity(s, m) for s in sources])
            background = 0.35 * max(strength.sum(), 1.0) / 0.65
            shares = np.r_[strength, background] / (strength.sum() + background)
            counts = rng.multinomial(n, shares)
            pts = [_random_inside(rng, area, counts[-1])]
            for spot, k in zip(sources, counts[:-1], strict=False):
                if k == 0:
                    continue
                cand = rng.normal([spot.x, spot.y], spot.sigma_m, size=(3 * k + 8, 2))
                cand = cand[shapely.contains_xy(area, cand[:, 0], cand[:, 1])][:k]
                if len(cand) < k:
                    cand = np.vstack([cand, _random_inside(rng, area, k - len(cand))])
                pts.append(cand)
            xy = np.vstack(pts)
            n = len(xy)
            shift = rng.choice(3, size=n, p=shifts)
            minutes = (shift_starts[shift] * 60 + rng.integers(0, 8 * 60, size=n)).astype(int)
            day = rng.integers(1, days + 1, size=n)
            occurred = (
                pd.Timestamp(period.start_time)
                + pd.to_timedelta(day - 1, unit="D")
                + pd.to_timedelta(minutes, unit="m")
            )
            frames.append(
                pd.DataFrame(
                    {
                        "x": xy[:, 0],
                        "y": xy[:, 1],
                        "offence": offence,
                        "category": category,
                        "occurred": occurred,
                        "solve_p": solve_p,
                    }
                )
            )
    cases = pd.concat(frames, ignore_index=True).sort_values("occurred", ignore_index=True)
    station = station_of_points(stations, cases["x"], cases["y"])
    # points on a shared edge can miss every polygon by floating error: give them the nearest
    missing = pd.isna(station)
    if missing.any():
        tree = shapely.STRtree(stations.geometry.to_numpy())
        idx = tree.nearest(shapely.points(cases.loc[missing, ["x", "y"]].to_numpy()))
        station[missing] = stations["station_id"].to_numpy()[idx]
    cases["station_id"] = station
    skill = dict(zip(stations["station_id"], rng.uniform(0.85, 1.15, len(stations)), strict=True))
    speed = dict(zip(stations["station_id"], rng.uniform(7.0, 14.0, len(stations)), strict=True))
    n = len(cases)
    p_solve = np.clip(cases["solve_p"] * cases["station_id"].map(skill), 0, 0.99)
    cases["solved"] = rng.random(n) < p_solve
    cases["response_minutes"] = np.round(
        rng.lognormal(np.log(cases["station_id"].map(speed).to_numpy()), 0.35), 1
    )
    delay = rng.exponential(45, n) + np.where(cases["category"] == "fraud", 600, 5)
    cases["reported"] = cases["occurred"] + pd.to_timedelta(np.round(delay), unit="m")
    lon, lat = unproject(cases["x"], cases["y"], METRIC)
    cases["lon"], cases["lat"] = np.round(lon, 6), np.round(lat, 6)
    cases["case_id"] = [f"HK{t:%y%m}{i:07d}" for i, t in enumerate(cases["occurred"])]
    # data-quality realism: a few cases filed under the neighbouring station, a few duplicates
    wrong = rng.choice(n, size=n // 500, replace=False)
    ids = stations["station_id"].to_numpy()
    cases.loc[wrong, "station_id"] = rng.choice(ids, size=len(wrong))
    dup = cases.iloc[rng.choice(n, size=20, replace=False)].copy()
    dup["case_id"] = [f"{c}D" for c in dup["case_id"]]
    dup["occurred"] = dup["occurred"] + pd.to_timedelta(2, unit="m")
    cases = pd.concat([cases, dup], ignore_index=True).sort_values("occurred", ignore_index=True)
    return cases


def _training_log(rng, stations: pd.DataFrame) -> pd.DataFrame:
    """Staggered cohorts: each month from the 4th to the 18th, two stations attend a course."""
    rows = []
    ids = stations["station_id"].to_numpy()
    for m in range(3, 18):
        for station in rng.choice(ids, size=2, replace=False):
            course = PLANTED_COURSE if m % 3 == 0 else COURSES[rng.integers(len(COURSES))][0]
            rows.append((station, course, str(DEMO_MONTHS[m]), int(rng.integers(4, 12))))
    log = pd.DataFrame(rows, columns=["station_id", "course_id", "month", "attendees"])
    return log.drop_duplicates(["station_id", "course_id"], keep="first", ignore_index=True)


def _indicator_values(
    rng, cases: pd.DataFrame, stations: pd.DataFrame, log: pd.DataFrame
) -> pd.DataFrame:
    """Monthly values per station and indicator, following the case data."""
    cases = cases.assign(month=cases["occurred"].dt.strftime("%Y-%m"))
    by = cases.groupby(["station_id", "month"])
    preventable = cases[cases["category"] != "fraud"].groupby(["station_id", "month"]).size()
    mean_prev = preventable.groupby(level=0).mean()
    response = by["response_minutes"].mean()
    officers = stations.set_index("station_id")["officers"]
    trained = {
        s: pd.Period(m, "M")
        for s, m in log[log["course_id"] == PLANTED_COURSE][["station_id", "month"]].itertuples(
            index=False
        )
    }
    base = {s: rng.normal(0, 1, 6) for s in stations["station_id"]}
    veto_station = stations["station_id"].iloc[len(stations) // 2]
    rows = []
    for period in DEMO_MONTHS:
        month = str(period)
        for s in stations["station_id"]:
            key = (s, month)
            b = base[s]
            rise = preventable.get(key, 0) / max(mean_prev.get(s, 1), 1) - 1.0
            sat = 88 - 0.8 * (response.get(key, 10) - 10) - 6 * rise + 1.5 * b[0]
            if s in trained and period > trained[s]:
                sat += PLANTED_EFFECT
            values = {
                "P03": 92 - 25 * rise + 2 * b[1] + rng.normal(0, 1.5),
                "P04": 80 + 4 * b[2] + rng.normal(0, 3),
                "M04": rng.poisson(officers[s] / 12),
                "S02": sat + rng.normal(0, 0.8),
                "S03": 92 + 3 * b[3] + rng.normal(0, 2),
                "C01": int(s == veto_station and month == str(DEMO_MONTHS[-1])),
                "C02": 90 + 2.5 * b[4] + rng.normal(0, 1.5),
                "L01": 93 + 3 * b[5] + rng.normal(0, 2),
            }
            for ind in ("P03", "P04", "S02", "S03", "C02", "L01"):
                values[ind] = float(np.clip(values[ind], 0, 100))
            sub = cases[(cases["station_id"] == s) & (cases["month"] == month)]
            for ind, _name, _zh, *_r, metric in INDICATORS:
                if metric.startswith("count:"):
                    values[ind] = int((sub["category"] == metric[6:]).sum())
                elif metric.startswith("solved_rate:"):
                    part = sub[sub["category"] == metric[12:]]
                    values[ind] = 100.0 * part["solved"].mean() if len(part) else 100.0
                elif metric == "mean_response":
                    values[ind] = float(sub["response_minutes"].mean())
            for ind, value in values.items():
                day = (
                    int(rng.integers(18, 28))
                    if rng.random() > 0.02
                    else int(rng.integers(28, period.days_in_month + 1))
                )
                rows.append((s, month, ind, value, f"{month}-{day:02d}"))
    scores = pd.DataFrame(
        rows, columns=["station_id", "month", "indicator_id", "value", "reported_at"]
    )
    scores["source"] = "system"
    # a reported count massaged downwards, and a few reports that never arrived
    massaged = scores.index[(scores["indicator_id"] == "P02") & (scores["month"] == month)][:1]
    scores.loc[massaged, "value"] = np.floor(scores.loc[massaged, "value"] * 0.8)
    missing = rng.choice(len(scores), size=len(scores) // 400, replace=False)
    scores = scores.drop(index=scores.index[missing])
    scores["value"] = scores["value"].round(2)
    return scores.reset_index(drop=True)


def write_demo_bureau(folder: Path, seed: int = DEMO_SEED) -> Path:
    """Write the demo bureau's data folder (SPEC §2) to `folder` and return it.

    Deterministic for a seed; about 54,000 cases over 24 months.
    """
    rng = np.random.default_rng(seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    area = _outline()
    polys = _jurisdictions(rng, area)
    stations = gpd.GeoDataFrame(
        {
            "station_id": [f"S{i + 1:02d}" for i in range(len(polys))],
            "name": [n for n, _ in STATION_NAMES],
            "station_type": [t for _, t in STATION_NAMES],
            "officers": rng.integers(28, 64, len(polys)),
        },
        geometry=polys,
        crs=METRIC,
    )
    spots = _hotspots(rng, area, len(DEMO_MONTHS))
    cases = _cases(rng, area, stations, spots)
    log = _training_log(rng, stations)
    scores = _indicator_values(rng, cases, stations, log)

    out = stations.to_crs("EPSG:4326")
    out["geometry"] = shapely.set_precision(out.geometry.to_numpy(), 1e-7)
    out["type_zh"] = out["station_type"].map(TYPE_ZH)
    (folder / "stations.geojson").write_text(out.to_json(drop_id=True), encoding="utf-8")
    pd.DataFrame(
        {
            "case_id": cases["case_id"],
            "occurred_at": cases["occurred"].dt.strftime("%Y-%m-%dT%H:%M"),
            "offence": cases["offence"],
            "lat": cases["lat"],
            "lon": cases["lon"],
            "station_id": cases["station_id"],
            "reported_at": cases["reported"].dt.strftime("%Y-%m-%dT%H:%M"),
            "solved": np.where(cases["solved"], "true", "false"),
            "response_minutes": cases["response_minutes"],
        }
    ).to_csv(folder / "cases.csv", index=False)
    pd.DataFrame(
        [(o, c, h, ps, pv, mj, zh) for o, c, h, ps, pv, mj, zh, *_ in OFFENCES],
        columns=[
            "offence",
            "category",
            "harm_weight",
            "patrol_sensitive",
            "preventable",
            "major",
            "name_zh",
        ],
    ).assign(category_zh=lambda o: o["category"].map(CATEGORY_ZH)).to_csv(
        folder / "offences.csv", index=False
    )
    indicators = pd.DataFrame(
        INDICATORS,
        columns=[
            "indicator_id",
            "name",
            "name_zh",
            "quadrant",
            "perspective",
            "direction",
            "source",
            "temporary",
            "target",
            "method",
            "redline",
            "pool",
            "case_metric",
        ],
    )
    indicators["owner"] = indicators["indicator_id"].map(OWNERS)
    indicators["survey"] = indicators["indicator_id"].isin(SURVEYED)
    indicators.to_csv(folder / "indicators.csv", index=False)
    pd.DataFrame(
        [(i, t, w) for t, ws in WEIGHTS.items() for i, w in ws.items()],
        columns=["indicator_id", "station_type", "weight"],
    ).to_csv(folder / "weights.csv", index=False)
    scores.to_csv(folder / "scores.csv", index=False)
    pd.DataFrame(
        [(c, t, h, s, a, f, zh) for c, t, zh, h, s, a, f in COURSES],
        columns=["course_id", "title", "hours", "seats", "addresses", "format", "title_zh"],
    ).to_csv(folder / "courses.csv", index=False)
    log.to_csv(folder / "training_log.csv", index=False)
    (folder / "config.toml").write_text(
        "# Demo bureau: a synthetic district on an approximate outline of Hongkou, Shanghai.\n"
        '[scoring]\naward_places = 4\n\n[map]\ntiles = "openstreetmap"\n',
        encoding="utf-8",
    )
    return folder


def demo_month() -> str:
    """The month the demo assesses (its last month of data)."""
    return str(DEMO_MONTHS[-1])
