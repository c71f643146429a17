"""Run finished -> a waiting client knows: GET /v1/jobs/events beside polling /v1/jobs/status.

A real `qualgent serve` on a fresh database (no worker): the benchmark queues runs through
the API, then finishes them itself with an SQL UPDATE of test_runs (status 'passed',
progress 100), which is what the run_event trigger watches whoever writes; the time of the
commit is taken when the UPDATE returns (autocommit: the commit is acknowledged then).

- events: one client holds a GET /v1/jobs/events stream; runs are finished one at a time with
  a random idle gap; latency = commit -> the client has parsed the run's final event.
- polling: one poller per run, GET /v1/jobs/status/{id} every P seconds from a random phase
  (the reference's CI pattern: 15 s; also 1 s); runs are finished at random moments over two
  intervals; latency = commit -> the poll that first shows 'passed' has returned.

    python benchmarks/events_latency.py [--runs 200] [--poll-runs 50] [--intervals 1,15]
"""

from __future__ import annotations

import argparse
import asyncio
import json
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
from queue_dispatch import BenchDatabase, ignore_stop_signals, run_async

from qualgent.db.pool import asyncpg_dsn

TARGET_P50_S = 0.100
WARMUP = 5
RATE_LIMIT = "1000000/second"
FINISH = ("UPDATE test_runs SET status = 'passed', progress = 100, finished_at = now() "
          "WHERE id = $1")


def _pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s) + 0.5) - 1))]


def _summary(label: str, values: list[float]) -> str:
    ms = [v * 1000 for v in values]
    return (f"  {label:<30} n={len(ms):<4} p50 {_pct(ms, 50):9.2f}  p90 {_pct(ms, 90):9.2f}  "
            f"max {max(ms):9.2f}  mean {statistics.fmean(ms):9.2f} ms")


def _queue_runs(server: Server, key: str, n: int) -> list[str]:
    """n queued runs of one case on one build (nobody takes them: there is no worker)."""
    with httpx.Client(base_url=server.base_url, timeout=60.0,
                      headers={"X-Api-Key": key}) as client:
        app = check(upload_file(client, server.base_url, key, FIXTURE_APK), "upload")["file"]
        case = check(client.post("/v1/test-cases", json={
            "name": "events probe", "steps": [{"description": "Open the app"}]}),
            "create test case")["test_case"]
        job = {"app_file_id": app["id"], "test_case_id": case["id"],
               "device": {"name": "Pixel 7", "platform": "Android"}}
        runs: list[str] = []
        while len(runs) < n:
            batch = min(10, n - len(runs))
            r = check(client.post("/v1/test-cases/run", json={"jobs": [job] * batch}),
                      "POST /v1/test-cases/run")
            runs += [x["test_run_id"] for x in r["results"]]
    return runs


class EventClient:
    """A GET /v1/jobs/events stream; `final[run_id]` is when its final event was parsed."""

    def __init__(self, server: Server, key: str) -> None:
        self.server, self.key = server, key
        self.final: dict[str, float] = {}
        self.waiters: dict[str, asyncio.Future[float]] = {}
        self.ready = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.task = asyncio.create_task(self._read())
        await asyncio.wait_for(self.ready.wait(), 30)

    async def _read(self) -> None:
        async with httpx.AsyncClient(base_url=self.server.base_url,
                                     headers={"X-Api-Key": self.key},
                                     timeout=httpx.Timeout(30, read=None)) as client, \
                client.stream("GET", "/v1/jobs/events") as response:
            response.raise_for_status()
            async for line in response.aiter_lines():
                if line.startswith("retry:"):
                    self.ready.set()
                if not line.startswith("data:"):
                    continue
                data = json.loads(line[5:])
                if data["final"]:
                    t = time.perf_counter()
                    run_id = data["test_run_id"]
                    self.final[run_id] = t
                    if (fut := self.waiters.pop(run_id, None)) and not fut.done():
                        fut.set_result(t)

    def expect(self, run_id: str) -> asyncio.Future[float]:
        fut: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        if run_id in self.final:
            fut.set_result(self.final[run_id])
        else:
            self.waiters[run_id] = fut
        return fut

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)


async def events(server: Server, key: str, url: str, runs: list[str],
                 gap: tuple[float, float]) -> dict[str, list[float]]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    client = EventClient(server, key)
    await client.start()
    rng = random.Random(7)
    latency: list[float] = []
    statement: list[float] = []
    try:
        await asyncio.sleep(0.5)  # the stream is subscribed and idle
        for i, run_id in enumerate(runs):
            await asyncio.sleep(rng.uniform(*gap) / 1000)
            waiting = client.expect(run_id)
            t0 = time.perf_counter()
            await conn.execute(FINISH, uuid.UUID(run_id))
            committed = time.perf_counter()
            received = await asyncio.wait_for(waiting, 30)
            if i >= WARMUP:
                latency.append(received - committed)
                statement.append(committed - t0)
    finally:
        await client.stop()
        await conn.close()
    return {"commit -> SSE event": latency, "UPDATE round trip": statement}


async def polling(server: Server, key: str, url: str, runs: list[str],
                  interval: float) -> list[float]:
    """One poller per run at `interval` from a random phase; runs finish at random moments
    within two intervals of the pollers starting."""
    rng = random.Random(int(interval * 1000))
    committed: dict[str, float] = {}
    seen: dict[str, float] = {}
    pool = await asyncpg.create_pool(asyncpg_dsn(url), min_size=4, max_size=4)
    limits = httpx.Limits(max_connections=len(runs))
    async with httpx.AsyncClient(base_url=server.base_url, headers={"X-Api-Key": key},
                                 timeout=30.0, limits=limits) as client:

        async def poll(run_id: str) -> None:
            await asyncio.sleep(rng.uniform(0, interval))
            while True:
                r = await client.get(f"/v1/jobs/status/{run_id}")
                if check(r, "GET /v1/jobs/status")["status"] == "passed":
                    seen[run_id] = time.perf_counter()
                    return
                await asyncio.sleep(interval)

        async def finish(run_id: str, at: float) -> None:
            await asyncio.sleep(at)
            await pool.execute(FINISH, uuid.UUID(run_id))
            committed[run_id] = time.perf_counter()

        finishing = [asyncio.create_task(finish(r, rng.uniform(0.2, 2 * interval)))
                     for r in runs]
        pollers = [asyncio.create_task(poll(r)) for r in runs]
        await asyncio.gather(*finishing)
        await asyncio.gather(*pollers)
    await pool.close()
    return [seen[r] - committed[r] for r in runs]


def _intervals(text: str) -> list[float]:
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("intervals are seconds, like 1,15") from None
    if any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError("intervals are positive seconds")
    return values


def main(tmp: Path) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=200,
                   help=f"runs finished one by one under a waiting SSE client (+{WARMUP} warm-up)")
    p.add_argument("--poll-runs", type=int, default=50, help="runs per polling interval")
    p.add_argument("--intervals", type=_intervals, default=[1.0, 15.0],
                   help="polling intervals in seconds (default 1,15; empty: no polling)")
    args = p.parse_args()
    if args.runs < 1 or args.poll_runs < 1:
        p.error("--runs and --poll-runs must be positive")
    gap = (20.0, 80.0)

    db = BenchDatabase(tmp)
    server: Server | None = None
    try:
        db.setup()
        assert db.url is not None
        url = db.url
        server = Server(tmp, types.SimpleNamespace(url=url),  # type: ignore[arg-type]
                        extra_env={"QUALGENT_RATE_LIMIT": RATE_LIMIT})
        server.start()
        org = server.cli_json("admin", "create-org", "--name", "bench", "--credits",
                              str(args.runs + WARMUP + args.poll_runs * len(args.intervals)))
        server.cli_json("admin", "register-device", "--name", "Pixel 7", "--platform",
                        "Android", "--os-version", "14")
        key = org["api_key"]
        total = args.runs + WARMUP + args.poll_runs * len(args.intervals)
        log(f"queuing {total} runs")
        runs = _queue_runs(server, key, total)

        print(f"database: {db.description}")
        print(f"server: qualgent serve on {server.base_url}, one process; no worker: runs are "
              "finished by SQL UPDATE (status passed), timed from the commit")
        print()
        sse_runs, rest = runs[:args.runs + WARMUP], runs[args.runs + WARMUP:]
        log(f"events: finishing {len(sse_runs)} runs one at a time under a waiting client")
        res = run_async(events(server, key, url, sse_runs, gap))
        print(f"events (one GET /v1/jobs/events client; gap {gap[0]:g}-{gap[1]:g} ms between "
              f"runs; {WARMUP} warm-up runs dropped):")
        for label, values in res.items():
            print(_summary(label, values))
        for n, interval in enumerate(args.intervals):
            chunk = rest[n * args.poll_runs:(n + 1) * args.poll_runs]
            log(f"polling every {interval:g} s: {len(chunk)} runs "
                f"(about {2 * interval + interval:.0f} s)")
            lat = run_async(polling(server, key, url, chunk, interval))
            print(f"polling GET /v1/jobs/status every {interval:g} s (expected mean "
                  f"~{interval / 2 * 1000:.0f} ms):")
            print(_summary(f"commit -> poll sees it ({interval:g} s)", lat))
        print()
        p50 = _pct(res["commit -> SSE event"], 50)
        verdict = "PASS" if p50 < TARGET_P50_S else "MISS"
        print(f"commit -> SSE event p50: {p50 * 1000:.2f} ms  (target: under "
              f"{TARGET_P50_S * 1000:.0f} ms)  {verdict}")
    finally:
        ignore_stop_signals()
        if server is not None:
            server.stop()
        db.teardown()


if __name__ == "__main__":
    sys.exit(run_benchmark(main, "qualgent-events-"))
