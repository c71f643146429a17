"""The queue as workers use it: claiming (one or several at once), priorities, matching,
leases, finishing in batches, handing back and reaping."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import asyncpg

from qualgent.db.pool import create_pool
from qualgent.queue import lifecycle as q
from qualgent.queue.lifecycle import Outcome
from qualgent.queue.states import FailureCategory, Priority, RunStatus
from tests.conftest import Db, Org, eventually, start_server
from tests.queue.seed import device, enqueue, new_run, seed

T = TypeVar("T")
PASSED = RunStatus.PASSED


def _with_pool(db: Db, fn: Callable[[asyncpg.Pool], Awaitable[T]]) -> T:
    async def go() -> T:
        pool = await create_pool(db.url, 10)
        try:
            return await fn(pool)
        finally:
            await pool.close()
    return asyncio.run(go())


def test_claims_highest_priority_then_oldest(db: Db) -> None:
    s = seed(db)
    [low] = enqueue(db, s, new_run(s, Priority.LOW))
    med = enqueue(db, s, new_run(s), new_run(s))
    [high] = enqueue(db, s, new_run(s, Priority.HIGH))
    worker = uuid.uuid4()
    dev = device(db, worker)

    async def go(pool: asyncpg.Pool) -> list[uuid.UUID]:
        order = []
        for _ in range(4):
            [c] = await q.claim(pool, worker, 30)
            assert c.device_id == dev and c.attempt == 1 and c.steps == ["Open the app",
                                                                        "Tap Sign in"]
            assert (c.build_key, c.package_name) == ("q/app.apk", "com.example.q")
            order.append(c.run_id)
            assert await q.finish(pool, worker, [Outcome(c.run_id, PASSED)]) == {c.run_id}
        assert await q.claim(pool, worker, 30) == []
        return order

    order = _with_pool(db, go)
    assert order[0] == high and order[3] == low and set(order[1:3]) == set(med)
    row = db.fetch("SELECT status, progress, finished_at FROM test_runs WHERE id=$1", high)[0]
    assert (row["status"], row["progress"]) == ("passed", 100) and row["finished_at"]
    assert db.scalar("SELECT count(*) FROM devices WHERE current_run_id IS NOT NULL") == 0


def test_busy_device_and_matching(db: Db) -> None:
    s = seed(db)
    enqueue(db, s, new_run(s, use_sim=True))
    worker = uuid.uuid4()
    device(db, worker, sms=False)  # a Pixel without SIM cannot take a use_sim run
    assert _with_pool(db, lambda pool: q.claim(pool, worker, 30, limit=5)) == []
    enqueue(db, s, new_run(s, device_os_version="13"))
    device(db, worker, os_version="12", sms=False)  # neither takes the Android 13 run
    assert _with_pool(db, lambda pool: q.claim(pool, worker, 30, limit=5)) == []
    sim = device(db, worker, sms=True)
    enqueue(db, s, new_run(s))

    async def go(pool: asyncpg.Pool) -> None:
        [first] = await q.claim(pool, worker, 30)
        assert first.device_id == sim  # the use_sim run (oldest), only on the SIM device
        [second] = await q.claim(pool, worker, 30)  # the plain run: an idle Pixel 14
        assert second.device_id != sim
        assert await q.claim(pool, worker, 30, limit=5) == []  # the 13 run matches nothing

    _with_pool(db, go)


def test_one_statement_claims_a_run_for_each_idle_device(db: Db) -> None:
    s = seed(db)
    worker, other = uuid.uuid4(), uuid.uuid4()
    plain = [device(db, worker, sms=False) for _ in range(2)]
    sim = device(db, worker, sms=True)
    ipad = device(db, worker, name="iPad", platform="iOS", os_version="17", sms=False)
    device(db, other)
    # Oldest first: a SIM run, three plain Pixel runs, an iPad run, another SIM run.
    ids = enqueue(db, s, new_run(s, use_sim=True), new_run(s), new_run(s), new_run(s),
                  new_run(s, device_name="iPad", device_platform="iOS"),
                  new_run(s, use_sim=True))

    async def go(pool: asyncpg.Pool) -> tuple[list[q.Claimed], list[q.Claimed]]:
        busy_here = plain[:1]  # the worker says it is still using this one
        first = await q.claim(pool, worker, 30, limit=10, busy=busy_here)
        second = await q.claim(pool, worker, 30, limit=10)
        return first, second

    first, second = _with_pool(db, go)
    got = {c.run_id: c.device_id for c in first}
    # Three idle devices the worker may use: the SIM run takes the SIM device, the oldest
    # plain run the free plain Pixel, the iPad run the iPad; the other runs stay queued.
    assert got == {ids[0]: sim, ids[1]: plain[1], ids[4]: ipad}
    assert [(c.run_id, c.device_id) for c in second] == [(ids[2], plain[0])]
    marks = dict(db.fetch("SELECT id, current_run_id FROM devices WHERE worker_id = $1",
                          worker))
    assert marks == {sim: ids[0], plain[1]: ids[1], ipad: ids[4], plain[0]: ids[2]}
    statuses = dict(db.fetch("SELECT id, status FROM test_runs"))
    assert [statuses[i] for i in ids] == ["running", "running", "running", "queued", "running",
                                          "queued"]


def test_concurrent_claimers_never_share_a_run_or_a_device(db: Db) -> None:
    s = seed(db, credits=1000)
    ids = []
    for _ in range(6):
        ids += enqueue(db, s, *[new_run(s)] * 8)
    workers = [uuid.uuid4() for _ in range(4)]
    for w in workers:
        for _ in range(3):
            device(db, w)

    async def go(pool: asyncpg.Pool) -> list[uuid.UUID]:
        async def host(worker: uuid.UUID) -> list[uuid.UUID]:
            got = []
            # Two claim loops per worker, racing for its three devices.
            async def loop() -> None:
                while claimed := await q.claim(pool, worker, 30, limit=3):
                    got.extend(c.run_id for c in claimed)
                    done = await q.finish(pool, worker, [Outcome(c.run_id, PASSED)
                                                         for c in claimed])
                    assert done == {c.run_id for c in claimed}
            await asyncio.gather(loop(), loop())
            return got

        results = await asyncio.gather(*(host(w) for w in workers))
        return [r for rs in results for r in rs]

    claimed = _with_pool(db, go)
    assert sorted(claimed) == sorted(ids)
    assert db.scalar("SELECT count(*) FROM test_runs WHERE status = 'passed'") == 48
    assert db.scalar("SELECT max(attempts) FROM test_runs") == 1


def test_finishing_in_a_batch_refunds_infrastructure_failures_once(db: Db) -> None:
    a, b = seed(db, credits=10), seed(db, credits=10)
    worker = uuid.uuid4()
    for _ in range(4):
        device(db, worker)
    ids_a = enqueue(db, a, new_run(a), new_run(a), new_run(a), cost=2)
    [id_b] = enqueue(db, b, new_run(b), cost=3)
    infra = FailureCategory.INFRASTRUCTURE

    async def go(pool: asyncpg.Pool) -> tuple[set, set, set]:
        claimed = await q.claim(pool, worker, 30, limit=4)
        assert {c.run_id for c in claimed} == {*ids_a, id_b}
        outcomes = [
            Outcome(ids_a[0], RunStatus.FAILED, infra, "device lost"),
            Outcome(ids_a[1], RunStatus.FAILED, infra, "device lost"),
            Outcome(ids_a[2], RunStatus.FAILED, FailureCategory.APP, "no Home",
                    audit={"verdict": "regressed"}),
            Outcome(id_b, RunStatus.FAILED, infra, "host failed"),
        ]
        stranger = await q.finish(pool, uuid.uuid4(), outcomes)  # not its runs
        first = await q.finish(pool, worker, outcomes)
        again = await q.finish(pool, worker, outcomes)  # never finished twice
        return stranger, first, again

    stranger, first, again = _with_pool(db, go)
    assert stranger == set() and first == {*ids_a, id_b} and again == set()
    credits = dict(db.fetch("SELECT id, credits FROM organizations"))
    assert credits == {a.org_id: 8, b.org_id: 10}  # a: 10 - 6 + 2 + 2; b: refunded
    ledger = db.fetch("SELECT organization_id, delta, balance_after, reason, test_run_id "
                      "FROM credit_ledger WHERE reason = 'refund_infrastructure' ORDER BY id")
    by_org = {}
    for r in ledger:
        by_org.setdefault(r["organization_id"], []).append((r["delta"], r["balance_after"]))
    assert sorted(by_org[a.org_id]) == [(2, 6), (2, 8)] and by_org[b.org_id] == [(3, 10)]
    assert {r["test_run_id"] for r in ledger} == {ids_a[0], ids_a[1], id_b}
    for org in (a, b):  # the ledger always adds up to the balance
        assert db.scalar("SELECT sum(delta) FROM credit_ledger WHERE organization_id = $1",
                         org.org_id) == credits[org.org_id] - 10
    row = db.fetch("SELECT failure_category, explanation, audit FROM test_runs WHERE id = $1",
                   ids_a[2])[0]
    assert (row["failure_category"], row["explanation"]) == ("app", "no Home")
    assert '"regressed"' in row["audit"]
    assert db.scalar("SELECT count(*) FROM devices WHERE current_run_id IS NOT NULL") == 0


def test_requeue_frees_the_device_and_wakes_workers(db: Db) -> None:
    s = seed(db)
    [run_id] = enqueue(db, s, new_run(s))
    worker = uuid.uuid4()
    device(db, worker)

    async def go(pool: asyncpg.Pool) -> tuple[bool, bool, int]:
        listener = await pool.acquire()
        woken = asyncio.Event()

        def wake(*_: object) -> None:
            woken.set()

        await listener.add_listener(q.CHANNEL, wake)
        try:
            [c] = await q.claim(pool, worker, 30)
            handed_back = await q.requeue(pool, c.run_id, worker, count_attempt=False)
            await asyncio.wait_for(woken.wait(), 5)
            twice = await q.requeue(pool, c.run_id, worker, count_attempt=False)
            [again] = await q.claim(pool, worker, 30)
            return handed_back, twice, again.attempt
        finally:
            await listener.remove_listener(q.CHANNEL, wake)
            await pool.release(listener)

    handed_back, twice, attempt = _with_pool(db, go)
    assert handed_back and not twice and attempt == 1  # the handed-back attempt is not counted
    assert db.scalar("SELECT status FROM test_runs WHERE id = $1", run_id) == "running"


def test_expired_leases_are_retried_then_failed_and_refunded(db: Db) -> None:
    s = seed(db, credits=100)
    [run_id] = enqueue(db, s, new_run(s))
    worker = uuid.uuid4()
    device(db, worker)

    async def go(pool: asyncpg.Pool) -> None:
        [first] = await q.claim(pool, worker, 0.05)
        await asyncio.sleep(0.1)
        reaped = await q.reap(pool, max_attempts=2, worker_timeout_s=3600)
        assert reaped == q.Reaped(requeued=[first.run_id], failed=[])
        # The first holder lost the run: it can write nothing any more.
        renewal = await q.renew(pool, worker, [first.run_id], 30)
        assert renewal.alive and renewal.held == frozenset()
        assert not await q.record_step(pool, first.run_id, worker, 1, {
            "index": 0, "description": "x", "status": "passed", "actions": [],
            "started_at": 0.0, "finished_at": 0.0})
        [second] = await q.claim(pool, worker, 0.05)
        assert second.run_id == first.run_id and second.attempt == 2
        assert await q.finish(pool, uuid.uuid4(), [Outcome(first.run_id, PASSED)]) == set()
        await asyncio.sleep(0.1)
        reaped = await q.reap(pool, max_attempts=2, worker_timeout_s=3600)
        assert reaped == q.Reaped(requeued=[], failed=[first.run_id])
        assert await q.finish(pool, worker, [Outcome(first.run_id, PASSED)]) == set()

    _with_pool(db, go)
    row = db.fetch("SELECT status, progress, failure_category, explanation, attempts "
                   "FROM test_runs WHERE id = $1", run_id)[0]
    assert (row["status"], row["progress"], row["failure_category"], row["attempts"]) == \
        ("failed", 100, "infrastructure", 2)
    assert "stopped answering" in row["explanation"] and "2 time(s)" in row["explanation"]
    assert db.scalar("SELECT credits FROM organizations WHERE id = $1", s.org_id) == 100
    assert db.scalar("SELECT reason FROM credit_ledger ORDER BY id DESC LIMIT 1") == \
        "refund_infrastructure"
    assert db.scalar("SELECT count(*) FROM run_steps") == 0
    assert db.scalar("SELECT count(*) FROM devices WHERE current_run_id IS NOT NULL") == 0


def test_a_device_left_marked_by_a_lost_run_is_freed(db: Db) -> None:
    """A worker whose run was reaped and taken elsewhere must get its device back."""
    s = seed(db)
    [run_id] = enqueue(db, s, new_run(s))
    slow, fast = uuid.uuid4(), uuid.uuid4()
    slow_device = device(db, slow)
    device(db, fast)

    async def go(pool: asyncpg.Pool) -> None:
        [c] = await q.claim(pool, slow, 0.05)
        await asyncio.sleep(0.1)
        await q.reap(pool, max_attempts=3, worker_timeout_s=3600)
        [again] = await q.claim(pool, fast, 30)  # now running elsewhere
        assert again.run_id == c.run_id
        await q.reap(pool, max_attempts=3, worker_timeout_s=3600)

    _with_pool(db, go)
    assert db.scalar("SELECT current_run_id FROM devices WHERE id = $1", slow_device) is None
    assert db.scalar("SELECT status FROM test_runs WHERE id = $1", run_id) == "running"


def test_dead_workers_leave_the_pool(org: Org, db: Db) -> None:
    worker = uuid.uuid4()
    device(db, worker, name="Galaxy S23")
    names = [d["name"] for d in org.http.get("/v1/devices").json()["phone"]]
    assert "Galaxy S23" in names
    assert _with_pool(db, lambda pool: q.renew(pool, worker, [], 30)).alive
    db.fetch("UPDATE workers SET heartbeat_at = now() - interval '1 hour'")
    _with_pool(db, lambda pool: q.reap(pool, 3, worker_timeout_s=60))
    names = [d["name"] for d in org.http.get("/v1/devices").json()["phone"]]
    assert "Galaxy S23" not in names
    assert not _with_pool(db, lambda pool: q.renew(pool, worker, [], 30)).alive


def test_the_api_reaps_even_with_no_worker_alive(db_url: str, db: Db, tmp_path: Path) -> None:
    server = start_server(db_url, tmp_path / "d", lease_seconds=0.4, max_attempts=1)
    try:
        org = Org(db, server)
        db.admin("register_device", "Pixel 7", "Android", "14", "phone", True)
        s = seed(db)
        [run_id] = enqueue(db, s, new_run(s))
        worker = uuid.uuid4()
        device(db, worker)
        [claimed] = _with_pool(db, lambda pool: q.claim(pool, worker, 0.1))
        assert claimed.run_id == run_id  # ... and the worker dies here, silently
        eventually(lambda: db.scalar("SELECT status FROM test_runs WHERE id = $1", run_id)
                   == "failed", timeout=15, interval=0.1)
        assert "stopped answering" in db.scalar(
            "SELECT explanation FROM test_runs WHERE id = $1", run_id)
        org.http.close()
    finally:
        server.stop()
