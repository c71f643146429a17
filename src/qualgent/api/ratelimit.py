"""Per-key sliding-window rate limit on /v1, shared through Redis when configured.

A pure ASGI middleware: it runs before authentication (so floods never reach the database)
and stamps X-RateLimit-* headers on every /v1 response, including errors.
"""

from __future__ import annotations

import hashlib
import math
import time

from limits import parse
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qualgent.api.errors import error_response


class RateLimit:
    def __init__(self, app: ASGIApp, limit: str, redis_url: str | None = None) -> None:
        self.app = app
        self.item = parse(limit)
        uri = "async+" + redis_url if redis_url else "async+memory://"
        self.limiter = MovingWindowRateLimiter(storage_from_string(uri))

    @staticmethod
    def _identity(scope: Scope) -> str:
        for name, value in scope["headers"]:
            if name == b"x-api-key":
                return "k:" + hashlib.sha256(value).hexdigest()[:32]
        client = scope.get("client")
        return "ip:" + (client[0] if client else "unknown")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/v1/"):
            await self.app(scope, receive, send)
            return
        who = self._identity(scope)
        allowed = await self.limiter.hit(self.item, who)
        stats = await self.limiter.get_window_stats(self.item, who)
        reset = max(1, math.ceil(stats.reset_time - time.time()))
        headers = [
            (b"x-ratelimit-limit", str(self.item.amount).encode()),
            (b"x-ratelimit-remaining", str(max(0, stats.remaining)).encode()),
            (b"x-ratelimit-reset", str(reset).encode()),
        ]
        if not allowed:
            response = error_response(
                429,
                "rate_limited",
                f"Rate limit of {self.item} exceeded; retry after {reset}s.",
                {"limit": self.item.amount, "retry_after": reset},
                headers={"Retry-After": str(reset)},
            )
            response.raw_headers.extend(headers)
            await response(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
