"""The job-polling reads, in SQL on the raw asyncpg pool (see qualgent.db.pool for why)."""

from __future__ import annotations

import uuid
from datetime import datetime

import asyncpg

_SELECT = """
SELECT r.*, c.name AS case_name, a.app_name, a.version AS app_version
FROM test_runs r
JOIN test_cases c ON c.id = r.test_case_id
JOIN app_files a ON a.id = r.app_file_id
"""

_ONE = _SELECT + "WHERE r.id = $1 AND r.organization_id = $2"

_PAGE = _SELECT + """
WHERE r.organization_id = $1
  AND ($2::timestamptz IS NULL OR (r.created_at, r.id) < ($2::timestamptz, $3::uuid))
ORDER BY r.created_at DESC, r.id DESC
LIMIT $4
"""


async def run_row(pg: asyncpg.Pool, org_id: uuid.UUID, run_id: uuid.UUID):  # noqa: ANN201
    return await pg.fetchrow(_ONE, run_id, org_id)


async def run_page(
    pg: asyncpg.Pool, org_id: uuid.UUID, after: tuple[datetime, uuid.UUID] | None, limit: int
) -> list[asyncpg.Record]:
    """Up to `limit` runs, most recent first, strictly after the cursor position."""
    when, run_id = after if after else (None, None)
    return await pg.fetch(_PAGE, org_id, when, run_id, limit)


_STEPS = """
SELECT attempt, index, description, status, actions, screenshot_key, reason, replay,
       started_at, finished_at
FROM run_steps WHERE test_run_id = $1 AND ($2::int IS NULL OR attempt = $2)
ORDER BY attempt, index
"""


async def step_rows(pg: asyncpg.Pool, run_id: uuid.UUID,
                    attempt: int | None) -> list[asyncpg.Record]:
    return await pg.fetch(_STEPS, run_id, attempt)
