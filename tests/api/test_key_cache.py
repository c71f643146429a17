"""The in-process API key cache: it serves polling without key lookups, yet a revocation
takes effect at once (NOTIFY), a lost LISTEN connection empties it, and entries expire."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from qualgent.api.keycache import APPLICATION_NAME, FORGET_ALL, KeyCache, Principal
from qualgent.db.pool import asyncpg_dsn
from tests.api.test_auth_and_errors import _error
from tests.conftest import Db, Org, Server, eventually, start_server

PATH = "/v1/test-cases/list"
JOBS = "/v1/jobs/list"  # served by the asyncpg pool alone, like the key lookup


def _listener_pid(db: Db) -> int | None:
    """The API process's LISTEN connection, once its LISTEN has run."""
    return db.scalar(
        "SELECT pid FROM pg_stat_activity WHERE application_name = $1 "
        "AND datname = current_database() AND state = 'idle' "
        "AND (query LIKE 'LISTEN%' OR query = 'SELECT 1')", APPLICATION_NAME)


def _wait_listening(db: Db, not_pid: int | None = None) -> int:
    found: list[int] = []

    def up() -> bool:
        pid = _listener_pid(db)
        if pid is not None and pid != not_pid:
            found.append(pid)
            return True
        return False

    eventually(up, timeout=15)
    return found[-1]


def _refused(org: Org, path: str = PATH) -> bool:
    return org.http.get(path).status_code == 401


def test_revocation_takes_effect_at_once(db: Db, org: Org, server: Server) -> None:
    _wait_listening(db)
    assert org.http.get(PATH).status_code == 200
    # Served from the cache: a change made behind its back is not seen...
    db.fetch("UPDATE organizations SET plan = 'free' WHERE id = $1", uuid.UUID(org.id))
    assert org.http.get(PATH).status_code == 200
    # ...but revoke-key notifies every process in its transaction.
    db.admin("revoke_key", org.key)
    eventually(lambda: _refused(org), timeout=1.0, interval=0.02)
    _error(org.http.get(PATH), 401, "invalid_api_key")


def _maintenance(db: Db, *statements: str) -> None:
    """Statements run from the server's `postgres` database (the test database may be shut)."""
    async def go() -> None:
        url = make_url(db.url)
        conn = await asyncpg.connect(asyncpg_dsn(url.set(database="postgres").render_as_string(
            hide_password=False)))
        try:
            for stmt in statements:
                await conn.execute(stmt.format(db=url.database))
        finally:
            await conn.close()
    asyncio.run(go())


def test_without_its_listen_connection_the_cache_is_not_used(
    db: Db, org: Org, server: Server
) -> None:
    """A revocation while the LISTEN connection is down would go unheard: until it is back,
    every key is looked up."""
    first = _wait_listening(db)
    assert org.http.get(JOBS).status_code == 200
    db.fetch("UPDATE api_keys SET revoked_at = now()")  # no NOTIFY: the cache cannot know
    assert org.http.get(JOBS).status_code == 200
    # The connection dies and cannot be made again; the pool's open connection still works.
    _maintenance(db, 'ALTER DATABASE "{db}" ALLOW_CONNECTIONS false',
                 f"SELECT pg_terminate_backend({first})")
    try:
        eventually(lambda: _refused(org, JOBS), timeout=1.0, interval=0.02)
        time.sleep(0.5)  # several failed reconnection attempts later, still no cache
        assert all(_refused(org, JOBS) for _ in range(5))
    finally:
        _maintenance(db, 'ALTER DATABASE "{db}" ALLOW_CONNECTIONS true')
    # It comes back by itself and caches again.
    _wait_listening(db, not_pid=first)
    second = db.admin("create_key", org.id)["api_key"]
    with server.client(second) as c:
        assert c.get(JOBS).status_code == 200
        db.fetch("UPDATE api_keys SET revoked_at = now()")
        assert c.get(JOBS).status_code == 200
        db.admin("revoke_key", second)
        eventually(lambda: c.get(JOBS).status_code == 401, timeout=1.0, interval=0.02)


def test_entries_expire(db_url: str, db: Db, tmp_path: Path) -> None:
    server = start_server(db_url, tmp_path / "data", key_cache_seconds=2.0)
    try:
        _wait_listening(db)
        org = Org(db, server)
        assert org.http.get(PATH).status_code == 200
        db.fetch("UPDATE api_keys SET revoked_at = now()")
        assert org.http.get(PATH).status_code == 200
        eventually(lambda: _refused(org), timeout=6)
    finally:
        server.stop()


def test_no_cache_when_disabled(db_url: str, db: Db, tmp_path: Path) -> None:
    server = start_server(db_url, tmp_path / "data", key_cache_seconds=0)
    try:
        org = Org(db, server)
        assert org.http.get(PATH).status_code == 200
        db.fetch("UPDATE api_keys SET revoked_at = now()")
        _error(org.http.get(PATH), 401, "invalid_api_key")
        assert _listener_pid(db) is None
    finally:
        server.stop()


def test_refusals_are_not_cached(db: Db, server: Server) -> None:
    free = Org(db, server, plan="free", name="Free Co")
    _wait_listening(db)
    _error(free.http.get(PATH), 403, "plan_required")
    db.fetch("UPDATE organizations SET plan = 'enterprise' WHERE id = $1", uuid.UUID(free.id))
    assert free.http.get(PATH).status_code == 200


def _principal() -> Principal:
    return Principal(uuid.uuid4(), uuid.uuid4(), uuid.uuid4())


def _listening_cache(max_entries: int = 100) -> KeyCache:
    cache = KeyCache(60, max_entries=max_entries)
    cache.listening = True
    return cache


def test_cache_is_bounded() -> None:
    cache = _listening_cache(max_entries=100)
    for i in range(1000):
        cache.put(i.to_bytes(32, "big"), _principal(), cache.ticket())
    assert len(cache) <= 100
    assert cache.get((999).to_bytes(32, "big")) is not None


def test_answers_older_than_an_invalidation_are_not_cached() -> None:
    cache = _listening_cache()
    p = _principal()
    ticket = cache.ticket()  # taken before the database read...
    cache.forget(str(uuid.uuid4()))  # ...a revocation arrives meanwhile
    cache.put(b"k" * 32, p, ticket)
    assert cache.get(b"k" * 32) is None
    cache.put(b"k" * 32, p, cache.ticket())
    assert cache.get(b"k" * 32) == p
    cache.forget(str(p.key_id))
    assert cache.get(b"k" * 32) is None


def test_forget_all_and_not_listening() -> None:
    cache = _listening_cache()
    for i in range(3):
        cache.put(bytes([i]) * 32, _principal(), cache.ticket())
    cache.forget("not a key id")
    assert len(cache) == 3
    cache.forget(FORGET_ALL)
    assert len(cache) == 0
    cache.listening = False
    cache.put(b"x" * 32, _principal(), cache.ticket())
    assert cache.get(b"x" * 32) is None
