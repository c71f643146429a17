"""Return runs whose lease expired to the queue, a bounded number of times, then fail them.

Stalls are detected by a missed heartbeat, never by run time: a device run may take an hour.
Any process may reap; the statements lock what they change, so concurrent reapers agree.
"""

from __future__ import annotations

import asyncpg

from qualgent.queue import CHANNEL
from qualgent.queue.ledger import refund

LOST_HOST = (
    "The device host stopped answering while this run was in progress, {attempts} time(s); "
    "the run was not retried further. Its credits were refunded."
)

_REQUEUE_EXPIRED = """
WITH expired AS (
    SELECT id FROM test_runs
    WHERE status = 'running' AND lease_expires_at < now() AND attempts < $1
    FOR UPDATE SKIP LOCKED
)
UPDATE test_runs r
SET status = 'queued', worker_id = NULL, device_id = NULL, lease_expires_at = NULL, progress = 0
FROM expired WHERE r.id = expired.id
RETURNING r.id
"""

_FAIL_EXPIRED = """
WITH expired AS (
    SELECT id FROM test_runs
    WHERE status = 'running' AND lease_expires_at < now() AND attempts >= $1
    FOR UPDATE SKIP LOCKED
)
UPDATE test_runs r
SET status = 'failed', progress = 100, failure_category = 'infrastructure',
    explanation = replace($2, '{attempts}', r.attempts::text), finished_at = now(),
    worker_id = NULL, lease_expires_at = NULL
FROM expired WHERE r.id = expired.id
RETURNING r.id, r.organization_id, r.credits_charged
"""


# Devices of workers whose heartbeat stopped are not in the pool; their busy marks are stale.
_DEAD_WORKERS = """
WITH dead AS (
    UPDATE workers SET stopped_at = now()
    WHERE stopped_at IS NULL AND heartbeat_at < now() - make_interval(secs => $1)
    RETURNING id
)
UPDATE devices SET available = false, current_run_id = NULL
WHERE worker_id IN (SELECT id FROM dead)
"""

_STALE_DEVICE_MARKS = """
UPDATE devices d SET current_run_id = NULL
WHERE current_run_id IS NOT NULL AND NOT EXISTS (
    SELECT 1 FROM test_runs r WHERE r.id = d.current_run_id AND r.status = 'running')
"""


async def reap(pool: asyncpg.Pool, max_attempts: int, worker_timeout_s: float) -> dict:
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(_DEAD_WORKERS, float(worker_timeout_s))
        requeued = await conn.fetch(_REQUEUE_EXPIRED, max_attempts)
        failed = await conn.fetch(_FAIL_EXPIRED, max_attempts, LOST_HOST)
        for row in failed:
            if row["credits_charged"]:
                await refund(conn, row["organization_id"], row["credits_charged"], row["id"])
        await conn.execute(_STALE_DEVICE_MARKS)
        if requeued:
            await conn.execute(f"NOTIFY {CHANNEL}")
    return {"requeued": [r["id"] for r in requeued], "failed": [r["id"] for r in failed]}
