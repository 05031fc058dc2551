"""Turn the St. Louis (SLMPD) 2015–2019 incidents into a patrolopt data folder (SPEC §2).

    python scripts/prepare_stl.py [--source ../shared/data/stl-slmpd] --out DIR

Stations are the six derived patrol districts (one peer group, `regional`); cases keep SLMPD's
ids, local times and WGS84 points, with the FBI UCR class as `offence` and the original
description kept as an extra column. `offences.csv` maps every UCR class to a category, a harm
weight and three flags (see OFFENCE_MAP). Enforcement-driven classes (drugs, liquor, vagrancy,
DUI, disorderly conduct) are not patrol-sensitive: counting them as risk would send patrols
where patrols already were. Indicator values, weights, courses and officer numbers are
GENERATED from the case data for demonstration: SLMPD publishes no station assessment.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

# UCR class → (category, harm weight, patrol_sensitive, preventable, major)
OFFENCE_MAP: dict[str, tuple[str, float, bool, bool, bool]] = {
    "Criminal Homicide": ("violence", 10.0, True, True, True),
    "Rape": ("sexual", 8.0, False, False, True),
    "Robbery": ("robbery", 6.0, True, True, True),
    "Aggravated Assault": ("violence", 5.0, True, True, True),
    "Burglary": ("burglary", 3.0, True, True, False),
    "Larceny-theft": ("theft", 1.0, True, True, False),
    "Motor vehicle theft": ("vehicle_theft", 2.0, True, True, False),
    "Arson": ("arson", 4.0, True, True, True),
    "Other assaults": ("violence", 2.0, True, True, False),
    "Forgery and Counterfeiting": ("fraud", 1.0, False, False, False),
    "Fraud": ("fraud", 1.0, False, False, False),
    "Embezzlement": ("fraud", 1.0, False, False, False),
    "Stolen Property": ("property", 1.0, False, False, False),
    "Vandalism": ("vandalism", 1.0, True, True, False),
    "Weapons": ("weapons", 3.0, True, True, False),
    "Prostitution and Commercialized Vice": ("vice", 1.0, False, False, False),
    "Sex Offenses": ("sexual", 3.0, False, False, False),
    "Drug Abuse Violations": ("drugs", 1.0, False, False, False),
    "Gambling": ("vice", 0.5, False, False, False),
    "Offenses Against the Family and Children": ("family", 2.0, False, False, False),
    "DUI": ("traffic", 1.0, False, False, False),
    "Liquor Laws": ("public_order", 0.5, False, False, False),
    "Drunkenness": ("public_order", 0.5, False, False, False),
    "Disorderly Conduct": ("public_order", 0.5, False, False, False),
    "Vagrancy": ("public_order", 0.5, False, False, False),
    "Other": ("other", 0.5, False, False, False),
}
DEFAULT = ("other", 0.5, False, False, False)
# The bureau's Chinese names for its own codes (SPEC §2 `name_zh`, `category_zh`, `type_zh`,
# `title_zh`), so that `--lang zh` reads St. Louis in Chinese throughout.
OFFENCE_ZH = {
    "Criminal Homicide": "故意杀人",
    "Rape": "强奸",
    "Robbery": "抢劫",
    "Aggravated Assault": "严重伤害",
    "Burglary": "入室盗窃",
    "Larceny-theft": "盗窃",
    "Motor vehicle theft": "机动车盗窃",
    "Arson": "纵火",
    "Other assaults": "其他伤害",
    "Forgery and Counterfeiting": "伪造",
    "Fraud": "诈骗",
    "Embezzlement": "侵占",
    "Stolen Property": "赃物",
    "Vandalism": "故意毁坏财物",
    "Weapons": "涉枪涉械",
    "Prostitution and Commercialized Vice": "卖淫嫖娼",
    "Sex Offenses": "其他性犯罪",
    "Drug Abuse Violations": "涉毒",
    "Gambling": "赌博",
    "Offenses Against the Family and Children": "侵害家庭和儿童",
    "DUI": "酒后驾驶",
    "Liquor Laws": "违反酒类管理",
    "Drunkenness": "醉酒滋事",
    "Disorderly Conduct": "扰乱秩序",
    "Vagrancy": "流浪",
    "Other": "其他",
}
CATEGORY_ZH = {
    "violence": "暴力伤害",
    "sexual": "性犯罪",
    "robbery": "抢劫",
    "burglary": "入室盗窃",
    "theft": "盗窃",
    "vehicle_theft": "机动车盗窃",
    "arson": "纵火",
    "fraud": "诈骗",
    "property": "涉财物",
    "vandalism": "毁坏财物",
    "weapons": "涉枪涉械",
    "vice": "黄赌",
    "drugs": "涉毒",
    "family": "涉家庭",
    "traffic": "交通",
    "public_order": "扰乱治安",
    "other": "其他",
}
STATION_TYPE_ZH = {"regional": "地区派出所"}
INDICATOR_ZH = {
    "P01": "入室盗窃报案数",
    "P02": "盗窃报案数",
    "P03": "机动车盗窃报案数",
    "M01": "抢劫报案数",
    "M02": "暴力犯罪报案数",
    "S01": "毁坏财物报案数",
    "C01": "涉枪涉械报案数",
}
COURSE_ZH = {
    "K01": "入室盗窃防范",
    "K02": "热点巡逻战术",
    "K03": "抢劫与暴力干预",
    "K04": "社区问题解决",
    "K05": "枪支查缉",
}
INDICATORS = [
    ("P01", "Burglaries reported", "prevention", "strategy", "lower", "count:burglary"),
    ("P02", "Thefts reported", "prevention", "strategy", "lower", "count:theft"),
    ("P03", "Vehicle thefts reported", "prevention", "strategy", "lower", "count:vehicle_theft"),
    ("M01", "Robberies reported", "major_case", "strategy", "lower", "count:robbery"),
    ("M02", "Violent crimes reported", "major_case", "strategy", "lower", "count:violence"),
    ("S01", "Vandalism reported", "service", "public", "lower", "count:vandalism"),
    ("C01", "Weapons offences reported", "compliance", "process", "lower", "count:weapons"),
]
WEIGHTS = {"P01": 10, "P02": 10, "P03": 10, "M01": 20, "M02": 20, "S01": 20, "C01": 10}
COURSES = [
    ("K01", "Burglary prevention", 16, 10, "P01"),
    ("K02", "Hot spot patrol tactics", 12, 12, "P02;P03"),
    ("K03", "Robbery and violence intervention", 24, 8, "M01;M02"),
    ("K04", "Community problem solving", 8, 20, "S01"),
    ("K05", "Firearms interdiction", 12, 10, "C01"),
]
TOTAL_OFFICERS = 900  # assumed patrol strength shared by incident volume


def prepare(source: Path, out: Path) -> Path:
    """Write the St. Louis data folder to `out`; returns it."""
    out.mkdir(parents=True, exist_ok=True)
    raw = pd.read_csv(source / "incidents_2015_2019.csv.gz", dtype=str, keep_default_na=False)
    districts = gpd.read_file(source / "police_districts_derived.geojson")
    classes = sorted(raw["ucr_class_name"].unique())
    offences = pd.DataFrame(
        [(c, *OFFENCE_MAP.get(c, DEFAULT)) for c in classes],
        columns=["offence", "category", "harm_weight", "patrol_sensitive", "preventable", "major"],
    )
    offences["name_zh"] = offences["offence"].map(OFFENCE_ZH).fillna("")
    offences["category_zh"] = offences["category"].map(CATEGORY_ZH).fillna("")
    offences.to_csv(out / "offences.csv", index=False)
    station = np.where(raw["district"].isin(["", "0"]), "", "D" + raw["district"])
    cases = pd.DataFrame(
        {
            "case_id": raw["id"],
            "occurred_at": raw["occurred_at"],
            "offence": raw["ucr_class_name"],
            "lat": raw["lat"],
            "lon": raw["lon"],
            "station_id": station,
            "description": raw["offence"],
        }
    )
    cases.to_csv(out / "cases.csv", index=False)
    counts = pd.Series(station[station != ""]).value_counts()
    stations = gpd.GeoDataFrame(
        {
            "station_id": [f"D{d}" for d in districts["district"]],
            "name": [f"District {d}" for d in districts["district"]],
            "station_type": "regional",
        },
        geometry=districts.geometry.to_numpy(),
        crs=districts.crs,
    ).to_crs("EPSG:4326")
    share = stations["station_id"].map(counts).fillna(0) / max(counts.sum(), 1)
    stations["officers"] = np.maximum(20, np.round(share * TOTAL_OFFICERS)).astype(int)
    stations["type_zh"] = stations["station_type"].map(STATION_TYPE_ZH)
    (out / "stations.geojson").write_text(stations.to_json(drop_id=True), encoding="utf-8")

    months = raw["occurred_at"].str[:7]
    category = raw["ucr_class_name"].map(lambda c: OFFENCE_MAP.get(c, DEFAULT)[0])
    frame = pd.DataFrame({"station_id": station, "month": months, "category": category})
    frame = frame[frame["station_id"] != ""]
    rows = []
    for ind, _name, _q, _p, _d, metric in INDICATORS:
        part = frame[frame["category"] == metric.split(":")[1]]
        grid = pd.MultiIndex.from_product([sorted(stations["station_id"]), sorted(months.unique())])
        values = part.groupby(["station_id", "month"]).size().reindex(grid, fill_value=0)
        rows += [(s, m, ind, int(v)) for (s, m), v in values.items()]
    pd.DataFrame(rows, columns=["station_id", "month", "indicator_id", "value"]).to_csv(
        out / "scores.csv", index=False
    )
    pd.DataFrame(
        [
            {
                "indicator_id": i,
                "name": n,
                "quadrant": q,
                "perspective": p,
                "direction": d,
                "source": "auto",
                "temporary": False,
                "method": "peer_minmax",
                "case_metric": m,
                "name_zh": INDICATOR_ZH[i],
            }
            for i, n, q, p, d, m in INDICATORS
        ]
    ).to_csv(out / "indicators.csv", index=False)
    pd.DataFrame(
        [(i, "regional", w) for i, w in WEIGHTS.items()],
        columns=["indicator_id", "station_type", "weight"],
    ).to_csv(out / "weights.csv", index=False)
    courses = pd.DataFrame(COURSES, columns=["course_id", "title", "hours", "seats", "addresses"])
    courses["title_zh"] = courses["course_id"].map(COURSE_ZH)
    courses.to_csv(out / "courses.csv", index=False)
    (out / "config.toml").write_text(
        "# St. Louis (SLMPD) 2015-2019; indicators and officers are generated, see README.\n"
        'crs = "EPSG:32615"\ntimezone = "America/Chicago"\nmax_outside_share = 0.02\n\n'
        '[map]\ntiles = "none"\n',
        encoding="utf-8",
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--source",
        type=Path,
        default=Path(__file__).resolve().parents[1].parent / "shared" / "data" / "stl-slmpd",
    )
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    print(f"St. Louis data folder written to {prepare(args.source, args.out)}")


if __name__ == "__main__":
    main()
