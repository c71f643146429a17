"""The methods a path serves, taken from the OpenAPI document, for the Allow header of 405s.

Starlette names only the first matching route's methods, and FastAPI makes one route per
method: GET, PUT and DELETE on /v1/test-cases/{id} would be announced as GET alone. A literal
path that an id parameter could also match (/v1/apps/upload beside /v1/apps/{app_id}) is its
own resource: its Allow is its own methods (the routes keep ids off such names, see
api.deps.IdSegment).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fastapi import FastAPI, Request
from starlette.exceptions import HTTPException
from starlette.responses import Response

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
