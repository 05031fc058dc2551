"""Revision 1: the store as the release before the assessment desk wrote it — the audit
chain's `audit_log` and the service's `access_log`. Over a store that release wrote, the tables
stand and keep every row; columns an even older release lacked are added empty, as its writers
did."""

from alembic import op

from optimizer.access_log import ACCESS_TABLE
from optimizer.audit import AUDIT_TABLE
from optimizer.store import add_missing_columns

revision = "1"
down_revision = None


def upgrade() -> None:
    conn = op.get_bind()
    for table in (AUDIT_TABLE, ACCESS_TABLE):
        table.create(conn, checkfirst=True)
        add_missing_columns(conn, table)
