"""The reaper loop every long-running process runs (API replicas and device hosts), so runs
of a dead host return to the queue even while no worker is alive. Passes of concurrent
reapers agree: what `lifecycle.reap` changes it locks (SKIP LOCKED)."""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from qualgent import sms
from qualgent.accounts import sessions
from qualgent.config import Settings
from qualgent.db.pool import UNAVAILABLE
from qualgent.queue import lifecycle
from qualgent.runs import events as run_events
from qualgent.runs import idempotency

log = logging.getLogger(__name__)


async def reap_forever(pool: asyncpg.Pool, settings: Settings) -> None:
    """A pass every half lease. A host is dead after two leases without a heartbeat. While
    the database is unreachable, say so once and keep trying."""
    unreachable = False
    while True:
        await asyncio.sleep(settings.lease_seconds / 2)
        try:
            reaped = await lifecycle.reap(pool, settings.max_attempts,
                                          settings.lease_seconds * 2)
            await sms.prune(pool, settings.sms_keep_hours)  # codes are kept no longer
            await sessions.prune(pool)
            await run_events.prune(pool)  # resumes (Last-Event-ID) reach back 24 h
            await idempotency.prune(pool)  # keys past their 24 h are already ignored
        except UNAVAILABLE as exc:
            if not unreachable:
                log.warning("reaper: the database is unreachable (%s); retrying", exc)
            unreachable = True
            continue
        except Exception:  # noqa: BLE001 - a failed pass is retried on the next tick
            log.exception("reaper pass failed")
            continue
        if unreachable:
            log.info("reaper: the database answers again")
            unreachable = False
        if reaped.requeued or reaped.failed:
            log.info("reaped: %d run(s) back in the queue, %d failed", len(reaped.requeued),
                     len(reaped.failed))
