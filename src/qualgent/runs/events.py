"""GET /v1/jobs/events: run changes pushed as server-sent events, so CI waits without polling.

Every change of a run's status or progress is a row of run_events, written by the `run_event`
trigger, which also sends `NOTIFY qualgent_run_events '<id>'`. Each API process keeps one
``EventHub``: one dedicated connection LISTENs (re-made with back-off when lost, like the key
cache's), and on every notification reads the new rows in id order and hands them to the
streams of their organization. Nothing is lost while that connection is down: the hub
remembers the last id it handed out and reads on from there once it is back.

Ids are allocated when a row is inserted but become visible when its transaction commits, so
id 10 may commit after id 11. The hub hands out ids strictly in order: past a missing id it
waits until every transaction that was in progress when the gap was seen has ended (read from
pg_current_snapshot()), then takes what is still missing as rolled back. This makes "every
event with a larger id" (Last-Event-ID) exact. A gap is waited on at most GAP_PATIENCE.

Each stream has a bounded queue. A client too slow to keep up loses its queue (memory stays
bounded) and is served from run_events from its last id instead, at its own pace.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections import deque
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Annotated

import asyncpg
from fastapi import Depends, Header, Query, Request
from fastapi.responses import StreamingResponse

from qualgent.api.auth import Auth
from qualgent.api.errors import ApiError
from qualgent.db.pool import UNAVAILABLE, Backoff, watch_loss
from qualgent.runs.views import run_link

log = logging.getLogger(__name__)

CHANNEL = "qualgent_run_events"
APPLICATION_NAME = "qualgent-run-events"
"""How the LISTEN connection shows in pg_stat_activity."""
FINAL = frozenset({"passed", "failed", "completed"})
MAX_RUN_IDS = 100
QUEUE_SIZE = 1000
"""Events held per stream for a client that reads slower than they come."""
BATCH = 500
"""Rows read per query, by the hub and by a replay."""
KEEPALIVE_SECONDS = 15.0
RETRY_MILLISECONDS = 2000
RETAIN_HOURS = 24
GAP_POLL_SECONDS = 0.05
"""How often a gap is re-checked (a rolled-back transaction sends no NOTIFY)."""
GAP_PATIENCE = 10.0
"""Longest wait on a missing id, in case an unrelated transaction stays open for long."""

MEDIA_TYPE = "text/event-stream"
HEADERS = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
KEEPALIVE = ": keepalive\n\n"

EVENT_RESPONSES: dict[int | str, dict] = {200: {
    "description": (
        "A never-ending `text/event-stream`. `retry: 2000` first, then one `run` event per "
        "change of a run (`id:` is the event id; `final` is true for passed, failed and "
        "completed), and a `: keepalive` comment every 15 s.\n\n"
        "```\nid: 42\nevent: run\ndata: {\"event_id\": 42, \"test_run_id\": \"...\", "
        "\"status\": \"running\", \"progress\": 40, \"final\": false, \"link\": \"...\"}\n```"),
    "content": {MEDIA_TYPE: {"schema": {"type": "string"}}},
}}

_READ = """
SELECT s.snap, e.id, e.organization_id, e.test_run_id, e.status, e.progress
FROM (SELECT pg_current_snapshot()::text AS snap) s
LEFT JOIN LATERAL (
    SELECT id, organization_id, test_run_id, status, progress FROM run_events
    WHERE id > $1 ORDER BY id LIMIT $2
) e ON true
ORDER BY e.id
"""
_TOP = "SELECT pg_current_snapshot()::text AS snap, coalesce(max(id), 0) AS top FROM run_events"
_REPLAY = """
SELECT id, organization_id, test_run_id, status, progress FROM run_events
WHERE organization_id = $1 AND id > $2 AND id <= $3
  AND ($4::uuid[] IS NULL OR test_run_id = ANY($4::uuid[]))
ORDER BY id LIMIT $5
"""
# Each requested run's state as of event $3: its latest event up to there; a run whose events
# were all pruned (older than a day) is told from test_runs, as of $3; a run whose first
# event is later than $3 is left to the live events.
_SNAPSHOT = """
SELECT r.organization_id, r.id AS test_run_id, coalesce(e.id, $3) AS id,
       coalesce(e.status, r.status) AS status, coalesce(e.progress, r.progress) AS progress
FROM test_runs r
LEFT JOIN LATERAL (
    SELECT id, status, progress FROM run_events
    WHERE organization_id = $1 AND test_run_id = r.id AND id <= $3
    ORDER BY id DESC LIMIT 1
) e ON true
WHERE r.organization_id = $1 AND r.id = ANY($2::uuid[])
  AND (e.id IS NOT NULL OR NOT EXISTS (
      SELECT 1 FROM run_events x WHERE x.organization_id = $1 AND x.test_run_id = r.id))
ORDER BY 3, 2
"""
_PRUNE = f"DELETE FROM run_events WHERE created_at < now() - interval '{RETAIN_HOURS} hours'"


async def prune(pg: asyncpg.Pool) -> None:
    """Events older than a day are deleted (by the reaper): resumes reach back that far."""
    await pg.execute(_PRUNE)


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    organization_id: uuid.UUID
    test_run_id: uuid.UUID
    status: str
    progress: int

    @classmethod
    def of(cls, row: asyncpg.Record) -> Event:
        return cls(row["id"], row["organization_id"], row["test_run_id"], row["status"],
                   row["progress"])

    def sse(self, public_url: str) -> str:
        data = json.dumps({
            "event_id": self.id, "test_run_id": str(self.test_run_id), "status": self.status,
            "progress": self.progress, "final": self.status in FINAL,
            "link": run_link(public_url, self.test_run_id)})
        return f"id: {self.id}\nevent: run\ndata: {data}\n\n"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A pg_snapshot: which transactions had ended when it was taken."""

    xmin: int
    xmax: int
    xip: frozenset[int]

    @classmethod
    def parse(cls, text: str) -> Snapshot:
        xmin, xmax, xip = text.split(":")
        return cls(int(xmin), int(xmax), frozenset(int(x) for x in xip.split(",") if x))

    def ended(self, xids: Iterable[int]) -> bool:
        """True when each of xids had committed or aborted when this snapshot was taken."""
        return all(x < self.xmin or (x < self.xmax and x not in self.xip) for x in xids)


class Subscriber:
    """One stream's inbox: the hub's events of its organization (and runs) with ids above
    `start`. Bounded: on overflow the inbox is dropped and `overflowed` set."""

    def __init__(self, organization_id: uuid.UUID, run_ids: frozenset[uuid.UUID] | None,
                 start: int | None, maxsize: int) -> None:
        self.organization_id = organization_id
        self.run_ids = run_ids
        self.start = start
        """The hub's last id when subscribed; None until the hub has one."""
        self.maxsize = maxsize
        self.inbox: deque[Event] = deque()
        self.overflowed = False
        self.wake = asyncio.Event()

    def offer(self, event: Event) -> None:
        if self.run_ids is not None and event.test_run_id not in self.run_ids:
            return
        if self.overflowed:
            return
        if len(self.inbox) >= self.maxsize:
            self.overflowed = True
            self.inbox.clear()
        else:
            self.inbox.append(event)
        self.wake.set()


class EventHub:
    """Per process: the LISTEN connection, the last id handed out, and the streams."""

    def __init__(self, queue_size: int = QUEUE_SIZE,
                 keepalive_seconds: float = KEEPALIVE_SECONDS) -> None:
        self.queue_size = queue_size
        self.keepalive_seconds = keepalive_seconds
        self.last_id: int | None = None
        """Every event up to this id has been handed out (None: not known yet)."""
        self.connected = False
        self.ready = asyncio.Event()
        self._streams: dict[uuid.UUID, set[Subscriber]] = {}
        self._kick = asyncio.Event()
        self._settled = 0
        """Ids up to here that are still missing were rolled back."""
        self._gap: tuple[int, frozenset[int], float] | None = None
        """(largest id read, transactions in progress then, since when) while a gap waits."""
        self._start: tuple[int, frozenset[int]] | None = None

    # ------------------------------------------------------------------ streams

    def subscribe(self, organization_id: uuid.UUID,
                  run_ids: frozenset[uuid.UUID] | None) -> Subscriber:
        sub = Subscriber(organization_id, run_ids, self.last_id, self.queue_size)
        self._streams.setdefault(organization_id, set()).add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        subs = self._streams.get(sub.organization_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._streams[sub.organization_id]

    @property
    def streams(self) -> int:
        return sum(len(s) for s in self._streams.values())

    def _dispatch(self, event: Event) -> None:
        for sub in self._streams.get(event.organization_id, ()):
            sub.offer(event)

    def _on_notify(self, _conn: object, _pid: int, _channel: str, _payload: str) -> None:
        self._kick.set()

    # ------------------------------------------------------------------ listening

    async def listen(self, dsn: str, check_seconds: float = 5.0,
                     max_backoff: float = 5.0) -> None:
        """Keep a LISTEN connection for the life of the process (run it as a task); while it
        is down, streams stay open on keepalives and catch up once it is back."""
        backoff = Backoff(first=0.1, cap=max_backoff)
        while True:
            try:
                await self._listen_once(dsn, check_seconds)
                log.warning("run events: LISTEN connection lost; reconnecting")
                backoff.reset()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure means: not listening
                if self.connected:
                    log.warning("run events: LISTEN connection failed (%s); reconnecting",
                                type(exc).__name__)
                    backoff.reset()
                else:
                    log.debug("run events: cannot LISTEN yet (%s)", exc)
            finally:
                self.connected = False
            await asyncio.sleep(backoff.next())

    async def _listen_once(self, dsn: str, check_seconds: float) -> None:
        conn = await asyncpg.connect(dsn, server_settings={"application_name": APPLICATION_NAME})
        try:
            lost = watch_loss(conn)
            conn.add_termination_listener(lambda _conn: self._kick.set())  # stop waiting
            await conn.add_listener(CHANNEL, self._on_notify)
            self.connected = True
            while not lost.is_set():
                # Read now (catch up after a reconnect), then on each NOTIFY; every
                # check_seconds anyway, which also proves the connection alive.
                self._kick.clear()
                await asyncio.wait_for(self._catch_up(conn), check_seconds)
                wait = GAP_POLL_SECONDS if self._waiting else check_seconds
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._kick.wait(), wait)
        finally:
            self.connected = False
            conn.terminate()

    @property
    def _waiting(self) -> bool:
        return self._gap is not None or (self.last_id is None and self._start is not None)

    async def _catch_up(self, conn: asyncpg.Connection) -> None:
        """Hand out every event committed since the last read, in id order."""
        if self.last_id is None and self._start is None:
            row = await conn.fetchrow(_TOP)
            xip = Snapshot.parse(row["snap"]).xip
            self._start = (row["top"], xip)  # ids up to top may still commit: wait for xip
        while True:
            after = self.last_id if self.last_id is not None else self._start[0]
            rows = await conn.fetch(_READ, after, BATCH)
            snap = Snapshot.parse(rows[0]["snap"])
            if self.last_id is None:
                top, xip = self._start
                if not snap.ended(xip):
                    return
                self._begin(top)
            if not self._hand_out([r for r in rows if r["id"] is not None], snap):
                return

    def _begin(self, top: int) -> None:
        self.last_id = self._settled = top
        self._start = None
        for subs in self._streams.values():
            for sub in subs:
                if sub.start is None:
                    sub.start = top
        self.ready.set()

    def _hand_out(self, rows: list[asyncpg.Record], snap: Snapshot) -> bool:
        """Dispatch rows up to the first unsettled gap; True if a full batch went out."""
        assert self.last_id is not None
        if self._gap is not None:
            upto, xip, since = self._gap
            if snap.ended(xip) or time.monotonic() - since > GAP_PATIENCE:
                if not snap.ended(xip):
                    log.warning("run events: gave up waiting for ids up to %d", upto)
                self._settled = max(self._settled, upto)
                self._gap = None
        for row in rows:
            if row["id"] != self.last_id + 1 and row["id"] - 1 > self._settled:
                if self._gap is not None:
                    return False
                if snap.xip:
                    self._gap = (rows[-1]["id"], snap.xip, time.monotonic())
                    return False
                self._settled = rows[-1]["id"]  # nothing was in progress: they rolled back
            self._dispatch(Event.of(row))
            self.last_id = row["id"]
        return len(rows) == BATCH


# ---------------------------------------------------------------------- the stream

def _parse_run_ids(value: str | None) -> frozenset[uuid.UUID] | None:
    """Ids that are not UUIDs name no run of anyone's: like unknown ones, they never match."""
    if value is None:
        return None
    parts = [p.strip() for p in value.split(",") if p.strip()]
    if len(parts) > MAX_RUN_IDS:
        raise ApiError(422, "invalid_request",
                       f"run_ids: at most {MAX_RUN_IDS} run ids, {len(parts)} given.",
                       {"field": "run_ids"})
    ids = set()
    for part in parts:
        with contextlib.suppress(ValueError):
            ids.add(uuid.UUID(part))
    return frozenset(ids)


def _parse_last_id(header: str | None, query: str | None) -> int | None:
    for field, value in (("Last-Event-ID", header), ("last_event_id", query)):
        if value is None or not value.strip():
            continue
        text = value.strip()
        if not (text.isascii() and text.isdigit()) or len(text) > 18:
            raise ApiError(422, "invalid_request",
                           f"{field}: an event id (a non-negative integer) was expected.",
                           {"field": field})
        return int(text)
    return None


class _Stream:
    """One client's events: snapshot or replay from the database, then the hub's inbox."""

    def __init__(self, hub: EventHub, pg: asyncpg.Pool, organization_id: uuid.UUID,
                 run_ids: frozenset[uuid.UUID] | None, last_id: int | None,
                 public_url: str) -> None:
        self.hub, self.pg, self.org, self.run_ids = hub, pg, organization_id, run_ids
        self.last_id, self.public_url = last_id, public_url

    async def events(self) -> AsyncIterator[str]:
        self.sub = self.hub.subscribe(self.org, self.run_ids)
        try:
            yield f"retry: {RETRY_MILLISECONDS}\n\n"
            while self.sub.start is None:  # the hub does not know where the log ends yet
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.hub.ready.wait(), self.hub.keepalive_seconds)
                if self.sub.start is None:
                    yield KEEPALIVE
            if self.last_id is None and self.run_ids:
                async for chunk in self._from_db(_SNAPSHOT, self.sub.start):
                    yield chunk
            if self.last_id is None:
                self.last_id = self.sub.start
            while True:
                async for chunk in self._replay():
                    yield chunk
                async for chunk in self._live():
                    yield chunk
                # overflowed: start over from the last id this client has
                self.hub.unsubscribe(self.sub)
                self.sub = self.hub.subscribe(self.org, self.run_ids)
        finally:
            self.hub.unsubscribe(self.sub)

    async def _replay(self) -> AsyncIterator[str]:
        """Events after last_id up to where the inbox starts, from run_events."""
        upto = self.sub.start
        assert upto is not None and self.last_id is not None
        while self.last_id < upto:
            got = 0
            async for chunk in self._from_db(_REPLAY, self.last_id, upto):
                got += 1
                yield chunk
            if got < BATCH:
                self.last_id = upto

    async def _from_db(self, sql: str, *bounds: int) -> AsyncIterator[str]:
        """One query's events (a snapshot, or a replay batch, which moves last_id); while the
        database does not answer, keepalives and retries."""
        backoff = Backoff()
        run_ids = list(self.run_ids) if self.run_ids is not None else None
        while True:
            try:
                if sql is _SNAPSHOT:
                    rows = await self.pg.fetch(sql, self.org, run_ids, bounds[0])
                else:
                    rows = await self.pg.fetch(sql, self.org, *bounds, run_ids, BATCH)
                break
            except UNAVAILABLE:
                yield KEEPALIVE
                await asyncio.sleep(backoff.next())
        for row in rows:
            event = Event.of(row)
            if sql is _REPLAY:
                self.last_id = event.id
            yield event.sse(self.public_url)

    async def _live(self) -> AsyncIterator[str]:
        """The inbox, until it overflows; a keepalive whenever it stays empty 15 s."""
        sub = self.sub
        while not sub.overflowed:
            if not sub.inbox:
                sub.wake.clear()
                try:
                    await asyncio.wait_for(sub.wake.wait(), self.hub.keepalive_seconds)
                except TimeoutError:
                    yield KEEPALIVE
                continue
            chunks = []
            while sub.inbox:
                event = sub.inbox.popleft()
                if event.id > self.last_id:
                    self.last_id = event.id
                    chunks.append(event.sse(self.public_url))
            if chunks:
                yield "".join(chunks)


class EventStreamResponse(StreamingResponse):
    """A stream of server-sent events (and the media type the OpenAPI document names)."""

    media_type = MEDIA_TYPE


async def _stream(
    request: Request, auth: Auth,
    run_ids: Annotated[str | None, Query(description=(
        f"Comma-separated run ids (at most {MAX_RUN_IDS}): only their events. Unknown ids "
        "and other organizations' never produce any."))] = None,
    last_event_id: Annotated[str | None, Query(description=(
        "Resume after this event id (as the Last-Event-ID header does)."))] = None,
    last_event_id_header: Annotated[str | None, Header(alias="Last-Event-ID", description=(
        "Resume: every retained event (24 h) after this id, then live ones."))] = None,
) -> EventStreamResponse:
    """The route's answer; its arguments are checked before the stream starts."""
    ids = _parse_run_ids(run_ids)
    last_id = _parse_last_id(last_event_id_header, last_event_id)
    ctx = request.app.state.ctx
    stream = _Stream(request.app.state.events, ctx.pg, auth.organization_id, ids, last_id,
                     ctx.settings.public_url)
    return EventStreamResponse(stream.events(), headers=HEADERS)


EventStream = Annotated[EventStreamResponse, Depends(_stream)]
"""GET /v1/jobs/events's whole answer, as a dependency (the route only returns it)."""
