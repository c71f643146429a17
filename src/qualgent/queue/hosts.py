"""The rows of a device host (`qualgent worker`): its worker row and its devices.

Registering is an upsert, so the same call brings a host back after the reaper declared it
dead (silent longer than twice the lease, as during a long database outage): same worker id,
same device ids, its devices back in the pool. The heartbeat lives with the leases it renews,
in `lifecycle.renew`.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping

import asyncpg

from qualgent.drivers.base import Device

_REGISTER_WORKER = """
INSERT INTO workers (id, host, pid) VALUES ($1, $2, $3)
ON CONFLICT (id) DO UPDATE SET stopped_at = NULL, heartbeat_at = now()
"""

# Devices the host took out of the pool (lost) stay out; the others are idle again: a
# rejoining host's runs in flight were returned to the queue when it was declared dead.
_REGISTER_DEVICES = """
INSERT INTO devices (id, name, platform, os_version, form_factor, sms_enabled, available,
                     host, serial, last_seen_at, worker_id)
SELECT u.id, u.name, u.platform, u.os_version, u.form_factor, u.sms,
       NOT (u.id = ANY ($8::uuid[])), $9, u.serial, now(), $10
FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bool[],
            $7::text[]) AS u(id, name, platform, os_version, form_factor, sms, serial)
ON CONFLICT (id) DO UPDATE
SET available = EXCLUDED.available, current_run_id = NULL, last_seen_at = now(),
    worker_id = EXCLUDED.worker_id
"""

_DEREGISTER = """
WITH w AS (UPDATE workers SET stopped_at = now() WHERE id = $1 RETURNING id)
UPDATE devices SET available = false, current_run_id = NULL
WHERE worker_id IN (SELECT id FROM w)
"""

# A device that stopped answering leaves the pool, so a retry goes to a healthy one.
_QUARANTINE = "UPDATE devices SET available = false WHERE id = $1"


async def register(pool: asyncpg.Pool, worker_id: uuid.UUID, host: str, pid: int,
                   devices: Mapping[uuid.UUID, Device],
                   quarantined: Collection[uuid.UUID] = ()) -> None:
    ids = list(devices)
    profiles = [devices[i].profile for i in ids]
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(_REGISTER_WORKER, worker_id, host, pid)
        await conn.execute(
            _REGISTER_DEVICES, ids, [p.name for p in profiles], [p.platform for p in profiles],
            [p.os_version for p in profiles], [p.form_factor for p in profiles],
            [p.sms_enabled for p in profiles],
            [p.serial or str(i) for p, i in zip(profiles, ids, strict=True)],
            list(quarantined), host, worker_id)
    # Fresh statistics keep the claim's plan an index walk that stops at the first match
    # (without them the planner may sort every queued run on each claim).
    await pool.execute("ANALYZE devices")


async def deregister(pool: asyncpg.Pool, worker_id: uuid.UUID) -> None:
    await pool.execute(_DEREGISTER, worker_id)


async def quarantine(pool: asyncpg.Pool, device_id: uuid.UUID) -> None:
    await pool.execute(_QUARANTINE, device_id)
