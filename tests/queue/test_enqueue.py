"""Queuing a batch: one debit, one ledger row, every run or none, and a NOTIFY on commit."""

from __future__ import annotations

import asyncio
import json
import uuid

import asyncpg
import pytest

from qualgent.db.pool import asyncpg_dsn, create_pool
from qualgent.queue import lifecycle
from qualgent.queue.states import Priority, RunStatus
from tests.conftest import Db
from tests.queue.seed import STEPS, new_run, seed


def test_a_batch_is_debited_once_and_queued_in_order(db: Db) -> None:
    s = seed(db, credits=10)
    runs = [new_run(s, Priority.HIGH, device_os_version="14", use_sim=True),
            new_run(s, Priority.LOW, device_orientation="landscape")]

    async def go() -> list[lifecycle.QueuedRun]:
        pool = await create_pool(db.url, 2)
        try:
            return await lifecycle.enqueue(pool, s.org_id, runs, 3)
        finally:
            await pool.close()

    queued = asyncio.run(go())
    assert [(q.test_case_id, q.status) for q in queued] == [(s.case_id, RunStatus.QUEUED)] * 2
    assert db.scalar("SELECT credits FROM organizations WHERE id = $1", s.org_id) == 4
    ledger = db.fetch("SELECT delta, balance_after, reason, batch_id FROM credit_ledger")
    assert [(r["delta"], r["balance_after"], r["reason"]) for r in ledger] == \
        [(-6, 4, "runs_queued")]
    rows = {r["id"]: r for r in db.fetch("SELECT * FROM test_runs")}
    first, second = rows[queued[0].id], rows[queued[1].id]
    assert first["batch_id"] == second["batch_id"] == ledger[0]["batch_id"]
    assert (first["status"], first["progress"], first["priority"], first["priority_rank"]) == \
        ("queued", 0, "high", 2)
    assert (first["device_os_version"], first["use_sim"], first["credits_charged"]) == \
        ("14", True, 3)
    assert (second["priority"], second["priority_rank"], second["device_orientation"]) == \
        ("low", 0, "landscape")
    assert json.loads(first["resolved_steps"]) == STEPS
    assert json.loads(first["vars"]) == {"who": "me"}
    assert json.loads(first["warnings"])[0]["code"] == "unknown_variable"
    assert (first["version_number"], first["mode"], first["attempts"]) == (1, "agent", 0)


def test_short_of_credits_nothing_is_written(db: Db) -> None:
    s = seed(db, credits=2)

    async def go() -> None:
        pool = await create_pool(db.url, 2)
        try:
            await lifecycle.enqueue(pool, s.org_id, [new_run(s)] * 3, 1)
        finally:
            await pool.close()

    with pytest.raises(lifecycle.InsufficientCredits) as caught:
        asyncio.run(go())
    assert (caught.value.required, caught.value.available) == (3, 2)
    assert "needs 3 credits" in str(caught.value)
    assert db.scalar("SELECT credits FROM organizations WHERE id = $1", s.org_id) == 2
    assert db.scalar("SELECT count(*) FROM test_runs") == 0
    assert db.scalar("SELECT count(*) FROM credit_ledger") == 0


def test_concurrent_batches_never_overdraw(db: Db) -> None:
    s = seed(db, credits=7)

    async def go() -> list[bool]:
        pool = await create_pool(db.url, 10)
        try:
            async def one() -> bool:
                try:
                    await lifecycle.enqueue(pool, s.org_id, [new_run(s)] * 2, 1)
                    return True
                except lifecycle.InsufficientCredits:
                    return False
            return await asyncio.gather(*(one() for _ in range(12)))
        finally:
            await pool.close()

    accepted = asyncio.run(go())
    assert sum(accepted) == 3
    assert db.scalar("SELECT credits FROM organizations WHERE id = $1", s.org_id) == 1
    assert db.scalar("SELECT count(*) FROM test_runs") == 6
    balances = [r[0] for r in db.fetch("SELECT balance_after FROM credit_ledger ORDER BY id")]
    assert balances == [5, 3, 1]


def test_an_unknown_organization_is_an_error(db: Db) -> None:
    s = seed(db)

    async def go() -> None:
        pool = await create_pool(db.url, 2)
        try:
            await lifecycle.enqueue(pool, uuid.uuid4(), [new_run(s)], 1)
        finally:
            await pool.close()

    with pytest.raises(LookupError):
        asyncio.run(go())
    assert db.scalar("SELECT count(*) FROM test_runs") == 0


def test_queuing_wakes_listeners_on_commit(db: Db) -> None:
    s = seed(db, credits=1)

    async def go() -> tuple[list[str], list[str]]:
        listener = await asyncpg.connect(asyncpg_dsn(db.url))
        heard: list[str] = []
        got = asyncio.Event()

        def note(*args: object) -> None:
            heard.append(str(args[2]))
            got.set()

        await listener.add_listener(lifecycle.CHANNEL, note)
        pool = await create_pool(db.url, 2)
        try:
            await lifecycle.enqueue(pool, s.org_id, [new_run(s)], 1)
            await asyncio.wait_for(got.wait(), 5)
            with pytest.raises(lifecycle.InsufficientCredits):
                await lifecycle.enqueue(pool, s.org_id, [new_run(s)], 1)
            await asyncio.sleep(0.3)
            return heard, [lifecycle.CHANNEL]
        finally:
            await pool.close()
            await listener.close()

    heard, _ = asyncio.run(go())
    assert heard == [lifecycle.CHANNEL]  # one wake-up; the refused batch sent none
