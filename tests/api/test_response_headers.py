"""What every response carries, errors included: X-RateLimit-*, the security headers, an
Allow header on 405; and a refused request leaves the keep-alive connection usable."""

from __future__ import annotations

import http.client
import json
import uuid

import pytest

from tests.api.test_auth_and_errors import _error
from tests.conftest import Db, Org, Server

RATE_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")
GARBAGE_FORM = {"Content-Type": "multipart/form-data; boundary=XX"}
NUL_FILENAME_FORM = (b'--XX\r\nContent-Disposition: form-data; name="file"; filename="a\x00.apk"'
                     b"\r\n\r\n" + b"PK" * 50_000 + b"\r\n--XX--\r\n")

# (method, path, body, extra headers, expected status); each needs the key unless noted
REFUSED = [
    ("POST", "/v1/test-cases", b'{"name": "a\\u0000", "steps": [{"description": "x"}]}',
     {"Content-Type": "application/json"}, 422),
    ("POST", "/v1/test-cases", b'{"name":', {"Content-Type": "application/json"}, 400),
    ("POST", "/v1/test-cases", b"", {"Content-Type": "application/json"}, 400),
    ("GET", "/v1/no-such-thing", None, {}, 404),
    ("GET", f"/v1/jobs/status/{uuid.uuid4()}", None, {}, 404),
    ("DELETE", "/v1/apps/list", None, {}, 405),
    ("POST", "/v1/apps/upload", b"garbage", GARBAGE_FORM, 400),
    ("POST", "/v1/apps/upload", NUL_FILENAME_FORM, GARBAGE_FORM, 422),
    ("GET", "/v1/test-cases/list", None, {"X-Api-Key": "not-a-key"}, 401),
]


def _connection(server: Server) -> http.client.HTTPConnection:
    host, port = server.base_url.removeprefix("http://").split(":")
    return http.client.HTTPConnection(host, int(port), timeout=30)


def _exchange(conn: http.client.HTTPConnection, method: str, path: str, key: str,
              body: bytes | None = None, headers: dict | None = None
              ) -> tuple[http.client.HTTPResponse, bytes]:
    conn.request(method, path, body=body, headers={"X-Api-Key": key, **(headers or {})})
    response = conn.getresponse()
    return response, response.read()


@pytest.mark.parametrize(("method", "path", "body", "headers", "status"), REFUSED,
                         ids=[f"{m} {p[:30]} {s}" for m, p, _, _, s in REFUSED])
def test_a_refused_request_keeps_the_connection(org: Org, server: Server, method: str,
                                                path: str, body: bytes | None, headers: dict,
                                                status: int) -> None:
    conn = _connection(server)
    try:
        response, payload = _exchange(conn, method, path, org.key, body, headers)
        assert response.status == status, payload
        assert set(json.loads(payload)) == {"error", "message", "details"}
        for name in RATE_HEADERS:
            assert response.getheader(name), name
        assert response.getheader("connection") != "close"
        sock = conn.sock
        assert sock is not None
        again, listing = _exchange(conn, "GET", "/v1/apps/list", org.key)
        assert again.status == 200, listing
        assert conn.sock is sock, "the server closed the connection after the refusal"
    finally:
        conn.close()


def test_405_says_which_methods_are_allowed(org: Org, server: Server) -> None:
    r = org.http.delete("/v1/apps/list")
    _error(r, 405, "method_not_allowed")
    assert r.headers["allow"] == "GET"
    with server.client() as c:
        r = c.request("TRACE", "/healthz")
        _error(r, 405, "method_not_allowed")
        assert r.headers["allow"] == "GET"


@pytest.mark.parametrize(("method", "path", "allow"), [
    ("PUT", "/v1/test-cases/list", "GET"),  # not the update of a test case named "list"
    ("DELETE", "/v1/test-cases/run", "POST"),
    ("GET", "/v1/apps/upload", "POST"),  # not the build whose id is "upload"
    ("GET", "/v1/apps/delete", "POST"),
    ("OPTIONS", f"/v1/test-cases/{uuid.uuid4()}", "DELETE, GET, PUT"),
])
def test_405_names_every_method_of_the_path(org: Org, method: str, path: str,
                                            allow: str) -> None:
    r = org.http.request(method, path, json={"name": "x"})
    body = _error(r, 405, "method_not_allowed")
    assert r.headers["allow"] == allow
    assert body["details"]["allow"] == allow
    assert "x-ratelimit-limit" in r.headers


def test_an_unforeseen_failure_is_a_500_in_the_error_shape(org: Org, server: Server,
                                                          db: Db) -> None:
    """A database that lost a table (no patching: the fault is real) makes the listing fail.
    The answer still has our shape and headers, and the connection survives it."""
    db.fetch("DROP TABLE categories CASCADE")
    conn = _connection(server)
    try:
        response, payload = _exchange(conn, "GET", "/v1/test-cases/list", org.key)
        assert response.status == 500
        assert json.loads(payload)["error"] == "internal_error"
        assert b"categories" not in payload  # no internals leak
        for name in RATE_HEADERS:
            assert response.getheader(name), name
        assert response.getheader("x-content-type-options") == "nosniff"
        sock = conn.sock
        again, _ = _exchange(conn, "GET", "/v1/apps/list", org.key)
        assert again.status == 200
        assert conn.sock is sock
    finally:
        conn.close()


def _assert_private(headers: dict) -> None:
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["cache-control"] == "no-store"
    assert headers["x-frame-options"] == "DENY"
    assert "server" not in headers


def test_api_answers_and_downloads_are_not_stored_or_sniffed(org: Org, server: Server) -> None:
    build = org.upload_fixture()
    listing = org.http.get("/v1/apps/list")
    _assert_private(listing.headers)
    _assert_private(org.http.get("/v1/nope").headers)
    download = org.http.get(build["link"])
    assert download.status_code == 200
    _assert_private(download.headers)
    with server.client() as c:
        _assert_private(c.get("/healthz").headers)
        _assert_private(c.get("/openapi.json").headers)


def test_docs_pages_carry_a_strict_content_security_policy(server: Server) -> None:
    with server.client() as c:
        for page in ("/docs", "/redoc"):
            r = c.get(page)
            assert r.status_code == 200
            _assert_private(r.headers)
            policy = r.headers["content-security-policy"]
            assert "default-src 'self'" in policy
            assert "frame-ancestors 'none'" in policy
            assert "'unsafe-inline'" not in policy.split("script-src", 1)[1].split(";")[0]
        assert "'sha256-" in c.get("/docs").headers["content-security-policy"]
        asset = c.get("/static-offline-docs/swagger-ui.css")
        assert asset.status_code == 200
        assert asset.headers["x-content-type-options"] == "nosniff"
        assert "no-store" not in asset.headers.get("cache-control", "")
