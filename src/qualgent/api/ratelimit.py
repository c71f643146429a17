"""Rate limits on /v1 and /healthz: moving windows kept in the process, or shared through
Redis with QUALGENT_REDIS_URL (qualgent.api.windows).

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

from limits import RateLimitItem, parse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qualgent.api.errors import error_response
from qualgent.api.keycache import KeyCache
from qualgent.api.windows import Count, windows
from qualgent.observability.metrics import RATE_LIMITED

_FAILED = "qualgent.failed_authentication"
LIMITED_EXACT = frozenset({"/healthz"})
"""Paths outside /v1 that are limited per address (/livez touches nothing and is not)."""


def note_failed_authentication(scope: Scope) -> None:
    """Called by authentication when a key was malformed, unknown or revoked."""
    scope[_FAILED] = True


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    host = client[0] if client else "unknown"
    if ":" in host:  # IPv6: one subscriber usually holds a whole /64
        try:
            return str(ipaddress.IPv6Network(f"{host}/64", strict=False))
        except ValueError:
            pass
    return host


def _headers(item: RateLimitItem, count: Count) -> tuple[list[tuple[bytes, bytes]], int]:
    reset = max(1, math.ceil(count.reset_at - time.time()))
    return [
        (b"x-ratelimit-limit", str(item.amount).encode()),
        (b"x-ratelimit-remaining", str(max(0, count.remaining)).encode()),
        (b"x-ratelimit-reset", str(reset).encode()),
    ], reset


class RateLimit:
    def __init__(self, app: ASGIApp, limit: str, keys: KeyCache,
                 failure_limit: str = "20/minute", redis_url: str | None = None) -> None:
        self.app = app
        self.item = parse(limit)
        self.failure_item = parse(failure_limit)
        self.keys = keys
        self.windows = windows(redis_url)

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
        count = await self.windows.hit(self.item, who)
        headers, reset = _headers(self.item, count)
        if not count.allowed:
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
        count = await self.windows.peek(self.failure_item, "fail:" + client_address(scope))
        if count.allowed:
            return None
        headers, reset = _headers(self.failure_item, count)
        return self._refusal(
            self.failure_item, headers, reset,
            f"Too many failed authentications from your address (limit {self.failure_item});"
            f" retry after {reset}s.")

    @staticmethod
    def _refusal(item: RateLimitItem, headers: list[tuple[bytes, bytes]], reset: int,
                 message: str):  # noqa: ANN205 - a JSONResponse
        RATE_LIMITED.inc()
        response = error_response(429, "rate_limited", message,
                                  {"limit": item.amount, "retry_after": reset},
                                  headers={"Retry-After": str(reset)})
        response.raw_headers.extend(headers)
        return response
