"""The queue's SQL as workers use it: claiming, priorities, matching, leases, reaping."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import asyncpg
import pytest

from qualgent.db.pool import create_pool
from qualgent.queue import reaper
from qualgent.queue import runs as q
from tests.conftest import Db, Org, eventually, start_server

PIXEL = {"name": "Pixel 7", "platform": "Android", "os_version": "14"}


def _device(db: Db, worker: uuid.UUID, name: str = "Pixel 7", platform: str = "Android",
            os_version: str = "14", sms: bool = True) -> uuid.UUID:
    device = uuid.uuid4()
    db.fetch("INSERT INTO workers (id, host, pid) VALUES ($1, 'test', 1) ON CONFLICT DO NOTHING",
             worker)
    db.fetch("INSERT INTO devices (id, name, platform, os_version, form_factor, sms_enabled, "
             "available, worker_id) VALUES ($1, $2, $3, $4, 'phone', $5, true, $6)",
             device, name, platform, os_version, sms, worker)
    return device


def _queue(org: Org, ready: dict, n: int = 1, **job) -> list[str]:  # noqa: ANN003
    body = {"jobs": [{"app_file_id": ready["app"]["id"], "test_case_id": ready["case"]["id"],
                      "device": PIXEL, **job}] * n}
    r = org.http.post("/v1/test-cases/run", json=body)
    assert r.status_code == 200, r.text
    return [x["test_run_id"] for x in r.json()["results"]]


@pytest.fixture
def ready(org: Org, pixel: dict) -> dict:
    return {"app": org.upload_fixture(), "case": org.test_case()}


def _run(coro):  # noqa: ANN001, ANN202
    return asyncio.run(coro)


async def _with_pool(db: Db, fn):  # noqa: ANN001, ANN202
    pool = await create_pool(db.url, 10)
    try:
        return await fn(pool)
    finally:
        await pool.close()


def test_claims_highest_priority_then_oldest(org: Org, db: Db, ready: dict) -> None:
    low = _queue(org, ready, priority="low")
    med = _queue(org, ready, 2, priority="medium")
    high = _queue(org, ready, priority="high")
    worker = uuid.uuid4()
    device = _device(db, worker)

    async def go(pool: asyncpg.Pool) -> list[str]:
        order = []
        for _ in range(4):
            c = await q.claim(pool, worker, 30)
            assert c is not None and c.device_id == device and c.attempt == 1
            order.append(str(c.run_id))
            assert await q.finish(pool, c.run_id, worker, "passed", None, None)
        assert await q.claim(pool, worker, 30) is None
        return order

    order = _run(_with_pool(db, go))
    assert order[0] == high[0] and order[3] == low[0] and set(order[1:3]) == set(med)
    row = db.fetch("SELECT status, progress, finished_at FROM test_runs WHERE id=$1::uuid",
                   order[0])[0]
    assert (row["status"], row["progress"]) == ("passed", 100) and row["finished_at"]


def test_busy_device_and_matching(org: Org, db: Db, ready: dict) -> None:
    db.admin("register_device", "iPhone 14 Pro", "iOS", "16.0", "phone", False)
    _queue(org, ready, use_sim=True)
    worker = uuid.uuid4()
    _device(db, worker, sms=False)  # a Pixel without SIM cannot take a use_sim run
    assert _run(_with_pool(db, lambda pool: q.claim(pool, worker, 30))) is None
    _device(db, worker, os_version="13")
    assert _run(_with_pool(db, lambda pool: q.claim(pool, worker, 30))) is None
    sim = _device(db, worker, sms=True)
    _queue(org, ready)

    async def go(pool: asyncpg.Pool) -> None:
        first = await q.claim(pool, worker, 30)
        assert first is not None and first.device_id == sim  # use_sim run, only SIM device
        second = await q.claim(pool, worker, 30)  # plain run: the idle non-SIM 14 Pixel
        assert second is not None and second.device_id != sim
        assert await q.claim(pool, worker, 30) is None  # every matching device is busy

    _run(_with_pool(db, go))


def test_concurrent_claimers_never_share_a_run(org: Org, db: Db, ready: dict) -> None:
    ids = []
    for _ in range(3):
        ids += _queue(org, ready, 8)
    workers = [uuid.uuid4() for _ in range(6)]
    for w in workers:
        for _ in range(2):
            _device(db, w)

    async def go(pool: asyncpg.Pool) -> list[uuid.UUID]:
        async def claimer(worker: uuid.UUID) -> list[uuid.UUID]:
            got = []
            while (c := await q.claim(pool, worker, 30)) is not None:
                got.append(c.run_id)
                await q.finish(pool, c.run_id, worker, "passed", None, None)
            return got

        results = await asyncio.gather(*(claimer(w) for w in workers for _ in range(2)))
        return [r for rs in results for r in rs]

    claimed = _run(_with_pool(db, go))
    assert sorted(map(str, claimed)) == sorted(ids)
    assert db.scalar("SELECT count(*) FROM test_runs WHERE status = 'passed'") == 24
    assert db.scalar("SELECT max(attempts) FROM test_runs") == 1


def test_expired_leases_are_retried_then_failed_and_refunded(
    org: Org, db: Db, ready: dict
) -> None:
    [run_id] = _queue(org, ready)
    assert db.scalar("SELECT credits FROM organizations WHERE id=$1::uuid", org.id) == 99
    worker = uuid.uuid4()
    _device(db, worker)

    async def go(pool: asyncpg.Pool) -> None:
        first = await q.claim(pool, worker, 0.05)
        await asyncio.sleep(0.1)
        reaped = await reaper.reap(pool, max_attempts=2, worker_timeout_s=3600)
        assert reaped["requeued"] == [first.run_id]
        # The first holder lost the run: it can write nothing any more.
        assert not await q.renew(pool, first.run_id, worker, 30)
        assert not await q.record_step(pool, first.run_id, worker, 1, {
            "index": 0, "description": "x", "status": "passed", "actions": [],
            "started_at": 0.0, "finished_at": 0.0})
        second = await q.claim(pool, worker, 0.05)
        assert second.run_id == first.run_id and second.attempt == 2
        assert not await q.finish(pool, first.run_id, uuid.uuid4(), "passed", None, None)
        await asyncio.sleep(0.1)
        reaped = await reaper.reap(pool, max_attempts=2, worker_timeout_s=3600)
        assert reaped["failed"] == [first.run_id]
        assert not await q.finish(pool, first.run_id, worker, "passed", None, None)

    _run(_with_pool(db, go))
    row = db.fetch("SELECT status, progress, failure_category, explanation, attempts "
                   "FROM test_runs WHERE id=$1::uuid", run_id)[0]
    assert (row["status"], row["progress"], row["failure_category"], row["attempts"]) == \
        ("failed", 100, "infrastructure", 2)
    assert "stopped answering" in row["explanation"]
    assert db.scalar("SELECT credits FROM organizations WHERE id=$1::uuid", org.id) == 100
    assert db.scalar("SELECT reason FROM credit_ledger ORDER BY id DESC LIMIT 1") == \
        "refund_infrastructure"
    assert db.scalar("SELECT count(*) FROM run_steps") == 0
    assert db.scalar("SELECT count(*) FROM devices WHERE current_run_id IS NOT NULL") == 0


def test_dead_workers_leave_the_pool(org: Org, db: Db) -> None:
    worker = uuid.uuid4()
    _device(db, worker, name="Galaxy S23")
    names = [d["name"] for d in org.http.get("/v1/devices").json()["phone"]]
    assert "Galaxy S23" in names
    db.fetch("UPDATE workers SET heartbeat_at = now() - interval '1 hour'")
    _run(_with_pool(db, lambda pool: reaper.reap(pool, 3, worker_timeout_s=60)))
    names = [d["name"] for d in org.http.get("/v1/devices").json()["phone"]]
    assert "Galaxy S23" not in names


def test_the_api_reaps_even_with_no_worker_alive(db_url: str, db: Db, tmp_path: Path) -> None:
    server = start_server(db_url, tmp_path / "d", lease_seconds=0.4, max_attempts=1)
    try:
        org = Org(db, server)
        db.admin("register_device", "Pixel 7", "Android", "14", "phone", True)
        ready = {"app": org.upload_fixture(), "case": org.test_case()}
        [run_id] = _queue(org, ready)
        worker = uuid.uuid4()
        _device(db, worker)
        claimed = _run(_with_pool(db, lambda pool: q.claim(pool, worker, 0.1)))
        assert str(claimed.run_id) == run_id  # ... and the worker dies here, silently
        eventually(lambda: org.http.get(f"/v1/jobs/status/{run_id}").json()["status"]
                   == "failed", timeout=15, interval=0.1)
        assert "stopped answering" in org.http.get(f"/v1/jobs/status/{run_id}").json()[
            "explanation"]
    finally:
        server.stop()
