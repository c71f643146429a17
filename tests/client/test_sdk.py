"""The SDK against the live API: every endpoint, its errors, idempotent submissions, pacing
by the rate-limit headers, streamed and retried uploads, and events resumed after a drop."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
import time
import tracemalloc
import uuid
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from qualgent.client import ApiError, AsyncClient, Client, device, job
from tests.ci.conftest import Proxy
from tests.conftest import Db, Org, Server, start_server
from tests.serve import ServeProcess
from tests.worker.conftest import SMS_PIXEL, WorkerProcess, wait_for_devices

PIXEL = device("Pixel 7", "Android", "14")


def _client(url: str, key: str, **kw: Any) -> Client:
    return Client(key, url, backoff_base=0.05, backoff_cap=0.2, **kw)


def test_every_endpoint(server: Server, org: Org, db: Db, pixel: dict, demo_apk: Path) -> None:
    category = org.category("Smoke")
    with _client(server.base_url, org.key) as qg:
        build = qg.upload_app(demo_apk, "Demo Shop", "1.0.0")
        assert (build.app_name, build.version, build.os) == ("Demo Shop", "1.0.0", "Android")
        assert [a.id for a in qg.list_apps()] == [build.id]
        assert qg.get_app().id == qg.get_app(build.id).id == build.id

        case = qg.create_test_case(
            "Search", ["Open the app", "Type {{query}} into the search field"],
            category_id=category["id"],
            variables=[{"name": "query", "type": "string", "required": True}])
        assert qg.get_test_case(case["id"])["name"] == "Search"
        edited = qg.update_test_case(case["id"], name="Search again")
        assert edited["version_number"] == 2
        assert sorted(v["version_number"] for v in qg.test_case_versions(case["id"])) == [1, 2]
        assert [c["id"] for c in qg.list_test_cases(category["id"])] == [case["id"]]
        assert qg.list_categories()[0]["name"] == "Smoke"
        assert any(d["name"] == "Pixel 7" for d in qg.list_devices()["phone"])

        submitted = qg.run([job(case["id"], PIXEL, build.id, vars={"query": "socks"})])
        (queued,) = submitted.results
        assert not submitted.replayed and queued.status == "queued"
        run = qg.get_run(queued.test_run_id)
        assert (run.status, run.test_case_name, run.link) == ("queued", "Search again",
                                                              queued.link)
        assert run.raw["vars"] == {"query": "socks"}
        assert [r.id for r in qg.list_runs(limit=5).runs] == [run.id]
        trace = qg.run_steps(run.id)
        assert (trace.test_run_id, trace.steps) == (run.id, [])

        plain = qg.create_test_case("Open", ["Open the app"], category_id=category["id"])
        everything = qg.run_all(build.id, PIXEL, category_id=category["id"])
        assert [r.test_case_id for r in everything.results] == [plain["id"]]
        assert [(w["code"], w["test_case_id"]) for w in everything.warnings] == [
            ("skipped_test_case", case["id"])]  # its variable has no default

        assert [r.id for r in qg.iter_runs(page_size=1)] == [
            everything.results[0].test_run_id, run.id]  # two pages
        assert qg.delete_test_case(case["id"])["status"] == "archived"
        assert qg.delete_apps([build.id]) == [build.id]
        with pytest.raises(ApiError) as gone:
            qg.get_app("latest")
        assert (gone.value.status, gone.value.error) == (404, "S-90004")
        assert gone.value.message == "App not found in your organization."


def test_errors_are_api_errors_and_4xx_are_never_retried(server: Server, org: Org,
                                                          proxy: Proxy) -> None:
    with _client(proxy.url, org.key) as qg:
        with pytest.raises(ApiError) as bad:
            qg.run([{"test_case_id": str(uuid.uuid4()),
                     "device": {"name": "Pixel 7", "platform": "Symbian"}}])
        assert bad.value.status in (400, 422)
        assert "platform" in bad.value.message
        with pytest.raises(ApiError) as missing:
            qg.get_run(str(uuid.uuid4()))
        assert missing.value.status == 404
    assert len(proxy.requests("POST", "/v1/test-cases/run")) == 1
    assert len(proxy.requests("GET", "/v1/jobs/status/")) == 1
    with pytest.raises(ApiError) as unauthorized, _client(server.base_url, "qg_nope") as qg:
        qg.list_apps()
    assert unauthorized.value.status == 401


def test_a_submission_retried_with_its_key_queues_once(server: Server, org: Org, db: Db,
                                                       pixel: dict) -> None:
    org.upload_fixture()
    case = org.test_case()
    jobs = [job(case["id"], PIXEL)]
    with _client(server.base_url, org.key) as qg:
        first = qg.run(jobs)
        again = qg.run(jobs, idempotency_key=first.idempotency_key)
        assert again.replayed
        assert [r.test_run_id for r in again.results] == [r.test_run_id for r in first.results]
        with pytest.raises(ApiError) as reused:
            qg.run([job(case["id"], PIXEL, use_sim=True)],
                   idempotency_key=first.idempotency_key)
        assert (reused.value.status, reused.value.error) == (409, "idempotency_key_reused")
        assert qg.run(jobs).idempotency_key != first.idempotency_key  # a new submission
    assert db.scalar("SELECT count(*) FROM test_runs") == 2


def test_pacing_by_the_rate_limit_headers_avoids_429(db: Db, db_url: str, tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    limited = start_server(db_url, tmp_path / "data", rate_limit="3/second")
    try:
        org = db.admin("create_org", "Paced", 10, "enterprise")
        caplog.set_level(logging.INFO, "qualgent.client")
        started = time.monotonic()
        with _client(limited.base_url, org["api_key"]) as qg:
            for _ in range(8):
                qg.list_categories()
        elapsed = time.monotonic() - started
    finally:
        limited.stop()
    assert not [r for r in caplog.records if "429" in r.getMessage()]
    assert sum("rate limit window used up" in r.getMessage() for r in caplog.records) >= 2
    assert elapsed >= 1.5  # 8 requests at 3 a second


def _big_apk(demo_apk: Path, path: Path, megabytes: int) -> Path:
    """The Demo Shop APK with a large stored asset: a real build, too big to hold twice."""
    path.write_bytes(demo_apk.read_bytes())
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_STORED) as zf:
        with zf.open("assets/padding.bin", "w", force_zip64=True) as out:
            block = bytes(range(256)) * 4096  # 1 MiB
            for _ in range(megabytes):
                out.write(block)
    return path


def test_upload_streams_the_file(db: Db, db_url: str, demo_apk: Path, tmp_path: Path) -> None:
    build = _big_apk(demo_apk, tmp_path / "big.apk", 64)
    serve = ServeProcess(db_url, tmp_path / "data")  # its own process: only ours is measured
    try:
        key = db.admin("create_org", "Big", 10, "enterprise")["api_key"]
        with _client(serve.base_url, key) as qg:
            tracemalloc.start()
            try:
                uploaded = qg.upload_app(build, "Demo Shop", "9.9.9")
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
    finally:
        serve.stop()
    assert uploaded.file_size == build.stat().st_size
    assert peak < 8 * 1024 * 1024, f"peak {peak / 2**20:.1f} MiB for a 64 MiB upload"


def test_upload_retried_when_the_server_is_not_there_yet(server: Server, org: Org,
                                                         demo_apk: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proxies: list[Proxy] = []
    timer = threading.Timer(0.8, lambda: proxies.append(Proxy(server.base_url, port)))
    timer.start()
    try:
        with Client(org.key, f"http://127.0.0.1:{port}", backoff_base=0.2, backoff_cap=0.4,
                    max_attempts=20) as qg:
            uploaded = qg.upload_app(demo_apk, "Demo Shop", "1.0.0")
    finally:
        timer.join()
    try:
        assert uploaded.app_name == "Demo Shop"
        assert len(proxies[0].requests("POST", "/v1/apps/upload")) == 1
    finally:
        proxies[0].close()


def test_events_follow_a_run_on_the_real_server_and_resume(
        server: Server, org: Org, db: Db, db_url: str, tmp_path: Path, demo_apk: Path) -> None:
    worker = WorkerProcess(db_url, server, tmp_path / "worker.log", SMS_PIXEL)
    try:
        wait_for_devices(db, 1)
        with _client(server.base_url, org.key) as qg:
            build = qg.upload_app(demo_apk, "Demo Shop", "1.0.0")
            case = qg.create_test_case("Open", ["Open the app", 'Enter "a@b.c" into Email'])
            (queued,) = qg.run([job(case["id"], PIXEL, build.id)]).results
            seen = list(qg.events([queued.test_run_id], until_final=True))
            assert seen[-1].final and seen[-1].status == "completed"
            assert seen[-1].progress == 100
            # from the first event's id on: the rest again, in order, nothing else
            again = list(qg.events([queued.test_run_id], until_final=True,
                                   last_event_id=str(seen[0].event_id)))
    finally:
        worker.stop()
    tail = [e.event_id for e in again]
    assert tail and tail == sorted(tail) and tail[0] > seen[0].event_id
    assert tail[-1] == seen[-1].event_id
    statuses = db.fetch("SELECT status FROM run_events WHERE test_run_id = $1 AND id > $2 "
                        "ORDER BY id", uuid.UUID(queued.test_run_id), seen[0].event_id)
    assert [e.status for e in again] == [r["status"] for r in statuses]


class DroppingStream:
    """An event stream that hangs up after two events; the next connection must come back
    with Last-Event-ID and gets the final one."""

    def __init__(self) -> None:
        self.last_ids: list[str | None] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                outer.last_ids.append(self.headers.get("Last-Event-ID"))
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(b"retry: 50\n\n: keepalive\n\n")
                if len(outer.last_ids) == 1:
                    for n, status in ((1, "queued"), (2, "running")):
                        self.wfile.write(_event(n, status))
                else:
                    self.wfile.write(_event(3, "passed"))
                self.wfile.flush()
                self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


def _event(n: int, status: str) -> bytes:
    data = {"event_id": n, "test_run_id": "r1", "status": status, "progress": 50 * (n - 1),
            "final": status == "passed", "link": "http://x/test-runs/r1"}
    return f"id: {n}\nevent: run\ndata: {json.dumps(data)}\n\n".encode()


@pytest.fixture
def dropping() -> Iterator[DroppingStream]:
    s = DroppingStream()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


def test_events_resume_with_last_event_id_after_a_drop(dropping: DroppingStream) -> None:
    with _client(dropping.url, "qg_test") as qg:
        events = list(qg.events(["r1"], until_final=True))
    assert [(e.event_id, e.status, e.final) for e in events] == [
        (1, "queued", False), (2, "running", False), (3, "passed", True)]
    assert dropping.last_ids == [None, "2"]


def test_async_client(dropping: DroppingStream, server: Server, org: Org) -> None:
    async def go() -> tuple[list[int], list[dict], ApiError]:
        async with AsyncClient("qg_test", dropping.url,
                               backoff_base=0.05) as events_client:
            ids = [e.event_id async for e in events_client.events(["r1"], until_final=True)]
        async with AsyncClient(org.key, server.base_url) as qg:
            categories = await qg.list_categories()
            try:
                await qg.get_run(str(uuid.uuid4()))
            except ApiError as exc:
                missing = exc
        return ids, categories, missing

    ids, categories, missing = asyncio.run(go())
    assert ids == [1, 2, 3] and categories == [] and missing.status == 404
