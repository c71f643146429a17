"""The API during a PostgreSQL outage: 503 database_unavailable with Retry-After (not 500),
and afterwards every request succeeds again, the first one on each pooled connection too."""

from __future__ import annotations

import asyncio
import http.client
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from qualgent.db.migrate import upgrade
from tests.conftest import Db, Org, Server, start_server
from tests.restartable_pg import RestartablePostgres

PARALLEL = 8  # more than one pooled connection of each pool is in use


@pytest.fixture
def outage(tmp_path: Path):
    with RestartablePostgres(tmp_path / "pg") as pg:
        asyncio.run(upgrade(pg.url))
        server = start_server(pg.url, tmp_path / "data")
        try:
            yield pg, server, Org(Db(pg.url), server)
        finally:
            server.stop()


def _reads(org: Org, run_id: str) -> list[tuple[str, str, dict | None]]:
    """One request per database path: raw asyncpg (key lookup, job status) and SQLAlchemy
    (lists, a write)."""
    return [
        ("GET", f"/v1/jobs/status/{run_id}", None),
        ("GET", "/v1/test-cases/list", None),
        ("GET", "/v1/apps/list", None),
        ("POST", "/v1/test-cases", {"name": "during", "steps": [{"description": "Tap A"}]}),
    ]


def _connection(server: Server) -> http.client.HTTPConnection:
    host, port = server.base_url.removeprefix("http://").split(":")
    return http.client.HTTPConnection(host, int(port), timeout=60)


def _call(conn: http.client.HTTPConnection, key: str, method: str, path: str,
          body: dict | None) -> tuple[int, dict, dict]:
    headers = {"X-Api-Key": key, "Content-Type": "application/json"}
    conn.request(method, path, body=json.dumps(body) if body else None, headers=headers)
    response = conn.getresponse()
    payload = json.loads(response.read())
    return response.status, {k.lower(): v for k, v in response.getheaders()}, payload


def _all_succeed(server: Server, org: Org, requests: list) -> None:
    def one(request: tuple[str, str, dict | None]) -> int:
        conn = _connection(server)
        try:
            return _call(conn, org.key, *request)[0]
        finally:
            conn.close()

    with ThreadPoolExecutor(PARALLEL) as pool:
        statuses = list(pool.map(one, requests * PARALLEL))
    assert statuses == [200] * len(statuses)


def _seed_run(org: Org, db: Db) -> str:
    db.admin("register_device", "Pixel 7", "Android", "14", "phone", True)
    build = org.upload_fixture()
    case = org.test_case()
    r = org.http.post("/v1/test-cases/run", json={"jobs": [{
        "app_file_id": build["id"], "test_case_id": case["id"],
        "device": {"name": "Pixel 7", "platform": "Android"}}]})
    assert r.status_code == 200, r.text
    return r.json()["results"][0]["test_run_id"]


def test_outage_is_503_and_recovery_needs_no_restart(outage) -> None:
    pg, server, org = outage
    run_id = _seed_run(org, org.db)
    requests = _reads(org, run_id)
    _all_succeed(server, org, requests)  # both pools now hold several connections

    pg.stop()
    conn = _connection(server)
    try:
        for method, path, body in requests:
            status, headers, payload = _call(conn, org.key, method, path, body)
            assert status == 503, (path, payload)
            assert payload["error"] == "database_unavailable"
            assert set(payload) == {"error", "message", "details"}
            assert int(headers["retry-after"]) > 0
            assert "x-ratelimit-remaining" in headers
            assert headers.get("connection") != "close"
        with server.client() as c:
            health = c.get("/healthz")
            assert health.status_code == 503 and "retry-after" in health.headers

        pg.start()
        # The same keep-alive connection, then many at once: no request fails on a pooled
        # connection the restart left stale.
        for method, path, body in requests:
            status, _, payload = _call(conn, org.key, method, path, body)
            assert status == 200, (path, payload)
    finally:
        conn.close()
    _all_succeed(server, org, requests)
    with server.client() as c:
        assert c.get("/healthz").status_code == 200


def test_a_silent_restart_fails_no_request(outage) -> None:
    """PostgreSQL restarted between two requests (no traffic during the outage): every
    pooled connection is stale, and still the first request on each succeeds."""
    pg, server, org = outage
    run_id = _seed_run(org, org.db)
    requests = _reads(org, run_id)
    _all_succeed(server, org, requests)
    pg.stop()
    pg.start()
    _all_succeed(server, org, requests)
