"""How a page is rendered, who views it, and how its forms are checked.

Every page route takes `SignedIn` (the viewer, or a redirect to sign in) and renders with
`render`. Forms are read with `checked_form`, which refuses a missing or wrong CSRF token.
Org scoping is the services' (every lookup takes viewer.organization_id); an id from another
organization raises NotFound, rendered as the same 404 page as a missing one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData
from starlette.responses import HTMLResponse, RedirectResponse

from qualgent.accounts import sessions
from qualgent.accounts.sessions import Viewer
from qualgent.web import security

HERE = Path(__file__).parent
TEMPLATES = Jinja2Templates(directory=HERE / "templates")
STATIC_DIR = HERE / "static"

PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'; object-src 'none'"
)
"""No inline script or style anywhere: the pages' own files only."""


class SignInRequired(Exception):
    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


class OwnerRequired(Exception):
    """A member asked for what only an owner may do."""


async def viewer_of(request: Request) -> Viewer | None:
    token = request.cookies.get(sessions.COOKIE)
    if not token:
        return None
    return await sessions.resolve(request.app.state.ctx.pg, token)


async def signed_in(request: Request) -> Viewer:
    viewer = await viewer_of(request)
    if viewer is None:
        path = request.url.path
        if request.url.query:
            path += "?" + request.url.query
        raise SignInRequired(path if request.method == "GET" else "/")
    return viewer


async def owner(viewer: Annotated[Viewer, Depends(signed_in)]) -> Viewer:
    if not viewer.is_owner:
        raise OwnerRequired()
    return viewer


SignedIn = Annotated[Viewer, Depends(signed_in)]
Owner = Annotated[Viewer, Depends(owner)]


async def checked_form(request: Request, viewer: Viewer) -> FormData:
    """The submitted form, once its CSRF token is known to be this session's."""
    form = await request.form()
    security.check_session(request, viewer.csrf_token, form)
    return form


def field(form: FormData, name: str, limit: int = 10_000) -> str:
    """A text field of a form ('' when absent or a file), cut to `limit` characters."""
    value = form.get(name)
    return value[:limit] if isinstance(value, str) else ""


def render(request: Request, template: str, viewer: Viewer | None, *, status: int = 200,
           **context: Any) -> HTMLResponse:
    csrf = viewer.csrf_token if viewer else None
    new_cookie = None
    if viewer is None:
        csrf, new_cookie = security.anonymous_token(
            request, request.app.state.ctx.settings.signing_key)
    response = TEMPLATES.TemplateResponse(
        request, template, {"viewer": viewer, "csrf_token": csrf, **context},
        status_code=status)
    response.headers["content-security-policy"] = PAGE_POLICY
    if new_cookie:
        security.set_anonymous_cookie(request, response, new_cookie)
    return response


def redirect(url: str) -> RedirectResponse:
    """After a successful POST: 303 so the browser GETs the result (no re-submit on reload)."""
    return RedirectResponse(url, status_code=303)


def sign_in_url(next_path: str) -> str:
    return "/auth/sign-in?next=" + quote(next_path, safe="")


def safe_next(value: str | None) -> str:
    """Only a path on this site: never an open redirect."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/test-runs"
    return value


def when(value: datetime | str | None) -> str:
    """A timestamp as people read it (UTC, to the second)."""
    if value is None:
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


TEMPLATES.env.filters["when"] = when
