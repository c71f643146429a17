"""The deliverer: every API process runs one (like the reaper). It sends the pending webhook
deliveries the test_runs update trigger queues, with retries.

Woken by NOTIFY qualgent_webhooks (a LISTEN connection of its own), else by a timer set to
the next delivery due (at most QUALGENT_POLL_SECONDS away). A pass claims a few due
deliveries with FOR UPDATE SKIP LOCKED and keeps them locked while their POSTs are in flight,
writing each outcome in that same transaction: deliverers of other processes skip them, so
a delivery is never sent twice at once, and one whose process died mid-POST is simply due
again. The payload (the run as GET /v1/jobs/status/{id} shows it, without steps and vars) is
built on the first attempt and stored, so retries and resends send the same snapshot.

Each POST goes to the address that was checked (see service.resolve: loopback and private
addresses refused unless allowed, link-local always), with the URL's host in Host and TLS
SNI; redirects are not followed and at most a few hundred bytes of the answer are read.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx

from qualgent import __version__
from qualgent.config import Settings
from qualgent.db.pool import UNAVAILABLE, Backoff, watch_loss, while_alive
from qualgent.runs import queries
from qualgent.runs.views import run_view
from qualgent.webhooks import service, signing

log = logging.getLogger(__name__)

CHANNEL = "qualgent_webhooks"
APPLICATION_NAME = "qualgent-webhooks"
"""How the LISTEN connection shows in pg_stat_activity."""
BATCH = 10
TIMEOUT_S = 10.0
"""A 2xx must arrive within this long (connect, send, answer) to count as delivered."""
MAX_DELAY_S = 3600.0
BODY_CAP = 512
"""Bytes of a receiver's answer kept (for the log's error); the rest is never read."""
USER_AGENT = f"qualgent-webhooks/{__version__}"

_CLAIM = """
SELECT d.id, d.organization_id, d.test_run_id, d.event, d.payload, d.attempts,
       d.created_at, w.id AS webhook_id, w.url, w.secret_version
FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
WHERE d.status = 'pending' AND d.next_attempt_at <= now()
ORDER BY d.next_attempt_at, d.id
LIMIT $1
FOR UPDATE OF d SKIP LOCKED
"""

_RECORD = """
UPDATE webhook_deliveries
SET attempts = attempts + 1, payload = coalesce(payload, $2::jsonb), status = $3::text,
    last_status_code = $4, last_error = $5,
    delivered_at = CASE WHEN $3::text = 'delivered' THEN now() END,
    next_attempt_at = CASE WHEN $3::text = 'pending' THEN now() + make_interval(secs => $6)
                           ELSE next_attempt_at END
WHERE id = $1
"""

# Seconds until the earliest pending delivery no other deliverer holds (negative: overdue).
_NEXT_DUE = """
SELECT extract(epoch FROM next_attempt_at - now())::float8 FROM webhook_deliveries
WHERE status = 'pending' ORDER BY next_attempt_at LIMIT 1 FOR UPDATE SKIP LOCKED
"""


@dataclass(frozen=True)
class Attempt:
    """What one POST came to."""

    status_code: int | None
    error: str | None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def retry_delay(base: float, attempts: int) -> float:
    """Before the next try after `attempts` failed ones: base, 2 x base, 4 x base ... capped
    at an hour, each drawn from its upper half (receivers that come back are not hit by
    every queued delivery at once)."""
    delay = min(MAX_DELAY_S, base * 2 ** min(attempts - 1, 30))
    return random.uniform(delay / 2, delay)


def body_of(row: Any, run: dict) -> bytes:
    """The JSON a delivery POSTs: the same bytes on every attempt (keys sorted, since the
    stored payload comes back from jsonb in its own key order)."""
    return json.dumps({
        "event": row["event"],
        "delivery_id": row["id"],
        "created_at": row["created_at"].isoformat(),
        "test_run": run,
    }, separators=(",", ":"), sort_keys=True).encode()


def _short(text: str, limit: int = 300) -> str:
    clean = "".join(c if c.isprintable() else " " for c in text).strip()
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"


async def post(client: httpx.AsyncClient, url: str, body: bytes, headers: dict[str, str],
               allow_private: bool) -> Attempt:
    """POST `body` to `url` once, to an address checked now (not re-resolved by httpx)."""
    try:
        parts = service.parse_url(url)
        target = await service.resolve(parts, allow_private)
    except service.WebhookRefused as exc:
        return Attempt(None, exc.message)
    address = target.address
    host = f"[{address}]" if address.version == 6 else str(address)
    path = parts.path or "/"
    query = f"?{parts.query}" if parts.query else ""
    extensions = {"sni_hostname": target.host} if parts.scheme == "https" else {}
    try:
        async with asyncio.timeout(TIMEOUT_S):
            async with client.stream(
                    "POST", f"{parts.scheme}://{host}:{target.port}{path}{query}",
                    content=body, headers={**headers, "Host": parts.netloc},
                    extensions=extensions) as response:
                head = b""
                async for chunk in response.aiter_raw():
                    head += chunk
                    if len(head) >= BODY_CAP:
                        break
    except (TimeoutError, httpx.TimeoutException):
        return Attempt(None, f"No answer within {TIMEOUT_S:g} s.")
    except httpx.ConnectError as exc:
        return Attempt(None, _short(f"Could not connect: {exc}" if str(exc)
                                    else "Could not connect."))
    except httpx.HTTPError as exc:
        return Attempt(None, _short(f"{type(exc).__name__}: "
                                    + (str(exc) or "the connection closed without an answer.")))
    code = response.status_code
    if 200 <= code < 300:
        return Attempt(code, None)
    if 300 <= code < 400:
        where = response.headers.get("location", "")
        return Attempt(code, _short(f"HTTP {code}: redirects are not followed ({where})."))
    said = head[:BODY_CAP].decode("utf-8", "replace")
    return Attempt(code, _short(f"HTTP {code}" + (f": {said}" if said.strip() else "")))


async def _attempt(client: httpx.AsyncClient, settings: Settings, row: Any,
                   run: dict) -> Attempt:
    secret = signing.secret(settings.signing_key, row["webhook_id"], row["secret_version"])
    body = body_of(row, run)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Accept-Encoding": "identity",  # the answer's bytes are read raw, capped
        "X-Qualgent-Event": row["event"],
        "X-Qualgent-Delivery": str(row["id"]),
        signing.HEADER: signing.signature(secret, body),
    }
    try:
        return await post(client, row["url"], body, headers, settings.webhook_allow_private)
    except Exception as exc:  # noqa: BLE001 - any failure of one POST is that attempt's error
        log.exception("webhook delivery %s failed unexpectedly", row["id"])
        return Attempt(None, _short(f"{type(exc).__name__}: {exc}"))


async def deliver_due(pool: asyncpg.Pool, client: httpx.AsyncClient, settings: Settings,
                      limit: int = BATCH) -> int:
    """One pass: claim up to `limit` due deliveries, POST them concurrently, record each
    outcome. Returns how many were claimed."""
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(_CLAIM, limit)
        if not rows:
            return 0
        runs: list[dict | None] = []
        for row in rows:
            if row["payload"] is not None:
                runs.append(row["payload"])
                continue
            found = await queries.run_row(conn, row["organization_id"], row["test_run_id"])
            runs.append(run_view(found, settings.public_url, with_steps=False)
                        if found is not None else None)
        outcomes = await asyncio.gather(*(
            _attempt(client, settings, row, run) if run is not None
            else _gone() for row, run in zip(rows, runs, strict=True)))
        for row, run, outcome in zip(rows, runs, outcomes, strict=True):
            attempts = row["attempts"] + 1
            if outcome.delivered:
                status, delay = "delivered", 0.0
            elif run is None or attempts >= settings.webhook_max_attempts:
                status, delay = "failed", 0.0
            else:
                status = "pending"
                delay = retry_delay(settings.webhook_retry_seconds, attempts)
            await conn.execute(_RECORD, row["id"], run, status, outcome.status_code,
                               outcome.error, delay)
    return len(rows)


async def _gone() -> Attempt:
    return Attempt(None, "The run no longer exists.")


async def next_due(pool: asyncpg.Pool) -> float | None:
    """Seconds until the next pending delivery is due; None when none is pending."""
    return await pool.fetchval(_NEXT_DUE)


async def deliver_forever(pool: asyncpg.Pool, settings: Settings, dsn: str) -> None:
    """Run for the life of the process (as a task); cancel to stop."""
    wake = asyncio.Event()
    listening = asyncio.create_task(listen(dsn, wake))
    fallback = max(settings.poll_seconds, 0.05)
    unreachable = Backoff()
    try:
        async with httpx.AsyncClient(follow_redirects=False, trust_env=False,
                                     timeout=httpx.Timeout(TIMEOUT_S)) as client:
            while True:
                wake.clear()
                timeout = fallback
                try:
                    while await deliver_due(pool, client, settings) == BATCH:
                        pass
                    due = await next_due(pool)
                    if due is not None:
                        timeout = min(max(due, 0.01), fallback)
                    unreachable.reset()
                except UNAVAILABLE as exc:
                    if not unreachable.failures:
                        log.warning("webhooks: the database is unreachable (%s); retrying", exc)
                    timeout = unreachable.next()
                except Exception:  # noqa: BLE001 - a failed pass is retried on the next tick
                    log.exception("webhook delivery pass failed")
                try:
                    await asyncio.wait_for(wake.wait(), timeout)
                except TimeoutError:
                    pass
    finally:
        listening.cancel()
        await asyncio.gather(listening, return_exceptions=True)


async def listen(dsn: str, wake: asyncio.Event, check_seconds: float = 5.0) -> None:
    """Set `wake` on every NOTIFY qualgent_webhooks, on a connection of its own, re-made
    with backoff when lost (and `wake` set then too: a NOTIFY may have been missed)."""
    backoff = Backoff(first=0.1, cap=5.0)
    while True:
        try:
            await _listen_once(dsn, wake, backoff, check_seconds)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - any failure means: not listening
            log.debug("webhooks: LISTEN connection failed (%s)", exc)
        await asyncio.sleep(backoff.next())


async def _listen_once(dsn: str, wake: asyncio.Event, backoff: Backoff,
                       check_seconds: float) -> None:
    conn = await asyncpg.connect(dsn, server_settings={"application_name": APPLICATION_NAME})
    try:
        lost = watch_loss(conn)
        await conn.add_listener(CHANNEL, lambda *_args: wake.set())
        wake.set()
        backoff.reset()
        await while_alive(conn, lost, check_seconds)
    finally:
        conn.terminate()
