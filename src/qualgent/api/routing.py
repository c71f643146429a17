"""The Allow header of 405s: every method the path serves.

Starlette names only the first matching route's methods, and FastAPI makes one route per
method: GET, PUT and DELETE on /v1/test-cases/{id} would be announced as GET alone. So the
answer unites the methods of every route whose pattern takes the path; the patterns are the
router's own, so /v1/apps/upload is not taken for an app id (see api.deps.IdSegment).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import BaseRoute

from qualgent.api.errors import ApiError, api_error_response

try:  # FastAPI >= 0.137.2 keeps an included router as one node of app.routes
    from fastapi.routing import iter_route_contexts
except ImportError:  # older versions copy the included routes into app.routes

    def iter_route_contexts(routes: Sequence[BaseRoute]) -> Iterable[Any]:  # type: ignore[misc]
        return routes


def allowed_methods(app: FastAPI, path: str) -> frozenset[str]:
    """Methods served at this concrete path (405s are rare: no table is kept)."""
    methods: set[str] = set()
    for route in iter_route_contexts(app.routes):
        served = getattr(route, "methods", None)
        if served and route.path_regex.match(path):
            methods |= served
    return frozenset(methods)


def method_not_allowed(allow: str) -> ApiError:
    return ApiError(405, "method_not_allowed", "Method not allowed here.", {"allow": allow},
                    headers={"Allow": allow})


def install(app: FastAPI) -> None:
    """Answer the router's 405s with every method the path serves."""

    @app.exception_handler(405)
    async def _method_not_allowed(request: Request, exc: HTTPException) -> Response:
        methods = allowed_methods(request.app, request.url.path)
        allow = ", ".join(sorted(methods)) if methods else (exc.headers or {}).get("Allow", "")
        return api_error_response(method_not_allowed(allow))
