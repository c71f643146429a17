"""CSRF protection for the pages.

Signed-in forms carry their session's CSRF token (a hidden field, or the X-CSRF-Token header
for the pages' scripts). Forms shown before signing in (sign-in, sign-up, accepting an
invitation) use a signed double-submit cookie: a random value in an HttpOnly, SameSite=Strict
cookie and its HMAC in the form, so another site can neither read nor forge the pair. Every
unsafe request must also come from this origin when the browser says where it comes from.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response

ANON_COOKIE = "qg_csrf"
FIELD = "csrf_token"
HEADER = "x-csrf-token"


class CsrfFailure(Exception):
    """The request did not prove it came from one of our own pages."""


def secure_cookies(request: Request) -> bool:
    """Cookies get Secure when the browser reached us over TLS (directly or, with
    QUALGENT_TRUSTED_PROXIES, through a proxy that says so)."""
    return request.url.scheme == "https"


def _sign(key: bytes, value: str) -> str:
    return hmac.new(key, b"csrf:" + value.encode(), hashlib.sha256).hexdigest()


def anonymous_token(request: Request, key: bytes) -> tuple[str, str | None]:
    """The token for a form shown before signing in, and the cookie value to set when the
    browser has none yet."""
    value = request.cookies.get(ANON_COOKIE)
    if value and len(value) <= 64:
        return _sign(key, value), None
    value = secrets.token_urlsafe(24)
    return _sign(key, value), value


def set_anonymous_cookie(request: Request, response: Response, value: str) -> None:
    response.set_cookie(ANON_COOKIE, value, httponly=True, samesite="strict",
                        secure=secure_cookies(request), path="/auth")


def check_origin(request: Request) -> None:
    """An unsafe request that names another origin is refused (defence in depth)."""
    origin = request.headers.get("origin")
    if origin is None:  # not every browser sends it on same-origin form posts
        return
    own = f"{request.url.scheme}://{request.url.netloc}"
    if origin != own:
        raise CsrfFailure(f"cross-origin request from {origin}")


def check_anonymous(request: Request, form: FormData, key: bytes) -> None:
    check_origin(request)
    cookie = request.cookies.get(ANON_COOKIE, "")
    sent = form.get(FIELD)
    if not cookie or not isinstance(sent, str) or not hmac.compare_digest(
            sent, _sign(key, cookie)):
        raise CsrfFailure("missing or wrong anonymous CSRF token")


def check_session(request: Request, expected: str, form: FormData | None) -> None:
    check_origin(request)
    sent = request.headers.get(HEADER)
    if sent is None and form is not None:
        value = form.get(FIELD)
        sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CsrfFailure("missing or wrong CSRF token")
