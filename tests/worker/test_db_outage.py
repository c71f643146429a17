"""A device host rides out a PostgreSQL outage: a real worker (DeviceHost with a simulated
device) against a PostgreSQL of the test's own, stopped and started again."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
import uuid
from pathlib import Path

import pytest

from qualgent.builds.demo import write_demo_build
from qualgent.config import Settings
from qualgent.db.migrate import upgrade
from qualgent.drivers.simulator import SimulatedDevice, parse_simulator_spec
from qualgent.storage import LocalBlobStore
from tests.conftest import Db, eventually
from tests.queue.seed import Seed, enqueue, new_run, seed
from tests.restartable_pg import RestartablePostgres
from tests.worker.conftest import InProcessHost

SHOWS_SIGN_IN = ["Open the app", 'Verify "Sign in" is shown']
WAITS = ["Open the app", "Wait 3 seconds", 'Verify "Sign in" is shown']


def start_host(url: str, tmp_path: Path, lease_seconds: float) -> InProcessHost:
    """NOTIFY is its only prompt wake-up (the fallback poll is a minute)."""
    settings = Settings(database_url=url, data_dir=tmp_path / "data",
                        blob_dir=tmp_path / "blobs", lease_seconds=lease_seconds,
                        poll_seconds=60)
    return InProcessHost(settings, url,
                         SimulatedDevice(parse_simulator_spec("Pixel 7:Android:14:sms")))


def _prepare(pg: RestartablePostgres, tmp_path: Path) -> tuple[Db, Seed]:
    asyncio.run(upgrade(pg.url))
    db = Db(pg.url)
    s = seed(db, credits=10)
    build = tmp_path / "demo.apk"
    write_demo_build(build)
    path = db.scalar("SELECT file_path FROM app_files WHERE id = $1", s.app_id)
    LocalBlobStore(tmp_path / "blobs").put(path, build.read_bytes())
    return db, s


def _queue(db: Db, s: Seed, steps: list[str]) -> uuid.UUID:
    run = dataclasses.replace(new_run(s), resolved_steps=[{"description": d} for d in steps])
    [run_id] = enqueue(db, s, run)
    return run_id


def _status(db: Db, run_id: uuid.UUID) -> str:
    return db.scalar("SELECT status FROM test_runs WHERE id = $1", run_id)


def _back(db: Db) -> bool:
    """Registered and heartbeating, its device in the pool, LISTENing on a connection."""
    return db.scalar(
        "SELECT (SELECT count(*) FROM workers WHERE stopped_at IS NULL "
        "        AND heartbeat_at > now() - interval '1 second') = 1 "
        "   AND (SELECT count(*) FROM devices WHERE available AND current_run_id IS NULL) = 1 "
        "   AND (SELECT count(*) FROM pg_stat_activity "
        "        WHERE query LIKE 'LISTEN %qualgent_runs%') = 1")


def test_a_worker_outlives_a_long_outage_and_listens_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="qualgent")
    with RestartablePostgres(tmp_path / "pg") as pg:
        db, s = _prepare(pg, tmp_path)
        host = start_host(pg.url, tmp_path, lease_seconds=2)
        try:
            eventually(lambda: _back(db), timeout=30)
            first = _queue(db, s, SHOWS_SIGN_IN)
            eventually(lambda: _status(db, first) == "passed", timeout=30)

            pg.stop()
            time.sleep(9)  # the worker used to exit ~7 s after PostgreSQL went away
            assert host.thread.is_alive()
            pg.start()

            eventually(lambda: _back(db), timeout=30)
            time.sleep(1)  # its first claim after reconnecting is over: only NOTIFY wakes it
            queued_at = time.monotonic()
            second = _queue(db, s, SHOWS_SIGN_IN)
            eventually(lambda: _status(db, second) != "queued", timeout=10, interval=0.02)
            assert time.monotonic() - queued_at < 3  # not the 60 s poll
            eventually(lambda: _status(db, second) == "passed", timeout=30)
            assert host.thread.is_alive()
        finally:
            host.stop()
        assert not host.thread.is_alive()
        assert db.scalar("SELECT count(*) FROM devices WHERE available") == 0  # deregistered
    assert "the database is unreachable" in caplog.text
    assert "the database answers again" in caplog.text


def test_a_run_in_flight_survives_an_outage_shorter_than_its_lease(tmp_path: Path) -> None:
    with RestartablePostgres(tmp_path / "pg") as pg:
        db, s = _prepare(pg, tmp_path)
        host = start_host(pg.url, tmp_path, lease_seconds=8)
        try:
            eventually(lambda: _back(db), timeout=30)
            run_id = _queue(db, s, WAITS)
            eventually(lambda: db.scalar("SELECT count(*) FROM run_steps") >= 1, interval=0.02)
            pg.stop()  # during the 3 s wait: the next step's record waits for the database
            time.sleep(3)
            pg.start()
            eventually(lambda: _status(db, run_id) == "passed", timeout=30)
        finally:
            host.stop()
        row = db.fetch("SELECT attempts, progress FROM test_runs WHERE id = $1", run_id)[0]
        assert (row["attempts"], row["progress"]) == (1, 100)
        steps = db.fetch("SELECT attempt, status FROM run_steps ORDER BY index")
        assert [tuple(r) for r in steps] == [(1, "passed")] * 3
