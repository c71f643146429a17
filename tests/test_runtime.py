"""Process wiring: `serve --workers N` stays within the database's connection limit; a device
host waits for a database that is not there yet."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from qualgent.runtime import API_LISTENERS, fit_api_pool, pool_sizes
from tests.conftest import Db, eventually
from tests.restartable_pg import RestartablePostgres
from tests.serve import ServeProcess


def _limit(db: Db) -> int:
    return int(db.scalar("SHOW max_connections")) - int(
        db.scalar("SHOW superuser_reserved_connections"))


def test_pool_size_is_fitted_to_the_server(db: Db, db_url: str) -> None:
    available = _limit(db)
    assert asyncio.run(fit_api_pool(db_url, 20, 1)) == min(20, int(available * 0.6) - 1)
    eight = asyncio.run(fit_api_pool(db_url, 20, 8))
    assert 8 * (eight + API_LISTENERS) <= available * 0.6
    with pytest.raises(RuntimeError, match="connections"):
        asyncio.run(fit_api_pool(db_url, 20, available))
    assert pool_sizes(20) == (10, 10) and sum(pool_sizes(7)) == 7 and min(pool_sizes(1)) >= 1


def test_serve_with_workers_holds_what_the_arithmetic_says(
    db: Db, db_url: str, tmp_path: Path
) -> None:
    key = db.admin("create_org", "Budget", 10, "enterprise")["api_key"]
    database = db.scalar("SELECT current_database()")
    server = ServeProcess(db_url, tmp_path / "data", "--workers", "2",
                          QUALGENT_DB_POOL_SIZE="6")
    try:
        def hammer(_: int) -> int:
            with httpx.Client(base_url=server.base_url, headers={"X-Api-Key": key},
                              timeout=30) as c:
                for _ in range(10):
                    assert c.get("/v1/jobs/list").status_code == 200
                    assert c.get("/v1/test-cases/list").status_code == 200
                    assert c.get("/v1/devices").status_code == 200
            return 1

        with ThreadPoolExecutor(32) as pool:
            assert sum(pool.map(hammer, range(64))) == 64
        held = db.scalar("SELECT count(*) FROM pg_stat_activity WHERE datname = $1 "
                         "AND pid <> pg_backend_pid()", database)
        assert 2 <= held <= 2 * (6 + API_LISTENERS), held
        assert f"up to {6 + API_LISTENERS} database connections each" in server.log.read_text()
    finally:
        server.stop()


def test_a_worker_started_before_its_database_waits_for_it(tmp_path: Path) -> None:
    env = {**os.environ, "QUALGENT_DATA_DIR": str(tmp_path / "data"),
           "QUALGENT_LEASE_SECONDS": "3"}
    with RestartablePostgres(tmp_path / "pg") as pg:
        pg.stop()
        env["QUALGENT_DATABASE_URL"] = pg.url
        log = tmp_path / "worker.log"
        with log.open("wb") as out:
            worker = subprocess.Popen(
                [sys.executable, "-m", "qualgent.cli", "worker", "--simulator",
                 "Pixel 7:Android:14:sms"], env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            eventually(lambda: "unreachable" in log.read_text(), timeout=30)
            time.sleep(2)
            assert worker.poll() is None, log.read_text()
            pg.start()
            pool = Db(pg.url)
            eventually(lambda: "answers again" in log.read_text(), timeout=30)
            eventually(lambda: pool.scalar("SELECT to_regclass('devices')") is not None and
                       pool.scalar("SELECT count(*) FROM devices WHERE worker_id IS NOT NULL "
                                   "AND available") == 1, timeout=30)
        finally:
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(30) == 0, log.read_text()
