"""SQL of the run lifecycle, on asyncpg (the worker's hot path)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from qualgent.queue import CHANNEL

# The oldest highest-priority queued run that one of this worker's idle devices can take.
# MATERIALIZED + LIMIT + SKIP LOCKED: the planner cannot update more rows than it locked; the
# device row is locked too, so two concurrent claims never book the same device.
_CLAIM = """
WITH candidate AS MATERIALIZED (
    SELECT r.id AS run_id, d.id AS device_id
    FROM test_runs r
    JOIN devices d
      ON d.worker_id = $1 AND d.available AND d.current_run_id IS NULL
     AND d.name = r.device_name AND d.platform = r.device_platform
     AND (r.device_os_version IS NULL OR d.os_version = r.device_os_version)
     AND (NOT r.use_sim OR d.sms_enabled)
    WHERE r.status = 'queued'
    ORDER BY r.priority_rank DESC, r.created_at, r.id
    LIMIT 1
    FOR UPDATE OF r, d SKIP LOCKED
), device AS (
    UPDATE devices d SET current_run_id = c.run_id
    FROM candidate c WHERE d.id = c.device_id
)
UPDATE test_runs r
SET status = 'running', worker_id = $1, device_id = c.device_id, progress = 0,
    lease_expires_at = now() + make_interval(secs => $2), attempts = r.attempts + 1,
    started_at = coalesce(r.started_at, now())
FROM candidate c
WHERE r.id = c.run_id
RETURNING r.id, r.organization_id, r.app_file_id, r.resolved_steps, r.attempts, r.mode,
          r.recording_run_id, r.cache_fallback, r.audit_source_run_id, c.device_id
"""

_RENEW = """
UPDATE test_runs SET lease_expires_at = now() + make_interval(secs => $3)
WHERE id = $1 AND worker_id = $2 AND status = 'running'
"""

_PROGRESS = """
UPDATE test_runs SET progress = $3
WHERE id = $1 AND worker_id = $2 AND status = 'running'
"""

_STEP = """
INSERT INTO run_steps (test_run_id, attempt, index, description, status, actions,
                       screenshot_key, reason, started_at, finished_at, replay)
SELECT $1, $3, $4, $5, $6, $7, $8, $9, to_timestamp($10), to_timestamp($11), $12
WHERE EXISTS (SELECT 1 FROM test_runs WHERE id = $1 AND worker_id = $2 AND status = 'running')
ON CONFLICT (test_run_id, attempt, index) DO UPDATE
SET status = EXCLUDED.status, actions = EXCLUDED.actions,
    screenshot_key = EXCLUDED.screenshot_key, reason = EXCLUDED.reason,
    finished_at = EXCLUDED.finished_at, replay = EXCLUDED.replay
"""

# One statement (one round trip): the outcome, the device freed, and for an infrastructure
# failure the refund with its ledger row, all only if the run is still ours.
_FINISH = """
WITH done AS (
    UPDATE test_runs
    SET status = $3, progress = 100, failure_category = $4, explanation = $5,
        finished_at = now(), lease_expires_at = NULL,
        replayed_steps = $6, healed_steps = $7, audit = $8
    WHERE id = $1 AND worker_id = $2 AND status = 'running'
    RETURNING id, organization_id, credits_charged
), freed AS (
    UPDATE devices SET current_run_id = NULL
    WHERE current_run_id = $1 AND EXISTS (SELECT 1 FROM done)
), refunded AS (
    UPDATE organizations o SET credits = o.credits + d.credits_charged
    FROM done d
    WHERE o.id = d.organization_id AND $3 = 'failed' AND $4 = 'infrastructure'
      AND d.credits_charged > 0
    RETURNING o.id, o.credits, d.credits_charged, d.id AS run_id
), ledger AS (
    INSERT INTO credit_ledger (organization_id, delta, balance_after, reason, test_run_id,
                               created_at)
    SELECT id, credits_charged, credits, 'refund_infrastructure', run_id, now() FROM refunded
)
SELECT count(*) FROM done
"""

# A run's trace as the worker recorded it: its last attempt's steps.
_TRACE = """
SELECT s.index, s.description, s.status, s.actions, s.reason
FROM run_steps s JOIN test_runs r ON r.id = s.test_run_id AND s.attempt = r.attempts
WHERE s.test_run_id = $1 ORDER BY s.index
"""

# Back to the queue; `count_attempt` false when the worker hands it back unfinished on shutdown.
_REQUEUE = """
UPDATE test_runs
SET status = 'queued', worker_id = NULL, device_id = NULL, lease_expires_at = NULL,
    progress = 0, attempts = CASE WHEN $3 THEN attempts ELSE attempts - 1 END
WHERE id = $1 AND worker_id = $2 AND status = 'running'
"""

_FREE_DEVICE = "UPDATE devices SET current_run_id = NULL WHERE current_run_id = $1"



@dataclass(frozen=True)
class Claimed:
    run_id: uuid.UUID
    organization_id: uuid.UUID
    app_file_id: uuid.UUID
    device_id: uuid.UUID
    steps: list[str]
    attempt: int
    mode: str
    recording_run_id: uuid.UUID | None = None
    cache_fallback: str | None = None
    audit_source_run_id: uuid.UUID | None = None


async def claim(pool: asyncpg.Pool, worker_id: uuid.UUID, lease_s: float) -> Claimed | None:
    row = await pool.fetchrow(_CLAIM, worker_id, float(lease_s))
    if row is None:
        return None
    return Claimed(
        run_id=row["id"], organization_id=row["organization_id"],
        app_file_id=row["app_file_id"], device_id=row["device_id"],
        steps=[s["description"] for s in row["resolved_steps"]], attempt=row["attempts"],
        mode=row["mode"], recording_run_id=row["recording_run_id"],
        cache_fallback=row["cache_fallback"], audit_source_run_id=row["audit_source_run_id"],
    )


async def trace(pool: asyncpg.Pool, run_id: uuid.UUID) -> list[dict]:
    return [dict(r) for r in await pool.fetch(_TRACE, run_id)]


async def renew(pool: asyncpg.Pool, run_id: uuid.UUID, worker_id: uuid.UUID,
                lease_s: float) -> bool:
    """False when the run is no longer ours (reaped, or finished elsewhere)."""
    return (await pool.execute(_RENEW, run_id, worker_id, float(lease_s))) == "UPDATE 1"


async def progress(pool: asyncpg.Pool, run_id: uuid.UUID, worker_id: uuid.UUID,
                   value: int) -> bool:
    return (await pool.execute(_PROGRESS, run_id, worker_id, value)) == "UPDATE 1"


async def record_step(pool: asyncpg.Pool, run_id: uuid.UUID, worker_id: uuid.UUID,
                      attempt: int, step: dict[str, Any]) -> bool:
    status = await pool.execute(
        _STEP, run_id, worker_id, attempt, step["index"], step["description"], step["status"],
        step["actions"], step.get("screenshot_key"), step.get("reason"),
        step["started_at"], step["finished_at"], step.get("replay"),
    )
    return status == "INSERT 0 1"


async def finish(pool: asyncpg.Pool, run_id: uuid.UUID, worker_id: uuid.UUID, status: str,
                 category: str | None, explanation: str | None, *,
                 replayed: int | None = None, healed: int | None = None,
                 audit: dict | None = None) -> bool:
    """Write the result if the run is still ours; refund infrastructure failures."""
    done = await pool.fetchval(_FINISH, run_id, worker_id, status, category, explanation,
                               replayed, healed, audit)
    return done == 1


async def requeue(pool: asyncpg.Pool, run_id: uuid.UUID, worker_id: uuid.UUID,
                  count_attempt: bool) -> bool:
    async with pool.acquire() as conn, conn.transaction():
        done = await conn.execute(_REQUEUE, run_id, worker_id, count_attempt) == "UPDATE 1"
        await conn.execute(_FREE_DEVICE, run_id)
        if done:
            await conn.execute(f"NOTIFY {CHANNEL}")
        return done

