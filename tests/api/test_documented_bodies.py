"""Bodies of finished runs (passed, failed, cached with an audit) against the schemas the
OpenAPI document declares for them. The job status body is built by hand for speed and
only documented, so this is what keeps the two in step."""

from __future__ import annotations

import httpx
from pydantic import BaseModel, TypeAdapter

from qualgent.runs.schemas import RunDetail, RunPage, RunTrace
from qualgent.testcases.schemas import CaseSummary
from tests.conftest import Org
from tests.worker.conftest import PIXEL, demo_host, wait_terminal, workers  # noqa: F401


def _documented(doc: dict, path: str) -> str:
    schema = doc["paths"][path]["get"]["responses"]["200"]["content"]["application/json"][
        "schema"]
    return schema.get("$ref") or schema["items"]["$ref"]


def _conforms(model: type[BaseModel], r: httpx.Response) -> dict:
    assert r.status_code == 200, r.text
    model.model_validate_json(r.content, strict=True)
    return r.json()


def test_finished_runs_match_their_documented_schemas(org: Org, demo_host: None) -> None:  # noqa: F811
    case = org.test_case(name="Sign-in screen", steps=[
        {"description": "Open the app"}, {"description": 'Verify "Sign in" is shown'}])
    broken = org.test_case(name="Missing screen", steps=[
        {"description": "Open the app"}, {"description": 'Verify "Nowhere" is shown'}])

    def run(**job: object) -> str:
        r = org.http.post("/v1/test-cases/run", json={"jobs": [{"device": PIXEL, **job}]})
        assert r.status_code == 200, r.text
        return r.json()["results"][0]["test_run_id"]

    recorded = run(test_case_id=case["id"])
    failed = run(test_case_id=broken["id"])
    wait_terminal(org, [recorded, failed])
    cached = run(test_case_id=case["id"], mode="cached", audit_source_run_id=recorded)
    ended = wait_terminal(org, [recorded, failed, cached])
    assert ended[recorded]["status"] == "passed" and ended[failed]["status"] == "failed"
    assert ended[cached]["cache"] is not None and ended[cached]["audit"] is not None

    doc = org.http.get("/openapi.json").json()
    assert _documented(doc, "/v1/jobs/status/{test_run_id}").endswith("/RunDetail")
    assert _documented(doc, "/v1/jobs/list").endswith("/RunPage")
    assert _documented(doc, "/v1/jobs/{test_run_id}/steps").endswith("/RunTrace")
    for run_id in (recorded, failed, cached):
        status = _conforms(RunDetail, org.http.get(f"/v1/jobs/status/{run_id}"))
        assert status["finished_at"] and status["progress"] == 100
        trace = _conforms(RunTrace, org.http.get(f"/v1/jobs/{run_id}/steps",
                                                 params={"attempt": "all"}))
        assert trace["steps"] and trace["steps"][0]["screenshot_url"]
    assert ended[failed]["failure_category"] == "app"
    page = _conforms(RunPage, org.http.get("/v1/jobs/list"))
    assert {r["id"] for r in page["test_runs"]} == {recorded, failed, cached}
    cases = org.http.get("/v1/test-cases/list")
    listed = TypeAdapter(list[CaseSummary]).validate_json(cases.content, strict=True)
    assert {c.latest_completed_run.status for c in listed if c.latest_completed_run} == {
        "passed", "failed"}
