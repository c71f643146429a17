"""Alembic environment: always handed a live connection by qualgent.db.migrate."""

from alembic import context

from qualgent.db.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
