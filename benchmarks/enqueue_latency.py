"""Enqueue-to-claim latency with an idle worker: how long a queued run waits for a free device.

One idle claimer, set up like DeviceHost: it LISTENs on qualgent.queue.CHANNEL on its own
connection (the wake-up), falls back to polling every Settings.poll_seconds (5 s), and claims
with `qualgent.queue.lifecycle.claim()` as soon as it is woken. A producer in the same process
queues one run at a time the way the API does (`lifecycle.enqueue`: debit, insert and NOTIFY
in one statement), with small random gaps so the claimer is idle each time. The latency runs
from just before enqueue() to claim() returning the run (time.perf_counter, one process).

Optionally (--api-runs, default 100) the same through the real API: a `qualgent serve` on a
free 127.0.0.1 port on the same database, one-job `POST /v1/test-cases/run` requests, timed
from just before the request is sent to claim() returning the run.

    python benchmarks/enqueue_latency.py [--runs 200] [--gap-ms 20-80] [--api-runs 100]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
import types
import uuid
from pathlib import Path

import asyncpg
import httpx
from _common import FIXTURE_APK, Server, check, log, run_benchmark, upload_file
from queue_dispatch import (
    DEVICE,
    Base,
    BenchDatabase,
    enqueue_run,
    ignore_stop_signals,
    migrate,
    run_async,
    seed_base,
    seed_workers,
)

from qualgent.config import Settings
from qualgent.db.pool import asyncpg_dsn, create_pool
from qualgent.queue import lifecycle as q
from qualgent.queue.lifecycle import CHANNEL
from qualgent.queue.states import RunStatus

TARGET_P50_S = 0.020
WARMUP = 5
RATE_LIMIT = "1000000/second"


def _poll_seconds() -> float:
    try:
        return Settings().poll_seconds
    except Exception:  # noqa: BLE001 - a broken environment should not stop the benchmark
        return 5.0


class Claimer:
    """DeviceHost's claim loop for one worker with one device, minus execution: a claimed run
    is finished ("passed") at once, which frees the device again."""

    def __init__(self, url: str, worker_id: uuid.UUID, poll_s: float) -> None:
        self.url = url
        self.worker_id = worker_id
        self.poll_s = poll_s
        self.wake = asyncio.Event()
        self.stopping = False
        self.claimed_at: dict[uuid.UUID, float] = {}
        self.waiters: dict[uuid.UUID, asyncio.Future[float]] = {}
        self.claimed_after_poll = 0
        self.pool: asyncpg.Pool | None = None
        self.listener: asyncpg.Connection | None = None
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        # Sized as DeviceHost sizes it for one device.
        self.pool = await create_pool(self.url, 4)
        self.listener = await asyncpg.connect(asyncpg_dsn(self.url))
        await self.listener.add_listener(CHANNEL, lambda *_: self.wake.set())
        self.task = asyncio.create_task(self._loop())

    def expect(self, run_id: uuid.UUID) -> asyncio.Future[float]:
        fut: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        if run_id in self.claimed_at:
            fut.set_result(self.claimed_at[run_id])
        else:
            self.waiters[run_id] = fut
        return fut

    async def _loop(self) -> None:
        assert self.pool is not None
        polled = False  # this pass was started by the poll timer, not by a NOTIFY
        while not self.stopping:
            self.wake.clear()
            while not self.stopping:
                batch = await q.claim(self.pool, self.worker_id, 30.0)
                if not batch:
                    break
                [claimed] = batch
                t = time.perf_counter()
                self.claimed_at[claimed.run_id] = t
                self.claimed_after_poll += polled
                if (fut := self.waiters.pop(claimed.run_id, None)) and not fut.done():
                    fut.set_result(t)
                await q.finish(self.pool, self.worker_id,
                               [q.Outcome(claimed.run_id, RunStatus.PASSED)])
            try:
                await asyncio.wait_for(self.wake.wait(), self.poll_s)
                polled = False
            except TimeoutError:
                polled = True

    async def stop(self) -> None:
        self.stopping = True
        self.wake.set()
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        if self.listener is not None:
            await self.listener.close()
        if self.pool is not None:
            await self.pool.close()


def _pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s) + 0.5) - 1))]


def _summary(label: str, values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return (f"  {label:<34} n={len(ms):<4} p50 {_pct(ms, 50):7.2f}  p90 {_pct(ms, 90):7.2f}  "
            f"p99 {_pct(ms, 99):7.2f}  max {max(ms):8.2f}  mean {statistics.fmean(ms):7.2f} ms")


async def _gap(rng: random.Random, gap: tuple[float, float]) -> None:
    await asyncio.sleep(rng.uniform(*gap) / 1000)


async def direct(url: str, base: Base, claimer: Claimer, n: int, gap: tuple[float, float],
                 timeout_s: float) -> dict[str, list[float]]:
    """`lifecycle.enqueue` of one run (one statement: debit, insert, NOTIFY), timed from just
    before the call."""
    pool = await create_pool(url, 1)
    latency: list[float] = []
    call: list[float] = []
    missed = 0
    rng = random.Random(7)
    try:
        for i in range(n + WARMUP):
            await _gap(rng, gap)
            t0 = time.perf_counter()
            run_id = await enqueue_run(pool, base)
            t1 = time.perf_counter()
            try:
                claimed = await asyncio.wait_for(claimer.expect(run_id), timeout_s)
            except TimeoutError:
                missed += 1
                continue
            if i >= WARMUP:
                latency.append(claimed - t0)
                call.append(t1 - t0)
    finally:
        await pool.close()
    if missed:
        log(f"{missed} run(s) not claimed within {timeout_s:.0f} s")
    return {"enqueue -> claimed": latency, "enqueue round trip": call}


async def through_api(server: Server, api_key: str, app_id: str, case_id: str,
                      claimer: Claimer, n: int, gap: tuple[float, float],
                      timeout_s: float) -> dict[str, list[float]]:
    """One-job POST /v1/test-cases/run, timed from just before the request is sent."""
    body = {"jobs": [{"app_file_id": app_id, "test_case_id": case_id,
                      "device": {"name": DEVICE["name"], "platform": DEVICE["platform"]}}]}
    latency: list[float] = []
    post: list[float] = []
    missed = 0
    rng = random.Random(11)
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30.0,
                                 headers={"X-Api-Key": api_key}) as client:
        for i in range(n + WARMUP):
            await _gap(rng, gap)
            t0 = time.perf_counter()
            r = await client.post("/v1/test-cases/run", json=body)
            t1 = time.perf_counter()
            run_id = uuid.UUID(check(r, "POST /v1/test-cases/run")["results"][0]["test_run_id"])
            try:
                claimed = await asyncio.wait_for(claimer.expect(run_id), timeout_s)
            except TimeoutError:
                missed += 1
                continue
            if i >= WARMUP:
                latency.append(claimed - t0)
                post.append(t1 - t0)
    if missed:
        log(f"{missed} API run(s) not claimed within {timeout_s:.0f} s")
    return {"POST sent -> claimed": latency, "POST round trip": post}


def _api_fixture(server: Server, credits: int) -> tuple[str, str, str]:
    org = server.cli_json("admin", "create-org", "--name", "bench", "--credits", str(credits))
    key = org["api_key"]
    with httpx.Client(base_url=server.base_url, timeout=60.0,
                      headers={"X-Api-Key": key}) as client:
        app = check(upload_file(client, server.base_url, key, FIXTURE_APK), "upload")["file"]
        case = check(client.post("/v1/test-cases", json={
            "name": "latency probe", "steps": [{"description": "Open the app"}]}),
            "create test case")["test_case"]
    return key, app["id"], case["id"]


def _gap_range(text: str) -> tuple[float, float]:
    try:
        lo, _, hi = text.partition("-")
        lo_f, hi_f = float(lo), float(hi or lo)
    except ValueError:
        raise argparse.ArgumentTypeError("gap is MIN-MAX in ms, like 20-80") from None
    if lo_f < 0 or hi_f < lo_f:
        raise argparse.ArgumentTypeError("gap is MIN-MAX in ms with 0 <= MIN <= MAX")
    return lo_f, hi_f


def main(tmp: Path) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=200, help="runs queued directly (after "
                   f"{WARMUP} warm-up runs)")
    p.add_argument("--gap-ms", type=_gap_range, default=(20.0, 80.0),
                   help="random idle gap before each run, MIN-MAX ms (default 20-80)")
    p.add_argument("--api-runs", type=int, default=100,
                   help="runs queued through POST /v1/test-cases/run (0: skip the API)")
    args = p.parse_args()
    if args.runs < 1 or args.api_runs < 0:
        p.error("--runs must be positive and --api-runs not negative")
    poll_s = _poll_seconds()
    timeout_s = poll_s + 10.0  # a lost NOTIFY is still picked up by the poll

    db = BenchDatabase(tmp)
    server: Server | None = None
    try:
        db.setup()
        assert db.url is not None
        url = db.url

        async def prepare() -> tuple[Base, uuid.UUID, str]:
            await migrate(url)
            conn = await asyncpg.connect(asyncpg_dsn(url))
            try:
                base = await seed_base(conn)
                (worker,) = await seed_workers(conn, base, 1, 1)
                await conn.execute("ANALYZE")
                version = await conn.fetchval("SHOW server_version")
            finally:
                await conn.close()
            return base, worker, version

        base, worker, pg_version = run_async(prepare())
        api_fixture = None
        if args.api_runs:
            server = Server(tmp, types.SimpleNamespace(url=url),  # type: ignore[arg-type]
                            extra_env={"QUALGENT_RATE_LIMIT": RATE_LIMIT})
            server.start()
            api_fixture = _api_fixture(server, args.api_runs + WARMUP + 10)

        print(f"database: {db.description}; PostgreSQL {pg_version}")
        print(f"claimer: one worker with one idle device, LISTEN {CHANNEL} + poll every "
              f"{poll_s:g} s, claim() then finish() at once; producer in the same process, "
              f"random gap {args.gap_ms[0]:g}-{args.gap_ms[1]:g} ms before each run; "
              f"{WARMUP} warm-up runs dropped per series; {os.cpu_count()} CPU(s)")
        print()

        async def measure() -> tuple[dict[str, list[float]], dict[str, list[float]], int]:
            claimer = Claimer(url, worker, poll_s)
            await claimer.start()
            try:
                res = await direct(url, base, claimer, args.runs, args.gap_ms, timeout_s)
                api: dict[str, list[float]] = {}
                if server is not None and api_fixture is not None:
                    key, app_id, case_id = api_fixture
                    api = await through_api(server, key, app_id, case_id, claimer,
                                            args.api_runs, args.gap_ms, timeout_s)
                return res, api, claimer.claimed_after_poll
            finally:
                await claimer.stop()

        log(f"queuing {args.runs} runs directly"
            + (f", then {args.api_runs} through the API" if args.api_runs else ""))
        res, api, polls = run_async(measure())
        print("direct (lifecycle.enqueue: debit, INSERT and NOTIFY in one statement):")
        for label, values in res.items():
            if values:
                print(_summary(label, values))
        if api:
            print(f"through the API ({server.base_url if server else ''}, one job per POST):")
            for label, values in api.items():
                if values:
                    print(_summary(label, values))
        print(f"runs claimed by the fallback poll rather than on NOTIFY: {polls}")
        print()
        lat = res["enqueue -> claimed"]
        if not lat:
            print("enqueue -> claim p50: no run was claimed  (target: under 20 ms)  MISS")
            return
        p50 = _pct(lat, 50)
        verdict = "PASS" if p50 < TARGET_P50_S else "MISS"
        print(f"enqueue -> claim p50: {p50 * 1000:.2f} ms  (target: under "
              f"{TARGET_P50_S * 1000:.0f} ms)  {verdict}")
        if api and api.get("POST sent -> claimed") and api.get("POST round trip"):
            a50 = _pct(api["POST sent -> claimed"], 50)
            r50 = _pct(api["POST round trip"], 50)
            print(f"through the API: POST sent -> claim p50 {a50 * 1000:.2f} ms, of which the "
                  f"POST round trip p50 {r50 * 1000:.2f} ms  (information, not the target)")
    finally:
        ignore_stop_signals()
        if server is not None:
            server.stop()
        db.teardown()


if __name__ == "__main__":
    sys.exit(run_benchmark(main, "qualgent-latency-"))
