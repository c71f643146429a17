"""A device host process: registers its devices, heartbeats, claims runs, executes them.

Idle, it sleeps on LISTEN for the NOTIFY sent when runs are queued (polling is the fallback).
SIGTERM: it stops claiming, lets runs in flight finish for a grace period, hands back the rest,
deregisters its devices and exits. Killed outright, it simply stops heartbeating: the reaper
returns its runs to the queue once their leases expire.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Sequence

import asyncpg

from qualgent.config import Settings
from qualgent.db.pool import asyncpg_dsn, create_pool
from qualgent.drivers.base import Device
from qualgent.queue import CHANNEL, reaper
from qualgent.queue import runs as q
from qualgent.storage import BlobStore
from qualgent.worker.execute import Execution, execute

log = logging.getLogger(__name__)

_REGISTER_WORKER = "INSERT INTO workers (id, host, pid) VALUES ($1, $2, $3)"
_REGISTER_DEVICE = """
INSERT INTO devices (id, name, platform, os_version, form_factor, sms_enabled, available,
                     host, serial, last_seen_at, worker_id)
VALUES ($1, $2, $3, $4, $5, $6, true, $7, $8, now(), $9)
"""
_HEARTBEAT = """
WITH w AS (UPDATE workers SET heartbeat_at = now() WHERE id = $1 AND stopped_at IS NULL
           RETURNING id),
d AS (UPDATE devices SET last_seen_at = now() WHERE worker_id IN (SELECT id FROM w))
SELECT count(*) FROM w
"""
_DEREGISTER = """
WITH w AS (UPDATE workers SET stopped_at = now() WHERE id = $1 RETURNING id)
UPDATE devices SET available = false, current_run_id = NULL
WHERE worker_id IN (SELECT id FROM w)
"""


class DeviceHost:
    def __init__(self, settings: Settings, database_url: str, blobs: BlobStore,
                 devices: Sequence[Device], grace_seconds: float = 30.0) -> None:
        self.settings = settings
        self.url = database_url
        self.blobs = blobs
        self.id = uuid.uuid4()
        self.devices = {uuid.uuid4(): d for d in devices}
        self.grace = grace_seconds
        self.running: dict[uuid.UUID, Execution] = {}  # by device id
        self.wake = asyncio.Event()
        self.stopping = asyncio.Event()
        self.pool: asyncpg.Pool | None = None
        self._listener: asyncpg.Connection | None = None

    # -- lifecycle -------------------------------------------------------------------------
    async def run(self) -> None:
        self.pool = await create_pool(self.url, max(4, len(self.devices) * 2 + 2))
        try:
            await self._register()
            self._listener = await asyncpg.connect(asyncpg_dsn(self.url))
            await self._listener.add_listener(CHANNEL, lambda *_: self.wake.set())
            tasks = [asyncio.create_task(self._heartbeat_loop()),
                     asyncio.create_task(self._reaper_loop())]
            await self._claim_loop()
            await self._drain()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            if self._listener is not None:
                await self._listener.close()
            await self.pool.execute(_DEREGISTER, self.id)
            await self.pool.close()
            log.info("worker %s stopped", self.id)

    def request_stop(self) -> None:
        log.info("worker %s: stopping; no new runs will be claimed", self.id)
        self.stopping.set()
        self.wake.set()

    async def _register(self) -> None:
        assert self.pool is not None
        host = socket.gethostname()
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.execute(_REGISTER_WORKER, self.id, host, os.getpid())
            for device_id, device in self.devices.items():
                p = device.profile
                await conn.execute(_REGISTER_DEVICE, device_id, p.name, p.platform,
                                   p.os_version, p.form_factor, p.sms_enabled, host,
                                   p.serial or str(device_id), self.id)
        # Fresh statistics keep the claim's plan an index walk that stops at the first match
        # (without them the planner may sort every queued run on each claim).
        await self.pool.execute("ANALYZE devices")
        log.info("worker %s registered %d device(s)", self.id, len(self.devices))

    # -- claiming --------------------------------------------------------------------------
    async def _claim_loop(self) -> None:
        assert self.pool is not None
        while not self.stopping.is_set():
            self.wake.clear()
            while len(self.running) < len(self.devices) and not self.stopping.is_set():
                claimed = await q.claim(self.pool, self.id, self.settings.lease_seconds)
                if claimed is None:
                    break
                self._start(claimed)
            try:
                await asyncio.wait_for(self.wake.wait(), self.settings.poll_seconds)
            except TimeoutError:
                pass

    def _start(self, claimed: q.Claimed) -> None:
        assert self.pool is not None
        run = Execution(claimed)
        self.running[claimed.device_id] = run
        device = self.devices[claimed.device_id]
        log.info("run %s (attempt %d) on %s", claimed.run_id, claimed.attempt,
                 device.profile.name)

        async def go() -> None:
            try:
                await execute(self.pool, self.blobs, self.id, device, run,
                              self.settings.max_attempts)
            finally:
                self.running.pop(claimed.device_id, None)
                self.wake.set()

        run.task = asyncio.create_task(go())

    async def _drain(self) -> None:
        """Give runs in flight the grace period, then ask them to stop and hand back."""
        tasks = [r.task for r in self.running.values() if r.task]
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=self.grace)
        if pending:
            for run in self.running.values():
                run.stop = True
            await asyncio.wait(pending)

    # -- liveness --------------------------------------------------------------------------
    async def _heartbeat_loop(self) -> None:
        assert self.pool is not None
        interval = self.settings.lease_seconds / 3
        while True:
            await asyncio.sleep(interval)
            try:
                if not await self.pool.fetchval(_HEARTBEAT, self.id):
                    # The reaper declared us dead (we were silent too long): our runs went
                    # back to the queue. Stop; a supervisor restarts us as a new host.
                    log.error("worker %s was declared dead by the reaper; stopping", self.id)
                    for run in self.running.values():
                        run.lost = True
                    self.request_stop()
                    return
                for run in list(self.running.values()):
                    if not await q.renew(self.pool, run.claimed.run_id, self.id,
                                         self.settings.lease_seconds):
                        run.lost = True
            except (asyncpg.PostgresError, OSError) as exc:
                log.warning("heartbeat failed: %s", exc)

    async def _reaper_loop(self) -> None:
        assert self.pool is not None
        while True:
            await asyncio.sleep(self.settings.lease_seconds / 2)
            try:
                reaped = await reaper.reap(self.pool, self.settings.max_attempts,
                                           self.settings.lease_seconds * 2)
                if reaped["requeued"] or reaped["failed"]:
                    log.info("reaped: %s", reaped)
            except (asyncpg.PostgresError, OSError) as exc:
                log.warning("reaper failed: %s", exc)
