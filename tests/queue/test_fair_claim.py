"""Fair claiming between organizations: one organization's backlog never holds up another's
runs, priority still orders each organization's own queue, and each organization's cap on
runs running at once (by plan, or its own setting) holds, also when hosts claim at once."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
import pytest

from qualgent.db.pool import create_pool
from qualgent.queue import lifecycle as q
from qualgent.queue.lifecycle import Outcome
from qualgent.queue.states import Priority, RunStatus
from tests.conftest import Db
from tests.queue.seed import Seed, device, enqueue, new_run, seed

T = TypeVar("T")
PASSED = RunStatus.PASSED


def _with_pool(db: Db, fn: Callable[[asyncpg.Pool], Awaitable[T]]) -> T:
    async def go() -> T:
        pool = await create_pool(db.url, 4)
        try:
            return await fn(pool)
        finally:
            await pool.close()
    return asyncio.run(go())


def _orgs(db: Db) -> dict[uuid.UUID, uuid.UUID]:
    return dict(db.fetch("SELECT id, organization_id FROM test_runs"))


def _running(db: Db) -> Counter[uuid.UUID]:
    return Counter(dict(db.fetch("SELECT organization_id, count(*) FROM test_runs "
                                 "WHERE status = 'running' GROUP BY 1")))


def _cap(db: Db, s: Seed, max_runs: int | None, plan: str | None = None) -> None:
    db.fetch("UPDATE organizations SET max_concurrent_runs = $2, plan = coalesce($3, plan) "
             "WHERE id = $1", s.org_id, max_runs, plan)


def _one_at_a_time(db: Db, worker: uuid.UUID, claims: int) -> list[uuid.UUID]:
    """Claim on the worker's one device and finish, `claims` times: the runs in claim order."""
    async def go(pool: asyncpg.Pool) -> list[uuid.UUID]:
        order = []
        for _ in range(claims):
            [c] = await q.claim(pool, worker, 30)
            order.append(c.run_id)
            assert await q.finish(pool, worker, [Outcome(c.run_id, PASSED)]) == {c.run_id}
        return order
    return _with_pool(db, go)


def test_a_backlog_does_not_hold_up_another_organizations_run(db: Db) -> None:
    big, small = seed(db, credits=2000), seed(db)
    enqueue(db, big, *[new_run(big)] * 1000)
    [single] = enqueue(db, small, new_run(small))  # queued after all 1000
    worker = uuid.uuid4()
    device(db, worker)
    first_two = _one_at_a_time(db, worker, 2)
    assert single in first_two
    assert db.scalar("SELECT count(*) FROM test_runs WHERE status = 'queued'") == 999

    # Many devices at once: the small organization's run is among the first claimed too.
    [late] = enqueue(db, small, new_run(small))
    many = uuid.uuid4()
    for _ in range(5):
        device(db, many)
    claimed = _with_pool(db, lambda pool: q.claim(pool, many, 30, limit=5))
    assert len(claimed) == 5 and late in {c.run_id for c in claimed}


def test_organizations_take_turns(db: Db) -> None:
    a, b, c = seed(db), seed(db), seed(db)
    for s in (a, b, c):  # each organization's runs queued after the previous one's
        enqueue(db, s, *[new_run(s)] * 4)
    worker = uuid.uuid4()
    device(db, worker)
    orgs = _orgs(db)
    order = [orgs[r] for r in _one_at_a_time(db, worker, 9)]
    assert order == [a.org_id, b.org_id, c.org_id] * 3

    # With several devices, one statement deals them out the same way.
    hosts = uuid.uuid4()
    for _ in range(3):
        device(db, hosts)
    claimed = _with_pool(db, lambda pool: q.claim(pool, hosts, 30, limit=3))
    assert sorted(orgs[x.run_id] for x in claimed) == sorted([a.org_id, b.org_id, c.org_id])


def test_priority_orders_each_organizations_own_queue(db: Db) -> None:
    a, b = seed(db), seed(db)
    low = enqueue(db, a, new_run(a, Priority.LOW), new_run(a, Priority.LOW))
    [high] = enqueue(db, a, new_run(a, Priority.HIGH))  # a's newest, yet its first
    [b_run] = enqueue(db, b, new_run(b, Priority.LOW))
    worker = uuid.uuid4()
    device(db, worker)
    order = _one_at_a_time(db, worker, 4)
    assert order[0] == high and order[1] == b_run and order[2:] == low


def test_a_capped_organization_leaves_the_other_devices_to_others(db: Db) -> None:
    capped, other = seed(db), seed(db)
    _cap(db, capped, 2)
    enqueue(db, capped, *[new_run(capped)] * 10)
    enqueue(db, other, *[new_run(other)] * 10)
    worker = uuid.uuid4()
    for _ in range(10):
        device(db, worker)
    claimed = _with_pool(db, lambda pool: q.claim(pool, worker, 30, limit=10))
    assert len(claimed) == 10
    assert _running(db) == {capped.org_id: 2, other.org_id: 8}

    more = uuid.uuid4()  # more devices than the other organization has runs left
    for _ in range(5):
        device(db, more)
    claimed_more = _with_pool(db, lambda pool: q.claim(pool, more, 30, limit=5))
    assert len(claimed_more) == 2 and _running(db) == {capped.org_id: 2, other.org_id: 10}

    # One of its runs ends: the capped organization may start exactly one more.
    orgs = _orgs(db)
    done = next(c for c in claimed if orgs[c.run_id] == capped.org_id)

    async def finish_and_claim(pool: asyncpg.Pool) -> list[q.Claimed]:
        assert await q.finish(pool, worker, [Outcome(done.run_id, PASSED)]) == {done.run_id}
        return await q.claim(pool, more, 30, limit=5) + await q.claim(pool, worker, 30, limit=5)

    again = _with_pool(db, finish_and_claim)
    assert len(again) == 1 and orgs[again[0].run_id] == capped.org_id
    assert _running(db)[capped.org_id] == 2


def test_plan_caps_the_organizations_own_setting_overrides_and_zero_is_no_cap(db: Db) -> None:
    plain, raised, unlimited, enterprise = seed(db), seed(db), seed(db), seed(db)
    _cap(db, plain, None, "free")
    _cap(db, raised, 3, "free")
    _cap(db, unlimited, 0, "free")  # its own 0 lifts the plan's cap
    for s in (plain, raised, unlimited, enterprise):
        enqueue(db, s, *[new_run(s)] * 5)
    worker = uuid.uuid4()
    for _ in range(20):
        device(db, worker)
    claimed = _with_pool(db, lambda pool: q.claim(pool, worker, 30, limit=20,
                                                  concurrency="enterprise=0, free=1"))
    assert len(claimed) == 14
    assert _running(db) == {plain.org_id: 1, raised.org_id: 3, unlimited.org_id: 5,
                            enterprise.org_id: 5}


def test_the_plan_caps_setting_is_checked() -> None:
    assert q.plan_caps("enterprise=0,free=2") == {"enterprise": 0, "free": 2}
    assert q.plan_caps(None) == {} and q.plan_caps("") == {}
    for bad in ("free", "free=-1", "free=two", "=2", "fr'ee=1"):
        with pytest.raises(ValueError, match="plan_concurrency"):
            q.plan_caps(bad)


def test_the_admin_command_sets_and_clears_the_cap(db: Db) -> None:
    s = seed(db)
    assert db.admin("set_concurrency", str(s.org_id), 4)["max_concurrent_runs"] == 4
    assert db.scalar("SELECT max_concurrent_runs FROM organizations") == 4
    assert db.admin("set_concurrency", str(s.org_id), None)["max_concurrent_runs"] == (
        "plan default")
    assert db.scalar("SELECT max_concurrent_runs FROM organizations") is None
    from qualgent.orgs.admin import AdminError
    with pytest.raises(AdminError, match="negative"):
        db.admin("set_concurrency", str(s.org_id), -1)
    with pytest.raises(AdminError, match="No organization"):
        db.admin("set_concurrency", str(uuid.uuid4()), 1)
    assert db.scalar("SELECT max_concurrent_runs FROM organizations") is None


def test_hosts_claiming_at_once_never_double_book_or_exceed_a_cap(db: Db) -> None:
    three, two, free = seed(db, credits=1000), seed(db, credits=1000), seed(db, credits=1000)
    _cap(db, three, 3)
    _cap(db, two, 2)
    for s, n in ((three, 60), (two, 60), (free, 200)):
        enqueue(db, s, *[new_run(s)] * n)
    hosts = [uuid.uuid4() for _ in range(6)]
    for h in hosts:
        for _ in range(4):
            device(db, h)
    caps = {three.org_id: 3, two.org_id: 2}
    orgs = _orgs(db)

    async def go() -> list[uuid.UUID]:
        pools = [await create_pool(db.url, 2) for _ in hosts]  # one per host, as deployed
        seen: list[uuid.UUID] = []
        try:
            for _ in range(8):  # rounds: every host claims at the same moment, then all finish
                start = asyncio.Event()

                async def claimer(pool: asyncpg.Pool, host: uuid.UUID,
                                  start: asyncio.Event) -> list[q.Claimed]:
                    await start.wait()
                    return await q.claim(pool, host, 30, limit=4)

                tasks = [asyncio.create_task(claimer(p, h, start))
                         for p, h in zip(pools, hosts, strict=True)]
                await asyncio.sleep(0.05)
                start.set()
                results = await asyncio.gather(*tasks)
                claimed = [c for r in results for c in r]
                assert len({c.device_id for c in claimed}) == len(claimed) == 24
                running = Counter(orgs[c.run_id] for c in claimed)
                assert all(running[org] <= cap for org, cap in caps.items()), running
                assert _running(db) == running
                seen += [c.run_id for c in claimed]
                for host, r in zip(hosts, results, strict=True):
                    await q.finish(pools[0], host, [Outcome(c.run_id, PASSED) for c in r])
        finally:
            for p in pools:
                await p.close()
        return seen

    seen = asyncio.run(go())
    assert len(seen) == len(set(seen)) == 8 * 24
    served = Counter(orgs[r] for r in seen)
    assert served[three.org_id] > 8 and served[two.org_id] > 8  # capped, not shut out
    assert db.scalar("SELECT max(attempts) FROM test_runs") == 1
    assert db.scalar("SELECT count(*) FROM devices WHERE current_run_id IS NOT NULL") == 0
