"""The assessment desk's tables in the plan store (SPEC §17), declared once: the migrations
create them (optimizer/migrations), the desk's modules read and write them. Times are ISO 8601
text in UTC; months `YYYY-MM` (the month assessed, M); ids are random hex text."""

from __future__ import annotations

from sqlalchemy import Column, Float, Integer, LargeBinary, MetaData, Table, Text

ASSESSMENT = MetaData()

# one department's upload of a month's values; a later submission of the same station and
# indicator supersedes an earlier one, which is kept
SUBMISSIONS = Table(
    "assessment_submissions",
    ASSESSMENT,
    Column("id", Text, primary_key=True),
    Column("month", Text, nullable=False, index=True),
    Column("department", Text, nullable=False),
    Column("user", Text, nullable=False),
    Column("submitted_at", Text, nullable=False),
    Column("late", Integer, nullable=False),  # 1 when after the month's report deadline
    Column("source", Text, nullable=False),  # csv, xlsx or json
    Column("rows_sha256", Text, nullable=False),  # `store.rows_digest` of its values
    Column("returned_by", Text),  # the assessor who sent it back, with the comment and time
    Column("return_comment", Text),
    Column("returned_at", Text),
)

# the values of a submission, one per station and indicator
SUBMITTED_VALUES = Table(
    "assessment_values",
    ASSESSMENT,
    Column("submission_id", Text, nullable=False, index=True),
    Column("station_id", Text, nullable=False),
    Column("indicator_id", Text, nullable=False),
    Column("value", Float),  # empty: reported as not available
    Column("note", Text),  # the department's note; the reason where it overrides `prefilled`
    Column("prefilled", Float),  # the value computed from cases, tracks and calls, if any
)

# a month closed by the assessment office: its values written to scores.csv
CLOSED_MONTHS = Table(
    "assessment_closed_months",
    ASSESSMENT,
    Column("month", Text, primary_key=True),
    Column("closed_at", Text, nullable=False),
    Column("closed_by", Text, nullable=False),
    Column("reason", Text),  # why it closed with values missing
    Column("missing", Text),  # JSON list of the station/indicator pairs missing at close
)

# a station's appeal against one of its values of a closed month, and the office's decision
APPEALS = Table(
    "assessment_appeals",
    ASSESSMENT,
    Column("id", Text, primary_key=True),
    Column("month", Text, nullable=False, index=True),
    Column("station_id", Text, nullable=False),
    Column("indicator_id", Text, nullable=False),
    Column("reason", Text, nullable=False),
    Column("user", Text, nullable=False),
    Column("filed_at", Text, nullable=False),
    Column("attachment_name", Text),
    Column("attachment_type", Text),  # application/pdf, image/png, image/jpeg
    Column("attachment", LargeBinary),
    Column("state", Text, nullable=False),  # pending, upheld, rejected
    Column("value", Float),  # the corrected value of an upheld appeal
    Column("previous_value", Float),  # the value it corrected
    Column("decision_reason", Text),
    Column("decided_by", Text),
    Column("decided_at", Text),
)

# a station's application for flexible weights (SPEC §4) and the office's decision
FLEX_APPLICATIONS = Table(
    "assessment_flex",
    ASSESSMENT,
    Column("id", Text, primary_key=True),
    Column("station_id", Text, nullable=False),
    Column("user", Text, nullable=False),
    Column("filed_at", Text, nullable=False),
    Column("from_month", Text, nullable=False),  # the first month the weights apply to
    Column("rows", Text, nullable=False),  # JSON list of {indicator_id, weight}
    Column("state", Text, nullable=False),  # pending, approved, rejected
    Column("decision_reason", Text),
    Column("decided_by", Text),
    Column("decided_at", Text),
)

# the public's answers to a station's survey (one per device and month)
SURVEY_ANSWERS = Table(
    "survey_answers",
    ASSESSMENT,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("station_id", Text, nullable=False),
    Column("month", Text, nullable=False, index=True),
    Column("satisfaction", Integer, nullable=False),  # 1 (very dissatisfied) to 5
    Column("comment", Text),
    Column("device", Text, nullable=False),  # sha256 of the device's signed cookie id
    Column("address", Text, nullable=False),  # sha256 of the client address, salted
    Column("answered_at", Text, nullable=False),
)
