"""Cross-organization probes: another org's objects answer exactly like missing ones."""

from __future__ import annotations

import uuid

import pytest

from tests.api.test_auth_and_errors import _error
from tests.conftest import Db, Org

PIXEL = {"name": "Pixel 7", "platform": "Android"}


@pytest.fixture
def victim(org: Org, pixel: dict) -> dict:
    """Objects of `org` that `other_org` will probe for."""
    cat = org.category("Secret")
    app = org.upload_fixture()
    case = org.test_case(name="Secret case", category_id=cat["id"])
    run = org.http.post("/v1/test-cases/run", json={"jobs": [{
        "app_file_id": app["id"], "test_case_id": case["id"], "device": PIXEL}]}).json()
    return {"category": cat, "app": app, "case": case,
            "run": run["results"][0]["test_run_id"]}


def _same_as_missing(foreign, missing) -> None:  # noqa: ANN001
    """Status, error string, message and details identical (up to the id that was asked
    for): nothing tells another org's object from one that does not exist."""
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json()["error"] == "S-90004"
    foreign_text = foreign.text
    for value in _ids(foreign.request):
        foreign_text = foreign_text.replace(value, "<id>")
    missing_text = missing.text
    for value in _ids(missing.request):
        missing_text = missing_text.replace(value, "<id>")
    assert foreign_text == missing_text


def _ids(request) -> list[str]:  # noqa: ANN001
    import re

    text = str(request.url) + request.content.decode()
    return re.findall(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", text)


def test_every_endpoint_hides_other_orgs(other_org: Org, victim: dict, db: Db) -> None:
    c = other_org.http
    nobody = str(uuid.uuid4())
    for path in ("/v1/apps/{}", "/v1/test-cases/{}", "/v1/test-cases/{}/versions",
                 "/v1/jobs/status/{}"):
        key = {"/v1/apps/{}": "app", "/v1/test-cases/{}": "case",
               "/v1/test-cases/{}/versions": "case", "/v1/jobs/status/{}": "run"}[path]
        target = victim[key] if key == "run" else victim[key]["id"]
        _same_as_missing(c.get(path.format(target)), c.get(path.format(nobody)))
    case_id = victim["case"]["id"]
    _same_as_missing(c.put(f"/v1/test-cases/{case_id}", json={"name": "pwned"}),
                     c.put(f"/v1/test-cases/{nobody}", json={"name": "pwned"}))
    _same_as_missing(c.delete(f"/v1/test-cases/{case_id}"), c.delete(f"/v1/test-cases/{nobody}"))
    _same_as_missing(c.post("/v1/apps/delete", json={"files": [victim["app"]["id"]]}),
                     c.post("/v1/apps/delete", json={"files": [nobody]}))
    # Using another org's ids inside bodies and filters.
    _same_as_missing(c.get("/v1/test-cases/list", params={"category": victim["category"]["id"]}),
                     c.get("/v1/test-cases/list", params={"category": nobody}))
    _same_as_missing(
        c.post("/v1/test-cases", json={"name": "x", "steps": [{"description": "s"}],
                                       "category_id": victim["category"]["id"]}),
        c.post("/v1/test-cases", json={"name": "x", "steps": [{"description": "s"}],
                                       "category_id": nobody}))
    own_app = other_org.upload_fixture()
    own_case = other_org.test_case()
    for job, field in (
        ({"app_file_id": victim["app"]["id"], "test_case_id": own_case["id"]}, "app_file_id"),
        ({"app_file_id": own_app["id"], "test_case_id": victim["case"]["id"]}, "test_case_id"),
        ({"app_file_id": own_app["id"], "test_case_id": own_case["id"],
          "test_case_version_id": victim["case"]["version_id"]}, "test_case_version_id"),
        ({"app_file_id": own_app["id"], "test_case_id": own_case["id"],
          "audit_source_run_id": victim["run"]}, "audit_source_run_id"),
    ):
        foreign = c.post("/v1/test-cases/run", json={"jobs": [{**job, "device": PIXEL}]})
        missing_job = {**job, field: nobody}
        missing = c.post("/v1/test-cases/run", json={"jobs": [{**missing_job, "device": PIXEL}]})
        _same_as_missing(foreign, missing)
    for body_field, value in (("app_file_id", victim["app"]["id"]),
                              ("category_id", victim["category"]["id"])):
        body = {"app_file_id": own_app["id"], "device": PIXEL, body_field: value}
        _same_as_missing(c.post("/v1/test-cases/run-all", json=body),
                         c.post("/v1/test-cases/run-all", json={**body, body_field: nobody}))
    # Lists show only one's own objects.
    assert [f["id"] for f in c.get("/v1/apps/list").json()["files"]] == [own_app["id"]]
    assert c.get("/v1/apps/latest").json()["file"]["id"] == own_app["id"]
    assert [t["id"] for t in c.get("/v1/test-cases/list").json()] == [own_case["id"]]
    assert c.get("/v1/categories/list").json() == []
    assert c.get("/v1/jobs/list").json()["test_runs"] == []
    # And nothing of the victim changed.
    assert db.scalar("SELECT name FROM test_cases WHERE id=$1::uuid", case_id) == "Secret case"
    assert db.scalar("SELECT status FROM test_cases WHERE id=$1::uuid", case_id) == "active"
    assert db.scalar("SELECT deleted_at FROM app_files WHERE id=$1::uuid",
                     victim["app"]["id"]) is None
    assert db.scalar("SELECT count(*) FROM test_runs") == 1


def test_ids_that_are_not_uuids_are_just_missing(org: Org) -> None:
    for path in ("/v1/apps/tc_123", "/v1/test-cases/tc_123", "/v1/jobs/status/run_abc123"):
        _error(org.http.get(path), 404, "S-90004")
