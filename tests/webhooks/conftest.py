"""A real receiving HTTP server, API servers that allow it (it listens on 127.0.0.1) and
retry fast, and runs finished through the queue's own functions."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from qualgent.db.pool import create_pool
from qualgent.queue import lifecycle
from qualgent.queue.states import RunStatus
from tests.conftest import Db, Org, Server, eventually, run_async, start_server
from tests.demo import FIXTURE_APK
from tests.queue.seed import device

PIXEL = {"name": "Pixel 7", "platform": "Android"}
FAST = {"webhook_allow_private": True, "webhook_retry_seconds": 0.2,
        "webhook_max_attempts": 4, "poll_seconds": 1.0}


@dataclass
class Received:
    at: float
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Records every POST; answers each with the next of `answers` (the last one repeats)."""

    answers: list[int] = field(default_factory=lambda: [200])
    delay: float = 0.0
    requests: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    httpd: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/hooks/qualgent?src=test"

    def answer(self, *codes: int) -> None:
        with self.lock:
            self.answers = list(codes)

    def count(self) -> int:
        with self.lock:
            return len(self.requests)

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length", "0"))
        body = handler.rfile.read(length)
        if self.delay:
            time.sleep(self.delay)
        with self.lock:
            self.requests.append(Received(time.monotonic(), handler.path,
                                          dict(handler.headers.items()), body))
            code = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        handler.send_response(code)
        reply = b"ok" if code < 300 else b"receiver says no"
        handler.send_header("Content-Length", str(len(reply)))
        handler.end_headers()
        handler.wfile.write(reply)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server hook's name
            rec._handle(self)

        def log_message(self, *_args: Any) -> None:
            pass

    class Listener(ThreadingHTTPServer):
        request_queue_size = 128  # the default 5 resets connections of concurrent senders

    rec.httpd = Listener(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=rec.httpd.serve_forever, daemon=True)
    thread.start()
    yield rec
    rec.httpd.shutdown()
    rec.httpd.server_close()


@pytest.fixture
def hook_server(db_url: str, tmp_path: Path) -> Iterator[Server]:
    """The API with private webhook URLs allowed and retries 0.2 s apart (doubling)."""
    srv = start_server(db_url, tmp_path / "data", **FAST)
    yield srv
    srv.stop()


@pytest.fixture
def acme(db: Db, hook_server: Server, pixel: dict) -> Iterator[Org]:
    o = Org(db, hook_server)
    yield o
    o.http.close()


def register(org: Org, url: str, description: str | None = None) -> dict:
    r = org.http.post("/v1/webhooks", json={"url": url, "description": description})
    assert r.status_code == 200, r.text
    return r.json()


def queue_runs(http: httpx.Client, count: int = 1) -> list[str]:
    """`count` runs of one new case on a Pixel 7, queued through the API (in batches of 10)."""
    with FIXTURE_APK.open("rb") as fh:
        r = http.post("/v1/apps/upload", files={"file": fh},
                      data={"app_name": "Settings", "version": "8.0.10"})
    assert r.status_code == 200, r.text
    r = http.post("/v1/test-cases", json={"name": f"Case {uuid.uuid4().hex[:6]}",
                                          "steps": [{"description": "Open the app"}]})
    assert r.status_code == 200, r.text
    case_id = r.json()["test_case"]["id"]
    ids: list[str] = []
    while len(ids) < count:
        jobs = [{"test_case_id": case_id, "device": PIXEL}] * min(10, count - len(ids))
        r = http.post("/v1/test-cases/run", json={"jobs": jobs})
        assert r.status_code == 200, r.text
        ids += [x["test_run_id"] for x in r.json()["results"]]
    return ids


def finish_runs(db: Db, run_ids: list[str], status: RunStatus = RunStatus.PASSED) -> None:
    """Claim the runs on a worker's Pixel and finish them, as a worker does."""
    worker = uuid.uuid4()
    device(db, worker)

    async def go() -> None:
        pool = await create_pool(db.url, 2)
        try:
            left = {uuid.UUID(r) for r in run_ids}
            while left:
                claimed = await lifecycle.claim(pool, worker, 30)
                assert claimed, f"nothing to claim; still queued: {left}"
                done = await lifecycle.finish(
                    pool, worker, [lifecycle.Outcome(c.run_id, status) for c in claimed])
                left -= done
        finally:
            await pool.close()
    run_async(go())


def deliveries(org: Org, hook_id: str) -> list[dict]:
    r = org.http.get(f"/v1/webhooks/{hook_id}/deliveries")
    assert r.status_code == 200, r.text
    return r.json()["deliveries"]


def wait_deliveries(org: Org, hook_id: str, count: int, final: bool = True,
                    timeout: float = 30) -> list[dict]:
    """The log once it has `count` deliveries (all delivered or failed, if `final`)."""
    found: list[dict] = []

    def ready() -> bool:
        found[:] = deliveries(org, hook_id)
        return len(found) == count and (
            not final or all(d["status"] != "pending" for d in found))
    eventually(ready, timeout, 0.1)
    return found
