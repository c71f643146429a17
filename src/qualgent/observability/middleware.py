"""Every HTTP request: a request id (the client's X-Request-Id when it is a sane token, else
a new one; echoed in the response) for the log lines it causes, and its latency in
qualgent_http_request_duration_seconds.

The route label is the route's template (/v1/jobs/status/{test_run_id}), never the raw path:
a label per run id would grow the series without bound. Paths no route serves share one
label, "<unmatched>".
"""

from __future__ import annotations

import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qualgent.api.routing import iter_route_contexts
from qualgent.observability import logs
from qualgent.observability.metrics import HTTP_LATENCY

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
UNMATCHED = "<unmatched>"
_RUN_PARAMS = ("test_run_id", "run_id")


class Observe:
    """Pure ASGI, outermost but for the proxy-headers layer: it times everything, the rate
    limiter's 429s and the error handlers' 5xx included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._templates: dict[int, str] | None = None
        self._patterns: list[tuple[re.Pattern[str], str]] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        rid = _request_id(scope)
        token = logs.request_id.set(rid)
        status = 500  # the app raised before answering: the server answers 500

        async def send_tagged(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []),
                                      (b"x-request-id", rid.encode())]
                params = scope.get("path_params") or {}
                for name in _RUN_PARAMS:  # uvicorn's access line is written in this send
                    if name in params:
                        logs.run_id.set(str(params[name]))
                        break
            await send(message)

        try:
            await self.app(scope, receive, send_tagged)
        finally:
            HTTP_LATENCY.labels(self._route(scope), scope["method"],
                                f"{status // 100}xx").observe(time.perf_counter() - start)
            logs.request_id.reset(token)

    def _route(self, scope: Scope) -> str:
        """The template of the route that served the request, with its router prefix."""
        app = scope.get("app")
        if self._templates is None and app is not None:  # routes are fixed once serving
            self._templates, self._patterns = {}, []
            for ctx in iter_route_contexts(app.routes):
                path = getattr(ctx, "path_format", None) or getattr(ctx, "path", None)
                if not path:
                    continue
                original = getattr(ctx, "original_route", ctx)
                self._templates.setdefault(id(original), path)
                regex = getattr(ctx, "path_regex", None)
                if regex is not None:
                    self._patterns.append((regex, path))
        route = scope.get("route")
        if route is not None and self._templates is not None:
            found = self._templates.get(id(route))
            if found:
                return found
        # Not routed (refused before routing, e.g. 429, or no route serves the path): the
        # first route whose pattern takes the path, as the router would have chosen.
        path = scope.get("path", "")
        for regex, template in self._patterns:
            if regex.match(path):
                return template
        return UNMATCHED


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            text = value.decode("latin-1")
            if _REQUEST_ID.fullmatch(text):
                return text
            break
    return uuid.uuid4().hex
