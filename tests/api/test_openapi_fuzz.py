"""Property-based fuzzing of the whole API against its own OpenAPI document (Schemathesis).

Every operation is driven with generated requests, valid and invalid, from the document's
explicit examples, its boundary values (coverage phase) and random data (fuzzing phase), and
every response is checked with all of Schemathesis' checks: no 5xx, a documented status, a
body and headers that match the document, valid data accepted, invalid data refused.
Positive cases draw on real objects of the organization (a build, a test case, a run) so the
requests reach past the "not found" answer.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from schemathesis import GenerationMode, engine
from schemathesis.engine import events

from tests.conftest import Db, Org, Server

MAX_EXAMPLES = int(os.environ.get("QUALGENT_FUZZ_EXAMPLES", "50"))
"""Per operation and phase: ~40 s for the whole API on 2 cores. Raise it for a deeper run."""

@pytest.fixture
def seeded(db: Db, server: Server, pixel: dict) -> Iterator[tuple[Org, dict[str, Any]]]:
    """An organization with credits, a build, a category, test cases and runs."""
    org = Org(db, server, credits=1_000_000)
    build = org.upload_fixture()
    category = org.category("Smoke")
    case = org.test_case(category_id=category["id"])
    disposable = org.test_case(name="Archived by the fuzzer")
    job = {"app_file_id": build["id"], "test_case_id": case["id"],
           "device": {"name": pixel["name"], "platform": pixel["platform"]}}
    submitted = org.http.post("/v1/test-cases/run", json={"jobs": [job, job]})
    assert submitted.status_code == 200, submitted.text
    run_id = submitted.json()["results"][0]["test_run_id"]
    cursor = org.http.get("/v1/jobs/list", params={"limit": 1}).json()["next_cursor"]
    assert cursor
    ids: dict[str, Any] = {
        "case_id": case["id"], "test_case_id": case["id"], "app_id": build["id"],
        "app_file_id": build["id"], "test_run_id": run_id, "category_id": category["id"],
        "category": category["id"], "cursor": cursor, "device": job["device"],
        "disposable_case_id": disposable["id"],
        "url": "https://93.184.215.14/qualgent-fuzz",  # a webhook: public, no DNS lookup
    }
    yield org, ids
    org.http.close()


def _with_real_ids(value: Any, ids: dict[str, Any]) -> Any:
    """A valid request made to name real things: generated ids, cursors (opaque) and device
    specs (the catalog decides which exist) become the seeded ones, variable names are made
    unique (a rule JSON Schema cannot state for lists of objects), and runs ask for the agent
    (a cached replay needs a passed run to replay, which the seed has not recorded)."""
    if isinstance(value, dict):
        return {k: _real(k, v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_with_real_ids(v, ids) for v in value]
    return value


def _real(key: str, value: Any, ids: dict[str, Any]) -> Any:
    if key in ids and (_is_uuid(value) or key in ("cursor", "device", "url")):
        return ids[key]
    if key == "mode" and value == "cached":
        return "agent"
    if key == "variables" and isinstance(value, list):
        names: set[Any] = set()
        unique = [v for v in value if not isinstance(v, dict) or not (
            v.get("name") in names or names.add(v.get("name")))]
        return _with_real_ids(unique, ids)
    return _with_real_ids(value, ids)


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return isinstance(value, str)


def _schema(server: Server, org: Org, ids: dict[str, Any]) -> Any:
    # GET /v1/jobs/events never ends (server-sent events): tests/api/test_events.py covers it.
    schema = schemathesis.openapi.from_url(f"{server.base_url}/openapi.json").exclude(
        path="/v1/jobs/events")
    schema.config.update(base_url=server.base_url, headers={"X-Api-Key": org.key},
                         request_timeout=30, continue_on_failure=True)
    # allow_x00=False: the API refuses NUL in every string (PostgreSQL cannot store it), a
    # rule the document states in words, not per string; test_hostile_input covers it.
    schema.config.generation.update(max_examples=MAX_EXAMPLES, deterministic=True,
                                    modes=list(GenerationMode), allow_x00=False)
    schema.config.checks.update(included_check_names=["all"])

    @schema.hook
    def map_case(context: Any, case: Any) -> Any:  # noqa: ARG001 - the hook's signature
        """Valid requests use the seeded objects, so they get past 'not found'."""
        if case.meta is not None and case.meta.generation.mode.is_positive:
            real = ids
            if case.method.upper() == "DELETE":  # archiving: not the case the runs use
                real = {**ids, "case_id": ids["disposable_case_id"]}
            case.path_parameters = _with_real_ids(case.path_parameters or {}, real)
            case.query = _with_real_ids(case.query or {}, real)
            case.body = _with_real_ids(case.body, real)
        return case

    return schema


def _describe(label: str, failure_info: Any) -> str:
    failure = failure_info.failure
    return (f"{label}: [{failure.code}] {failure.title}\n  {failure.message.strip()}\n"
            f"  {failure_info.code_sample}")


def test_api_conforms_to_its_document(server: Server,
                                      seeded: tuple[Org, dict[str, Any]]) -> None:
    org, ids = seeded
    schema = _schema(server, org, ids)
    failures: dict[str, str] = {}  # one line per distinct (operation, check, status)
    errors: list[str] = []
    calls: dict[str, int] = {}  # requests sent, by phase
    finished = None
    for event in engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished | events.FuzzScenarioFinished):
            recorder = event.recorder
            phase = getattr(event, "phase", "fuzzing")
            calls[phase] = calls.get(phase, 0) + len(recorder.interactions)
            for case_id, checks in recorder.checks.items():
                for check in checks:
                    if check.failure_info is None:
                        continue
                    label = recorder.cases[case_id].value.operation.label \
                        if case_id in recorder.cases else recorder.label
                    key = f"{label} {check.name} {check.failure_info.failure.title}"
                    failures.setdefault(key, _describe(label, check.failure_info))
        elif isinstance(event, events.NonFatalError):
            errors.append(f"{event.label}: {event.value!r}")
        elif isinstance(event, events.FatalError):
            raise event.exception
        elif isinstance(event, events.EngineFinished):
            finished = event
    assert finished is not None
    print(f"schemathesis: {sum(calls.values())} requests {calls} "
          f"in {finished.running_time:.0f} s")
    report = "\n\n".join(sorted(failures.values()) + errors)
    assert not failures and not errors, f"{len(failures)} distinct failures:\n\n{report}"
