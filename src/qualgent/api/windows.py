"""Moving-window counters for the rate limiter: in this process, or shared through Redis.

Shared (QUALGENT_REDIS_URL): the `limits` library's moving window on Redis. In process: the
same moving window, kept here as a deque of hit times per identity. `limits`' own memory
storage costs ~50 µs of CPU per hit on this API's hot path (measured: it starts a
threading.Timer for its expiry pass every ~10 ms, and its asyncio variant hands each pass to
a thread), which is a tenth of a cached job-status request; this costs ~2 µs.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass

from limits import RateLimitItem
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

MAX_IDENTITIES = 200_000
"""Bound on the identities tracked in process; past it the longest-tracked are dropped."""


@dataclass(frozen=True, slots=True)
class Count:
    allowed: bool
    remaining: int
    reset_at: float
    """Epoch seconds when the oldest hit in the window leaves it."""


class LocalWindows:
    """Per identity, the times of its hits still inside the window, oldest first."""

    def __init__(self, max_identities: int = MAX_IDENTITIES) -> None:
        self._hits: dict[str, tuple[float, deque[float]]] = {}
        self._max = max_identities
        self._next_sweep = 0.0

    def _window(self, item: RateLimitItem, who: str, now: float) -> deque[float] | None:
        entry = self._hits.get(who)
        if entry is None:
            return None
        hits = entry[1]
        cutoff = now - entry[0]
        while hits and hits[0] <= cutoff:
            hits.popleft()
        return hits

    async def hit(self, item: RateLimitItem, who: str) -> Count:
        now = time.time()
        if now >= self._next_sweep:
            self._sweep(now)
        hits = self._window(item, who, now)
        if hits is None:
            if len(self._hits) >= self._max:
                self._sweep(now, force=True)
            hits = deque()
            self._hits[who] = (item.get_expiry(), hits)
        allowed = len(hits) < item.amount
        if allowed:
            hits.append(now)
        return Count(allowed, item.amount - len(hits), hits[0] + item.get_expiry())

    async def peek(self, item: RateLimitItem, who: str) -> Count:
        now = time.time()
        hits = self._window(item, who, now)
        if not hits:
            return Count(True, item.amount, now + item.get_expiry())
        return Count(len(hits) < item.amount, item.amount - len(hits),
                     hits[0] + item.get_expiry())

    def _sweep(self, now: float, force: bool = False) -> None:
        """Forget identities with no hit left in their window (once a second); when over the
        bound even so, the longest-tracked tenth."""
        self._next_sweep = now + 1.0
        idle = [who for who, (span, hits) in self._hits.items()
                if not hits or hits[-1] <= now - span]
        for who in idle:
            del self._hits[who]
        if force and len(self._hits) >= self._max:
            for who in list(self._hits)[: max(1, self._max // 10)]:
                del self._hits[who]


class RedisWindows:
    """The same moving windows in Redis, shared by every API process."""

    def __init__(self, redis_url: str) -> None:
        self._limiter = MovingWindowRateLimiter(storage_from_string("async+" + redis_url))

    async def hit(self, item: RateLimitItem, who: str) -> Count:
        allowed = await self._limiter.hit(item, who)
        stats = await self._limiter.get_window_stats(item, who)
        return Count(allowed, stats.remaining, stats.reset_time)

    async def peek(self, item: RateLimitItem, who: str) -> Count:
        stats = await self._limiter.get_window_stats(item, who)
        return Count(stats.remaining > 0, stats.remaining, stats.reset_time)


def windows(redis_url: str | None) -> LocalWindows | RedisWindows:
    return RedisWindows(redis_url) if redis_url else LocalWindows()
