"""Failed authentication is limited per client address before any key lookup, and the client
address comes from X-Forwarded-For only when a trusted proxy sends it."""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import httpx

from qualgent.db.pool import asyncpg_dsn
from tests.api.test_auth_and_errors import _error
from tests.conftest import Db, Org, Server, start_server


def _random_key() -> str:
    return "qg_" + secrets.token_urlsafe(32)


@contextmanager
def api_keys_locked(db_url: str) -> Iterator[None]:
    """Hold an exclusive lock on api_keys: a request that looks a key up waits until the
    block ends, so a prompt answer proves the database was not asked."""
    locked, release = threading.Event(), threading.Event()

    async def hold() -> None:
        conn = await asyncpg.connect(asyncpg_dsn(db_url))
        try:
            async with conn.transaction():
                await conn.execute("LOCK TABLE api_keys IN ACCESS EXCLUSIVE MODE")
                locked.set()
                while not release.is_set():
                    await asyncio.sleep(0.01)
        finally:
            await conn.close()

    thread = threading.Thread(target=asyncio.run, args=(hold(),), daemon=True)
    thread.start()
    assert locked.wait(10), "could not lock api_keys"
    try:
        yield
    finally:
        release.set()
        thread.join(10)


def _get(c: httpx.Client, key: str | None, path: str = "/v1/apps/list",
         xff: str | None = None) -> httpx.Response:
    headers = {"X-Api-Key": key} if key else {}
    if xff:
        headers["X-Forwarded-For"] = xff
    return c.get(path, headers=headers, timeout=5)


def test_failed_authentications_are_limited_per_address_before_any_lookup(
    db_url: str, db: Db, tmp_path: Path
) -> None:
    server = start_server(db_url, tmp_path / "data", auth_failure_limit="5/minute")
    try:
        org = Org(db, server)
        with server.client() as c:
            # A mistyped key once does not lock out the right one.
            _error(_get(c, org.key[:-1] + "!"), 401, "invalid_api_key")
            assert _get(c, org.key).status_code == 200
            # Four more failures, random and malformed keys alike: the address is at its limit.
            for key in (_random_key(), _random_key(), "junk1", "junk2"):
                _error(_get(c, key), 401, "invalid_api_key")
            with api_keys_locked(db.url):
                for key in (_random_key(), "junk3", _random_key()):
                    r = _get(c, key)
                    body = _error(r, 429, "rate_limited")
                    assert "failed authentications" in body["message"]
                    assert body["details"]["limit"] == 5
                    assert 1 <= int(r.headers["Retry-After"]) <= 60
                    assert r.headers["X-RateLimit-Limit"] == "5"
                    assert r.headers["X-RateLimit-Remaining"] == "0"
                # A key this process has seen authenticate goes on working, without a lookup.
                assert _get(c, org.key).status_code == 200
            # A valid key the process has not seen yet is not known-good: refused too, until
            # the window moves on (documented).
            fresh = db.admin("create_key", org.id)["api_key"]
            _error(_get(c, fresh), 429, "rate_limited")
    finally:
        server.stop()


def test_x_forwarded_for_from_an_untrusted_client_changes_nothing(
    db_url: str, tmp_path: Path
) -> None:
    server = start_server(db_url, tmp_path / "data", rate_limit="10/second",
                          auth_failure_limit="3/minute")
    try:
        with server.client() as c:
            codes = [_get(c, _random_key(), xff=f"198.51.100.{i}").status_code for i in range(6)]
            assert codes == [401] * 3 + [429] * 3
            health = [_get(c, None, "/healthz", xff=f"198.51.100.{i}").status_code
                      for i in range(12)]
            assert health == [200] * 10 + [429] * 2
    finally:
        server.stop()


def test_a_trusted_proxy_names_the_client(db_url: str, tmp_path: Path) -> None:
    server: Server = start_server(db_url, tmp_path / "data", rate_limit="10/second",
                                  auth_failure_limit="3/minute",
                                  trusted_proxies="10.0.0.0/8, 127.0.0.1")
    try:
        with server.client() as c:
            # Each forwarded client has its own window...
            health = [_get(c, None, "/healthz", xff=f"203.0.113.{i}").status_code
                      for i in range(12)]
            assert health == [200] * 12
            # ...and one client is limited whatever proxy hop it comes through.
            codes = [_get(c, None, "/healthz", xff=f"203.0.113.200, 10.1.2.{i}").status_code
                     for i in range(12)]
            assert codes == [200] * 10 + [429] * 2
            # Failed authentications count against the forwarded client, not the proxy.
            failures = [_get(c, _random_key(), xff="192.0.2.1").status_code for _ in range(4)]
            assert failures == [401, 401, 401, 429]
            _error(_get(c, _random_key(), xff="192.0.2.2"), 401, "invalid_api_key")
            # Without X-Forwarded-For the proxy itself is the client.
            assert _get(c, None, "/healthz").status_code == 200
    finally:
        server.stop()
