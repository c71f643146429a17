"""In-process cache of authenticated API keys, forgotten at once when a key is revoked.

CI polls job status constantly; without the cache every poll pays a key lookup in the
database. Only keys that authenticated are cached (key hash -> Principal): an unknown,
revoked or free-plan key is looked up every time, so a new answer is never hidden.

Revocation reaches every API process through PostgreSQL: `qualgent admin revoke-key` sends
`NOTIFY qualgent_keys, '<key id>'` in the revoking transaction, and each process LISTENs on a
connection of its own (``listen``). The cache serves entries only while that connection is
up: when it is lost, the cache is emptied and bypassed until the LISTEN is back, so a
revocation made meanwhile is never missed. Entries also expire after QUALGENT_KEY_CACHE_SECONDS
(safety net for keys changed by hand in the database; `NOTIFY qualgent_keys, '*'` empties
every cache at once), and the cache holds a bounded number of keys.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass

import asyncpg

from qualgent.db.pool import Backoff, watch_loss, while_alive

log = logging.getLogger(__name__)

CHANNEL = "qualgent_keys"
FORGET_ALL = "*"
"""A NOTIFY payload that empties every cache (for keys changed by hand in the database)."""

MAX_ENTRIES = 10_000
APPLICATION_NAME = "qualgent-key-cache"
"""How the LISTEN connection shows in pg_stat_activity."""


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request acts for: exactly one organization, through one key (None: a signed-in
    browser, on the one route that takes a session)."""

    organization_id: uuid.UUID
    user_id: uuid.UUID
    key_id: uuid.UUID | None


class KeyCache:
    """key hash -> Principal, for keys that authenticated.

    A lookup takes a ``ticket`` before reading the database and hands it back to ``put``:
    if any invalidation happened in between (a NOTIFY, a lost LISTEN connection), the answer
    may predate a revocation and is not cached.
    """

    def __init__(self, ttl_seconds: float, max_entries: int = MAX_ENTRIES) -> None:
        self.ttl = ttl_seconds
        self.max_entries = max_entries
        self._entries: dict[bytes, tuple[float, Principal]] = {}
        self._generation = 0
        self.listening = False
        """True while the LISTEN connection is up; the cache is bypassed otherwise."""

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, digest: bytes) -> Principal | None:
        entry = self._entries.get(digest)
        if entry is None:
            return None
        if entry[0] < time.monotonic():
            self._entries.pop(digest, None)
            return None
        return entry[1]

    def ticket(self) -> int:
        return self._generation

    def put(self, digest: bytes, principal: Principal, ticket: int) -> None:
        if not self.listening or self.ttl <= 0 or ticket != self._generation:
            return
        if digest not in self._entries and len(self._entries) >= self.max_entries:
            self._evict()
        self._entries[digest] = (time.monotonic() + self.ttl, principal)

    def _evict(self) -> None:
        """Drop expired entries, or else the oldest tenth: bounded memory, amortised cost."""
        now = time.monotonic()
        expired = [d for d, (until, _) in self._entries.items() if until < now]
        if not expired:
            expired = list(self._entries)[: max(1, self.max_entries // 10)]
        for digest in expired:
            del self._entries[digest]

    def forget(self, payload: str) -> None:
        """Handle a NOTIFY: drop the key with this id (or everything, for '*')."""
        self._generation += 1
        if payload == FORGET_ALL:
            self._entries.clear()
            return
        try:
            key_id = uuid.UUID(payload)
        except ValueError:
            log.warning("ignoring a %s notification that names no key id", CHANNEL)
            return
        for digest in [d for d, (_, p) in self._entries.items() if p.key_id == key_id]:
            del self._entries[digest]

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        self.forget(payload)

    def clear(self) -> None:
        self._generation += 1
        self._entries.clear()

    def _stop_serving(self) -> None:
        self.listening = False
        self.clear()

    async def listen(self, dsn: str, check_seconds: float = 5.0,
                     max_backoff: float = 5.0) -> None:
        """Keep a LISTEN connection for the life of the process (run it as a task).

        While it is up the cache serves; on loss (the database restarted, the connection was
        killed, a liveness check every `check_seconds` failed) the cache is emptied and
        bypassed, and the connection is re-made with backoff."""
        if self.ttl <= 0:
            return
        backoff = Backoff(first=0.1, cap=max_backoff)
        while True:
            try:
                await self._listen_once(dsn, check_seconds)
                log.warning("API key cache: LISTEN connection lost; cache emptied")
                backoff.reset()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure means: not listening
                if self.listening:
                    log.warning("API key cache: LISTEN connection failed (%s); cache emptied",
                                type(exc).__name__)
                    backoff.reset()
                else:
                    log.debug("API key cache: cannot LISTEN yet (%s)", exc)
            finally:
                self._stop_serving()
            await asyncio.sleep(backoff.next())

    async def _listen_once(self, dsn: str, check_seconds: float) -> None:
        """Serve from the cache for as long as one LISTEN connection lives."""
        conn = await asyncpg.connect(dsn, server_settings={"application_name": APPLICATION_NAME})
        try:
            lost = watch_loss(conn)
            await conn.add_listener(CHANNEL, self._on_notify)
            self.clear()  # anything cached before this point may predate a revocation
            self.listening = True
            await while_alive(conn, lost, check_seconds)
        finally:
            self._stop_serving()
            conn.terminate()
