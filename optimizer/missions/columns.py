"""The columns of the mission outputs (SPEC §16), declared once for the writer, the manifest,
the store, the sheets and the execution check."""

SCHEDULE_COLUMNS = ["station_id", "date", "shift", "visit", "cell_id", "minutes"]  # SPEC §6
MISSION_COLUMNS = [
    "station_id",
    "date",
    "shift",
    "unit_id",
    "stop",
    "cell_id",
    "lat",
    "lon",
    "arrive",  # local YYYY-MM-DDTHH:MM
    "depart",
    "minutes",  # on scene
    "travel_min",  # the drive before this stop
    "officers",  # on the unit: minutes × officers is the stop's officer-time
]
ROUTE_COLUMNS = [
    "station_id",
    "date",
    "shift",
    "unit_id",
    "stops",
    "patrol_min",
    "travel_min",  # station → stops → station
]
SUMMARY_COLUMNS = [
    "station_id",
    "shift",
    "units",  # distinct units with a route in the month
    "lp_hours",  # officer-hours the LP gave the station's officers
    "mission_hours",  # officer-hours on scene in the missions
    "travel_hours",  # officer-hours of drive
    "unplaced_hours",  # LP officer-hours no route could carry
    "longest_route_min",  # the longest route of the month, station to station
]
DONE_COLUMNS = [
    "station_id",
    "date",
    "shift",
    "unit_id",
    "stop",
    "cell_id",
    "visited",
    "arrived_at",
    "minutes_on_scene",
]
