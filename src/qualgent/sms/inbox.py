"""Texts received by provider numbers: stored by the webhook, read by the device the number
is assigned to, deleted after settings.sms_keep_hours.

Isolation between organizations rests on two bounds: a device reads only its own number's
texts, and only those received since its run began there (`since`, best taken from the
database's clock with `clock()`, the clock that stamps received_at) and since the number was
assigned to it. So a run never sees the code sent to an earlier run on the same device.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from qualgent.drivers.base import Sms

MAX_READ = 50
"""Most recent texts a read returns: a run waits for one code, not a history."""

# A MessageSid Twilio retries (or a signed request replayed) is stored once, so an old code
# cannot reappear inside a later run's window.
_STORE = """
INSERT INTO inbound_sms (to_number, from_number, body, message_sid)
SELECT $1, $2, $3, $4
WHERE $4::text IS NULL OR NOT EXISTS (
    SELECT 1 FROM inbound_sms WHERE to_number = $1 AND message_sid = $4)
RETURNING id
"""

_READ = """
SELECT s.from_number, s.body, s.received_at
FROM device_numbers n
JOIN inbound_sms s ON s.to_number = n.phone_number
WHERE n.serial = $1 AND s.received_at >= greatest($2::timestamptz, n.assigned_at)
ORDER BY s.received_at DESC, s.id DESC
LIMIT $3
"""

_PRUNE = """
DELETE FROM inbound_sms WHERE received_at < now() - make_interval(secs => $1)
"""

_CLOCK = "SELECT clock_timestamp()"


async def store(pool: asyncpg.Pool, to_number: str, from_number: str, body: str,
                message_sid: str | None) -> bool:
    """Keep one received text; False when its MessageSid was already stored."""
    return await pool.fetchval(_STORE, to_number, from_number, body, message_sid) is not None


async def read_messages(pool: asyncpg.Pool, serial: str, since: datetime) -> list[Sms]:
    """The texts the device's assigned number received at or after `since` (timezone-aware),
    oldest first; none when it has no number."""
    if since.tzinfo is None:
        raise ValueError("since must be timezone-aware (the run's start on the device)")
    rows = await pool.fetch(_READ, serial, since, MAX_READ)
    return [Sms(sender=r["from_number"], body=r["body"], received_at=r["received_at"].timestamp())
            for r in reversed(rows)]


async def clock(pool: asyncpg.Pool) -> datetime:
    """The database's time now: the `since` of a run, on the clock that stamps texts."""
    return await pool.fetchval(_CLOCK)


async def prune(pool: asyncpg.Pool, keep_hours: float) -> int:
    """Delete texts older than `keep_hours`; how many went."""
    status = await pool.execute(_PRUNE, keep_hours * 3600.0)
    return int(status.rsplit(" ", 1)[-1])
