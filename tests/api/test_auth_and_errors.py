"""Authentication, plan gating and the error shape, over real HTTP."""

from __future__ import annotations

import httpx

from tests.conftest import Db, Org, Server, eventually


def _error(r: httpx.Response, status: int, error: str) -> dict:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"error", "message", "details"}
    assert body["error"] == error
    assert body["message"]
    return body


def test_healthz_and_docs(server: Server) -> None:
    with server.client() as c:
        assert c.get("/healthz").json() == {"status": "ok"}
        assert c.get("/docs").status_code == 200
        assert "/v1/test-cases/run" in c.get("/openapi.json").json()["paths"]


def test_missing_malformed_unknown_key(server: Server) -> None:
    with server.client() as c:
        _error(c.get("/v1/test-cases/list"), 401, "missing_api_key")
        _error(c.get("/v1/test-cases/list", headers={"X-Api-Key": "sk_live_abc"}), 401,
               "invalid_api_key")
        _error(c.get("/v1/test-cases/list", headers={"X-Api-Key": "qg_" + "x" * 43}), 401,
               "invalid_api_key")


def test_revoked_key_is_refused_exactly_like_an_unknown_one(
    db: Db, org: Org, server: Server
) -> None:
    """Telling them apart would confirm that a leaked key once existed."""
    assert org.http.get("/v1/test-cases/list").status_code == 200
    db.admin("revoke_key", org.key)
    # The server's key cache hears of it by NOTIFY: allow that delivery time.
    eventually(lambda: org.http.get("/v1/test-cases/list").status_code == 401, timeout=1.0,
               interval=0.02)
    revoked = _error(org.http.get("/v1/test-cases/list"), 401, "invalid_api_key")
    with server.client("qg_" + "z" * 43) as c:
        unknown = _error(c.get("/v1/test-cases/list"), 401, "invalid_api_key")
    assert revoked == unknown
    assert "unknown or has been revoked" in revoked["message"]


def test_second_key_works_and_keys_are_stored_hashed(db: Db, org: Org, server: Server) -> None:
    key = db.admin("create_key", org.id)["api_key"]
    assert key.startswith("qg_") and key != org.key
    with server.client(key) as c:
        assert c.get("/v1/apps/list").status_code == 200
    stored = db.fetch("SELECT key_hash, prefix FROM api_keys")
    for row in stored:
        assert key.encode() not in row["key_hash"] and org.key.encode() not in row["key_hash"]
        assert len(row["prefix"]) == 10


def test_free_plan_is_forbidden(db: Db, server: Server) -> None:
    free = Org(db, server, plan="free", name="Free Co")
    _error(free.http.get("/v1/test-cases/list"), 403, "plan_required")


def test_unknown_route_and_malformed_json(org: Org) -> None:
    _error(org.http.get("/v1/nope"), 404, "not_found")
    r = org.http.post("/v1/test-cases/run", content=b"{not json",
                      headers={"content-type": "application/json"})
    _error(r, 400, "malformed_body")
    _error(org.http.post("/v1/test-cases/run", json={}), 400, "missing_parameter")


def test_openapi_declares_the_key_on_v1_operations(server: Server) -> None:
    with server.client() as c:
        schema = c.get("/openapi.json").json()
    assert schema["components"]["securitySchemes"]["ApiKey"]["name"] == "X-Api-Key"
    assert schema["paths"]["/v1/jobs/status/{test_run_id}"]["get"]["security"] == [
        {"ApiKey": []}]
    assert "security" not in schema["paths"]["/healthz"]["get"]
