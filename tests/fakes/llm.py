"""Fake model servers: an OpenAI-compatible chat-completions endpoint and Anthropic's Messages
API, real HTTP on loopback, answering in the exact shapes the official clients parse.

    with FakeOpenAI(api_key="sk-test") as fake:          # or FakeAnthropic(...)
        fake.respond(lambda request: {"status": "passed", "reason": "done"})
        client = OpenAIChat("m", fake.url, api_key="sk-test", timeout=1, max_retries=1)
        ...
        fake.requests[0].json["messages"], fake.requests[0].headers["authorization"]

The script: `respond(fn)`, fn(request JSON) -> the tool call's arguments (or (words, arguments));
the fake wraps them in a tool call (OpenAI) / a tool_use block (Anthropic) with `usage`.
One-shot replies queued before it, each used by one request in order: `fail(status,
retry_after=None, body=None)`, `hang(seconds)` (never answers that request), `malformed(text)`
(words, no tool call), `no_tool(text)` (the same shape: JSON in the words only),
`raw(body, status=200, headers=None)` (exactly that). Knobs:
`api_key` (others get 401 as the real services answer), `models` (others get 404),
FakeAnthropic rejects temperature/top_p/top_k under anthropic-version 2026-10-21 (as the API),
FakeOpenAI(tools=False) (a server that rejects `tools` with 400, as some local models do;
without `tools` the scripted arguments come back as fenced JSON in the text).
An exception from the script becomes a 400 naming it (kept in `.errors`).

Cassettes replay recorded answers: `CassetteResponder(path)` is a script answering from a JSONL
of {"key": request_key(request), "arguments": {...}}; `record(path, request, arguments)` appends
one. The key hashes the model, the tool's name and the messages' text (roles, system prompt
included; images left out) the same way for both providers.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

Script = Callable[[dict], "dict | tuple[str, dict]"]
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error",
               403: "permission_error", 404: "not_found_error", 408: "timeout_error",
               413: "request_too_large", 429: "rate_limit_error", 529: "overloaded_error"}


@dataclass
class FakeRequest:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    json: Any
    at: float  # time.monotonic() when it arrived

    @property
    def text(self) -> str:
        """Every message's text (system prompt first), one per line: what the model read."""
        return "\n".join(text for _, text in message_texts(self.json))


class _FakeModelServer:
    path = ""
    prefix = ""  # what `url` adds to the server's root

    def __init__(self, *, api_key: str | None = None, models: list[str] | None = None,
                 usage: tuple[int, int] = (120, 30)) -> None:
        self.api_key = api_key
        self.models = models
        self.usage = usage
        self.requests: list[FakeRequest] = []
        self.errors: list[str] = []
        self._script: Script | None = None
        self._queue: list[Callable[[BaseHTTPRequestHandler, dict], None]] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._ids = itertools.count(1)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}{self.prefix}"

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # the script and the queue

    def respond(self, fn: Script):
        self._script = fn
        return self

    def fail(self, status: int, retry_after: float | None = None, body: Any = None):
        headers = {"retry-after": f"{retry_after:g}"} if retry_after is not None else {}
        message = f"fake failure {status}"
        return self._enqueue(lambda h, req: self._send(
            h, status, body if body is not None else self._error_body(status, message), headers))

    def hang(self, seconds: float = 30.0):
        def stall(h: BaseHTTPRequestHandler, req: dict) -> None:
            self._closing.wait(seconds)
            h.close_connection = True
        return self._enqueue(stall)

    def malformed(self, text: str):
        return self._enqueue(lambda h, req: self._send(h, 200, self._reply(req, text, None)))

    no_tool = malformed  # the same shape: the words carry the JSON (or nothing usable)

    def raw(self, body: Any, status: int = 200, headers: dict[str, str] | None = None):
        """Answer one request with exactly this (a JSON-able value, or bytes)."""
        return self._enqueue(lambda h, req: self._send(h, status, body, headers))

    def _enqueue(self, reply: Callable[[BaseHTTPRequestHandler, dict], None]):
        with self._lock:
            self._queue.append(reply)
        return self

    # serving

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                fake._serve(self)

            do_GET = do_POST

        return Handler

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        raw = h.rfile.read(int(h.headers.get("content-length") or 0))
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        with self._lock:
            self.requests.append(FakeRequest(h.command, h.path, {
                k.lower(): v for k, v in h.headers.items()}, body, time.monotonic()))
            queued = self._queue.pop(0) if self._queue else None
        if h.path.split("?")[0] != self.path or h.command != "POST":
            return self._send(h, 404, self._error_body(404, f"no route {h.command} {h.path}"))
        if not isinstance(body, dict):
            return self._send(h, 400, self._error_body(400, "the body is not a JSON object"))
        refusal = self._refusal(h, body)
        if refusal:
            return self._send(h, refusal[0], self._error_body(*refusal))
        if queued is not None:
            return queued(h, body)
        if self._script is None:
            return self._fail_script(h, "no answer scripted (call respond(fn))")
        try:
            answer = self._script(body)
        except Exception as err:  # noqa: BLE001 - told to the client and kept for the test
            return self._fail_script(h, f"{type(err).__name__}: {err}")
        text, arguments = answer if isinstance(answer, tuple) else ("", answer)
        self._send(h, 200, self._reply(body, text, arguments))

    def _refusal(self, h: BaseHTTPRequestHandler, body: dict) -> tuple[int, str] | None:
        if self.api_key is not None and self._key_sent(h) != self.api_key:
            return 401, "invalid x-api-key" if self.path == "/v1/messages" else (
                "Incorrect API key provided")
        if self.models is not None and body.get("model") not in self.models:
            return 404, f"model: {body.get('model')}"
        return None

    def _fail_script(self, h: BaseHTTPRequestHandler, why: str) -> None:
        self.errors.append(why)
        self._send(h, 400, self._error_body(400, f"fake: {why}"))

    def _send(self, h: BaseHTTPRequestHandler, status: int, body: Any,
              headers: dict[str, str] | None = None) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        h.send_response(status)
        h.send_header("content-type", "application/json")
        h.send_header("content-length", str(len(data)))
        for name, value in (headers or {}).items():
            h.send_header(name, value)
        h.end_headers()
        h.wfile.write(data)

    # provider shapes (subclasses)

    def _key_sent(self, h: BaseHTTPRequestHandler) -> str | None:
        raise NotImplementedError

    def _error_body(self, status: int, message: str) -> dict:
        raise NotImplementedError

    def _reply(self, request: dict, text: str, arguments: dict | None) -> dict:
        raise NotImplementedError


class FakeOpenAI(_FakeModelServer):
    """POST /v1/chat/completions; `url` ends in /v1 like the client's base URL."""

    path = "/v1/chat/completions"
    prefix = "/v1"

    def __init__(self, *, tools: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.tools = tools

    def _refusal(self, h: BaseHTTPRequestHandler, body: dict) -> tuple[int, str] | None:
        refusal = super()._refusal(h, body)
        if refusal is None and not self.tools and "tools" in body:
            return 400, f"registry/{body.get('model')} does not support tools"
        return refusal

    def _key_sent(self, h: BaseHTTPRequestHandler) -> str | None:
        auth = h.headers.get("authorization") or ""
        return auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None

    def _error_body(self, status: int, message: str) -> dict:
        kind = ERROR_TYPES.get(status, "server_error" if status >= 500 else "invalid_request")
        return {"error": {"message": message, "type": kind, "param": None, "code": None}}

    def _reply(self, request: dict, text: str, arguments: dict | None) -> dict:
        n = next(self._ids)
        calls = None
        if arguments is not None and "tools" not in request:  # asked for JSON in the text
            text, arguments = (text + "\n" if text else "") + (
                "```json\n" + json.dumps(arguments) + "\n```"), None
        if arguments is not None:
            calls = [{"id": f"call_{n}", "type": "function", "function": {
                "name": tool_name(request), "arguments": json.dumps(arguments)}}]
        inp, out = self.usage
        return {
            "id": f"chatcmpl-fake{n}", "object": "chat.completion", "created": int(time.time()),
            "model": request.get("model"),
            "choices": [{"index": 0, "logprobs": None,
                         "finish_reason": "tool_calls" if calls else "stop",
                         "message": {"role": "assistant", "content": text or None,
                                     "refusal": None, "tool_calls": calls}}],
            "usage": {"prompt_tokens": inp, "completion_tokens": out,
                      "total_tokens": inp + out},
        }


class FakeAnthropic(_FakeModelServer):
    """POST /v1/messages; `url` is the server's root like the client's base URL."""

    path = "/v1/messages"

    def _refusal(self, h: BaseHTTPRequestHandler, body: dict) -> tuple[int, str] | None:
        refusal = super()._refusal(h, body)
        if refusal:
            return refusal
        version = h.headers.get("anthropic-version")
        if not version:
            return 400, "anthropic-version: header is required"
        if "max_tokens" not in body:
            return 400, "max_tokens: Field required"
        sampling = [k for k in ("temperature", "top_p", "top_k") if k in body]
        if sampling and version >= "2026-10-21":
            return 400, f"{sampling[0]}: Extra inputs are not permitted"
        return None

    def _key_sent(self, h: BaseHTTPRequestHandler) -> str | None:
        """x-api-key when sent (the API prefers it), else the bearer token (client 2.x)."""
        if h.headers.get("x-api-key"):
            return h.headers["x-api-key"]
        auth = h.headers.get("authorization") or ""
        return auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None

    def _error_body(self, status: int, message: str) -> dict:
        kind = ERROR_TYPES.get(status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": message}}

    def _reply(self, request: dict, text: str, arguments: dict | None) -> dict:
        n = next(self._ids)
        content: list[dict] = [{"type": "text", "text": text}] if text else []
        if arguments is not None:
            content.append({"type": "tool_use", "id": f"toolu_fake{n}",
                            "name": tool_name(request), "input": arguments})
        inp, out = self.usage
        return {"id": f"msg_fake{n}", "type": "message", "role": "assistant",
                "model": request.get("model"), "content": content,
                "stop_reason": "tool_use" if arguments is not None else "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": inp, "output_tokens": out}}


# what a request says, the same for both providers

def tool_name(request: dict) -> str | None:
    """The tool the request forces (or offers first)."""
    choice = request.get("tool_choice")
    if isinstance(choice, dict):
        name = choice.get("name") or (choice.get("function") or {}).get("name")
        if name:
            return name
    for tool in request.get("tools") or []:
        return tool.get("name") or (tool.get("function") or {}).get("name")
    return None


def message_texts(request: Any) -> list[tuple[str, str]]:
    """(role, text) of each message, the system prompt first; images left out."""
    if not isinstance(request, dict):
        return []
    out: list[tuple[str, str]] = []
    if request.get("system"):
        out.append(("system", _text(request["system"])))
    for message in request.get("messages") or []:
        out.append((message.get("role", ""), _text(message.get("content"))))
    return out


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(b.get("text", "") for b in content
                         if isinstance(b, dict) and b.get("type") == "text")
    return ""


def request_key(request: dict) -> str:
    """sha256 of the canonical JSON of (model, messages' text, tool name)."""
    canonical = json.dumps({"model": request.get("model"), "messages": message_texts(request),
                            "tool": tool_name(request)}, sort_keys=True, ensure_ascii=False,
                           separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def record(path: Path | str, request: dict, arguments: dict) -> str:
    """Append the answer to this request to the cassette; returns its key."""
    key = request_key(request)
    last = next((t for r, t in reversed(message_texts(request)) if r == "user"), "")
    line = {"key": key, "arguments": arguments, "note": " ".join(last.split())[:120]}
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(line, ensure_ascii=False) + "\n")
    return key


class UnknownRequest(LookupError):
    """The cassette has no answer for this request."""


class CassetteResponder:
    """A script answering from a cassette. Unknown requests raise UnknownRequest, or, given a
    `fallback` script, are answered by it and recorded (how a cassette is made)."""

    def __init__(self, path: Path | str, fallback: Script | None = None) -> None:
        self.path = Path(path)
        self.fallback = fallback
        self.answers: dict[str, dict] = {}
        if self.path.exists():
            for number, line in enumerate(self.path.read_text("utf-8").splitlines(), 1):
                if line.strip():
                    try:
                        entry = json.loads(line)
                        self.answers[entry["key"]] = entry["arguments"]
                    except (ValueError, KeyError, TypeError) as err:
                        raise ValueError(f"{self.path}:{number}: not a cassette line "
                                         f"({err})") from None

    def __call__(self, request: dict) -> dict:
        key = request_key(request)
        if key in self.answers:
            return self.answers[key]
        if self.fallback is None:
            last = next((t for r, t in reversed(message_texts(request)) if r == "user"), "")
            raise UnknownRequest(f"no recorded answer in {self.path.name} for key {key[:16]} "
                                 f"(model {request.get('model')}, tool {tool_name(request)}, "
                                 f"last message: {' '.join(last.split())[:160]!r})")
        answer = self.fallback(request)
        arguments = answer[1] if isinstance(answer, tuple) else answer
        record(self.path, request, arguments)
        self.answers[key] = arguments
        return answer
