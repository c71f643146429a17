"""Webhooks end to end: registered through the API, told of finished runs by the deliverer of
a real server (a real worker runs the Demo Shop in the first test; the others finish runs
through the queue's own functions), received by a real HTTP server in this process."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest

from qualgent.client.webhooks import verify
from qualgent.queue.states import RunStatus
from tests.conftest import Db, Org, Server, eventually, start_server
from tests.demo import SIGN_IN_QUOTED
from tests.webhooks.conftest import (
    FAST,
    Receiver,
    deliveries,
    finish_runs,
    queue_runs,
    register,
    wait_deliveries,
)
from tests.worker.conftest import SMS_PIXEL, WorkerProcess, run_case, upload_demo

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def test_a_finished_run_is_posted_once_signed(acme: Org, db: Db, db_url: str,
                                              hook_server: Server, receiver: Receiver,
                                              tmp_path: Path) -> None:
    made = register(acme, receiver.url, "CI notifier")
    hook, secret = made["webhook"], made["secret"]
    assert secret.startswith("whsec_") and hook["url"] == receiver.url
    assert hook["description"] == "CI notifier"
    assert "secret" not in json.dumps(acme.http.get("/v1/webhooks").json())
    upload_demo(acme, tmp_path)
    worker = WorkerProcess(db_url, hook_server, tmp_path / "worker.log", SMS_PIXEL)
    try:
        run_id = run_case(acme, [*SIGN_IN_QUOTED, 'Verify "Home" is shown'], use_sim=True)
        eventually(lambda: receiver.count() >= 1, timeout=120, interval=0.1)
    finally:
        worker.stop()
    time.sleep(1.5)  # more than the retry delays: a second POST would have come by now
    assert receiver.count() == 1
    got = receiver.requests[0]
    status = acme.http.get(f"/v1/jobs/status/{run_id}").json()
    assert status["status"] == "passed"

    assert got.path == "/hooks/qualgent?src=test"
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["User-Agent"].startswith("qualgent-webhooks/")
    assert got.headers["X-Qualgent-Event"] == "run.finished"
    header = got.headers["X-Qualgent-Signature"]
    assert verify(secret, got.body, header)
    assert not verify(secret, got.body.replace(b"passed", b"failed"), header)
    assert not verify("whsec_" + "0" * 64, got.body, header)
    t = int(header.split(",")[0][2:])
    assert abs(time.time() - t) < 60
    assert not verify(secret, got.body, header, now=t + 301)

    body = json.loads(got.body)
    assert body["event"] == "run.finished"
    assert str(body["delivery_id"]) == got.headers["X-Qualgent-Delivery"]
    assert body["test_run"] == {k: v for k, v in status.items() if k not in ("steps", "vars")}

    [logged] = deliveries(acme, hook["id"])
    assert logged["id"] == body["delivery_id"] and logged["test_run_id"] == run_id
    assert (logged["status"], logged["attempts"], logged["last_status_code"]) == (
        "delivered", 1, 200)
    assert logged["last_error"] is None and logged["delivered_at"]
    assert logged["next_attempt_at"] is None


def test_failures_are_retried_with_back_off_until_delivered(
        acme: Org, db: Db, receiver: Receiver) -> None:
    receiver.answer(500, 500, 200)
    hook = register(acme, receiver.url)["webhook"]
    [run_id] = queue_runs(acme.http)
    finish_runs(db, [run_id], RunStatus.FAILED)
    [logged] = wait_deliveries(acme, hook["id"], 1)
    assert (logged["status"], logged["attempts"], logged["last_status_code"]) == (
        "delivered", 3, 200)
    assert receiver.count() == 3
    first, second, third = receiver.requests
    # the same delivery, the same bytes each time; signed afresh each time
    assert first.body == second.body == third.body
    assert {r.headers["X-Qualgent-Delivery"] for r in receiver.requests} == {str(logged["id"])}
    assert json.loads(first.body)["test_run"]["status"] == "failed"
    # back-off: 0.2 s doubling, each delay drawn from its upper half
    assert second.at - first.at >= 0.1
    assert third.at - second.at >= 0.2


def test_a_receiver_that_always_fails_ends_failed_and_resend_delivers_again(
        acme: Org, db: Db, receiver: Receiver) -> None:
    receiver.answer(503)
    hook = register(acme, receiver.url)["webhook"]
    [run_id] = queue_runs(acme.http)
    finish_runs(db, [run_id])
    [failed] = wait_deliveries(acme, hook["id"], 1)
    assert (failed["status"], failed["attempts"], failed["last_status_code"]) == (
        "failed", FAST["webhook_max_attempts"], 503)
    assert failed["last_error"] == "HTTP 503: receiver says no"
    assert failed["delivered_at"] is None and failed["next_attempt_at"] is None
    time.sleep(1.0)
    assert receiver.count() == FAST["webhook_max_attempts"]  # and no more
    old_body = json.loads(receiver.requests[0].body)

    receiver.answer(200)
    r = acme.http.post(f"/v1/webhooks/{hook['id']}/deliveries/{failed['id']}/resend")
    assert r.status_code == 200, r.text
    again = r.json()["delivery"]
    assert again["id"] != failed["id"] and again["test_run_id"] == run_id
    assert (again["status"], again["attempts"]) == ("pending", 0)
    log = wait_deliveries(acme, hook["id"], 2)
    assert [(d["id"], d["status"]) for d in log] == [(again["id"], "delivered"),
                                                     (failed["id"], "failed")]
    assert receiver.count() == FAST["webhook_max_attempts"] + 1
    last = receiver.requests[-1]
    body = json.loads(last.body)
    assert body["delivery_id"] == again["id"] == int(last.headers["X-Qualgent-Delivery"])
    assert body["test_run"] == old_body["test_run"]  # the same payload


def test_deleting_a_webhook_stops_its_deliveries(acme: Org, db: Db,
                                                 receiver: Receiver) -> None:
    hook = register(acme, receiver.url)["webhook"]
    kept = register(acme, receiver.url + "&kept=1")["webhook"]
    r = acme.http.delete(f"/v1/webhooks/{hook['id']}")
    assert r.status_code == 200 and r.json() == {"success": True, "deleted": hook["id"]}
    assert [h["id"] for h in acme.http.get("/v1/webhooks").json()["webhooks"]] == [kept["id"]]
    assert acme.http.delete(f"/v1/webhooks/{hook['id']}").status_code == 404
    assert acme.http.get(f"/v1/webhooks/{hook['id']}/deliveries").status_code == 404
    [run_id] = queue_runs(acme.http)
    finish_runs(db, [run_id])
    wait_deliveries(acme, kept["id"], 1)
    time.sleep(0.5)
    assert [r.path for r in receiver.requests] == ["/hooks/qualgent?src=test&kept=1"]


@pytest.mark.parametrize("url, words", [
    ("http://127.0.0.1:9/x", "loopback or private"),
    ("http://localhost/x", "loopback or private"),
    ("https://10.1.2.3/", "loopback or private"),
    ("http://[::1]:8080/", "loopback or private"),
    ("http://[::ffff:192.168.0.1]/", "loopback or private"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://0.0.0.0/", "cannot receive"),
    ("ftp://example.com/", "https://"),
    ("https://user:pw@example.com/", "credentials"),
    ("not a url", "spaces"),
    ("https:///path", "no host"),
    ("https://example.com:99999/", "not a valid URL"),
    ("http://nowhere.invalid/", "does not resolve"),
])
def test_urls_that_could_reach_inside_are_refused(org: Org, db: Db, url: str,
                                                  words: str) -> None:
    r = org.http.post("/v1/webhooks", json={"url": url})
    assert r.status_code == 422, r.text
    err = r.json()
    assert err["error"] == "invalid_request" and err["details"]["field"] == "url"
    assert words in err["message"]
    assert db.scalar("SELECT count(*) FROM webhooks") == 0


def test_link_local_is_refused_even_when_private_addresses_are_allowed(acme: Org) -> None:
    for url in ("http://169.254.169.254/", "http://[fe80::1]/"):
        r = acme.http.post("/v1/webhooks", json={"url": url})
        assert r.status_code == 422 and "link-local" in r.json()["message"], r.text
    assert acme.http.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/"}).status_code == 200


def test_bodies_are_checked(acme: Org, db: Db) -> None:
    for body, status, field in (
            ({}, 400, "url"), ({"url": 5}, 422, "url"),
            ({"url": "http://127.0.0.1/", "extra": 1}, 422, "extra"),
            ({"url": "http://127.0.0.1/", "description": "x" * 201}, 422, "description"),
            ({"url": "http://127.0.0.1/" + "a" * 2048}, 422, "url")):
        r = acme.http.post("/v1/webhooks", json=body)
        assert r.status_code == status, (body, r.text)
        assert field in r.json()["details"].get("field", ""), r.text
    assert db.scalar("SELECT count(*) FROM webhooks") == 0


def test_the_address_is_checked_again_at_delivery(db: Db, db_url: str, tmp_path: Path,
                                                  receiver: Receiver, pixel: dict) -> None:
    """A URL accepted earlier (here: while private addresses were allowed; in the wild: a
    host whose DNS now answers a private address) is not POSTed to."""
    allowing = start_server(db_url, tmp_path / "a", **FAST)
    org = Org(db, allowing)
    hook = register(org, receiver.url)["webhook"]
    allowing.stop()
    strict = start_server(db_url, tmp_path / "b", **{**FAST, "webhook_allow_private": False})
    try:
        org.http = strict.client(org.key)
        [run_id] = queue_runs(org.http)
        finish_runs(db, [run_id])
        eventually(lambda: deliveries(org, hook["id"])[:1] != []
                   and deliveries(org, hook["id"])[0]["attempts"] >= 1, 30, 0.1)
        [logged] = deliveries(org, hook["id"])
        assert logged["last_status_code"] is None
        assert "127.0.0.1 is a loopback or private address" in logged["last_error"]
        assert receiver.count() == 0
    finally:
        org.http.close()
        strict.stop()


def test_other_organizations_cannot_see_delete_or_resend(acme: Org, db: Db,
                                                         hook_server: Server,
                                                         receiver: Receiver) -> None:
    hook = register(acme, receiver.url)["webhook"]
    [run_id] = queue_runs(acme.http)
    finish_runs(db, [run_id])
    [logged] = wait_deliveries(acme, hook["id"], 1)
    other = Org(db, hook_server, name="Globex")
    nobody = str(uuid.uuid4())
    try:
        assert other.http.get("/v1/webhooks").json() == {"webhooks": []}
        for method, path in (
                ("GET", "/v1/webhooks/{}/deliveries"),
                ("DELETE", "/v1/webhooks/{}"),
                ("POST", "/v1/webhooks/{}/deliveries/" + str(logged["id"]) + "/resend")):
            foreign = other.http.request(method, path.format(hook["id"]))
            missing = other.http.request(method, path.format(nobody))
            assert foreign.status_code == missing.status_code == 404
            assert foreign.json() == missing.json()
        # the right webhook with a delivery of another organization's webhook: 404 too
        own = register(other, receiver.url)["webhook"]
        r = other.http.post(f"/v1/webhooks/{own['id']}/deliveries/{logged['id']}/resend")
        assert r.status_code == 404
        for bad in ("0", "-1", "x", "99999999999999999999"):
            r = acme.http.post(f"/v1/webhooks/{hook['id']}/deliveries/{bad}/resend")
            assert r.status_code == 404, bad
        assert acme.http.get("/v1/webhooks/not-a-uuid/deliveries").status_code == 404
    finally:
        other.http.close()
    assert [h["id"] for h in acme.http.get("/v1/webhooks").json()["webhooks"]] == [hook["id"]]
    assert len(deliveries(acme, hook["id"])) == 1
    assert receiver.count() == 1


def test_two_api_processes_never_deliver_twice(acme: Org, db: Db, db_url: str,
                                               tmp_path: Path, receiver: Receiver) -> None:
    """Two servers on one database, each with its deliverer, racing for 30 deliveries."""
    second = start_server(db_url, tmp_path / "second", **FAST)
    try:
        receiver.delay = 0.05  # POSTs overlap: both deliverers are busy at once
        hook = register(acme, receiver.url)["webhook"]
        run_ids = queue_runs(acme.http, 30)
        finish_runs(db, run_ids)
        log = wait_deliveries(acme, hook["id"], 30, timeout=60)
        time.sleep(1.0)
    finally:
        second.stop()
    assert {d["status"] for d in log} == {"delivered"}
    assert {d["attempts"] for d in log} == {1}
    sent = [r.headers["X-Qualgent-Delivery"] for r in receiver.requests]
    assert len(sent) == len(set(sent)) == 30
    assert {json.loads(r.body)["test_run"]["id"] for r in receiver.requests} == set(run_ids)


def test_an_organization_has_at_most_twenty_webhooks(acme: Org, db: Db) -> None:
    for i in range(20):
        register(acme, f"https://93.184.215.14/hook/{i}")
    r = acme.http.post("/v1/webhooks", json={"url": "https://93.184.215.14/one-more"})
    assert r.status_code == 409, r.text
    assert r.json()["error"] == "too_many_webhooks" and r.json()["details"]["limit"] == 20
    assert db.scalar("SELECT count(*) FROM webhooks") == 20
