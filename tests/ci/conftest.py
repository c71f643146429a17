"""`qualgent ci` as a user runs it: a subprocess against the live test server (directly or
through a real HTTP proxy that can fail on purpose), with a real worker executing the runs."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from lxml import etree

from tests.conftest import Db, Org, Server
from tests.serve import qualgent_command
from tests.worker.conftest import SMS_PIXEL, WorkerProcess, wait_for_devices

XSD = Path(__file__).with_name("junit.xsd")


def ci(url: str, key: str, *args: str, timeout: float = 240) -> subprocess.CompletedProcess:
    """`qualgent ci ARGS` with QUALGENT_API_URL / QUALGENT_API_KEY, as a CI job runs it."""
    env = {**os.environ, "QUALGENT_API_URL": url, "QUALGENT_API_KEY": key}
    return subprocess.run([*qualgent_command(), "ci", *args], env=env, capture_output=True,
                          text=True, timeout=timeout, stdin=subprocess.DEVNULL)


def junit_tree(path: Path) -> etree._ElementTree:
    """The report, parsed and validated against the JUnit schema (fails the test if not)."""
    schema = etree.XMLSchema(etree.parse(str(XSD)))
    tree = etree.parse(str(path))
    schema.assertValid(tree)
    return tree


def make_case(org: Org, name: str, steps: list[str], **body: Any) -> str:
    return org.test_case(name=name, steps=[{"description": s} for s in steps], **body)["id"]


@pytest.fixture
def worker(db_url: str, server: Server, db: Db, tmp_path: Path) -> Iterator[WorkerProcess]:
    """One `qualgent worker` with the SMS-capable simulated Pixel 7, registered."""
    w = WorkerProcess(db_url, server, tmp_path / "worker.log", SMS_PIXEL)
    try:
        wait_for_devices(db, 1)
        yield w
    finally:
        w.stop()


Action = str  # "forward", "503", or "drop" (forward, then close without answering)


class Proxy:
    """A real HTTP proxy in front of the server. `plan(method, path_prefix, actions)` makes
    the next matching requests fail as listed, in order; the rest are forwarded. Every request
    is recorded (method, path, headers) with the status the client got (None: dropped)."""

    def __init__(self, upstream: str, port: int = 0) -> None:
        self.upstream = upstream
        self.plans: list[tuple[str, str, list[Action]]] = []
        self.seen: list[tuple[str, str, dict[str, str], int | None]] = []
        self._lock = threading.Lock()
        self._http = httpx.Client(base_url=upstream, timeout=60)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def _any(self) -> None:
                proxy._handle(self)

            do_GET = do_POST = do_PUT = do_DELETE = _any  # noqa: N815

        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def plan(self, method: str, path_prefix: str, actions: list[Action]) -> None:
        with self._lock:
            self.plans.append((method, path_prefix, list(actions)))

    def _action(self, method: str, path: str) -> Action:
        with self._lock:
            for m, prefix, actions in self.plans:
                if m == method and path.startswith(prefix) and actions:
                    return actions.pop(0)
        return "forward"

    def _record(self, h: BaseHTTPRequestHandler, status: int | None) -> None:
        with self._lock:
            self.seen.append((h.command, h.path, dict(h.headers.items()), status))

    def requests(self, method: str, path_prefix: str) -> list[tuple[dict[str, str], int | None]]:
        with self._lock:
            return [(hd, st) for m, p, hd, st in self.seen
                    if m == method and p.startswith(path_prefix)]

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        action = self._action(h.command, h.path)
        if action == "503":
            payload = json.dumps({"error": "upstream_unavailable",
                                  "message": "proxy says no", "details": {}}).encode()
            h.send_response(503)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(payload)))
            h.end_headers()
            h.wfile.write(payload)
            self._record(h, 503)
            return
        headers = {k: v for k, v in h.headers.items()
                   if k.lower() not in ("host", "connection", "content-length", "keep-alive")}
        request = self._http.build_request(h.command, h.path, headers=headers, content=body)
        response = self._http.send(request, stream=True)
        try:
            if action == "drop":
                response.read()  # the server did the work; the client never hears of it
                self._record(h, None)
                h.close_connection = True
                h.connection.shutdown(socket.SHUT_RDWR)
                return
            streaming = response.headers.get("content-type", "").startswith(
                "text/event-stream")
            h.send_response(response.status_code)
            for k, v in response.headers.items():
                if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                    h.send_header(k, v)
            self._record(h, response.status_code)
            if streaming:
                h.send_header("Connection", "close")
                h.end_headers()
                h.close_connection = True
                for chunk in response.iter_raw():
                    h.wfile.write(chunk)
                    h.wfile.flush()
                return
            data = response.read()
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
        except OSError:
            h.close_connection = True
        finally:
            response.close()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._http.close()


@pytest.fixture
def proxy(server: Server) -> Iterator[Proxy]:
    p = Proxy(server.base_url)
    yield p
    p.close()


@pytest.fixture
def run_ci(server: Server, org: Org) -> Callable[..., subprocess.CompletedProcess]:
    """`qualgent ci ...` straight at the test server with the org's key."""
    return lambda *args, **kw: ci(server.base_url, org.key, *args, **kw)
