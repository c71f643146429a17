"""GET /v1/jobs/events against the real server, PostgreSQL and (for whole runs) a real worker.

Streams are read with httpx in a thread each, so a test can wait for an event with a timeout
or leave a stream unread (a stuck client). Runs without a worker change state by SQL UPDATE
of test_runs, which is what the run_event trigger watches, whoever writes."""

from __future__ import annotations

import asyncio
import json
import queue
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from qualgent.db.migrate import upgrade
from qualgent.db.pool import asyncpg_dsn
from qualgent.runs import events as run_events
from tests.conftest import Db, Org, Server, eventually, run_async, start_server
from tests.restartable_pg import RestartablePostgres
from tests.worker.conftest import demo_host, run_case, workers  # noqa: F401 - fixtures

PATH = "/v1/jobs/events"


class Stream:
    """One SSE connection; `start()` begins reading (until then the client reads nothing)."""

    def __init__(self, server: Server, key: str, params: dict | None = None,
                 headers: dict | None = None, start: bool = True) -> None:
        self.client = httpx.Client(base_url=server.base_url,
                                   headers={"X-Api-Key": key, **(headers or {})},
                                   timeout=httpx.Timeout(10, read=None))
        self._cm = self.client.stream("GET", PATH, params=params)
        self.response = self._cm.__enter__()
        self.items: queue.Queue[dict | None] = queue.Queue()
        self._thread = threading.Thread(target=self._read, daemon=True)
        if start:
            self.start()

    def start(self) -> None:
        self._thread.start()

    def _read(self) -> None:
        block: dict[str, str] = {}
        try:
            for line in self.response.iter_lines():
                if line == "":
                    if block:
                        self.items.put(block)
                    block = {}
                elif line.startswith(":"):
                    self.items.put({"comment": line[1:].strip()})
                else:
                    field, _, value = line.partition(":")
                    block[field] = value.removeprefix(" ")
        except (httpx.HTTPError, RuntimeError):
            pass
        self.items.put(None)

    def next_item(self, timeout: float = 30) -> dict:
        item = self.items.get(timeout=timeout)
        assert item is not None, "the stream ended"
        return item

    def next_event(self, timeout: float = 30) -> dict:
        """The next `run` event as {"id": int, **data}, skipping comments and retry."""
        deadline = time.monotonic() + timeout
        while True:
            item = self.next_item(max(0.01, deadline - time.monotonic()))
            if item.get("event") == "run":
                data = json.loads(item["data"])
                assert int(item["id"]) == data["event_id"]
                return {"id": int(item["id"]), **data}

    def events_until_final(self, run_id: str, timeout: float = 120) -> list[dict]:
        got: list[dict] = []
        while not (got and got[-1]["test_run_id"] == run_id and got[-1]["final"]):
            got.append(self.next_event(timeout))
        return got

    def quiet(self, seconds: float) -> list[dict]:
        """Run events that arrive within `seconds` (expected: none)."""
        got = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                item = self.items.get(timeout=left)
            except queue.Empty:
                break
            if item is not None and item.get("event") == "run":
                got.append(item)
        return got

    def close(self) -> None:
        self._cm.__exit__(None, None, None)
        self.client.close()


def hub(server: Server) -> run_events.EventHub:
    return server._server.config.app.state.events  # noqa: SLF001 - the app under test


def db_events(db: Db, org: Org, after: int = 0) -> list[tuple[int, str, str, int]]:
    rows = db.fetch("SELECT id, test_run_id, status, progress FROM run_events "
                    "WHERE organization_id = $1 AND id > $2 ORDER BY id", uuid.UUID(org.id), after)
    return [(r["id"], str(r["test_run_id"]), r["status"], r["progress"]) for r in rows]


def as_tuples(events: list[dict]) -> list[tuple[int, str, str, int]]:
    return [(e["id"], e["test_run_id"], e["status"], e["progress"]) for e in events]


def queued_run(server: Server, org: Org, device: dict) -> str:
    """A queued run (no worker takes it): its changes are made by SQL."""
    if not hasattr(org, "_build"):
        org._build = org.upload_fixture()  # noqa: SLF001 - cached per org
        org._case = org.test_case()  # noqa: SLF001
    r = org.http.post("/v1/test-cases/run", json={"jobs": [{
        "app_file_id": org._build["id"], "test_case_id": org._case["id"],  # noqa: SLF001
        "device": {"name": device["name"], "platform": device["platform"]}}]})
    assert r.status_code == 200, r.text
    run_id = r.json()["results"][0]["test_run_id"]
    caught_up(server, org.db)
    return run_id


def caught_up(server: Server, db: Db) -> None:
    """Wait until the hub has handed out every event so far (a stream opened now gets only
    what happens next)."""
    top = db.scalar("SELECT coalesce(max(id), 0) FROM run_events")
    eventually(lambda: (hub(server).last_id or 0) >= top, 15)


def change(db: Db, run_id: str, status: str, progress: int) -> None:
    db.fetch("UPDATE test_runs SET status = $2, progress = $3 WHERE id = $1",
             uuid.UUID(run_id), status, progress)


# ------------------------------------------------------------------ whole runs (worker)

@pytest.mark.usefixtures("demo_host")
def test_every_transition_of_a_run_arrives_in_order(org: Org, db: Db, server: Server) -> None:
    stream = Stream(server, org.key)
    try:
        assert stream.response.status_code == 200
        assert stream.response.headers["content-type"].startswith("text/event-stream")
        assert stream.response.headers["cache-control"] == "no-store"
        assert stream.response.headers["x-accel-buffering"] == "no"
        assert stream.next_item() == {"retry": "2000"}
        eventually(lambda: hub(server).streams == 1)
        run_id = run_case(org, ["Open the app", 'Verify "Sign in" is shown'])
        got = stream.events_until_final(run_id)
    finally:
        stream.close()
    assert as_tuples(got) == db_events(db, org)  # every change, in order, nothing else
    statuses = [e["status"] for e in got]
    assert statuses[0] == "queued" and statuses[-1] == "passed"
    assert "running" in statuses
    running = [e["progress"] for e in got if e["status"] == "running"]
    assert len(running) >= 2 and running == sorted(running)  # progress steps, in order
    assert [e["final"] for e in got] == [False] * (len(got) - 1) + [True]
    assert got[-1]["link"] == f"{server.base_url}/test-runs/{run_id}"
    eventually(lambda: hub(server).streams == 0)  # the disconnect ended the stream


@pytest.mark.usefixtures("demo_host")
def test_a_reconnect_resumes_with_exactly_the_missed_events(org: Org, db: Db,
                                                            server: Server) -> None:
    first = Stream(server, org.key)
    try:
        eventually(lambda: hub(server).streams == 1)
        run_id = run_case(org, ["Open the app", 'Verify "Sign in" is shown'])
        seen = [first.next_event(60), first.next_event(60)]
    finally:
        first.close()
    eventually(lambda: db.scalar("SELECT status FROM test_runs WHERE id = $1",
                                 uuid.UUID(run_id)) == "passed", 120)
    again = Stream(server, org.key, params={"run_ids": run_id},
                   headers={"Last-Event-ID": str(seen[-1]["id"])})
    try:
        rest = again.events_until_final(run_id, 30)
        assert again.quiet(0.5) == []
    finally:
        again.close()
    assert as_tuples(seen + rest) == db_events(db, org)  # none missed, none twice
    assert rest[-1]["status"] == "passed"


# ------------------------------------------------------------------ driven by SQL

def test_resume_by_query_and_run_ids_filtering(org: Org, db: Db, server: Server,
                                               pixel: dict) -> None:
    a, b = queued_run(server, org, pixel), queued_run(server, org, pixel)
    start = db_events(db, org)[-1][0]
    change(db, a, "running", 10)
    change(db, b, "running", 20)
    change(db, a, "running", 50)
    stream = Stream(server, org.key, params={"run_ids": f"{a}, not-a-uuid,{uuid.uuid4()}",
                                             "last_event_id": str(start)})
    try:
        replayed = [stream.next_event(), stream.next_event()]
        assert [(e["test_run_id"], e["progress"]) for e in replayed] == [(a, 10), (a, 50)]
        change(db, b, "passed", 100)
        change(db, a, "failed", 60)
        live = stream.next_event()
        assert (live["test_run_id"], live["status"], live["final"]) == (a, "failed", True)
        assert stream.quiet(0.5) == []
    finally:
        stream.close()


def test_another_orgs_runs_never_appear(org: Org, other_org: Org, db: Db, server: Server,
                                        pixel: dict) -> None:
    mine, theirs = queued_run(server, org, pixel), queued_run(server, other_org, pixel)
    everything = Stream(server, org.key)
    asking = Stream(server, org.key, params={"run_ids": theirs})
    try:
        eventually(lambda: hub(server).streams == 2)
        change(db, theirs, "running", 30)
        change(db, mine, "running", 40)
        got = everything.next_event()
        assert (got["test_run_id"], got["progress"]) == (mine, 40)
        change(db, theirs, "passed", 100)
        # not even asked for by id, and no snapshot of it either
        assert asking.quiet(1.0) == [] and everything.quiet(0.2) == []
    finally:
        everything.close()
        asking.close()
    resumed = Stream(server, org.key, headers={"Last-Event-ID": "0"})
    try:
        replayed = [resumed.next_event() for _ in db_events(db, org)]
        assert {e["test_run_id"] for e in replayed} == {mine}
        assert resumed.quiet(0.3) == []
    finally:
        resumed.close()


def test_snapshot_of_a_finished_run(org: Org, db: Db, server: Server, pixel: dict) -> None:
    done, going = queued_run(server, org, pixel), queued_run(server, org, pixel)
    change(db, done, "running", 50)
    change(db, done, "passed", 100)
    change(db, going, "running", 20)
    latest = {run: events[-1][0] for run in (done, going)
              for events in [[e for e in db_events(db, org) if e[1] == run]]}
    stream = Stream(server, org.key, params={"run_ids": f"{done},{going}"})
    try:
        snap = [stream.next_event(), stream.next_event()]
        assert [(e["test_run_id"], e["id"], e["status"], e["final"]) for e in snap] == sorted(
            [(done, latest[done], "passed", True), (going, latest[going], "running", False)],
            key=lambda t: t[1])
        assert stream.quiet(0.3) == []
        change(db, going, "running", 70)
        assert stream.next_event()["progress"] == 70
    finally:
        stream.close()


def test_keepalive_comment(org: Org, server: Server) -> None:
    hub(server).keepalive_seconds = 0.3
    stream = Stream(server, org.key)
    try:
        assert stream.next_item() == {"retry": "2000"}
        assert stream.next_item(5) == {"comment": "keepalive"}
        assert stream.next_item(5) == {"comment": "keepalive"}
    finally:
        stream.close()


def test_a_stuck_subscriber_blocks_no_one_and_catches_up(org: Org, db: Db, server: Server,
                                                          pixel: dict) -> None:
    hub(server).queue_size = 5  # the stuck stream overflows its inbox
    run_id = queued_run(server, org, pixel)
    stuck = Stream(server, org.key, headers={"Last-Event-ID": "0"}, start=False)
    reading = Stream(server, org.key)
    try:
        eventually(lambda: hub(server).streams == 2)
        for progress in range(1, 41):
            started = time.monotonic()
            change(db, run_id, "running", progress)
            assert reading.next_event(5)["progress"] == progress
            assert time.monotonic() - started < 2
        change(db, run_id, "passed", 100)
        assert reading.next_event()["final"]
        stuck.start()  # it reads at last: everything, in order, once
        assert as_tuples(stuck.events_until_final(run_id, 30)) == db_events(db, org)
        assert stuck.quiet(0.3) == []
    finally:
        stuck.close()
        reading.close()


def test_refused_requests(org: Org, server: Server) -> None:
    with server.client(org.key) as http:
        many = ",".join(str(uuid.uuid4()) for _ in range(101))
        r = http.get(PATH, params={"run_ids": many})
        assert r.status_code == 422 and r.json()["details"]["field"] == "run_ids"
        r = http.get(PATH, headers={"Last-Event-ID": "abc"})
        assert r.status_code == 422 and r.json()["details"]["field"] == "Last-Event-ID"
        r = http.get(PATH, params={"last_event_id": "-1"})
        assert r.status_code == 422 and r.json()["details"]["field"] == "last_event_id"
    with server.client() as anonymous:
        assert anonymous.get(PATH).status_code == 401
    assert hub(server).streams == 0


def test_events_older_than_a_day_are_pruned(org: Org, db: Db, server: Server,
                                            pixel: dict) -> None:
    run_id = queued_run(server, org, pixel)
    change(db, run_id, "running", 10)
    old = db_events(db, org)[0][0]
    db.fetch("UPDATE run_events SET created_at = now() - interval '25 hours' WHERE id = $1", old)

    async def prune() -> None:
        pool = await asyncpg.create_pool(asyncpg_dsn(db.url), min_size=1, max_size=1)
        try:
            await run_events.prune(pool)
        finally:
            await pool.close()

    run_async(prune())
    assert [e[0] for e in db_events(db, org)] == [old + 1]


# ------------------------------------------------------------------ database outage

@pytest.fixture
def outage(tmp_path: Path):
    with RestartablePostgres(tmp_path / "pg") as pg:
        asyncio.run(upgrade(pg.url))
        server = start_server(pg.url, tmp_path / "data")
        try:
            yield pg, server, Org(Db(pg.url), server)
        finally:
            server.stop()


def test_streams_ride_out_a_database_outage(outage: Any) -> None:
    pg, server, org = outage
    db = org.db
    device = db.admin("register_device", "Pixel 7", "Android", "14", "phone", True)
    run_id = queued_run(server, org, device)
    hub(server).keepalive_seconds = 0.3
    stream = Stream(server, org.key, params={"run_ids": run_id})
    try:
        assert stream.next_event()["status"] == "queued"  # the snapshot
        pg.stop()
        eventually(lambda: not hub(server).connected, 10)
        for _ in range(3):  # the stream stays open meanwhile
            assert stream.next_item(5) == {"comment": "keepalive"}
        pg.start()
        change(db, run_id, "running", 10)  # likely before the hub is back: caught up then
        change(db, run_id, "passed", 100)
        got = stream.events_until_final(run_id, 30)
    finally:
        stream.close()
    assert [(e["status"], e["progress"]) for e in got] == [("running", 10), ("passed", 100)]


def test_events_committed_out_of_order_are_handed_out_in_id_order(org: Org, db: Db,
                                                                  server: Server,
                                                                  pixel: dict) -> None:
    """An id allocated by a transaction still open is waited for; a rolled-back one is not."""
    a, b = queued_run(server, org, pixel), queued_run(server, org, pixel)
    stream = Stream(server, org.key)

    async def scenario() -> None:
        slow = await asyncpg.connect(asyncpg_dsn(db.url))
        fast = await asyncpg.connect(asyncpg_dsn(db.url))
        update = "UPDATE test_runs SET status = 'running', progress = $2 WHERE id = $1"
        try:
            held = slow.transaction()
            await held.start()
            await slow.execute(update, uuid.UUID(a), 10)  # takes id n, not committed
            await fast.execute(update, uuid.UUID(b), 20)  # id n + 1, committed
            assert await asyncio.to_thread(stream.quiet, 0.5) == []  # n + 1 waits for n
            await held.commit()
            first, second = stream.next_event(5), stream.next_event(5)
            assert [(e["test_run_id"], e["progress"]) for e in (first, second)] == [
                (a, 10), (b, 20)]
            assert second["id"] == first["id"] + 1

            held = slow.transaction()
            await held.start()
            await slow.execute(update, uuid.UUID(a), 30)  # takes an id, then rolls back
            await fast.execute(update, uuid.UUID(b), 40)
            assert await asyncio.to_thread(stream.quiet, 0.3) == []
            await held.rollback()
            after = stream.next_event(5)
            assert (after["test_run_id"], after["progress"], after["id"]) == (
                b, 40, second["id"] + 2)
        finally:
            await slow.close()
            await fast.close()

    try:
        eventually(lambda: hub(server).streams == 1)
        run_async(scenario())
    finally:
        stream.close()
