"""Security headers on every response.

API answers and downloads carry bearer download links and private data: no caching by the
browser or a proxy, no content sniffing, no framing. The docs pages get a Content Security
Policy that allows only this server's own assets and, by hash, the one inline script that
starts Swagger UI, so they keep working offline while nothing else can run.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Collection

from starlette.types import ASGIApp, Message, Receive, Scope, Send

ALWAYS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
]
NO_STORE = (b"cache-control", b"no-store")
_INLINE_SCRIPT = re.compile(rb"<script>(.*?)</script>", re.DOTALL)


def docs_policy(html: bytes) -> bytes:
    """A CSP for one docs page: own assets, the page's inline scripts by hash."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(script).digest()).decode() + "'"
        for script in _INLINE_SCRIPT.findall(html)
    )
    return (
        "default-src 'self'; "
        f"script-src 'self' {hashes}; "
        # Swagger UI and ReDoc style their widgets with inline styles
        "style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; "
        "worker-src 'self' blob:; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ).encode()


class SecurityHeaders:
    """Adds ALWAYS to every response; Cache-Control: no-store except on the static assets
    (the docs' and the pages'); a Content Security Policy on the HTML docs pages in `docs_pages`."""

    def __init__(self, app: ASGIApp, docs_pages: Collection[str] = (),
                 static_prefixes: tuple[str, ...] = ("/static-offline-docs", "/static/")
                 ) -> None:
        self.app = app
        self.docs_pages = frozenset(docs_pages)
        self.static_prefixes = static_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        extra = list(ALWAYS)
        if not path.startswith(self.static_prefixes):
            extra.append(NO_STORE)
        if path in self.docs_pages:
            await self._docs_page(scope, receive, send, extra)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = _merged(message.get("headers", []), extra)
            await send(message)

        await self.app(scope, receive, send_with_headers)

    async def _docs_page(self, scope: Scope, receive: Receive, send: Send,
                         extra: list[tuple[bytes, bytes]]) -> None:
        """Holds the (small, generated) page back until its inline scripts are hashed."""
        start: Message | None = None
        body = bytearray()

        async def collect(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if message["type"] == "http.response.body":
                body.extend(message.get("body", b""))
                if message.get("more_body", False):
                    return
                assert start is not None
                csp = [(b"content-security-policy", docs_policy(bytes(body)))]
                start["headers"] = _merged(start.get("headers", []), extra + csp)
                await send(start)
                await send({"type": "http.response.body", "body": bytes(body)})
                return
            await send(message)

        await self.app(scope, receive, collect)


def _merged(headers: list[tuple[bytes, bytes]],
            extra: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """extra, unless the response set the header itself."""
    present = {name.lower() for name, _ in headers}
    return list(headers) + [(n, v) for n, v in extra if n not in present]
