"""Which methods a path serves, taken from the OpenAPI document; literal paths own their URL.

`/v1/test-cases/list` (GET) and `/v1/test-cases/{case_id}` (GET, PUT, DELETE) overlap, and
the router would take `PUT /v1/test-cases/list` for the update of a test case whose id is
"list" (400 or 404) where the truth is 405: only GET is served there. `LiteralPaths` answers
those requests itself with 405 and the right `Allow`. The 405 handler gives the `Allow`
header of any 405: Starlette names only the first route's methods, and FastAPI makes one
route per method, so GET, PUT and DELETE on one path would be announced as GET alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from qualgent.api.errors import ApiError, api_error_response

_PARAM = re.compile(r"\{[^}]+\}")


@dataclass(frozen=True)
class PathTable:
    templates: dict[str, frozenset[str]]
    """Path template -> methods, from the document."""
    owned: dict[str, frozenset[str]]
    """Literal paths another template could take for an id -> their methods."""
    patterns: tuple[tuple[re.Pattern[str], frozenset[str]], ...]

    @classmethod
    def of(cls, app: FastAPI) -> PathTable:
        cached = getattr(app.state, "path_table", None)
        if cached is None:
            cached = cls.build(app.openapi()["paths"])
            app.state.path_table = cached
        return cached

    @classmethod
    def build(cls, paths: dict[str, dict]) -> PathTable:
        templates = {path: frozenset(m.upper() for m in ops) for path, ops in paths.items()}
        patterns = tuple((_regex(path), methods) for path, methods in templates.items())
        owned = {
            path: methods for path, methods in templates.items()
            if "{" not in path and sum(1 for p, _ in patterns if p.match(path)) > 1
        }
        return cls(templates, owned, patterns)

    def allowed(self, path: str) -> frozenset[str] | None:
        """Methods served at this concrete path, or None when the document does not know it."""
        if path in self.owned:
            return self.owned[path]
        methods = frozenset().union(*(m for p, m in self.patterns if p.match(path)))
        return methods or None


def _regex(template: str) -> re.Pattern[str]:
    segments = ("[^/]+" if _PARAM.fullmatch(s) else re.escape(s) for s in template.split("/"))
    return re.compile("^" + "/".join(segments) + "$")


def _not_allowed(allow: str) -> ApiError:
    return ApiError(405, "method_not_allowed", "Method not allowed here.", {"allow": allow},
                    headers={"Allow": allow})


def install(app: FastAPI) -> None:
    """Answer the router's 405s with every method the path serves."""

    @app.exception_handler(405)
    async def _method_not_allowed(request: Request, exc: HTTPException) -> Response:
        methods = PathTable.of(request.app).allowed(request.url.path)
        allow = ", ".join(sorted(methods)) if methods else (exc.headers or {}).get("Allow", "")
        return api_error_response(_not_allowed(allow))


class LiteralPaths:
    """405 for a method a literal path does not serve, before the router reads it as an id."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            table = PathTable.of(scope["app"])
            methods = table.owned.get(scope["path"])
            if methods is not None and scope["method"] not in methods:
                response = api_error_response(_not_allowed(", ".join(sorted(methods))))
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
