"""A device host process: registers its devices, heartbeats, claims runs, executes them.

Its devices come from sources (`worker.pool`): simulators and Appium sessions given at start,
and whatever the ADB server lists. Every few seconds (QUALGENT_DEVICE_SCAN_SECONDS) the
sources are scanned in a thread: devices that appeared join the pool, devices that went away
leave it (their row is kept, unavailable, so a phone plugged back in is the same device). A
run in flight on a device that went away fails on its next device call (DeviceLost) and is
retried elsewhere like any lost device's run. A device taken out after a lost run rejoins
once it answers again.

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
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TypeVar

import asyncpg

from qualgent.config import Settings
from qualgent.db.pool import UNAVAILABLE, Backoff, asyncpg_dsn, create_pool
from qualgent.drivers.base import Device
from qualgent.observability import logs as log_ids
from qualgent.observability.metrics import CLAIM_LATENCY, RUN_DURATION
from qualgent.queue import hosts
from qualgent.queue import lifecycle as q
from qualgent.queue.batching import Batcher
from qualgent.queue.reaper import reap_forever
from qualgent.storage import BlobStore
from qualgent.worker.execute import (
    BuildTools,
    Execution,
    PlannerChoice,
    Reporter,
    answers,
    execute,
)
from qualgent.worker.pool import DevicePool, DeviceSource, StaticSource

log = logging.getLogger(__name__)
T = TypeVar("T")

SCAN_SECONDS = 5.0
"""How often a host asks its sources which devices are there (QUALGENT_DEVICE_SCAN_SECONDS)."""


class DeviceHost:
    def __init__(self, settings: Settings, database_url: str, blobs: BlobStore,
                 sources: Sequence[DeviceSource], grace_seconds: float = 30.0,
                 scan_seconds: float = SCAN_SECONDS,
                 planners: PlannerChoice = PlannerChoice()) -> None:
        self.settings = settings
        self.planners = planners
        self.url = database_url
        self.blobs = blobs
        self.id = uuid.uuid4()
        self.sources = DevicePool(sources)
        self.dynamic = any(not isinstance(s, StaticSource) for s in sources)
        self.scan_seconds = scan_seconds
        self.tools = BuildTools(settings.bundletool, settings.java)
        self.devices: dict[uuid.UUID, Device] = {}  # in the pool (registered), by device id
        self.serials: dict[uuid.UUID, str] = {}
        self.leaving: set[uuid.UUID] = set()  # went away; their rows not yet marked so
        self.grace = grace_seconds
        self.running: dict[uuid.UUID, Execution] = {}  # by device id
        self._claimed_at: dict[uuid.UUID, float] = {}  # by run id: for RUN_DURATION
        self.quarantined: set[uuid.UUID] = set()
        self.wake = asyncio.Event()
        self.stopping = asyncio.Event()
        self.pool: asyncpg.Pool | None = None
        self._listener: asyncpg.Connection | None = None
        self._finishes: Batcher[q.Outcome, bool] | None = None
        self._scan_failures = 0
        self._background: set[asyncio.Task] = set()

    # -- lifecycle -------------------------------------------------------------------------
    async def run(self) -> None:
        """Until request_stop(). Waits for the database if it is not there yet."""
        listed = await asyncio.to_thread(self.sources.scan)
        self.devices, self.serials = dict(listed.devices), dict(listed.serials)
        # A host whose sources may grow gets room for a few more devices' writes.
        least = 8 if self.dynamic else 4
        self.pool = await self._until_connected(
            lambda: create_pool(self.url, max(least, len(self.devices) * 2 + 2)), "connect")
        if self.pool is None:
            return
        self._finishes = Batcher(self._finish_batch)
        tasks: list[asyncio.Task] = []
        try:
            if not await self._until_connected(self._register, "register"):
                return
            tasks = [asyncio.create_task(self._heartbeat_loop()),
                     asyncio.create_task(reap_forever(self.pool, self.settings)),
                     asyncio.create_task(self._scan_loop())]
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
                             self._rows(self.devices), self.quarantined)
        log.info("worker %s registered %d device(s)", self.id, len(self.devices))
        return True

    def _rows(self, ids: Iterable[uuid.UUID],
              devices: dict[uuid.UUID, Device] | None = None) -> list[hosts.HostDevice]:
        """The devices `ids` (of the pool, or of `devices`) as their rows are written."""
        devices = self.devices if devices is None else devices
        return [hosts.HostDevice(i, self.serials[i], devices[i].profile) for i in ids]

    def _name(self, device_id: uuid.UUID, device: Device) -> str:
        return f"{device.profile.name} ({self.serials.get(device_id, device_id)})"

    # -- the pool follows the sources --------------------------------------------------------
    async def _scan_loop(self) -> None:
        while True:
            await asyncio.sleep(self.scan_seconds)
            try:
                await self._scan()
            except UNAVAILABLE as exc:
                self._scan_failures += 1
                if self._scan_failures == 1:
                    log.warning("worker %s: device changes wait for the database (%s)",
                                self.id, exc)
                continue
            except Exception:  # noqa: BLE001 - a scan's failure must not stop the host
                log.exception("worker %s: device scan failed", self.id)
                continue
            self._scan_failures = 0

    async def _scan(self) -> None:
        """One pass: who left, who came, who answers again; the database first, then the pool
        in memory (a device joins once its row says it is available)."""
        assert self.pool is not None
        listed = await asyncio.to_thread(self.sources.scan)
        self.serials.update(listed.serials)
        for device_id in [i for i in self.devices if i not in listed.devices]:
            log.info("device %s left the pool", self._name(device_id, self.devices[device_id]))
            del self.devices[device_id]
            self.quarantined.discard(device_id)
            self.leaving.add(device_id)  # kept out of claims until its row says so
        came = [i for i in listed.devices if i not in self.devices]
        stuck = [i for i in self.quarantined if i in listed.devices and i not in self.running]
        again = await asyncio.to_thread(
            lambda: [i for i in stuck if answers(listed.devices[i])])
        if self.leaving:
            leaving = set(self.leaving)
            await hosts.remove(self.pool, leaving)
            self.leaving -= leaving
        joining = came + again
        if joining:
            await hosts.add(self.pool, self.id, socket.gethostname(),
                            self._rows(joining, listed.devices))
        for device_id in joining:
            self.quarantined.discard(device_id)
            log.info("device %s %s the pool", self._name(device_id, listed.devices[device_id]),
                     "joined" if device_id in came else "answers again and rejoins")
        self.devices = {i: listed.devices[i] for i in [*self.devices, *came]}
        await hosts.refresh_sms(self.pool, self._rows(self.devices))
        if joining:
            self.wake.set()

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
            claim_started = time.perf_counter()
            claimed = await q.claim(self.pool, self.id, self.settings.lease_seconds,
                                    limit=len(idle), busy=[*self.running, *self.leaving],
                                    planner=self.planners.name,
                                    planner_model=self.planners.model,
                                    concurrency=self.settings.plan_concurrency)
            CLAIM_LATENCY.observe(time.perf_counter() - claim_started)
            if not claimed:
                return
            for c in claimed:
                self._start(c)

    def _start(self, claimed: q.Claimed) -> None:
        assert self.pool is not None
        device = self.devices.get(claimed.device_id)
        if device is None:  # it left the pool while the claim was being made
            self._hand_back(claimed)
            return
        run = Execution(claimed, time.monotonic() + self.settings.lease_seconds)
        self._claimed_at[claimed.run_id] = time.monotonic()
        self.running[claimed.device_id] = run
        # The run's log lines name it: this one, and the task's below (it copies the context)
        named = log_ids.run_id.set(str(claimed.run_id))
        log.info("run %s (attempt %d) on %s", claimed.run_id, claimed.attempt,
                 self._name(claimed.device_id, device))
        assert self._finishes is not None
        reporter = Reporter(self.pool, self.id, self._finishes.submit, self._quarantine,
                            self.settings.max_attempts)
        serial = self.serials[claimed.device_id]

        async def go() -> None:
            try:
                await execute(reporter, self.blobs, device, run, serial=serial,
                              tools=self.tools, planners=self.planners)
            except Exception:  # noqa: BLE001 - one run's failure must not stop the host
                log.exception("run %s: reporting failed", claimed.run_id)
            finally:
                self.running.pop(claimed.device_id, None)
                self._claimed_at.pop(claimed.run_id, None)  # handed back: no outcome
                self.wake.set()

        run.task = asyncio.create_task(go())
        log_ids.run_id.reset(named)

    def _hand_back(self, claimed: q.Claimed) -> None:
        """A run claimed on a device that is gone goes back to the queue, the attempt not
        counted (its lease would bring it back anyway, later)."""
        assert self.pool is not None
        pool = self.pool
        log.info("run %s: its device left the pool as it was claimed; handing it back",
                 claimed.run_id)

        async def back() -> None:
            try:
                await q.requeue(pool, claimed.run_id, self.id, count_attempt=False)
            except UNAVAILABLE as exc:
                log.warning("run %s: could not hand it back (%s); its lease will", claimed.run_id,
                            exc)

        task = asyncio.create_task(back())
        self._background.add(task)  # held until done: the loop keeps only weak references
        task.add_done_callback(self._background.discard)

    async def _quarantine(self, device_id: uuid.UUID) -> None:
        """A device that stopped answering leaves the pool (and stays out if we register
        again), so a retry goes to a healthy one."""
        assert self.pool is not None
        self.quarantined.add(device_id)
        await hosts.quarantine(self.pool, device_id)

    async def _finish_batch(self, outcomes: list[q.Outcome]) -> list[bool]:
        assert self.pool is not None
        done = await q.finish(self.pool, self.id, outcomes)
        now = time.monotonic()
        for o in outcomes:
            claimed_at = self._claimed_at.pop(o.run_id, None)
            if o.run_id in done and claimed_at is not None:
                RUN_DURATION.labels(str(o.status)).observe(now - claimed_at)
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
