"""Run submission (credits, variables, devices, versions) and the jobs API."""

from __future__ import annotations

import threading

import pytest

from tests.api.test_auth_and_errors import _error
from tests.api.test_test_cases import SEARCH_CASE
from tests.conftest import Db, Org, Server

PIXEL = {"name": "Pixel 7", "platform": "Android", "os_version": "14", "orientation": "portrait"}


@pytest.fixture
def ready(org: Org, pixel: dict) -> dict:
    """An org with a build, a device profile and the reference's search case."""
    return {"app": org.upload_fixture(), "case": org.test_case(**SEARCH_CASE)}


def _job(ready: dict, **extra) -> dict:  # noqa: ANN003
    return {"app_file_id": ready["app"]["id"], "test_case_id": ready["case"]["id"],
            "device": PIXEL, "vars": {"query": "wireless headphones"}, **extra}


def _credits(db: Db, org: Org) -> int:
    return db.scalar("SELECT credits FROM organizations WHERE id = $1::uuid", org.id)


def test_queue_a_run_and_read_its_status(org: Org, db: Db, server: Server, ready: dict) -> None:
    r = org.http.post("/v1/test-cases/run", json={"jobs": [_job(ready, vars={
        "query": "wireless headphones", "timeout_seconds": 60, "colour": "red"})]})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["success"] is True
    [result] = body["results"]
    assert result["status"] == "queued" and result["test_case_id"] == ready["case"]["id"]
    assert result["link"] == f"{server.base_url}/test-runs/{result['test_run_id']}"
    assert body["warnings"] == [{
        "code": "unknown_variable", "variable": "colour", "job_index": 0,
        "message": "'colour' is not declared on this test case; it was ignored."}]
    assert _credits(db, org) == 99
    ledger = db.fetch("SELECT delta, balance_after, reason FROM credit_ledger "
                      "WHERE organization_id = $1::uuid ORDER BY id", org.id)
    assert [tuple(row) for row in ledger] == [(100, 100, "initial_grant"),
                                              (-1, 99, "runs_queued")]

    status = org.http.get(f"/v1/jobs/status/{result['test_run_id']}").json()
    assert status["id"] == result["test_run_id"]
    assert (status["status"], status["progress"], status["priority"]) == ("queued", 0, "medium")
    assert status["device"] == "Pixel 7"
    assert status["test_case"] == {"id": ready["case"]["id"], "name": SEARCH_CASE["name"]}
    assert status["app"] == {"id": ready["app"]["id"], "name": "Settings v8.0.10"}
    assert status["link"] == result["link"]
    assert status["steps"] == [
        {"description": "Open the app and tap the search bar"},
        {"description": "Type wireless headphones and submit"},
        {"description": "Wait up to 60 seconds for results"},
    ]
    assert status["vars"] == {"query": "wireless headphones", "timeout_seconds": 60}
    assert status["test_case_version_id"] == ready["case"]["version_id"]
    assert status["version_number"] == 1
    assert status["warnings"][0]["code"] == "unknown_variable"
    assert status["created_at"] and status["started_at"] is None


def test_variables_resolve_once_with_defaults_and_literals(org: Org, ready: dict) -> None:
    case = org.test_case(name="Literal", steps=[
        {"description": "Type {{query}} then {{undeclared}} and {{ query }}"},
        {"description": "Wait {{timeout_seconds}}"}],
        variables=[{"name": "query", "type": "string"},
                   {"name": "timeout_seconds", "type": "number", "default": 30}])
    r = org.http.post("/v1/test-cases/run", json={"jobs": [{
        "test_case_id": case["id"], "device": PIXEL, "vars": {"query": "{{timeout_seconds}}"}}]})
    assert r.status_code == 200, r.text
    steps = org.http.get(f"/v1/jobs/status/{r.json()['results'][0]['test_run_id']}").json()["steps"]
    assert steps == [
        {"description": "Type {{timeout_seconds}} then {{undeclared}} and {{timeout_seconds}}"},
        {"description": "Wait 30"}]


@pytest.mark.parametrize(("vars_", "status", "error"), [
    ({}, 400, "missing_required_variable"),
    ({"query": 42}, 422, "invalid_variable_value"),
    ({"query": "x", "timeout_seconds": "60"}, 422, "invalid_variable_value"),
    ({"query": "x", "timeout_seconds": True}, 422, "invalid_variable_value"),
])
def test_variable_errors(org: Org, db: Db, ready: dict, vars_: dict, status: int,
                         error: str) -> None:
    r = org.http.post("/v1/test-cases/run", json={"jobs": [_job(ready, vars=vars_)]})
    body = _error(r, status, error)
    assert body["details"]["field"].startswith("jobs[0].vars.")
    assert db.scalar("SELECT count(*) FROM test_runs") == 0
    assert _credits(db, org) == 100


def test_unresolved_reference(org: Org, ready: dict, db: Db) -> None:
    case = org.test_case(name="Opt", steps=[{"description": "Type {{note}}"}],
                         variables=[{"name": "note", "type": "string"}])
    r = org.http.post("/v1/test-cases/run",
                      json={"jobs": [{"test_case_id": case["id"], "device": PIXEL}]})
    assert _error(r, 400, "unresolved_reference")["details"]["variable"] == "note"
    assert db.scalar("SELECT count(*) FROM test_runs") == 0


def test_batch_whose_last_job_is_invalid_queues_nothing(org: Org, db: Db, ready: dict) -> None:
    jobs = [_job(ready) for _ in range(9)]
    jobs.append(_job(ready, device={"name": "Pixel 7", "platform": "Windows"}))
    body = _error(org.http.post("/v1/test-cases/run", json={"jobs": jobs}), 422,
                  "invalid_request")
    assert body["message"] == "device.platform must be 'Android' or 'iOS'"
    assert body["details"] == {"field": "jobs[9].device.platform"}
    jobs[9] = _job(ready, test_case_id="5b0c1a9e-0000-4000-8000-000000000000")
    body = _error(org.http.post("/v1/test-cases/run", json={"jobs": jobs}), 404, "S-90004")
    assert body["details"]["field"] == "jobs[9].test_case_id"
    assert db.scalar("SELECT count(*) FROM test_runs") == 0
    assert _credits(db, org) == 100


def test_batch_size_limits(org: Org, db: Db, ready: dict) -> None:
    body = _error(org.http.post("/v1/test-cases/run", json={"jobs": [_job(ready)] * 11}),
                  400, "too_many_jobs")
    assert body["details"]["max"] == 10
    _error(org.http.post("/v1/test-cases/run", json={"jobs": []}), 422, "invalid_request")
    r = org.http.post("/v1/test-cases/run", json={"jobs": [_job(ready)] * 10})
    assert r.status_code == 200 and len(r.json()["results"]) == 10
    assert _credits(db, org) == 90


def test_devices_are_checked_against_the_catalog(org: Org, db: Db, ready: dict) -> None:
    r = org.http.post("/v1/test-cases/run", json={"jobs": [
        _job(ready, device={"name": "Pixel 9", "platform": "Android"})]})
    assert _error(r, 422, "unknown_device")["details"]["field"] == "jobs[0].device"
    r = org.http.post("/v1/test-cases/run", json={"jobs": [
        _job(ready, device={"name": "Pixel 7", "platform": "Android", "os_version": "15"})]})
    _error(r, 422, "unknown_device")
    db.admin("register_device", "Galaxy S23", "Android", "14", "phone", False)
    r = org.http.post("/v1/test-cases/run", json={"jobs": [
        _job(ready, device={"name": "Galaxy S23", "platform": "Android"}, use_sim=True)]})
    assert _error(r, 422, "sim_unavailable")["details"]["field"] == "jobs[0].use_sim"
    r = org.http.post("/v1/test-cases/run", json={"jobs": [_job(ready, use_sim=True)]})
    assert r.status_code == 200, r.text
    db.admin("register_device", "iPhone 14 Pro", "iOS", "16.0", "phone", False)
    r = org.http.post("/v1/test-cases/run", json={"jobs": [
        _job(ready, device={"name": "iPhone 14 Pro", "platform": "iOS"})]})
    assert _error(r, 422, "invalid_request")["details"]["field"] == "jobs[0].device.platform"


def test_insufficient_credits_queue_nothing(db: Db, server: Server, pixel: dict) -> None:
    poor = Org(db, server, credits=2, name="Poor")
    app = poor.upload_fixture()
    case = poor.test_case()
    job = {"app_file_id": app["id"], "test_case_id": case["id"], "device": PIXEL}
    body = _error(poor.http.post("/v1/test-cases/run", json={"jobs": [job] * 3}), 402,
                  "insufficient_credits")
    assert body["details"] == {"required": 3, "available": 2}
    assert db.scalar("SELECT count(*) FROM test_runs") == 0
    assert poor.http.post("/v1/test-cases/run", json={"jobs": [job] * 2}).status_code == 200
    db.admin("add_credits", poor.id, 5)
    assert db.scalar("SELECT credits FROM organizations WHERE id=$1::uuid", poor.id) == 5


def test_concurrent_batches_never_overdraw(db: Db, server: Server, pixel: dict) -> None:
    racer = Org(db, server, credits=7, name="Racer")
    app = racer.upload_fixture()
    case = racer.test_case()
    job = {"app_file_id": app["id"], "test_case_id": case["id"], "device": PIXEL}
    codes: list[int] = []
    barrier = threading.Barrier(8)

    def submit() -> None:
        with server.client(racer.key) as c:
            barrier.wait()
            codes.append(c.post("/v1/test-cases/run", json={"jobs": [job] * 2}).status_code)

    threads = [threading.Thread(target=submit) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [200] * 3 + [402] * 5
    assert db.scalar("SELECT credits FROM organizations WHERE id=$1::uuid", racer.id) == 1
    assert db.scalar("SELECT count(*) FROM test_runs") == 6
    assert db.scalar("SELECT sum(delta) FROM credit_ledger WHERE organization_id=$1::uuid",
                     racer.id) == 1


def test_version_pinning_and_latest_build(org: Org, ready: dict) -> None:
    v1 = ready["case"]["version_id"]
    org.http.put(f"/v1/test-cases/{ready['case']['id']}",
                 json={"steps": [{"description": "Search for {{query}}"}]})
    newer = org.upload_fixture(version="9.9.9")
    job = {"test_case_id": ready["case"]["id"], "device": PIXEL, "vars": {"query": "q"}}
    pinned = org.http.post("/v1/test-cases/run", json={"jobs": [
        {**job, "test_case_version_id": v1, "priority": "high"}, job]}).json()["results"]
    s1 = org.http.get(f"/v1/jobs/status/{pinned[0]['test_run_id']}").json()
    s2 = org.http.get(f"/v1/jobs/status/{pinned[1]['test_run_id']}").json()
    assert (s1["version_number"], s1["test_case_version_id"], s1["priority"]) == (1, v1, "high")
    assert s1["steps"][1] == {"description": "Type q and submit"}
    assert s2["version_number"] == 2 and s2["steps"] == [{"description": "Search for q"}]
    assert s1["app"]["id"] == newer["id"]  # app_file_id omitted: the latest build
    other_case = org.test_case(name="Other")
    r = org.http.post("/v1/test-cases/run", json={"jobs": [
        {**job, "test_case_id": other_case["id"], "test_case_version_id": v1}]})
    assert _error(r, 404, "S-90004")["details"]["field"] == "jobs[0].test_case_version_id"


def test_audit_source_run(org: Org, ready: dict, other_org: Org) -> None:
    first = org.http.post("/v1/test-cases/run", json={"jobs": [_job(ready)]}).json()
    source = first["results"][0]["test_run_id"]
    r = org.http.post("/v1/test-cases/run",
                      json={"jobs": [_job(ready, audit_source_run_id=source)]})
    run_id = r.json()["results"][0]["test_run_id"]
    assert org.http.get(f"/v1/jobs/status/{run_id}").json()["audit_source_run_id"] == source
    other_app = other_org.upload_fixture()
    other_case = other_org.test_case()
    r = other_org.http.post("/v1/test-cases/run", json={"jobs": [{
        "app_file_id": other_app["id"], "test_case_id": other_case["id"], "device": PIXEL,
        "audit_source_run_id": source}]})
    assert _error(r, 404, "S-90004")["details"]["field"] == "jobs[0].audit_source_run_id"


def test_no_build_yet(org: Org, pixel: dict) -> None:
    case = org.test_case()
    r = org.http.post("/v1/test-cases/run",
                      json={"jobs": [{"test_case_id": case["id"], "device": PIXEL}]})
    assert _error(r, 422, "no_app")["details"]["field"] == "jobs[0].app_file_id"


def test_archived_case_is_not_run(org: Org, ready: dict, db: Db) -> None:
    org.http.delete(f"/v1/test-cases/{ready['case']['id']}")
    _error(org.http.post("/v1/test-cases/run", json={"jobs": [_job(ready)]}), 422,
           "test_case_archived")


def test_run_all(org: Org, db: Db, ready: dict) -> None:
    smoke = org.category("Smoke")
    a = org.test_case(name="A", category_id=smoke["id"])
    b = org.test_case(name="B", category_id=smoke["id"])
    archived = org.test_case(name="Gone", category_id=smoke["id"])
    org.http.delete(f"/v1/test-cases/{archived['id']}")
    body = {"app_file_id": ready["app"]["id"], "device": PIXEL}
    r = org.http.post("/v1/test-cases/run-all", json={**body, "category_id": smoke["id"]})
    assert r.status_code == 200, r.text
    assert {x["test_case_id"] for x in r.json()["results"]} == {a["id"], b["id"]}
    # Without a category: every active case; the search case needs `query`, so it is skipped.
    r = org.http.post("/v1/test-cases/run-all", json=body).json()
    assert {x["test_case_id"] for x in r["results"]} == {a["id"], b["id"]}
    assert [w["code"] for w in r["warnings"]] == ["skipped_test_case"]
    assert r["warnings"][0]["test_case_id"] == ready["case"]["id"]
    assert _credits(db, org) == 96
    empty = org.category("Empty")
    _error(org.http.post("/v1/test-cases/run-all", json={**body, "category_id": empty["id"]}),
           422, "no_test_cases")
    _error(org.http.post("/v1/test-cases/run-all", json={"device": PIXEL}), 400,
           "missing_parameter")


def test_jobs_list_most_recent_first_with_cursor(org: Org, ready: dict) -> None:
    ids = []
    for _ in range(3):
        r = org.http.post("/v1/test-cases/run", json={"jobs": [_job(ready), _job(ready)]})
        ids += [x["test_run_id"] for x in r.json()["results"]]
    page = org.http.get("/v1/jobs/list", params={"limit": 4}).json()
    assert len(page["test_runs"]) == 4 and page["next_cursor"]
    rest = org.http.get("/v1/jobs/list", params={"limit": 4, "cursor": page["next_cursor"]}).json()
    assert rest["next_cursor"] is None
    listed = [r["id"] for r in page["test_runs"] + rest["test_runs"]]
    assert sorted(listed) == sorted(ids) and len(set(listed)) == 6
    created = [r["created_at"] for r in page["test_runs"] + rest["test_runs"]]
    assert created == sorted(created, reverse=True)
    first = page["test_runs"][0]
    assert {"id", "status", "progress", "priority", "device", "test_case", "app",
            "link"} <= set(first)
    _error(org.http.get("/v1/jobs/list", params={"cursor": "garbage!"}), 400, "invalid_cursor")
    _error(org.http.get("/v1/jobs/list", params={"limit": 0}), 422, "invalid_request")


def _queued_run(org: Org, ready: dict) -> str:
    r = org.http.post("/v1/test-cases/run", json={"jobs": [_job(ready)]})
    assert r.status_code == 200, r.text
    return r.json()["results"][0]["test_run_id"]


@pytest.mark.parametrize("attempt", ["99999999999", "2147483648", "²", "0", "-1", "1.5", "+1",
                                     " 1", "first", ""])
def test_steps_attempt_out_of_range_or_not_a_number(org: Org, ready: dict, attempt: str) -> None:
    run_id = _queued_run(org, ready)
    r = org.http.get(f"/v1/jobs/{run_id}/steps", params={"attempt": attempt})
    body = _error(r, 422, "invalid_request")
    assert body["details"] == {"field": "attempt"}
    assert body["message"] == "attempt is 'latest', 'all' or a number from 1 to 2147483647."


@pytest.mark.parametrize("attempt", ["latest", "all", "1", "2147483647"])
def test_steps_attempt_accepted_forms(org: Org, ready: dict, attempt: str) -> None:
    run_id = _queued_run(org, ready)
    r = org.http.get(f"/v1/jobs/{run_id}/steps", params={"attempt": attempt})
    assert r.status_code == 200, r.text
    assert r.json()["test_run_id"] == run_id and r.json()["steps"] == []


def _cursor_of(text: str) -> str:
    import base64

    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


RUN = "5b0c1a9e-0000-4000-8000-000000000000"


@pytest.mark.parametrize("cursor", [
    _cursor_of(f"0001-01-01T00:00:00+23:59|{RUN}"),  # before year 1 in UTC
    _cursor_of(f"9999-12-31T23:59:59-23:59|{RUN}"),  # after year 9999 in UTC
    _cursor_of(f"2026-01-01T00:00:00|{RUN}"),  # no offset: not one of ours
    _cursor_of("2026-01-01T00:00:00+00:00|not-a-uuid"),
    _cursor_of(f"2026-01-01T00:00:00+00:00|{RUN}|x"),
    _cursor_of("\u00b2"),
    "A" * 129,
    "garbage!",
    "%ff",
])
def test_jobs_list_refuses_crafted_cursors(org: Org, ready: dict, cursor: str) -> None:
    _queued_run(org, ready)
    body = _error(org.http.get("/v1/jobs/list", params={"cursor": cursor}), 400,
                  "invalid_cursor")
    assert body["details"] == {"field": "cursor"}


def test_jobs_list_cursor_at_the_ends_of_time(org: Org, ready: dict) -> None:
    run_id = _queued_run(org, ready)
    first = org.http.get("/v1/jobs/list", params={
        "cursor": _cursor_of(f"0001-01-01T00:00:00+00:00|{RUN}")})
    assert first.status_code == 200 and first.json()["test_runs"] == []
    last = org.http.get("/v1/jobs/list", params={
        "cursor": _cursor_of(f"9999-12-31T23:59:59+00:00|{RUN}")})
    assert [r["id"] for r in last.json()["test_runs"]] == [run_id]


@pytest.mark.parametrize("limit", ["0", "201", "-1", "1e10", "NaN", "99999999999999999999"])
def test_jobs_list_limit_is_bounded(org: Org, limit: str) -> None:
    body = _error(org.http.get("/v1/jobs/list", params={"limit": limit}), 422,
                  "invalid_request")
    assert body["details"]["field"] == "limit"


def test_jobs_parameters_are_documented_with_their_bounds(org: Org) -> None:
    doc = org.http.get("/openapi.json").json()
    steps = {p["name"]: p["schema"] for p in
             doc["paths"]["/v1/jobs/{test_run_id}/steps"]["get"]["parameters"]}
    number = next(s for s in steps["attempt"]["anyOf"] if s.get("type") == "integer")
    assert (number["minimum"], number["maximum"]) == (1, 2147483647)
    listing = {p["name"]: p["schema"] for p in doc["paths"]["/v1/jobs/list"]["get"]["parameters"]}
    assert (listing["limit"]["minimum"], listing["limit"]["maximum"]) == (1, 200)
    assert listing["cursor"]["maxLength"] == 128
