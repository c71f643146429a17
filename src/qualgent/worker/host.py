"""A device host process: registers its devices, heartbeats, claims runs, executes them.

Idle, it sleeps on LISTEN for the NOTIFY sent when runs are queued (polling is the fallback).
With several idle devices it claims a run for each in one statement; runs that end together
are finished in one statement.

SIGTERM: it stops claiming, lets runs in flight finish for a grace period, hands back the rest,
deregisters its devices and exits. Killed outright, it simply stops heartbeating: the reaper
returns its runs to the queue once their leases expire.

Database outage: nothing exits. Claiming backs off (capped, with jitter) and resumes on a
fresh LISTEN connection once the database answers; runs in flight keep going and their writes
wait for the database while their lease lasts (`worker.outage`). If the outage outlasted two
leases, the reaper has declared this host dead and returned its runs to the queue: the host
gives those runs up and registers again under the same id, its devices back in the pool.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import asyncpg

from qualgent.config import Settings
from qualgent.db.pool import UNAVAILABLE, Backoff, asyncpg_dsn, create_pool
from qualgent.drivers.base import Device
from qualgent.queue import hosts
from qualgent.queue import lifecycle as q
from qualgent.queue.batching import Batcher
from qualgent.queue.reaper import reap_forever
from qualgent.storage import BlobStore
from qualgent.worker.execute import Execution, Reporter, execute

log = logging.getLogger(__name__)
T = TypeVar("T")


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
        self.quarantined: set[uuid.UUID] = set()
        self.wake = asyncio.Event()
        self.stopping = asyncio.Event()
        self.pool: asyncpg.Pool | None = None
        self._listener: asyncpg.Connection | None = None
        self._finishes: Batcher[q.Outcome, bool] | None = None

    # -- lifecycle -------------------------------------------------------------------------
    async def run(self) -> None:
        """Until request_stop(). Waits for the database if it is not there yet."""
        self.pool = await self._until_connected(
            lambda: create_pool(self.url, max(4, len(self.devices) * 2 + 2)), "connect")
        if self.pool is None:
            return
        self._finishes = Batcher(self._finish_batch)
        tasks: list[asyncio.Task] = []
        try:
            if not await self._until_connected(self._register, "register"):
                return
            tasks = [asyncio.create_task(self._heartbeat_loop()),
                     asyncio.create_task(reap_forever(self.pool, self.settings))]
            await self._claim_loop()
            await self._drain()
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self._listener is not None:
                self._listener.terminate()
            try:
                await hosts.deregister(self.pool, self.id)
            except UNAVAILABLE as exc:
                log.warning("worker %s: could not deregister (%s); the reaper will", self.id,
                            exc)
            try:
                await asyncio.wait_for(self.pool.close(), 10)
            except TimeoutError:
                self.pool.terminate()
            log.info("worker %s stopped", self.id)

    def request_stop(self) -> None:
        log.info("worker %s: stopping; no new runs will be claimed", self.id)
        self.stopping.set()
        self.wake.set()

    async def _register(self) -> bool:
        assert self.pool is not None
        await hosts.register(self.pool, self.id, socket.gethostname(), os.getpid(),
                             self.devices, self.quarantined)
        log.info("worker %s registered %d device(s)", self.id, len(self.devices))
        return True

    async def _until_connected(self, op: Callable[[], Awaitable[T]], what: str) -> T | None:
        """op() retried with backoff while the database is unreachable; None if asked to
        stop meanwhile."""
        backoff = Backoff()
        while not self.stopping.is_set():
            try:
                return await op()
            except UNAVAILABLE as exc:
                delay = backoff.next()
                log.warning("worker %s: %s: the database is unreachable (%s); retrying in "
                            "%.1f s", self.id, what, exc, delay)
                await self._pause(delay)
        return None

    async def _pause(self, seconds: float) -> None:
        """Sleep, cut short by a wake-up (NOTIFY, a device freed, a stop request)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wake.wait(), seconds)

    # -- claiming --------------------------------------------------------------------------
    async def _claim_loop(self) -> None:
        backoff = Backoff()
        while not self.stopping.is_set():
            self.wake.clear()
            try:
                await self._listen()
                await self._claim_idle()
            except UNAVAILABLE as exc:
                delay = backoff.next()
                if backoff.failures == 1:
                    log.warning("worker %s: the database is unreachable (%s); runs in flight "
                                "continue, claiming resumes when it answers", self.id, exc)
                await self._pause(delay)
                continue
            if backoff.failures:
                log.info("worker %s: the database answers again; claiming", self.id)
                backoff.reset()
            await self._pause(self.settings.poll_seconds)

    async def _listen(self) -> None:
        """LISTEN on a connection of its own; after a lost connection, on a fresh one. The
        caller claims right after, so runs queued while we were not listening are found."""
        if self._listener is not None and not self._listener.is_closed():
            return
        if self._listener is not None:
            self._listener.terminate()
            self._listener = None
        conn = await asyncpg.connect(asyncpg_dsn(self.url), timeout=10)
        await conn.add_listener(q.CHANNEL, lambda *_: self.wake.set())
        # A dropped connection wakes the claim loop, which then finds the database gone (and
        # backs off) or reconnects.
        conn.add_termination_listener(lambda *_: self.wake.set())
        self._listener = conn

    async def _claim_idle(self) -> None:
        """Claim a run for each idle device, in as few statements as matching allows."""
        assert self.pool is not None
        while not self.stopping.is_set():
            idle = [d for d in self.devices if d not in self.running
                    and d not in self.quarantined]
            if not idle:
                return
            claimed = await q.claim(self.pool, self.id, self.settings.lease_seconds,
                                    limit=len(idle), busy=list(self.running))
            if not claimed:
                return
            for c in claimed:
                self._start(c)

    def _start(self, claimed: q.Claimed) -> None:
        assert self.pool is not None
        run = Execution(claimed, time.monotonic() + self.settings.lease_seconds)
        self.running[claimed.device_id] = run
        device = self.devices[claimed.device_id]
        log.info("run %s (attempt %d) on %s", claimed.run_id, claimed.attempt,
                 device.profile.name)
        assert self._finishes is not None
        reporter = Reporter(self.pool, self.id, self._finishes.submit, self._quarantine,
                            self.settings.max_attempts)

        async def go() -> None:
            try:
                await execute(reporter, self.blobs, device, run)
            except Exception:  # noqa: BLE001 - one run's failure must not stop the host
                log.exception("run %s: reporting failed", claimed.run_id)
            finally:
                self.running.pop(claimed.device_id, None)
                self.wake.set()

        run.task = asyncio.create_task(go())

    async def _quarantine(self, device_id: uuid.UUID) -> None:
        """A device that stopped answering leaves the pool (and stays out if we register
        again), so a retry goes to a healthy one."""
        assert self.pool is not None
        self.quarantined.add(device_id)
        await hosts.quarantine(self.pool, device_id)

    async def _finish_batch(self, outcomes: list[q.Outcome]) -> list[bool]:
        assert self.pool is not None
        done = await q.finish(self.pool, self.id, outcomes)
        return [o.run_id in done for o in outcomes]

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
        """Every third of a lease: the heartbeat and every lease in one statement. While the
        database is unreachable, retry sooner (the leases are running out)."""
        assert self.pool is not None
        interval = self.settings.lease_seconds / 3
        backoff = Backoff(cap=interval)
        while True:
            runs = list(self.running.values())
            sent = time.monotonic()
            try:
                renewal = await q.renew(self.pool, self.id, [r.claimed.run_id for r in runs],
                                        self.settings.lease_seconds)
                if not renewal.alive:
                    await self._rejoin()
            except UNAVAILABLE as exc:
                if backoff.failures == 0:
                    log.warning("worker %s: heartbeat failed, the database is unreachable "
                                "(%s)", self.id, exc)
                await asyncio.sleep(backoff.next())
                continue
            backoff.reset()
            for run in runs:
                if run.claimed.run_id in renewal.held:
                    run.lease_until = sent + self.settings.lease_seconds
                elif not run.lost:
                    log.warning("run %s: no longer ours (reaped); stopping it",
                                run.claimed.run_id)
                    run.lost = True
            await asyncio.sleep(interval)

    async def _rejoin(self) -> None:
        """The reaper declared us dead (silent for two leases): our runs went back to the
        queue. Give them up and register again, devices still running one left out until
        they stop."""
        log.warning("worker %s was declared dead by the reaper (silent too long); giving up "
                    "%d run(s) in flight and registering again", self.id, len(self.running))
        for run in self.running.values():
            run.lost = True
        await self._register()
        self.wake.set()
