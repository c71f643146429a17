"""A simulated fleet under skewed multi-tenant load: API processes, device hosts, 3 orgs.

`qualgent serve --workers 2` (two API processes on one port) on a fresh database; three
organizations created with `qualgent admin create-org`, each uploading a build and a one-step
test case ("Open the app") through the API. Then, through the real API
(POST /v1/test-cases/run, 10 jobs a request): the big org submits --big runs (default 2000,
several requests in flight) while the two small orgs submit --small runs each (default 20), a
batch at a time, spread over the big org's submission (so they queue behind its backlog).

Device hosts run IN THIS PROCESS, not as `qualgent worker` processes: a real worker holds
max(4, 2·D + 2) + 1 connections, so 200 devices would need ~400 connections on a server that
allows 100, and a simulated run's agent costs CPU this 2-core machine lacks. Each host here is
DeviceHost's dispatch (queue_dispatch.BenchHost): registered worker rows with --per-host
devices each (matching the catalog profile Pixel 7 / Android 14), LISTEN on the queue channel
for wake-ups, `lifecycle.claim(limit=idle)` for every idle device in one statement, each run
"executes" for --run-ms (default 1000 ms, a fixed time) and is finished through the host's
Batcher of `lifecycle.finish`. Each host has an asyncpg pool of at most 3 connections plus its
LISTEN connection.

Reported per fleet size (--devices 50,100,200 for the growth): runs per second end to end
(first created_at to last finished_at, from the database), p50/p99 time from queued to claimed
per org (test_runs.created_at -> started_at), device utilisation (busy device-seconds over
devices × that span), and the database's connections (max of count(*) in pg_stat_activity for
the benchmark database, sampled every 100 ms). Prints figures, asserts nothing.

    python benchmarks/fleet.py [--devices 200] [--big 2000] [--small 20] [--run-ms 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import subprocess
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
    LEASE_S,
    BenchDatabase,
    BenchHost,
    ignore_stop_signals,
    migrate,
    run_async,
    seed_workers,
)

from qualgent.db.pool import asyncpg_dsn, create_pool
from qualgent.queue import lifecycle as q
from qualgent.queue.lifecycle import CHANNEL
from qualgent.queue.states import RunStatus

BATCH = 10
RATE_LIMIT = "1000000/second"
HOST_POOL = 3
BIG_IN_FLIGHT = 4


def _pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(p / 100 * len(s)) - 1))]


class FleetHost(BenchHost):
    """BenchHost with a fixed run time, LISTEN wake-ups, and a loop that runs until stopped
    (the queue is fed while it runs, so an empty queue does not end it)."""

    def __init__(self, pool: asyncpg.Pool, worker_id: uuid.UUID, devices: int,
                 run_s: float, url: str) -> None:
        super().__init__(pool, worker_id, devices, [])
        self.run_s, self.url = run_s, url
        self.listen: asyncpg.Connection | None = None

    async def _execute(self, claimed: q.Claimed) -> None:
        try:
            await asyncio.sleep(self.run_s)
            if not await self._finishes.submit(q.Outcome(claimed.run_id, RunStatus.PASSED)):
                self.refused += 1
            self.done_at.append(time.perf_counter())
        finally:
            self.busy.discard(claimed.device_id)
            self.wake.set()

    async def start(self) -> None:
        self.listen = await asyncpg.connect(asyncpg_dsn(self.url))
        await self.listen.add_listener(CHANNEL, lambda *_: self.wake.set())

    async def serve(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
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
                if len(claimed) == idle:
                    continue
            try:  # NOTIFY or a finished run wakes us; the poll is a fallback
                await asyncio.wait_for(self.wake.wait(), 1.0)
            except TimeoutError:
                pass

    async def close(self) -> None:
        for t in list(self.tasks):
            t.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.listen is not None:
            await self.listen.close()


class Org(types.SimpleNamespace):
    name: str
    key: str
    app_id: str
    case_id: str
    org_id: str


def make_org(server: Server, name: str, credits: int) -> Org:
    made = server.cli_json("admin", "create-org", "--name", name, "--credits", str(credits))
    key = made["api_key"]
    with httpx.Client(base_url=server.base_url, timeout=60.0,
                      headers={"X-Api-Key": key}) as client:
        app = check(upload_file(client, server.base_url, key, FIXTURE_APK), "upload")["file"]
        case = check(client.post("/v1/test-cases", json={
            "name": "fleet probe", "steps": [{"description": "Open the app"}]}),
            "create test case")["test_case"]
    return Org(name=name, key=key, app_id=app["id"], case_id=case["id"],
               org_id=made["organization_id"])


async def post_batches(client: httpx.AsyncClient, org: Org, n: int) -> int:
    body = {"jobs": [{"app_file_id": org.app_id, "test_case_id": org.case_id,
                      "device": {"name": DEVICE["name"], "platform": DEVICE["platform"]}}
                     for _ in range(n)]}
    r = await client.post("/v1/test-cases/run", json=body, headers={"X-Api-Key": org.key})
    return len(check(r, f"POST /v1/test-cases/run ({org.name})")["results"])


async def submit(base_url: str, big: Org, smalls: list[Org], n_big: int,
                 n_small: int) -> dict[str, int]:
    """The big org's batches with BIG_IN_FLIGHT requests in flight; each small org's batches
    spread evenly over the big org's submission (by batches posted)."""
    sent = {o.name: 0 for o in [big, *smalls]}
    big_batches = [min(BATCH, n_big - i) for i in range(0, n_big, BATCH)]
    posted = asyncio.Condition()
    done_batches = 0
    async with httpx.AsyncClient(base_url=base_url, timeout=120.0,
                                 limits=httpx.Limits(max_connections=16)) as client:
        queue = list(big_batches)

        async def big_lane() -> None:
            nonlocal done_batches
            while queue:
                size = queue.pop()
                n = await post_batches(client, big, size)
                sent[big.name] += n
                async with posted:
                    done_batches += 1
                    posted.notify_all()

        async def small_lane(org: Org) -> None:
            batches = [min(BATCH, n_small - i) for i in range(0, n_small, BATCH)]
            for j, size in enumerate(batches):
                at = (j + 1) * len(big_batches) // (len(batches) + 1)
                async with posted:
                    await posted.wait_for(lambda at=at: done_batches >= at or not queue)
                n = await post_batches(client, org, size)
                sent[org.name] += n

        await asyncio.gather(*(big_lane() for _ in range(BIG_IN_FLIGHT)),
                             *(small_lane(o) for o in smalls))
    return sent


async def sample_connections(url: str, stop: asyncio.Event, out: list[int]) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        while not stop.is_set():
            # This sampler's own connection is not counted.
            out.append(await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()"))
            try:
                await asyncio.wait_for(stop.wait(), 0.1)
            except TimeoutError:
                pass
    finally:
        await conn.close()


async def wait_finished(url: str, total: int, timeout_s: float) -> int:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            done = await conn.fetchval(
                "SELECT count(*) FROM test_runs WHERE status = 'passed'")
            if done >= total:
                return done
            await asyncio.sleep(0.2)
        return done
    finally:
        await conn.close()


async def one_round(url: str, server: Server, orgs: list[Org], devices: int, per_host: int,
                    n_big: int, n_small: int, run_s: float) -> dict:
    n_hosts = math.ceil(devices / per_host)
    sizes = [per_host] * (devices // per_host) + ([devices % per_host] if devices % per_host
                                                  else [])
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        base = types.SimpleNamespace(workers=[])
        ids = []
        for size in sizes:
            ids += await seed_workers(conn, base, 1, size)  # type: ignore[arg-type]
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
    pools = [await create_pool(url, HOST_POOL) for _ in range(n_hosts)]
    hosts = [FleetHost(p, wid, size, run_s, url)
             for p, wid, size in zip(pools, ids, sizes, strict=True)]
    stop, stop_sampling = asyncio.Event(), asyncio.Event()
    samples: list[int] = []
    total = n_big + 2 * n_small
    try:
        for h in hosts:
            await h.start()
        sampler = asyncio.create_task(sample_connections(url, stop_sampling, samples))
        serving = [asyncio.create_task(h.serve(stop)) for h in hosts]
        t0 = time.perf_counter()
        big, *smalls = orgs
        sent = await submit(server.base_url, big, smalls, n_big, n_small)
        t_submit = time.perf_counter() - t0
        finished = await wait_finished(url, total, timeout_s=600)
        stop.set()
        for h in hosts:
            h.wake.set()
        await asyncio.gather(*serving)
        stop_sampling.set()
        await sampler
    finally:
        stop.set()
        for h in hosts:
            await h.close()
        for p in pools:
            await p.close()
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        rows = await conn.fetch(
            "SELECT organization_id::text AS org, extract(epoch FROM started_at - created_at) "
            "AS wait, extract(epoch FROM created_at) AS c, extract(epoch FROM started_at) AS s, "
            "extract(epoch FROM finished_at) AS f FROM test_runs WHERE status = 'passed'")
    finally:
        await conn.close()
    span = max(r["f"] for r in rows) - min(r["c"] for r in rows)
    busy = sum(float(r["f"] - r["s"]) for r in rows)
    waits = {o.name: [float(r["wait"]) for r in rows if r["org"] == o.org_id] for o in orgs}
    return {"devices": devices, "hosts": n_hosts, "sent": sent, "finished": finished,
            "total": total, "span": float(span), "submit_s": t_submit,
            "rate": len(rows) / float(span), "util": busy / (devices * float(span)),
            "waits": waits, "conns": max(samples) if samples else 0,
            "claims": sum(h.claims for h in hosts), "finishes": sum(h.finishes for h in hosts),
            "refused": sum(h.refused for h in hosts)}


def report(res: dict, run_s: float) -> None:
    print(f"{res['devices']} devices on {res['hosts']} hosts, runs of {run_s * 1000:.0f} ms:")
    print(f"  submitted {sum(res['sent'].values())} runs in {res['submit_s']:.1f} s; "
          f"{res['finished']} of {res['total']} passed")
    print(f"  end to end: {res['rate']:.1f} runs/s over {res['span']:.1f} s "
          f"(ceiling {res['devices'] / run_s:.0f} runs/s at full utilisation)")
    print(f"  device utilisation: {res['util'] * 100:.1f}%")
    for name, w in res["waits"].items():
        if w:
            print(f"  queued -> claimed, {name:>6} ({len(w):>4} runs): p50 "
                  f"{_pct(w, 50) * 1000:9.1f} ms   p99 {_pct(w, 99) * 1000:9.1f} ms")
    print(f"  database connections (max sampled): {res['conns']}")
    print(f"  {res['claims']} claim and {res['finishes']} finish statements"
          + (f"; CHECK: {res['refused']} finish() refused" if res["refused"] else ""))
    print()


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("--devices is a list like 50,100,200") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("--devices needs positive sizes")
    return sizes


def _commit() -> str:
    try:
        return subprocess.run(["git", "-C", str(Path(__file__).parent), "log", "-1",
                               "--format=%h %s"], capture_output=True, text=True,
                              timeout=10).stdout.strip()[:100] or "unknown"
    except OSError:
        return "unknown"


def main(tmp: Path) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--devices", type=_sizes, default=[200],
                   help="fleet sizes, one round each (default 200; e.g. 50,100,200)")
    p.add_argument("--per-host", type=int, default=25, help="devices per host (default 25)")
    p.add_argument("--big", type=int, default=2000, help="runs of the big org (default 2000)")
    p.add_argument("--small", type=int, default=20, help="runs of each small org (default 20)")
    p.add_argument("--run-ms", type=float, default=1000.0,
                   help="how long a simulated run holds its device (default 1000)")
    p.add_argument("--api-workers", type=int, default=2,
                   help="API processes (`serve --workers`, default 2)")
    args = p.parse_args()
    if args.per_host < 1 or args.big < 1 or args.small < 1 or args.run_ms < 0:
        p.error("--per-host, --big and --small must be positive, --run-ms not negative")
    run_s = args.run_ms / 1000
    print(f"commit: {_commit()}; {os.cpu_count()} CPU(s)")
    print(f"load: org 'big' {args.big} runs, orgs 'small1'/'small2' {args.small} each, "
          f"POST /v1/test-cases/run in batches of {BATCH} ({BIG_IN_FLIGHT} big requests in "
          f"flight); `qualgent serve --workers {args.api_workers}`; in-process device hosts "
          f"of {args.per_host} devices (pool {HOST_POOL} + 1 LISTEN connection each)")
    print()
    for devices in args.devices:
        db = BenchDatabase(tmp / f"d{devices}")
        server: Server | None = None
        try:
            db.setup()
            assert db.url is not None
            url = db.url
            run_async(migrate(url))
            server = Server(tmp / f"s{devices}", types.SimpleNamespace(url=url),  # type: ignore[arg-type]
                            extra_env={"QUALGENT_RATE_LIMIT": RATE_LIMIT,
                                       "QUALGENT_PLAN_CONCURRENCY": "enterprise=0,free=0"},
                            workers=args.api_workers)
            server.start()
            server.cli_json("admin", "register-device", "--name", DEVICE["name"], "--platform",
                            DEVICE["platform"], "--os-version", DEVICE["os_version"], "--sms")
            orgs = [make_org(server, "big", args.big + 10)]
            orgs += [make_org(server, f"small{i}", args.small + 10) for i in (1, 2)]
            log(f"round: {devices} devices")
            res = run_async(one_round(url, server, orgs, devices, args.per_host, args.big,
                                      args.small, run_s))
            print(f"database: {db.description}")
            report(res, run_s)
        finally:
            ignore_stop_signals()
            if server is not None:
                server.stop()
            db.teardown()


if __name__ == "__main__":
    sys.exit(run_benchmark(main, "qualgent-fleet-"))
