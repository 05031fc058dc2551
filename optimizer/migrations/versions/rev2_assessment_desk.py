"""Revision 2: the assessment desk's tables (SPEC §17), as optimizer/assessment/tables.py
declares them; those already there are kept."""

from alembic import op

from optimizer.assessment.tables import ASSESSMENT

revision = "2"
down_revision = "1"


def upgrade() -> None:
    ASSESSMENT.create_all(op.get_bind(), checkfirst=True)
