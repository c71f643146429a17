"""Idempotency-Key on POST /v1/test-cases/run and run-all: a retried submission returns its
first answer and queues nothing more (real server, real PostgreSQL)."""

from __future__ import annotations

import json
import threading
import uuid

import httpx
import pytest

from qualgent.db.pool import create_pool
from qualgent.runs import idempotency
from tests.api.test_auth_and_errors import _error
from tests.conftest import Db, Org, Server, run_async

PIXEL = {"name": "Pixel 7", "platform": "Android"}
RUN, RUN_ALL = "/v1/test-cases/run", "/v1/test-cases/run-all"


@pytest.fixture
def ready(org: Org, pixel: dict) -> dict:  # noqa: ARG001 - pixel registers the device
    return {"app": org.upload_fixture(), "case": org.test_case()}


def _jobs(ready: dict, count: int = 1) -> dict:
    job = {"app_file_id": ready["app"]["id"], "test_case_id": ready["case"]["id"],
           "device": PIXEL}
    return {"jobs": [job] * count}


def _key(value: str) -> dict:
    return {"Idempotency-Key": value}


def _runs(db: Db, org: Org) -> int:
    return db.scalar("SELECT count(*) FROM test_runs WHERE organization_id = $1::uuid", org.id)


def _credits(db: Db, org: Org) -> int:
    return db.scalar("SELECT credits FROM organizations WHERE id = $1::uuid", org.id)


def test_a_repeat_replays_the_first_answer_and_queues_nothing(
        org: Org, db: Db, ready: dict) -> None:
    key = str(uuid.uuid4())
    first = org.http.post(RUN, json=_jobs(ready, 2), headers=_key(key))
    assert first.status_code == 200, first.text
    assert "Idempotent-Replayed" not in first.headers
    assert (_runs(db, org), _credits(db, org)) == (2, 98)

    # the same request, spelled differently: key order, spacing, a default written out
    job = _jobs(ready)["jobs"][0]
    spelled = json.dumps({"jobs": [{"priority": "medium", **dict(reversed(job.items()))}] * 2},
                         indent=3)
    again = org.http.post(RUN, content=spelled, headers={
        **_key(key), "Content-Type": "application/json"})
    assert again.status_code == 200, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert (_runs(db, org), _credits(db, org)) == (2, 98)
    assert "X-RateLimit-Remaining" in again.headers  # still answered through the edge

    # without the key (or with another) the same body is a new submission
    assert org.http.post(RUN, json=_jobs(ready, 2)).status_code == 200
    assert org.http.post(RUN, json=_jobs(ready, 2), headers=_key(key + "b")).status_code == 200
    assert (_runs(db, org), _credits(db, org)) == (6, 94)


def test_the_same_key_for_another_request_is_409(org: Org, db: Db, ready: dict) -> None:
    assert org.http.post(RUN, json=_jobs(ready), headers=_key("k-1")).status_code == 200
    other_body = org.http.post(RUN, json=_jobs(ready, 2), headers=_key("k-1"))
    body = _error(other_body, 409, "idempotency_key_reused")
    assert body["details"] == {"field": "Idempotency-Key"}
    other_endpoint = org.http.post(RUN_ALL, json={
        "app_file_id": ready["app"]["id"], "device": PIXEL}, headers=_key("k-1"))
    _error(other_endpoint, 409, "idempotency_key_reused")
    assert (_runs(db, org), _credits(db, org)) == (1, 99)


def test_keys_belong_to_their_organization(org: Org, other_org: Org, db: Db,
                                           ready: dict) -> None:
    theirs = {"app": other_org.upload_fixture(), "case": other_org.test_case()}
    mine = org.http.post(RUN, json=_jobs(ready), headers=_key("shared"))
    their = other_org.http.post(RUN, json=_jobs(theirs), headers=_key("shared"))
    assert mine.status_code == their.status_code == 200, their.text
    assert "Idempotent-Replayed" not in their.headers
    assert mine.json()["results"][0]["test_run_id"] != their.json()["results"][0]["test_run_id"]
    assert (_runs(db, org), _runs(db, other_org)) == (1, 1)


@pytest.mark.parametrize("value", [
    "x" * 256,  # too long
    "caf\u00e9",  # not ASCII
    "tab\there",  # a control character
])
def test_a_malformed_key_is_400_naming_the_header(org: Org, db: Db, ready: dict,
                                                  value: str) -> None:
    r = org.http.post(RUN, json=_jobs(ready), headers={"Idempotency-Key": value.encode(
        "latin-1")})
    body = _error(r, 400, "invalid_request")
    assert body["details"] == {"field": "Idempotency-Key"}
    assert "Idempotency-Key" in body["message"]
    assert _runs(db, org) == 0


def test_an_empty_key_is_400(org: Org, ready: dict) -> None:
    r = org.http.post(RUN, json=_jobs(ready), headers={"Idempotency-Key": ""})
    _error(r, 400, "invalid_request")


def test_the_longest_key_and_every_printable_character_are_accepted(
        org: Org, db: Db, ready: dict) -> None:
    printable = "".join(chr(c) for c in range(0x21, 0x7F))  # with a space inside below
    for key in ("k" * 255, printable[:50] + " " + printable[50:]):
        first = org.http.post(RUN, json=_jobs(ready), headers=_key(key))
        again = org.http.post(RUN, json=_jobs(ready), headers=_key(key))
        assert first.status_code == again.status_code == 200, first.text
        assert again.headers["Idempotent-Replayed"] == "true"
    assert _runs(db, org) == 2


def test_a_refused_submission_is_not_remembered(org: Org, db: Db, ready: dict) -> None:
    db.fetch("UPDATE organizations SET credits = 1 WHERE id = $1::uuid", org.id)
    refused = org.http.post(RUN, json=_jobs(ready, 3), headers=_key("retry-me"))
    _error(refused, 402, "insufficient_credits")
    assert db.scalar("SELECT count(*) FROM idempotency_keys") == 0

    db.fetch("UPDATE organizations SET credits = 10 WHERE id = $1::uuid", org.id)
    retried = org.http.post(RUN, json=_jobs(ready, 3), headers=_key("retry-me"))
    assert retried.status_code == 200, retried.text
    assert "Idempotent-Replayed" not in retried.headers
    assert (_runs(db, org), _credits(db, org)) == (3, 7)
    replayed = org.http.post(RUN, json=_jobs(ready, 3), headers=_key("retry-me"))
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.json() == retried.json()
    assert _runs(db, org) == 3


def test_a_refusal_before_queuing_is_not_remembered_either(org: Org, db: Db,
                                                           ready: dict) -> None:
    body = _jobs(ready)
    body["jobs"][0]["test_case_id"] = str(uuid.uuid4())
    _error(org.http.post(RUN, json=body, headers=_key("nf")), 404, "S-90004")
    assert db.scalar("SELECT count(*) FROM idempotency_keys") == 0
    assert org.http.post(RUN, json=_jobs(ready), headers=_key("nf")).status_code == 200


def _concurrently(server: Server, org: Org, path: str, body: dict, key: str,
                  count: int = 20) -> list[httpx.Response]:
    """`count` threads, each with its own connection, released together."""
    start = threading.Barrier(count)
    answers: list[httpx.Response] = []

    def post() -> None:
        with server.client(org.key) as http:
            start.wait()
            answers.append(http.post(path, json=body, headers=_key(key)))

    threads = [threading.Thread(target=post) for _ in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(answers) == count
    return answers


def test_concurrent_requests_with_one_key_queue_one_batch(
        org: Org, db: Db, server: Server, ready: dict) -> None:
    answers = _concurrently(server, org, RUN, _jobs(ready, 2), "storm")
    assert {a.status_code for a in answers} == {200}, [a.text for a in answers]
    assert len({a.text for a in answers}) == 1  # byte for byte the same answer
    assert sum(a.headers.get("Idempotent-Replayed") == "true" for a in answers) == 19
    assert (_runs(db, org), _credits(db, org)) == (2, 98)
    assert db.scalar("SELECT count(DISTINCT batch_id) FROM test_runs") == 1


def test_run_all_is_idempotent_too(org: Org, db: Db, server: Server, ready: dict) -> None:
    # a case that cannot run without vars is skipped with a warning, replayed with the rest
    org.test_case(name="Needs a query", steps=[{"description": "Search {{q}}"}],
                  variables=[{"name": "q", "type": "string", "required": True}])
    body = {"app_file_id": ready["app"]["id"], "device": PIXEL}
    first = org.http.post(RUN_ALL, json=body, headers=_key("suite-1"))
    assert first.status_code == 200, first.text
    assert [w["code"] for w in first.json()["warnings"]] == ["skipped_test_case"]
    again = org.http.post(RUN_ALL, json={**body, "use_sim": False}, headers=_key("suite-1"))
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.text == first.text
    _error(org.http.post(RUN_ALL, json={**body, "priority": "high"}, headers=_key("suite-1")),
           409, "idempotency_key_reused")
    assert _runs(db, org) == 1

    answers = _concurrently(server, org, RUN_ALL, body, "suite-2")
    assert {a.status_code for a in answers} == {200}
    assert len({a.text for a in answers}) == 1
    assert (_runs(db, org), _credits(db, org)) == (2, 98)


def test_a_key_expires_after_24_hours_and_is_pruned(org: Org, db: Db, ready: dict) -> None:
    first = org.http.post(RUN, json=_jobs(ready), headers=_key("old"))
    assert first.status_code == 200
    org.http.post(RUN, json=_jobs(ready), headers=_key("recent"))
    db.fetch("UPDATE idempotency_keys SET created_at = now() - interval '24 hours 1 second' "
             "WHERE key = 'old'")

    # past 24 h the key is free: the same request queues again, another body is no conflict
    fresh = org.http.post(RUN, json=_jobs(ready), headers=_key("old"))
    assert fresh.status_code == 200 and "Idempotent-Replayed" not in fresh.headers
    assert fresh.json() != first.json()
    assert _runs(db, org) == 3
    db.fetch("UPDATE idempotency_keys SET created_at = now() - interval '25 hours' "
             "WHERE key = 'old'")
    assert org.http.post(RUN, json=_jobs(ready, 2), headers=_key("old")).status_code == 200
    assert _runs(db, org) == 5

    db.fetch("UPDATE idempotency_keys SET created_at = now() - interval '25 hours' "
             "WHERE key = 'old'")

    async def prune() -> int:
        pool = await create_pool(db.url, 1)
        try:
            return await idempotency.prune(pool)
        finally:
            await pool.close()

    assert run_async(prune()) == 1
    assert [r["key"] for r in db.fetch("SELECT key FROM idempotency_keys")] == ["recent"]
    replay = org.http.post(RUN, json=_jobs(ready), headers=_key("recent"))
    assert replay.headers["Idempotent-Replayed"] == "true"


def test_without_a_key_nothing_is_stored(org: Org, db: Db, ready: dict) -> None:
    assert org.http.post(RUN, json=_jobs(ready)).status_code == 200
    assert db.scalar("SELECT count(*) FROM idempotency_keys") == 0


def test_the_document_names_the_header_and_the_409(server: Server) -> None:
    with server.client() as c:
        doc = c.get("/openapi.json").json()
    for path in (RUN, RUN_ALL):
        op = doc["paths"][path]["post"]
        [param] = [p for p in op["parameters"] if p["name"] == "Idempotency-Key"]
        assert param["in"] == "header" and not param.get("required")
        assert param["schema"]["maxLength"] == 255
        assert "409" in op["responses"]
        assert "Idempotent-Replayed" in op["responses"]["200"]["headers"]

