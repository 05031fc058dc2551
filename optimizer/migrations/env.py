"""Alembic's entry to the store's revisions: runs them on the connection `upgrade` hands over
(optimizer/migrations/__init__.py), inside that connection's transaction and store lock."""

from alembic import context

context.configure(connection=context.config.attributes["connection"])
with context.begin_transaction():
    context.run_migrations()
