"""The roles of `patrolopt serve` and what each may read (SPEC §14), written once: the users
file, `patrolopt users add --role` and every route take them from here."""

from __future__ import annotations

# department: a business department submitting its indicators; assessor: the assessment office
# (SPEC §17)
ROLES = ("planner", "trainer", "leader", "station", "admin", "department", "assessor")
ALL_ROLES = frozenset(ROLES)
MISSION_ROLES = {"planner", "leader", "station"}  # missions and their sheets (SPEC §16)
# the tables each role may read; `station` reads only its own station's rows of these
TABLE_ROLES = {
    "allocation": {"planner", "leader", "station"},
    "schedule": {"planner", "leader", "station"},
    "risk": {"planner", "leader"},
    "hotspots": {"planner", "leader"},
    "training": {"trainer", "leader", "station"},
    "scores": {"trainer", "leader", "station"},
    "duals": {"leader"},
    "adherence": {"leader"},
    "response": {"leader"},
    "evaluation": {"leader"},
    "staffing": {"leader"},  # officers per station recommended (SPEC §19)
    "missions": MISSION_ROLES,
    "routes": MISSION_ROLES,
    "missions_summary": MISSION_ROLES,
}
WORKBOOK_ROLES = {"trainer", "leader"}
MAP_ROLES = {"planner", "leader"}
LEADER_ROLES = {"leader"}  # report, comparison, scenario runs and their jobs
ADMIN_ROLES = {"admin"}  # users and audit
DEPARTMENT_ROLES = {"department"}  # submits its own indicators (SPEC §17)
ASSESSOR_ROLES = {"assessor"}  # reviews, returns, closes, rules on appeals and flexible weights
# reads the month's review, appeals and bulletin: the office, leadership and departments
REVIEW_ROLES = {"assessor", "leader", "department"}
