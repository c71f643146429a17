"""Request bodies are capped and their JSON checked before any route reads them.

The cap is decided from Content-Length when there is one (nothing is read), and counted as
the body streams in otherwise, so an oversized body never sits in memory. Python's json
accepts what PostgreSQL refuses to store (NaN, Infinity, 1e400, NUL characters, lone
surrogates) or cannot even be read back (nesting past the recursion limit, integers over
4300 digits); such bodies are refused here with the field that holds the bad value, instead
of failing in the database. Ordinary bodies pass a single regex scan and are not parsed here.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qualgent.api.errors import (
    ApiError,
    api_error_response,
    malformed_body,
    payload_too_large,
    unreadable_body,
)

MAX_DEPTH = 64
"""Deepest nesting of arrays and objects accepted in a JSON body."""

# Anything that could hide a value PostgreSQL refuses; a match only means "parse and look".
_SUSPECT = re.compile(
    rb"\x00|\\u0000|\\u[dD][89a-fA-F]|NaN|Infinity|[eE][+-]?\d{3}|\d{300}"
)


class _Constant:
    """Stands for NaN / Infinity / -Infinity while parsing, so the walk can name the field."""

    def __init__(self, name: str) -> None:
        self.name = name


def too_large(limit: int) -> ApiError:
    return payload_too_large(
        f"The request body exceeds {limit} bytes (QUALGENT_MAX_JSON_BODY_BYTES).",
        headers={"Connection": "close"},  # the rest of the body is not read
        max_bytes=limit,
    )


def _invalid(field: str, message: str) -> ApiError:
    return ApiError(422, "invalid_request", f"{field}: {message}", {"field": field})


def _too_deep() -> ApiError:
    return malformed_body(f"The request body is nested deeper than {MAX_DEPTH} levels.")


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return "contains a NUL character (\\u0000), which cannot be stored"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains an unpaired UTF-16 surrogate, which is not valid Unicode"
    return None


def unstorable_text(field: str, text: str) -> ApiError | None:
    """422 naming `field` when `text` holds what PostgreSQL text cannot (NUL, a lone
    surrogate); the same check for JSON bodies and the upload's form fields."""
    problem = _text_problem(text)
    return None if problem is None else _invalid(field, problem)


def _walk(document: Any) -> ApiError | None:
    """The first value PostgreSQL would refuse, with its path ('jobs[0].vars.t')."""
    stack: list[tuple[Any, str, int]] = [(document, "", 1)]
    while stack:
        value, path, depth = stack.pop()
        where = path or "body"
        if isinstance(value, dict | list) and depth > MAX_DEPTH:
            return _too_deep()
        if isinstance(value, dict):
            for key in value:
                if problem := _text_problem(key):
                    return _invalid(where, f"a key {problem}")
            items: list[tuple[str | int, Any]] = list(value.items())
        elif isinstance(value, list):
            items = list(enumerate(value))
        else:
            if problem := _scalar_problem(value):
                return _invalid(where, problem)
            continue
        # reversed, so that values are checked in document order and the first one is named
        stack.extend((item, _join(path, key), depth + 1) for key, item in reversed(items))
    return None


def _scalar_problem(value: Any) -> str | None:
    if isinstance(value, str):
        return _text_problem(value)
    if isinstance(value, _Constant):
        return f"{value.name} is not a number PostgreSQL can store"
    if isinstance(value, float) and not math.isfinite(value):
        return "the number is out of range"
    return None


def json_problem(body: bytes) -> ApiError | None:
    """None when the body is fine to hand on (or is not JSON at all: the route says so)."""
    if not _SUSPECT.search(body) and body.count(b"[") + body.count(b"{") <= MAX_DEPTH:
        return None
    try:
        document = json.loads(body, parse_constant=_Constant)
    except json.JSONDecodeError:
        return None  # the route's own parser answers malformed_body with the position
    except UnicodeDecodeError as exc:
        return unreadable_body(exc)
    except RecursionError:
        return _too_deep()
    except ValueError as exc:  # an integer literal over the interpreter's 4300 digits
        return malformed_body(f"The request body holds a number that cannot be read: {exc}.")
    return _walk(document)


def _body_headers(scope: Scope) -> tuple[str | None, bool, str]:
    """Content-Length, whether Transfer-Encoding is set, and Content-Type, in one pass over
    the raw headers (this runs on every request). Of several Content-Type headers the first
    counts, as in the request the route reads: a JSON body sent with a second, non-JSON
    type must be checked all the same."""
    declared, chunked, kind = None, False, None
    for name, value in scope["headers"]:
        if name == b"content-length":
            declared = value.decode("latin-1")
        elif name == b"transfer-encoding":
            chunked = True
        elif name == b"content-type" and kind is None:
            kind = value.decode("latin-1")
    return declared, chunked, kind or ""


def _is_json(content_type: str) -> bool:
    kind = content_type.split(";", 1)[0].strip().lower()
    return kind == "application/json" or kind.endswith("+json")


class BodyGuard:
    """Buffers each request body up to max_bytes, then replays it to the app.

    Paths in `streamed` (the build upload) are passed through untouched: they stream their
    body and enforce their own, larger cap.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, streamed: Collection[str] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.streamed = frozenset(streamed)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.streamed:
            await self.app(scope, receive, send)
            return
        declared, chunked, kind = _body_headers(scope)
        if declared is None and not chunked:
            await self.app(scope, receive, send)  # no body
            return
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await api_error_response(too_large(self.max_bytes))(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await api_error_response(too_large(self.max_bytes))(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if _is_json(kind) and (problem := json_problem(body)):
            await api_error_response(problem)(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """The buffered body as one message, then the server's own channel (disconnects)."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
