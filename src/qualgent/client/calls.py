"""Every /v1 endpoint as a Call: method, path, body and how to read the answer. The sync and
async clients only differ in how they send one, so the endpoints are written once."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import httpx

from qualgent.client.models import AppFile, QueuedRun, Run, RunPage, Submission, Trace
from qualgent.client.retry import Mode

T = TypeVar("T")
DEFAULT_URL = "http://127.0.0.1:8000"
MAX_JOBS = 10
"""The most runs one POST /v1/test-cases/run queues."""


@dataclass(frozen=True)
class Call(Generic[T]):
    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    params: dict[str, Any] | None = None
    json: Any = None
    headers: dict[str, str] | None = None
    mode: Mode = Mode.SAFE


def device(name: str, platform: str = "Android", os_version: str | None = None,
           orientation: str | None = None) -> dict[str, Any]:
    """A device as a job names it; match a name from GET /v1/devices verbatim."""
    d: dict[str, Any] = {"name": name, "platform": platform}
    if os_version is not None:
        d["os_version"] = os_version
    if orientation is not None:
        d["orientation"] = orientation
    return d


def job(test_case_id: str, device: dict[str, Any], app_file_id: str | None = None, *,
        use_sim: bool = False, vars: dict[str, Any] | None = None,
        **extra: Any) -> dict[str, Any]:
    """One entry of a run submission (extra: test_case_version_id, priority, mode, ...)."""
    j: dict[str, Any] = {"test_case_id": test_case_id, "device": device, **extra}
    if app_file_id is not None:
        j["app_file_id"] = app_file_id
    if use_sim:
        j["use_sim"] = True
    if vars:
        j["vars"] = vars
    return j


def _json(r: httpx.Response) -> Any:
    return r.json()


def _file(r: httpx.Response) -> AppFile:
    return AppFile.from_json(r.json()["file"])


def _case(r: httpx.Response) -> dict[str, Any]:
    return r.json()["test_case"]


def _submission(key: str) -> Callable[[httpx.Response], Submission]:
    def parse(r: httpx.Response) -> Submission:
        body = r.json()
        return Submission(results=[QueuedRun.from_json(x) for x in body.get("results", [])],
                          warnings=body.get("warnings", []), idempotency_key=key,
                          replayed=r.headers.get("idempotent-replayed", "").lower() == "true",
                          raw=body)
    return parse


def _steps(steps: Sequence[str | dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"description": s} if isinstance(s, str) else s for s in steps]


def list_apps() -> Call[list[AppFile]]:
    return Call("GET", "/v1/apps/list",
                lambda r: [AppFile.from_json(f) for f in r.json()["files"]])


def get_app(app_id: str = "latest") -> Call[AppFile]:
    return Call("GET", f"/v1/apps/{app_id}", _file)


def delete_apps(ids: Sequence[str]) -> Call[list[str]]:
    # Deleting is idempotent on the server: SAFE to repeat.
    return Call("POST", "/v1/apps/delete", lambda r: r.json()["deleted"],
                json={"files": list(ids)})


def list_test_cases(category: str | None = None,
                    include_archived: bool = False) -> Call[list[dict[str, Any]]]:
    params: dict[str, Any] = {}
    if category:
        params["category"] = category
    if include_archived:
        params["include_archived"] = "true"
    return Call("GET", "/v1/test-cases/list", _json, params=params or None)


def get_test_case(case_id: str) -> Call[dict[str, Any]]:
    return Call("GET", f"/v1/test-cases/{case_id}", _case)


def create_test_case(name: str, steps: Sequence[str | dict[str, Any]], *,
                     description: str | None = None, category_id: str | None = None,
                     variables: Sequence[dict[str, Any]] | None = None) -> Call[dict[str, Any]]:
    body: dict[str, Any] = {"name": name, "steps": _steps(steps)}
    if description is not None:
        body["description"] = description
    if category_id is not None:
        body["category_id"] = category_id
    if variables:
        body["variables"] = list(variables)
    return Call("POST", "/v1/test-cases", _case, json=body, mode=Mode.UNSENT)


def update_test_case(case_id: str, **fields: Any) -> Call[dict[str, Any]]:
    """fields: name, description, category_id, steps, variables (a new version each time)."""
    if "steps" in fields and fields["steps"] is not None:
        fields["steps"] = _steps(fields["steps"])
    return Call("PUT", f"/v1/test-cases/{case_id}", _case, json=fields, mode=Mode.UNSENT)


def delete_test_case(case_id: str) -> Call[dict[str, Any]]:
    """Archives the case (its history stays readable); repeating it changes nothing."""
    return Call("DELETE", f"/v1/test-cases/{case_id}", _case)


def test_case_versions(case_id: str) -> Call[list[dict[str, Any]]]:
    return Call("GET", f"/v1/test-cases/{case_id}/versions", lambda r: r.json()["versions"])


def list_categories() -> Call[list[dict[str, Any]]]:
    return Call("GET", "/v1/categories/list", _json)


def list_devices() -> Call[dict[str, list[dict[str, Any]]]]:
    return Call("GET", "/v1/devices", _json)


def _key(idempotency_key: str | None) -> str:
    return idempotency_key or str(uuid.uuid4())


def run(jobs: Sequence[dict[str, Any]], idempotency_key: str | None = None) -> Call[Submission]:
    """One logical submission: its Idempotency-Key is fixed here, so every retry of it carries
    the same one and the server queues the batch once."""
    key = _key(idempotency_key)
    return Call("POST", "/v1/test-cases/run", _submission(key), json={"jobs": list(jobs)},
                headers={"Idempotency-Key": key})


def run_all(app_file_id: str, device: dict[str, Any], *, category_id: str | None = None,
            use_sim: bool = False, priority: str | None = None,
            idempotency_key: str | None = None) -> Call[Submission]:
    key = _key(idempotency_key)
    body: dict[str, Any] = {"app_file_id": app_file_id, "device": device}
    if category_id is not None:
        body["category_id"] = category_id
    if use_sim:
        body["use_sim"] = True
    if priority is not None:
        body["priority"] = priority
    return Call("POST", "/v1/test-cases/run-all", _submission(key), json=body,
                headers={"Idempotency-Key": key})


def get_run(run_id: str) -> Call[Run]:
    return Call("GET", f"/v1/jobs/status/{run_id}", lambda r: Run.from_json(r.json()))


def list_runs(limit: int = 50, cursor: str | None = None) -> Call[RunPage]:
    params: dict[str, Any] = {"limit": limit}
    if cursor:
        params["cursor"] = cursor

    def parse(r: httpx.Response) -> RunPage:
        body = r.json()
        return RunPage([Run.from_json(x) for x in body["test_runs"]], body.get("next_cursor"))
    return Call("GET", "/v1/jobs/list", parse, params=params)


def run_steps(run_id: str, attempt: str | int = "latest") -> Call[Trace]:
    return Call("GET", f"/v1/jobs/{run_id}/steps", lambda r: Trace.from_json(r.json()),
                params={"attempt": str(attempt)})


def events_request(run_ids: Sequence[str] | None,
                   last_event_id: str | None) -> tuple[dict[str, str], dict[str, str]]:
    """The query and headers of GET /v1/jobs/events."""
    params = {"run_ids": ",".join(run_ids)} if run_ids else {}
    headers = {"Accept": "text/event-stream", "Cache-Control": "no-cache"}
    if last_event_id:
        headers["Last-Event-ID"] = last_event_id
    return params, headers


def upload_fields(app_name: str, version: str, os: str | None,
                  package_name: str | None) -> dict[str, str]:
    fields = {"app_name": app_name, "version": version}
    if os:
        fields["os"] = os
    if package_name:
        fields["package_name"] = package_name
    return fields
