"""The job-polling reads, in SQL on the raw asyncpg pool (see qualgent.db.pool for why)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import asyncpg

_SELECT = """
SELECT r.*, c.name AS case_name, a.app_name, a.version AS app_version
FROM test_runs r
JOIN test_cases c ON c.id = r.test_case_id
JOIN app_files a ON a.id = r.app_file_id
"""

_ONE = _SELECT + "WHERE r.id = $1 AND r.organization_id = $2"

# The list of runs (GET /v1/jobs/list and the Runs page, which filters and names the
# category): most recent first, strictly after the cursor position.
_PAGE = """
SELECT r.*, c.name AS case_name, a.app_name, a.version AS app_version, k.name AS category
FROM test_runs r
JOIN test_cases c ON c.id = r.test_case_id
JOIN app_files a ON a.id = r.app_file_id
LEFT JOIN categories k ON k.id = c.category_id
WHERE r.organization_id = $1
  AND ($2::timestamptz IS NULL OR (r.created_at, r.id) < ($2::timestamptz, $3::uuid))
  AND ($5::text IS NULL OR r.status = $5)
  AND (NOT $6::bool OR c.category_id IS NOT DISTINCT FROM $7::uuid)
ORDER BY r.created_at DESC, r.id DESC
LIMIT $4
"""


async def run_row(pg: asyncpg.Pool, org_id: uuid.UUID, run_id: uuid.UUID):  # noqa: ANN201
    return await pg.fetchrow(_ONE, run_id, org_id)


async def run_page(
    pg: asyncpg.Pool, org_id: uuid.UUID, after: tuple[datetime, uuid.UUID] | None, limit: int,
    *, status: str | None = None, by_category: bool = False,
    category_id: uuid.UUID | None = None,
) -> list[asyncpg.Record]:
    """Up to `limit` runs, most recent first, strictly after the cursor position; only those
    with `status`, and with `by_category` only those of `category_id` (None: no category)."""
    when, run_id = after if after else (None, None)
    return await pg.fetch(_PAGE, org_id, when, run_id, limit, status, by_category,
                          category_id)


_STEPS = """
SELECT attempt, index, description, status, actions, screenshot_key, reason, replay,
       started_at, finished_at, usage
FROM run_steps WHERE test_run_id = $1 AND ($2::int IS NULL OR attempt = $2)
ORDER BY attempt, index
"""

# The log and video chunks of the attempt shown: the one asked for, else the latest.
_ARTIFACTS = """
SELECT a.kind, a.seq, a.key
FROM run_artifacts a JOIN test_runs r ON r.id = a.test_run_id
WHERE a.test_run_id = $1 AND a.attempt = coalesce($2::int, r.attempts)
ORDER BY a.kind, a.seq
"""


@dataclass(frozen=True)
class StepRows:
    """The steps asked for (every attempt's when none is named), and the device log and video
    chunks of the attempt shown (the latest when none is named)."""

    steps: list[asyncpg.Record]
    artifacts: list[asyncpg.Record]


async def step_rows(pg: asyncpg.Pool, run_id: uuid.UUID, attempt: int | None) -> StepRows:
    async with pg.acquire() as conn:
        steps = await conn.fetch(_STEPS, run_id, attempt)
        artifacts = await conn.fetch(_ARTIFACTS, run_id, attempt)
    return StepRows(steps, artifacts)
