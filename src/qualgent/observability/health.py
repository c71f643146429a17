"""Readiness: what schema revision this release expects the database at."""

from __future__ import annotations

from functools import cache


@cache
def schema_heads() -> frozenset[str]:
    """The migrations' head revision(s), read from the scripts once per process."""
    from alembic.script import ScriptDirectory

    from qualgent.db.migrate import alembic_config

    return frozenset(ScriptDirectory.from_config(alembic_config()).get_heads())
