"""Server render time of the results page of a 50-step run, beside the API's JSON of the
same steps.

Starts `qualgent serve` on a free loopback port with a fresh temp data dir (or a fresh
database on QUALGENT_DATABASE_URL), signs up through the page (a browser session), makes an
API key, uploads the fixture APK and queues one run of a --steps-step test case. Then writes
that run's steps directly, as a worker would: rows in run_steps (each with three actions that
carry bounds, a selector and the screen they were taken on; every other step leaves its screen,
so half the steps show two screenshots) and a 1080x2400 PNG per step plus a device log in the
blob store, and marks the run passed.

Measures, over the same keep-alive connection, alternating: GET /test-runs/{id} (the page,
signed in) and GET /v1/jobs/{id}/steps (the API's JSON of the same steps with the same signed
links; the reference). Time = request sent to body received, on 127.0.0.1, so it is the
server's time plus a loopback round trip. Prints the first (cold: PNG headers not yet read)
page request, then median, p90 and max of each over --requests requests after a warm-up,
the page/reference ratio, and PASS/MISS against the target: page median under 300 ms.

    python benchmarks/results_page.py [--steps 50] [--requests 30]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import struct
import time
import uuid
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
from _common import FIXTURE_APK, Database, Server, check, log, run_benchmark, upload_file

from qualgent.api.keys import display_prefix, hash_key, new_key
from qualgent.db.pool import asyncpg_dsn
from qualgent.storage.keys import device_log_key, screenshot_key

TARGET_S = 0.300
WIDTH, HEIGHT = 1080, 2400
RATE_LIMIT = "1000000/second"


def png(width: int, height: int) -> bytes:
    """A valid RGB PNG of the device's screen size (a few bands of colour)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = bytearray()
    for y in range(height):
        shade = 255 - (y * 6 // height) * 20
        rows += b"\x00" + bytes((shade, shade, 250)) * width
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(bytes(rows), 6)) + chunk(b"IEND", b""))


def sign_up(client: httpx.Client, base: str) -> str:
    """A person signed up through the page; the client keeps the session cookie."""
    page = client.get(base + "/auth/sign-up")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, page.text[:300]
    email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
    r = client.post(base + "/auth/sign-up", data={
        "csrf_token": token.group(1), "name": "Bench Mark", "email": email,
        "password": "correct horse battery", "organization": "Bench"})
    if r.status_code != 303:
        raise RuntimeError(f"sign-up: HTTP {r.status_code}: {r.text[:300]}")
    return email


def _actions(i: int) -> list[dict]:
    """Three actions on screen i//2: a tap and a typing into an input, a check of a text."""
    screen = f"{i // 2:016x}"
    top = 300 + (i % 10) * 180
    field = [48, top, 1032, top + 140]
    return [
        {"action": "tap", "selector": {"text": f"Field {i}", "kind": "input"},
         "bounds": field, "value": None, "screen": screen},
        {"action": "type", "selector": {"text": f"Field {i}", "kind": "input"},
         "bounds": field, "value": f"value {i}", "screen": screen},
        {"action": "assert_visible", "selector": {"text": f"Label {i}", "kind": "text"},
         "bounds": [48, top - 90, 600, top - 10], "value": f"Label {i}", "screen": screen},
    ]


async def seed_steps(db_url: str, blob_root: Path, run_id: str, steps: int) -> None:
    """The run's steps, screenshots and log as a worker leaves them, and the run passed."""
    shot = png(WIDTH, HEIGHT)
    rid = uuid.UUID(run_id)
    for i in range(steps):
        path = blob_root / screenshot_key(rid, 1, i)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(shot)
    log_path = blob_root / device_log_key(rid, 1)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_text = "".join(f"12-02 08:00:{n % 60:02d}.000  1542  1542 I Bench: line {n}\n"
                       for n in range(2000))
    log_path.write_text(log_text)
    start = datetime.now(UTC) - timedelta(minutes=5)
    conn = await asyncpg.connect(asyncpg_dsn(db_url))
    try:
        await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads,
                                  schema="pg_catalog")
        await conn.executemany(
            "INSERT INTO run_steps (test_run_id, attempt, index, description, status, "
            "actions, screenshot_key, reason, started_at, finished_at) "
            "VALUES ($1, 1, $2, $3, 'passed', $4, $5, NULL, $6, $7)",
            [(rid, i, f'Enter "value {i}" into Field {i} and check Label {i}', _actions(i),
              screenshot_key(rid, 1, i), start + timedelta(seconds=i),
              start + timedelta(seconds=i, milliseconds=400)) for i in range(steps)])
        await conn.execute(
            "INSERT INTO run_artifacts (test_run_id, attempt, kind, seq, key, bytes) "
            "VALUES ($1, 1, 'log', 1, $2, $3)", rid, device_log_key(rid, 1), len(log_text))
        await conn.execute(
            "UPDATE test_runs SET status = 'passed', progress = 100, attempts = 1, "
            "planner = 'rules', started_at = $2, finished_at = $3 WHERE id = $1",
            rid, start, start + timedelta(seconds=steps))
    finally:
        await conn.close()


def timed(client: httpx.Client, url: str, headers: dict | None = None
          ) -> tuple[float, bytes]:
    t0 = time.perf_counter()
    r = client.get(url, headers=headers or {})
    elapsed = time.perf_counter() - t0
    if r.status_code != 200:
        raise RuntimeError(f"GET {url}: HTTP {r.status_code}: {r.text[:300]}")
    return elapsed, r.content


def check_page(html: bytes, steps: int) -> None:
    """The page measured is the whole page: every step, its screenshots and marks."""
    found = (html.count(b'<article class="step '), html.count(b'<g class="mark '),
             html.count(b'<figure class="shot before">'), html.count(b'loading="lazy"'))
    want = (steps, 3 * steps, (steps - 1) // 2, steps + (steps - 1) // 2)
    if found != want:
        raise RuntimeError(f"page: (steps, marks, before-shots, images) {found} != {want}")


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--requests", type=int, default=30)
    args = ap.parse_args()
    if args.steps < 1 or args.requests < 3:
        ap.error("--steps must be at least 1 and --requests at least 3")
    return args


def main(tmp: Path) -> None:
    args = parse_args()
    db = Database()
    server = None
    try:
        db.setup()  # before the server: it takes the database's URL when made
        server = Server(tmp, db, {"QUALGENT_RATE_LIMIT": RATE_LIMIT})
        server.start()
        base = server.base_url
        db_url = db.url
        if db_url is None:
            from qualgent.db.embedded import embedded_url

            db_url = embedded_url(server.data_dir)
        server.cli_json("admin", "register-device", "--name", "Pixel 7", "--platform",
                        "Android", "--os-version", "14")
        with httpx.Client(timeout=60) as browser, httpx.Client(timeout=60) as api:
            email = sign_up(browser, base)
            key = asyncio.run(api_key(db_url, email))
            headers = {"X-Api-Key": key}
            up = upload_file(api, base, key, FIXTURE_APK)
            check(up, "upload")
            case = check(api.post(base + "/v1/test-cases", headers=headers, json={
                "name": f"A {args.steps}-step journey",
                "steps": [{"description": f'Enter "value {i}" into Field {i} and check '
                                          f'Label {i}'} for i in range(args.steps)]}),
                "test case")["test_case"]
            run = check(api.post(base + "/v1/test-cases/run", headers=headers, json={
                "jobs": [{"test_case_id": case["id"],
                          "device": {"name": "Pixel 7", "platform": "Android"}}]}),
                "run")["results"][0]["test_run_id"]
            log(f"seeding {args.steps} steps of run {run} (screenshots {WIDTH}x{HEIGHT})")
            asyncio.run(seed_steps(db_url, server.data_dir / "blobs", run, args.steps))
            page_url = f"{base}/test-runs/{run}"
            ref_url = f"{base}/v1/jobs/{run}/steps"
            cold, page_body = timed(browser, page_url)
            check_page(page_body, args.steps)
            _, ref_body = timed(api, ref_url, headers)
            if len(json.loads(ref_body)["steps"]) != args.steps:
                raise RuntimeError("reference: not every step")
            for _ in range(3):  # warm-up
                timed(browser, page_url)
                timed(api, ref_url, headers)
            page_s, ref_s = [], []
            for _ in range(args.requests):
                page_s.append(timed(browser, page_url)[0])
                ref_s.append(timed(api, ref_url, headers)[0])
        report(args, db, cold, page_s, ref_s, len(page_body), len(ref_body))
    finally:
        if server is not None:
            server.stop()
        db.teardown()


async def api_key(db_url: str, email: str) -> str:
    """A key for the signed-up person's organization, made directly (as the tests do)."""
    conn = await asyncpg.connect(asyncpg_dsn(db_url))
    try:
        user = await conn.fetchrow("SELECT id, organization_id FROM users WHERE email = $1",
                                   email)
        key = new_key()
        await conn.execute(
            "INSERT INTO api_keys (id, organization_id, user_id, key_hash, prefix) "
            "VALUES ($1, $2, $3, $4, $5)", uuid.uuid4(), user["organization_id"], user["id"],
            hash_key(key), display_prefix(key))
        return key
    finally:
        await conn.close()


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def report(args: argparse.Namespace, db: Database, cold: float, page_s: list[float],
           ref_s: list[float], page_bytes: int, ref_bytes: int) -> None:
    def row(name: str, values: list[float], size: int) -> str:
        p90 = statistics.quantiles(values, n=10)[-1]
        return (f"{name:<34}{_ms(statistics.median(values)):>11}{_ms(p90):>11}"
                f"{_ms(max(values)):>11}{size / 1024:>10.1f} KiB")

    print(f"qualgent benchmark: results page of a {args.steps}-step run "
          f"({args.requests} requests each, alternating, after 3 warm-ups)")
    print(f"  server : qualgent serve (1 worker), database: {db.description}")
    print("  time   : request sent to body received over a keep-alive loopback connection")
    print()
    print(f"{'':<34}{'median':>11}{'p90':>11}{'max':>11}{'body':>14}")
    print(row("GET /test-runs/{id} (page)", page_s, page_bytes))
    print(row("GET /v1/jobs/{id}/steps (reference)", ref_s, ref_bytes))
    print(f"first page request (cold)         {_ms(cold):>11}")
    print()
    ratio = statistics.median(page_s) / statistics.median(ref_s)
    print(f"page / reference (median)  : {ratio:.2f}x")
    v = "PASS" if statistics.median(page_s) < TARGET_S else "MISS"
    print(f"page median                : {_ms(statistics.median(page_s))}  "
          f"(target: under {TARGET_S * 1000:.0f} ms)  {v}")


if __name__ == "__main__":
    run_benchmark(main, "qualgent-results-")
