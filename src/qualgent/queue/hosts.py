"""The rows of a device host (`qualgent worker`): its worker row and its devices.

Registering is an upsert, so the same call brings a host back after the reaper declared it
dead (silent longer than twice the lease, as during a long database outage): same worker id,
same device ids, its devices back in the pool. Devices also join (`add`) and leave (`remove`)
while the host runs, as its sources list them. The heartbeat lives with the leases it renews,
in `lifecycle.renew`.

A device is SMS-capable when its driver says so or when an operator assigned it a provider
number (device_numbers, by serial): its codes then come from the SMS provider.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from qualgent.drivers.base import DeviceProfile

_REGISTER_WORKER = """
INSERT INTO workers (id, host, pid) VALUES ($1, $2, $3)
ON CONFLICT (id) DO UPDATE SET stopped_at = NULL, heartbeat_at = now()
"""

# Devices the host took out of the pool (lost) stay out; the others are idle again: a
# rejoining host's runs in flight were returned to the queue when it was declared dead. The
# profile is written afresh: a device that left and came back may have been updated.
_ADD_DEVICES = """
INSERT INTO devices (id, name, platform, os_version, form_factor, sms_enabled, available,
                     host, serial, last_seen_at, worker_id)
SELECT u.id, u.name, u.platform, u.os_version, u.form_factor,
       u.sms OR EXISTS (SELECT FROM device_numbers n WHERE n.serial = u.serial),
       NOT (u.id = ANY ($8::uuid[])), $9, u.serial, now(), $10
FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bool[],
            $7::text[]) AS u(id, name, platform, os_version, form_factor, sms, serial)
ON CONFLICT (id) DO UPDATE
SET name = EXCLUDED.name, platform = EXCLUDED.platform, os_version = EXCLUDED.os_version,
    form_factor = EXCLUDED.form_factor, sms_enabled = EXCLUDED.sms_enabled,
    available = EXCLUDED.available, current_run_id = NULL, last_seen_at = now(),
    serial = EXCLUDED.serial, worker_id = EXCLUDED.worker_id
"""

# A device that went away: out of the pool, its row kept (with its worker) so the profile
# stays known and the same id serves it when it comes back. A run still marked on it is freed
# by its finish or requeue.
_REMOVE_DEVICES = "UPDATE devices SET available = false WHERE id = ANY ($1::uuid[])"

# Provider numbers assigned or withdrawn while the host runs: the devices' SMS flag follows.
_REFRESH_SMS = """
UPDATE devices d
SET sms_enabled = u.sms OR EXISTS (SELECT FROM device_numbers n WHERE n.serial = d.serial)
FROM unnest($1::uuid[], $2::bool[]) AS u(id, sms)
WHERE d.id = u.id AND d.id = ANY ($1::uuid[])
  AND d.sms_enabled IS DISTINCT FROM
      (u.sms OR EXISTS (SELECT FROM device_numbers n WHERE n.serial = d.serial))
"""

_DEREGISTER = """
WITH w AS (UPDATE workers SET stopped_at = now() WHERE id = $1 RETURNING id)
UPDATE devices SET available = false, current_run_id = NULL
WHERE worker_id IN (SELECT id FROM w)
"""

# A device that stopped answering leaves the pool, so a retry goes to a healthy one.
_QUARANTINE = "UPDATE devices SET available = false WHERE id = $1"

# The device's provider number, if any, and the database's clock: messages for this run are
# those received (by the database's clock, as inbound_sms.received_at) from now on.
_NUMBER = """
SELECT clock_timestamp() AS now,
       (SELECT phone_number FROM device_numbers WHERE serial = $1) AS number
"""


@dataclass(frozen=True)
class HostDevice:
    """A device as its host registers it: the id it has in the pool, the serial its source
    knows it by (stable across reconnects), and its profile."""

    id: uuid.UUID
    serial: str
    profile: DeviceProfile


async def register(pool: asyncpg.Pool, worker_id: uuid.UUID, host: str, pid: int,
                   devices: Sequence[HostDevice],
                   quarantined: Collection[uuid.UUID] = ()) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(_REGISTER_WORKER, worker_id, host, pid)
        await _add(conn, worker_id, host, devices, quarantined)
    # Fresh statistics keep the claim's plan an index walk that stops at the first match
    # (without them the planner may sort every queued run on each claim).
    await pool.execute("ANALYZE devices")


async def add(pool: asyncpg.Pool, worker_id: uuid.UUID, host: str,
              devices: Sequence[HostDevice]) -> None:
    """Devices that appeared (or answer again) join the pool, available."""
    if devices:
        await _add(pool, worker_id, host, devices, ())


async def _add(conn: asyncpg.Pool | asyncpg.Connection, worker_id: uuid.UUID, host: str,
               devices: Sequence[HostDevice], quarantined: Collection[uuid.UUID]) -> None:
    profiles = [d.profile for d in devices]
    await conn.execute(
        _ADD_DEVICES, [d.id for d in devices], [p.name for p in profiles],
        [p.platform for p in profiles], [p.os_version for p in profiles],
        [p.form_factor for p in profiles], [p.sms_enabled for p in profiles],
        [d.serial for d in devices], list(quarantined), host, worker_id)


async def remove(pool: asyncpg.Pool, device_ids: Collection[uuid.UUID]) -> None:
    """Devices that went away leave the pool."""
    if device_ids:
        await pool.execute(_REMOVE_DEVICES, list(device_ids))


async def refresh_sms(pool: asyncpg.Pool, devices: Sequence[HostDevice]) -> None:
    """Bring the devices' SMS flag in line with the provider numbers assigned now."""
    if devices:
        await pool.execute(_REFRESH_SMS, [d.id for d in devices],
                           [d.profile.sms_enabled for d in devices])


async def deregister(pool: asyncpg.Pool, worker_id: uuid.UUID) -> None:
    await pool.execute(_DEREGISTER, worker_id)


async def quarantine(pool: asyncpg.Pool, device_id: uuid.UUID) -> None:
    await pool.execute(_QUARANTINE, device_id)


async def provider_number(pool: asyncpg.Pool, serial: str) -> tuple[str | None, datetime]:
    """The provider number assigned to the device now (None: none), and the database's time."""
    row = await pool.fetchrow(_NUMBER, serial)
    assert row is not None
    return row["number"], row["now"]
