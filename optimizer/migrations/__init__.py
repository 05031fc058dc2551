"""The plan store's schema from one version to the next (SPEC §17): Alembic revisions in
`versions/`, run in code (no alembic.ini) on the connection of a store transaction, so an upgrade
holds the store's write lock and commits together with what the store was opened for.

Revision 1 is the store as the release before the assessment desk wrote it: the audit chain's
`audit_log` and the service's `access_log` (the tables of a run's rows are not revisions:
`store.store_rows` creates one per stored output of the manifest, as before). Revision 2 adds
the desk's tables (optimizer/assessment/tables.py). Every revision creates only what is
missing, so a store written before Alembic kept it (no `alembic_version` table) is recognised
as revision 1's and brought to the newest revision with every plan and audit entry kept. There
are no downgrades: the chain is append-only, and an earlier release reads an upgraded store as
its own (the tables it does not know, it leaves alone)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.util import CommandError
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from models.errors import StoreError
from optimizer import store

_SCRIPTS = Path(__file__).parent  # env.py and versions/, shipped in the package


def alembic_config(conn: Connection | None = None) -> Config:
    """Alembic's configuration of the store's revisions, built in code; `conn` is the store
    connection (in a transaction) that `env.py` runs them on."""
    config = Config()
    config.set_main_option("script_location", str(_SCRIPTS))
    config.attributes["connection"] = conn
    return config


def upgrade(conn: Connection) -> None:
    """In the caller's transaction, which holds the store's lock: the store brought to the
    newest revision — a new store created, an older one upgraded in place, one at the newest
    left as it is. Raises StoreError for a database that is no patrolopt store (tables of its
    own, or revisions of another application)."""
    url = conn.engine.url.render_as_string(hide_password=True)
    store.refuse_foreign(url, set(inspect(conn).get_table_names()))
    try:
        command.upgrade(alembic_config(conn), "head")
    except CommandError as exc:
        raise StoreError(
            f"{url}: its schema revision is unknown to this version of patrolopt: a newer "
            f"one wrote it, or another application ({exc})"
        ) from exc


def upgrade_store(url: str) -> None:
    """The store at `url` brought to the newest revision in a transaction of its own, taken
    under the store's write lock (waiting for a run that holds it): see `upgrade`."""
    with store.transaction(url) as conn:
        upgrade(conn)
