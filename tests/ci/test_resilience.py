"""The CLI (through the SDK) against a server that misbehaves for real: a rate limit being
hammered, a response lost after the server acted, 503s from a proxy in front of it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.ci.conftest import Proxy, ci, make_case
from tests.conftest import Db, Org, Server, start_server
from tests.worker.conftest import SMS_PIXEL, WorkerProcess, wait_for_devices


@pytest.fixture
def limited(db_url: str, tmp_path: Path) -> Iterator[Server]:
    """The API with a rate limit of 3 requests a second per key."""
    srv = start_server(db_url, tmp_path / "data", rate_limit="3/second")
    yield srv
    srv.stop()


def test_429_storm_the_client_backs_off_and_finishes(limited: Server, db: Db, db_url: str,
                                                     demo_apk: Path, tmp_path: Path) -> None:
    org = Org(db, limited)
    cases = [make_case(org, f"Open {i}", ["Open the app"]) for i in range(3)]
    worker = WorkerProcess(db_url, limited, tmp_path / "worker.log", SMS_PIXEL)
    refused: list[int] = []
    stop = threading.Event()

    def storm() -> None:
        # another job in the same pipeline with the same key, using up the window for 4 s
        with httpx.Client(base_url=limited.base_url, headers={"X-Api-Key": org.key}) as h:
            end = time.monotonic() + 4
            while time.monotonic() < end and not stop.is_set():
                if h.get("/v1/categories/list").status_code == 429:
                    refused.append(1)
                time.sleep(0.02)

    try:
        wait_for_devices(db, 1)
        time.sleep(1.1)  # the org's own setup requests out of the window
        hammer = threading.Thread(target=storm)
        hammer.start()
        time.sleep(0.3)
        done = ci(limited.base_url, org.key, "run", "--build", str(demo_apk),
                  "--app-name", "Demo Shop", "--version", "1.0.0",
                  *[a for c in cases for a in ("--test-case", c)], "--device", "Pixel 7",
                  "--poll-interval", "0.5s", "--timeout", "2m")
        stop.set()
        hammer.join()
    finally:
        stop.set()
        worker.stop()

    assert done.returncode == 0, done.stdout + done.stderr
    assert refused, "the storm never hit the limit"
    assert "HTTP 429 (rate limited); retrying in" in done.stderr
    assert db.scalar("SELECT count(*) FROM test_runs WHERE status = 'completed'") == 3


def test_lost_response_on_submission_queues_each_run_once(
        server: Server, org: Org, db: Db, worker: WorkerProcess, proxy: Proxy,
        demo_apk: Path) -> None:
    # 12 cases: two batches (10 + 2); the answer to the first one never reaches the client
    cases = [make_case(org, f"Open {i}", ["Open the app"]) for i in range(12)]
    proxy.plan("POST", "/v1/test-cases/run", ["drop"])

    done = ci(proxy.url, org.key, "run", "--build", str(demo_apk), "--app-name", "Demo Shop",
              "--version", "1.0.0", *[a for c in cases for a in ("--test-case", c)],
              "--device", "Pixel 7", "--poll-interval", "0.5s", "--timeout", "3m")

    submissions = proxy.requests("POST", "/v1/test-cases/run")
    assert [status for _, status in submissions] == [None, 200, 200]
    keys = [headers.get("Idempotency-Key") for headers, _ in submissions]
    assert keys[0] and keys[0] == keys[1] != keys[2]  # a retry keeps its batch's key
    assert "RemoteProtocolError" in done.stderr and "retrying" in done.stderr
    assert db.scalar("SELECT count(*) FROM test_runs") == 12
    assert db.scalar("SELECT count(DISTINCT test_case_id) FROM test_runs") == 12
    assert done.returncode == 0, done.stdout + done.stderr


def test_5xx_are_retried(server: Server, org: Org, db: Db, worker: WorkerProcess,
                         proxy: Proxy, demo_apk: Path) -> None:
    case = make_case(org, "Open", ["Open the app"])
    proxy.plan("POST", "/v1/test-cases/run", ["503", "503"])
    proxy.plan("GET", "/v1/jobs/status/", ["503", "503"])
    proxy.plan("GET", "/v1/jobs/events", ["503"])  # no event stream: the CLI polls instead
    proxy.plan("POST", "/v1/apps/upload", ["503"])  # a build is never re-sent after a 5xx

    refused = ci(proxy.url, org.key, "upload", str(demo_apk), "--app-name", "Demo Shop",
                 "--version", "1.0.0")
    assert refused.returncode == 2 and "503 upstream_unavailable" in refused.stderr
    assert len(proxy.requests("POST", "/v1/apps/upload")) == 1

    done = ci(proxy.url, org.key, "run", "--build", str(demo_apk), "--app-name", "Demo Shop",
              "--version", "1.0.0", "--test-case", case, "--device", "Pixel 7",
              "--poll-interval", "0.5s", "--timeout", "2m")

    assert done.returncode == 0, done.stdout + done.stderr
    assert "events unavailable (503 upstream_unavailable: proxy says no); polling" in done.stdout
    assert [s for _, s in proxy.requests("POST", "/v1/test-cases/run")] == [503, 503, 200]
    assert [s for _, s in proxy.requests("GET", "/v1/jobs/status/")][:3] == [503, 503, 200]
    assert done.stderr.count("HTTP 503; retrying in") == 4
    assert db.scalar("SELECT count(*) FROM test_runs") == 1
