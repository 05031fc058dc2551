"""The tables of a bureau's data folder (SPEC §2, §13, §16), declared once: their columns,
keys, references between them and dated columns, whether the folder may lack one or it may hold
no rows, whether it is a layer of features (GeoJSON / GeoPackage). `models.contracts` loads
them, `models.columns` checks their cells and `models.checks` their rows and references, all
reading these declarations.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace

from models.columns import Column
from models.config import MODES
from models.policy import PERSPECTIVES, QUADRANTS


@dataclass(frozen=True)
class TableSpec:
    """One input table: its columns, the columns that identify a row (`key`), whether the
    folder may lack it (`optional`), whether it may hold no rows (`may_be_empty`), and what a
    row is called where another table refers to it (`noun`: "unknown station 'S09'"), and
    whether it is a `layer` of features whose geometry is read beside the properties."""

    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    optional: bool = False
    may_be_empty: bool = False
    noun: str = ""
    layer: bool = False


LATITUDE = {"minimum": -90, "maximum": 90}  # degrees
LONGITUDE = {"minimum": -180, "maximum": 180}
TABLES: dict[str, TableSpec] = {
    "stations": TableSpec(
        (
            Column("station_id", identifier=True),
            Column("name"),
            Column("station_type"),
            Column("officers", "integer", minimum=0),
            Column(
                "patrol_hours_per_officer", "number", required=False, allow_empty=True, minimum=0
            ),
            Column("type_zh", required=False, allow_empty=True),
            # the station house (SPEC §16), in the coordinates of the cases
            Column("station_lat", "number", required=False, allow_empty=True, **LATITUDE),
            Column("station_lon", "number", required=False, allow_empty=True, **LONGITUDE),
        ),
        key=("station_id",),
        noun="station",
        layer=True,
    ),
    "cases": TableSpec(
        (
            Column("case_id"),
            Column("occurred_at", "datetime", dated=True),
            Column("offence", refers_to="offences"),
            Column("lat", "number", **LATITUDE),
            Column("lon", "number", **LONGITUDE),
            Column("station_id", required=False, allow_empty=True, refers_to="stations"),
            Column("reported_at", "datetime", required=False, allow_empty=True, dated=True),
            Column("solved", "bool", required=False, allow_empty=True),
            Column("response_minutes", "number", required=False, allow_empty=True, minimum=0),
            Column("harm", "number", required=False, allow_empty=True, minimum=0),
        ),
        key=("case_id",),
    ),
    "offences": TableSpec(
        (
            Column("offence"),
            Column("category"),
            Column("harm_weight", "number", minimum=0),
            Column("patrol_sensitive", "bool"),
            Column("preventable", "bool"),
            Column("major", "bool"),
            Column("name_zh", required=False, allow_empty=True),
            Column("category_zh", required=False, allow_empty=True),
        ),
        key=("offence",),
        noun="offence",
    ),
    "indicators": TableSpec(
        (
            Column("indicator_id", identifier=True),
            Column("name"),
            Column("quadrant", choices=QUADRANTS),
            Column("perspective", choices=PERSPECTIVES),
            Column("direction", choices=("higher", "lower")),
            Column("source", choices=("auto", "manual", "subjective")),
            Column("temporary", "bool"),
            Column("target", "number", required=False, allow_empty=True, minimum=0),
            Column(
                "method",
                required=False,
                allow_empty=True,
                choices=("target", "peer_minmax", "peer_percentile"),
            ),
            Column("redline", "bool", required=False, allow_empty=True),
            Column("pool", "bool", required=False, allow_empty=True),
            Column("case_metric", required=False, allow_empty=True),
            Column("name_zh", required=False, allow_empty=True),
            # the department that reports it, and whether the public survey values it (SPEC §17)
            Column("owner", required=False, allow_empty=True),
            Column("survey", "bool", required=False, allow_empty=True),
        ),
        key=("indicator_id",),
        noun="indicator",
    ),
    "scores": TableSpec(
        (
            Column("station_id", refers_to="stations"),
            Column("month", "month", dated=True),
            Column("indicator_id", refers_to="indicators"),
            Column("value", "number", allow_empty=True),
            Column("reported_at", "datetime", required=False, allow_empty=True, dated=True),
            Column("source", required=False, allow_empty=True),
        ),
        key=("station_id", "month", "indicator_id"),
    ),
    "weights": TableSpec(
        (
            Column("indicator_id", refers_to="indicators"),
            Column("station_type"),
            Column("weight", "number", minimum=0),
        ),
        key=("indicator_id", "station_type"),
    ),
    "courses": TableSpec(
        (
            Column("course_id", identifier=True),
            Column("title"),
            Column("hours", "number", minimum=0),
            Column("seats", "integer", minimum=0),
            Column("addresses"),
            Column("format", required=False, allow_empty=True),
            Column("title_zh", required=False, allow_empty=True),
        ),
        key=("course_id",),
        noun="course",
    ),
    "training_log": TableSpec(
        (
            Column("station_id", refers_to="stations"),
            Column("course_id", refers_to="courses"),
            Column("month", "month", dated=True),
            Column("attendees", "integer", minimum=0),
        ),
        optional=True,
        may_be_empty=True,
    ),
    "flex_weights": TableSpec(
        (
            Column("station_id", refers_to="stations"),
            Column("indicator_id", refers_to="indicators"),
            Column("weight", "number", minimum=0),
            # the first month assessed with these weights (the desk's approvals: the month
            # after the decision); empty: every month
            Column("from_month", "month", required=False, allow_empty=True),
        ),
        key=("station_id", "indicator_id"),
        optional=True,
        may_be_empty=True,
    ),
    "patrol_tracks": TableSpec(  # GPS / AVL pings (SPEC §13)
        (
            Column("unit_id", identifier=True),
            Column("station_id", refers_to="stations"),
            Column("recorded_at", "datetime", dated=True),
            Column("lat", "number", **LATITUDE),
            Column("lon", "number", **LONGITUDE),
            Column(
                "status",
                required=False,
                allow_empty=True,
                choices=("patrol", "responding", "on_scene", "off_duty"),
            ),
            Column("officers", "integer", required=False, allow_empty=True, minimum=0),
        ),
        optional=True,
        may_be_empty=True,
    ),
    "calls": TableSpec(  # dispatch records (SPEC §13)
        (
            Column("call_id"),
            Column("received_at", "datetime", dated=True),
            Column("lat", "number", **LATITUDE),
            Column("lon", "number", **LONGITUDE),
            Column("station_id", required=False, allow_empty=True, refers_to="stations"),
            Column("priority", "integer", required=False, allow_empty=True, minimum=1),
            Column("dispatched_at", "datetime", required=False, allow_empty=True, dated=True),
            Column("arrived_at", "datetime", required=False, allow_empty=True, dated=True),
            Column("cleared_at", "datetime", required=False, allow_empty=True, dated=True),
            Column("category", required=False, allow_empty=True),
        ),
        key=("call_id",),
        optional=True,
        may_be_empty=True,
    ),
    "units": TableSpec(  # a station's patrol units (SPEC §16)
        (
            Column("unit_id", identifier=True),
            Column("station_id", refers_to="stations"),
            Column("shift"),  # one of the configured shifts (`with_shifts`)
            Column("officers", "integer", minimum=1),
            Column("mode", required=False, allow_empty=True, choices=MODES),  # empty: car
            Column("weekdays", "weekdays", required=False, allow_empty=True),  # empty: every day
        ),
        key=("unit_id", "shift"),
        optional=True,
    ),
    "roads": TableSpec(  # the road network (SPEC §16): LineString / MultiLineString features
        (
            # km/h; empty: the speed of the unit's mode
            Column("speed_kmh", "number", required=False, allow_empty=True, above=0),
            Column("oneway", "bool", required=False, allow_empty=True),  # empty: both ways
        ),
        optional=True,
        layer=True,
    ),
}
TYPED_TABLES = frozenset({"patrol_tracks", "calls"})  # large: read typed (models.typed_tables)
PREVIOUS_PLAN = TableSpec(
    (
        Column("cell_id"),
        Column("shift"),
        Column("hours", "number", minimum=0),
        Column("prev_hours", "number", required=False, minimum=0),
        Column("risk", "number", required=False, minimum=0),
    ),
    may_be_empty=True,
)
EXPERIMENT = TableSpec(  # `experiment.csv` beside a previous plan given as a file
    (
        Column("station_id"),
        Column("cell_id"),
        Column("pair"),
        Column("arm", choices=("high", "low")),
        Column("lp_hours", "number", required=False, minimum=0),
        Column("hours", "number", minimum=0),
    ),
    may_be_empty=True,
)
ALL_TABLES = frozenset(TABLES)


def with_shifts(columns: Sequence[Column], shifts: Collection[str]) -> list[Column]:
    """The columns, each `shift` column taking the configured shift names as its choices (a
    plan or a unit names a shift of `[allocation] shift_hours`)."""
    return [replace(c, choices=tuple(shifts)) if c.name == "shift" else c for c in columns]
