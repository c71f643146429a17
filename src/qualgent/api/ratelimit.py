"""Rate limits on /v1 and /healthz: moving windows from the `limits` library, kept in the
process or shared through Redis (QUALGENT_REDIS_URL).

A pure ASGI middleware in front of authentication, with three windows:

- per key (QUALGENT_RATE_LIMIT, 10/second): every request that carries an X-Api-Key;
- per client address, same limit: requests without a key, and /healthz (a database query);
- failed authentications per client address (QUALGENT_AUTH_FAILURE_LIMIT, 20/minute). It
  is checked before the key is looked up: once an address is over it, a request whose key
  this process has not seen authenticate (see KeyCache) is refused with 429 without
  touching the database, so rotating random or malformed keys is as limited as one key.

The client address is the TCP peer, or with QUALGENT_TRUSTED_PROXIES the client that a
trusted proxy names in X-Forwarded-For (uvicorn's ProxyHeadersMiddleware, installed by the
app, rewrites scope["client"] before this runs). IPv6 clients are counted per /64.

Every limited response, errors included, carries X-RateLimit-Limit/-Remaining/-Reset.
"""

from __future__ import annotations

import hashlib
import ipaddress
import math
import time
from typing import Any

from limits import RateLimitItem, WindowStats, parse
from limits import strategies as sync_strategies
from limits.aio import strategies as async_strategies
from limits.storage import storage_from_string
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qualgent.api.errors import error_response
from qualgent.api.keycache import KeyCache

_FAILED = "qualgent.failed_authentication"
LIMITED_EXACT = frozenset({"/healthz"})
"""Paths outside /v1 that are limited per address (/livez touches nothing and is not)."""


def note_failed_authentication(scope: Scope) -> None:
    """Called by authentication when a key was malformed, unknown or revoked."""
    scope[_FAILED] = True


class Windows:
    """Moving-window counters of one storage. In memory they use the synchronous storage: the
    asyncio memory storage hands work to a thread on most hits (measured here: ~25 µs of CPU
    per request against ~10 µs)."""

    def __init__(self, redis_url: str | None) -> None:
        if redis_url:
            self._async: Any = async_strategies.MovingWindowRateLimiter(
                storage_from_string("async+" + redis_url))
            self._sync: Any = None
        else:
            self._sync = sync_strategies.MovingWindowRateLimiter(
                storage_from_string("memory://"))
            self._async = None

    async def hit(self, item: RateLimitItem, who: str) -> tuple[bool, WindowStats]:
        if self._sync is not None:
            return self._sync.hit(item, who), self._sync.get_window_stats(item, who)
        allowed = await self._async.hit(item, who)
        return allowed, await self._async.get_window_stats(item, who)

    async def stats(self, item: RateLimitItem, who: str) -> WindowStats:
        if self._sync is not None:
            return self._sync.get_window_stats(item, who)
        return await self._async.get_window_stats(item, who)


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    host = client[0] if client else "unknown"
    if ":" in host:  # IPv6: one subscriber usually holds a whole /64
        try:
            return str(ipaddress.IPv6Network(f"{host}/64", strict=False))
        except ValueError:
            pass
    return host


def _headers(item: RateLimitItem, stats: WindowStats) -> tuple[list[tuple[bytes, bytes]], int]:
    reset = max(1, math.ceil(stats.reset_time - time.time()))
    return [
        (b"x-ratelimit-limit", str(item.amount).encode()),
        (b"x-ratelimit-remaining", str(max(0, stats.remaining)).encode()),
        (b"x-ratelimit-reset", str(reset).encode()),
    ], reset


class RateLimit:
    def __init__(self, app: ASGIApp, limit: str, keys: KeyCache,
                 failure_limit: str = "20/minute", redis_url: str | None = None) -> None:
        self.app = app
        self.item = parse(limit)
        self.failure_item = parse(failure_limit)
        self.keys = keys
        self.windows = Windows(redis_url)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not (
                scope["path"].startswith("/v1/") or scope["path"] in LIMITED_EXACT):
            await self.app(scope, receive, send)
            return
        key = None
        for name, value in scope["headers"]:
            if name == b"x-api-key":
                key = value
                break
        if key:
            digest = hashlib.sha256(key).digest()
            if self.keys.get(digest) is None:
                over = await self._failures_over(scope)
                if over is not None:
                    await over(scope, receive, send)
                    return
            who = "k:" + digest.hex()[:32]
        else:
            who = "ip:" + client_address(scope)
        allowed, stats = await self.windows.hit(self.item, who)
        headers, reset = _headers(self.item, stats)
        if not allowed:
            await self._refusal(self.item, headers, reset,
                                f"Rate limit of {self.item} exceeded; retry after {reset}s."
                                )(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + headers
                if scope.get(_FAILED):
                    await self.windows.hit(self.failure_item, "fail:" + client_address(scope))
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _failures_over(self, scope: Scope):  # noqa: ANN202 - a response or None
        """The 429 for an address over its failed-authentication limit, else None."""
        stats = await self.windows.stats(self.failure_item, "fail:" + client_address(scope))
        if stats.remaining > 0:
            return None
        headers, reset = _headers(self.failure_item, stats)
        return self._refusal(
            self.failure_item, headers, reset,
            f"Too many failed authentications from your address (limit {self.failure_item});"
            f" retry after {reset}s.")

    @staticmethod
    def _refusal(item: RateLimitItem, headers: list[tuple[bytes, bytes]], reset: int,
                 message: str):  # noqa: ANN205 - a JSONResponse
        response = error_response(429, "rate_limited", message,
                                  {"limit": item.amount, "retry_after": reset},
                                  headers={"Retry-After": str(reset)})
        response.raw_headers.extend(headers)
        return response
