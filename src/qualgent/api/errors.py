"""One error shape for every failure: {"error": <stable string>, "message", "details"}.

Also the last line of defence: an exception no handler knew becomes a 503 when the database
is out of reach and a 500 otherwise, answered inside the rate-limit middleware (so it keeps
the X-RateLimit-* headers) and without dropping the client's keep-alive connection.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qualgent.db.pool import UNAVAILABLE

NOT_FOUND = "S-90004"
RETRY_AFTER_SECONDS = 5
"""What a client is told to wait during a database outage before trying again."""

log = logging.getLogger(__name__)


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        error: str,
        message: str,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.details = details or {}
        self.headers = headers


def malformed_body(message: str, field: str | None = "body", **details: Any) -> ApiError:
    """400: the body cannot be read as what the route takes; `field` names the part at fault
    (None when no single part is)."""
    return ApiError(400, "malformed_body", message,
                    {"field": field, **details} if field else details)


def payload_too_large(message: str, headers: dict[str, str] | None = None,
                      **details: Any) -> ApiError:
    """413: the message names the cap that was passed (each has its own setting)."""
    return ApiError(413, "payload_too_large", message, details, headers)


def database_unavailable() -> ApiError:
    return ApiError(
        503, "database_unavailable",
        f"The database does not answer; retry in {RETRY_AFTER_SECONDS} s.",
        {"retry_after": RETRY_AFTER_SECONDS},
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def error_response(
    status: int, error: str, message: str, details: dict | None = None, headers: dict | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": error, "message": message, "details": details or {}},
        status_code=status,
        headers=headers,
    )


def api_error_response(err: ApiError) -> JSONResponse:
    return error_response(err.status, err.error, err.message, err.details, err.headers)


_DRIVER_MODULES = ("asyncpg", "sqlalchemy", "qualgent.db")


def _raised_by_driver(exc: BaseException) -> bool:
    """An OSError is a database outage only when the driver raised it (a socket that would
    not connect), not when, say, a blob file is missing."""
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_globals.get("__name__", "").startswith(_DRIVER_MODULES):
            return True
        tb = tb.tb_next
    return False


def _unavailable(exc: BaseException) -> bool:
    """One of db.pool.UNAVAILABLE, read narrowly: a 503 tells the client that retrying will
    help, which a missing blob file or a full disk would not."""
    if isinstance(exc, OSError):  # TimeoutError too
        return _raised_by_driver(exc)
    if isinstance(exc, asyncpg.InterfaceError):
        return "connection is closed" in str(exc)
    if isinstance(exc, asyncpg.InsufficientResourcesError):
        return isinstance(exc, asyncpg.TooManyConnectionsError)
    return isinstance(exc, UNAVAILABLE)


def database_unreachable(exc: BaseException) -> bool:
    """True when exc, or anything in its cause chain, says the database cannot be reached."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _unavailable(current):
            return True
        if isinstance(current, sa_exc.TimeoutError):  # no pooled connection came free in time
            return True
        if isinstance(current, sa_exc.DBAPIError) and current.connection_invalidated:
            return True
        current = current.__cause__ or current.__context__
    return False


def field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """('body', 'jobs', 0, 'device', 'platform') -> 'jobs[0].device.platform'."""
    out = ""
    for part in loc:
        if part in ("body", "query", "path", "header"):
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        elif not str(part).startswith("function-"):
            out += f".{part}" if out else str(part)
    return out


def validation_error(exc: RequestValidationError) -> ApiError:
    """Missing parameters and malformed bodies are 400; well-formed but invalid values, 422."""
    errors = exc.errors()
    first = errors[0]
    field = field_path(first["loc"])
    kind = first["type"]
    if kind == "json_invalid":
        return malformed_body("The request body is not valid JSON.")
    if kind == "missing":
        if not field:
            return ApiError(400, "missing_parameter",
                            "A request body is required: send a JSON object.", {"field": "body"})
        return ApiError(
            400, "missing_parameter", f"{field} is required.", {"field": field}
        )
    if kind == "model_attributes_type" and not field:
        return malformed_body("The request body must be a JSON object.")
    msg = str(first.get("msg", "is invalid"))
    custom = (first.get("ctx") or {}).get("error")
    if custom is not None:
        msg = str(custom)
    else:
        msg = msg.removeprefix("Value error, ")
        msg = f"{field}: {msg}" if field else msg
    return ApiError(422, "invalid_request", msg, {"field": field or "body"})


def unreadable_body(cause: BaseException | None) -> ApiError:
    """400 for a JSON body json.loads cannot read besides a syntax error. FastAPI parses such
    a body only when BodyGuard (api.bodies) has let it by: no nesting or giant number, which
    BodyGuard answers itself, but bytes that are not UTF-8, which it leaves alone."""
    if isinstance(cause, UnicodeDecodeError):
        return malformed_body("The request body is not valid UTF-8.")
    return malformed_body("The request body cannot be read.")


def http_error(exc: StarletteHTTPException) -> ApiError:
    headers = dict(exc.headers) if exc.headers else None
    if exc.status_code == 404:
        return ApiError(404, "not_found", "No such endpoint.")
    if exc.status_code == 413:
        return payload_too_large("The request body is too large.", headers)
    if exc.status_code == 400:  # FastAPI's "There was an error parsing the body"
        return unreadable_body(exc.__cause__)
    return ApiError(exc.status_code, "http_error", str(exc.detail), {}, headers)


class _OutageLog:
    """One warning line every `every` seconds during an outage, with the count it stands for
    (every request fails alike), naming the root cause only: SQLAlchemy's message would
    carry the statement's parameters."""

    every = 10.0

    def __init__(self) -> None:
        self.last = 0.0
        self.unlogged = 0

    def note(self, exc: BaseException) -> None:
        now = time.monotonic()
        if now - self.last < self.every:
            self.unlogged += 1
            return
        root = exc
        for _ in range(20):  # bounded: a chain is short, but nothing forbids a long one
            below = root.__cause__ or root.__context__
            if below is None:
                break
            root = below
        log.warning("database unreachable (%d more requests refused since the last line): "
                    "%s: %s", self.unlogged, type(root).__name__, root)
        self.last, self.unlogged = now, 0


_outage_log = _OutageLog()


def unexpected(exc: BaseException) -> ApiError:
    """What to answer for an exception no handler knew, logged here."""
    if database_unreachable(exc):
        _outage_log.note(exc)
        return database_unavailable()
    log.error("unhandled error", exc_info=exc)
    return ApiError(500, "internal_error", "Something went wrong on our side.")


class UnhandledErrors:
    """Turn any exception into our error response, here rather than in Starlette's outermost
    ServerErrorMiddleware: that one answers outside the rate limiter (no X-RateLimit-*) and
    re-raises, which makes uvicorn drop the keep-alive connection."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:  # too late for another answer: let the server close the connection
                raise
            await api_error_response(unexpected(exc))(scope, receive, send)


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return api_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return api_error_response(validation_error(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return api_error_response(http_error(exc))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        """Only for failures outside UnhandledErrors (Starlette's outermost layer)."""
        return api_error_response(unexpected(exc))
