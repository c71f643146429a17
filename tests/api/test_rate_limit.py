"""The per-key sliding-window rate limit and its headers, in-process and through Redis."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import pytest
from limits import parse

from qualgent.api.windows import LocalWindows
from tests.api.test_auth_and_errors import _error
from tests.conftest import Db, Org, start_server


def _burst(org: Org, n: int) -> list:
    return [org.http.get("/v1/categories/list") for _ in range(n)]


def test_limit_headers_and_429(db_url: str, db: Db, tmp_path: Path) -> None:
    server = start_server(db_url, tmp_path / "data", rate_limit="10/second")
    try:
        org, other = Org(db, server), Org(db, server, name="Other")
        replies = _burst(org, 12)
        ok, limited = replies[:10], replies[10:]
        assert [r.status_code for r in ok] == [200] * 10
        assert [int(r.headers["X-RateLimit-Remaining"]) for r in ok] == list(range(9, -1, -1))
        for r in replies:
            assert r.headers["X-RateLimit-Limit"] == "10"
            assert 1 <= int(r.headers["X-RateLimit-Reset"]) <= 1
        for r in limited:
            body = _error(r, 429, "rate_limited")
            assert int(r.headers["Retry-After"]) >= 1 and body["details"]["limit"] == 10
        # Another key has its own window.
        assert other.http.get("/v1/categories/list").status_code == 200
        # Errors carry the headers too.
        with server.client("qg_" + "y" * 43) as c:
            r = c.get("/v1/apps/list")
            assert r.status_code == 401 and "X-RateLimit-Remaining" in r.headers
        # The window slides: after a second the key is served again.
        time.sleep(1.1)
        assert org.http.get("/v1/categories/list").status_code == 200
    finally:
        server.stop()


def test_healthz_and_keyless_requests_share_a_window_per_address(
    db_url: str, tmp_path: Path
) -> None:
    """/healthz queries the database: it is limited per client address, like requests that
    carry no key; /livez touches nothing and is not limited."""
    server = start_server(db_url, tmp_path / "data", rate_limit="10/second")
    try:
        with server.client() as c:
            health = [c.get("/healthz") for _ in range(8)]
            keyless = [c.get("/v1/apps/list") for _ in range(4)]
            assert [r.status_code for r in health] == [200] * 8
            assert [r.status_code for r in keyless] == [401, 401, 429, 429]
            r = c.get("/healthz")
            body = _error(r, 429, "rate_limited")
            assert int(r.headers["Retry-After"]) >= 1 and body["details"]["limit"] == 10
            assert r.headers["X-RateLimit-Remaining"] == "0"
            assert all(c.get("/livez").status_code == 200 for _ in range(30))
            time.sleep(1.1)
            assert c.get("/healthz").json() == {"status": "ok"}
    finally:
        server.stop()


def _redis_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _redis_up(), reason="no Redis at 127.0.0.1:6379")
def test_two_api_processes_share_the_window_through_redis(
    db_url: str, db: Db, tmp_path: Path
) -> None:
    servers = [start_server(db_url, tmp_path / f"d{i}", rate_limit="10/second",
                            redis_url="redis://127.0.0.1:6379/0") for i in range(2)]
    try:
        org = Org(db, servers[0])
        clients = [s.client(org.key) for s in servers]
        codes = [clients[i % 2].get("/v1/categories/list").status_code for i in range(14)]
        assert codes == [200] * 10 + [429] * 4
    finally:
        for s in servers:
            s.stop()


def test_in_process_windows_stay_bounded() -> None:
    """Rotating identities (random keys, many addresses) cannot grow the windows without end:
    idle ones are forgotten after their window, and there is a hard bound."""
    item = parse("5/second")

    async def go() -> None:
        bounded = LocalWindows(max_identities=100)
        for i in range(1000):
            assert (await bounded.hit(item, f"k:{i}")).allowed
        assert len(bounded._hits) <= 100
        # The most recent identity keeps its count.
        assert (await bounded.peek(item, "k:999")).remaining == 4

        idle = LocalWindows()
        for i in range(50):
            await idle.hit(parse("5/second"), f"ip:{i}")
        idle._sweep(time.time() + 1.5)
        assert len(idle._hits) == 0

    asyncio.run(go())
