"""Demo Shop cases run end to end: API -> queue -> real worker processes -> results."""

from __future__ import annotations

import signal
from pathlib import Path

import httpx

from tests.conftest import Db, Org, eventually
from tests.demo import CRASH_THEN_VERIFY, SIGN_IN_QUOTED
from tests.worker.conftest import (
    PIXEL,
    SMS_PIXEL,
    run_case,
    upload_demo,
    wait_for_devices,
    wait_terminal,
)


def test_a_passing_case_leaves_a_readable_trace(org: Org, demo_host: None) -> None:
    run_id = run_case(org, [*SIGN_IN_QUOTED, 'Verify "Home" is shown'], use_sim=True)
    status = wait_terminal(org, [run_id])[run_id]
    assert (status["status"], status["progress"]) == ("passed", 100), status
    assert status["failure_category"] is None and status["attempts"] == 1
    trace = org.http.get(f"/v1/jobs/{run_id}/steps").json()
    steps = trace["steps"]
    assert [s["status"] for s in steps] == ["passed"] * 6
    assert steps[1]["description"] == 'Enter "demo@example.com" into Email'
    typed = [a for a in steps[1]["actions"] if a["action"] == "type"]
    assert typed and typed[0]["value"] == "demo@example.com"
    tap = next(a for a in steps[3]["actions"] if a["action"] == "tap")
    assert tap["selector"] and len(tap["bounds"]) == 4
    png = httpx.get(steps[-1]["screenshot_url"])
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    listed = org.http.get("/v1/test-cases/list").json()[0]["latest_completed_run"]
    assert listed == {"id": run_id, "status": "passed", "progress": 100, "device": "Pixel 7"}


def test_failures_are_explained_and_categorised(org: Org, demo_host: None) -> None:
    wrong = run_case(org, ["Open the app", "Type demo@example.com into Email",
                           "Type nope into Password", "Tap Sign in",
                           'Verify "Verify your phone" is shown'], name="wrong password")
    missing = run_case(org, ["Open the app", "Tap the Teleport button"], name="no target")
    crash = run_case(org, [*SIGN_IN_QUOTED, *CRASH_THEN_VERIFY], use_sim=True, name="crash")
    done = wait_terminal(org, [wrong, missing, crash])
    assert done[wrong]["status"] == "failed" and done[wrong]["failure_category"] == "app"
    assert "Verify your phone" in done[wrong]["explanation"]
    assert done[missing]["failure_category"] == "test"
    assert "Teleport" in done[missing]["explanation"]
    assert done[crash]["failure_category"] == "app"
    assert "crash" in done[crash]["explanation"].lower()
    steps = org.http.get(f"/v1/jobs/{missing}/steps").json()["steps"]
    assert [s["status"] for s in steps] == ["passed", "failed"]
    assert "Sign in" in steps[1]["reason"]  # names what the screen offered


def test_a_build_the_device_cannot_install(org: Org, db: Db, workers) -> None:
    workers(SMS_PIXEL)
    org.upload_fixture()  # a real APK, but not one the simulator can run
    wait_for_devices(db, 1)
    run_id = run_case(org, ["Open the app"])
    status = wait_terminal(org, [run_id])[run_id]
    assert status["status"] == "failed" and status["failure_category"] == "app"
    assert "install" in status["explanation"].lower()


def test_sms_only_reaches_sim_devices(org: Org, db: Db, workers, tmp_path: Path) -> None:
    db.admin("register_device", "iPhone 14 Pro", "iOS", "16.0", "phone", False)
    workers("iPhone 14 Pro:iOS:16.0")
    upload_demo(org, tmp_path, "ios")
    wait_for_devices(db, 1)
    run_id = run_case(org, SIGN_IN_QUOTED, device={"name": "iPhone 14 Pro", "platform": "iOS"})
    status = wait_terminal(org, [run_id])[run_id]
    assert status["status"] == "failed", status
    assert "sms" in status["explanation"].lower()


def test_variables_reach_the_agent_and_no_assertion_means_completed(
    org: Org, demo_host: None
) -> None:
    run_id = run_case(
        org, [*SIGN_IN_QUOTED, "Open the app and tap the search bar",
              "Type {{query}} and submit", "Wait up to {{timeout_seconds}} seconds for results"],
        variables=[{"name": "query", "type": "string", "required": True},
                   {"name": "timeout_seconds", "type": "number", "default": 30}],
        vars={"query": "wireless headphones"}, use_sim=True)
    status = wait_terminal(org, [run_id])[run_id]
    assert status["status"] == "completed", status
    assert status["steps"][6]["description"] == "Type wireless headphones and submit"


def test_priorities_decide_the_order(org: Org, db: Db, workers, tmp_path: Path,
                                     pixel: dict) -> None:
    upload_demo(org, tmp_path)
    low = run_case(org, ["Open the app"], priority="low", name="low")
    high = run_case(org, ["Open the app"], priority="high", name="high")
    medium = run_case(org, ["Open the app"], name="medium")
    workers(SMS_PIXEL)  # one device: it takes them one at a time
    done = wait_terminal(org, [low, high, medium])
    order = sorted(done, key=lambda rid: done[rid]["started_at"])
    assert order == [high, medium, low]


def test_two_workers_share_the_queue_without_double_claims(
    org: Org, db: Db, workers, tmp_path: Path
) -> None:
    upload_demo(org, tmp_path)
    workers(SMS_PIXEL, SMS_PIXEL)
    workers(SMS_PIXEL, SMS_PIXEL)
    wait_for_devices(db, 4)
    ids = [run_case(org, ["Open the app", 'Verify "Sign in" is shown'], name=f"c{i}")
           for i in range(12)]
    done = wait_terminal(org, ids)
    assert {s["status"] for s in done.values()} == {"passed"}
    assert db.scalar("SELECT max(attempts) FROM test_runs") == 1
    assert db.scalar("SELECT count(DISTINCT worker_id) FROM test_runs") == 2
    assert db.scalar("SELECT count(*) FROM run_steps") == 24


def test_a_worker_killed_mid_run_loses_nothing(org: Org, db: Db, workers,
                                               tmp_path: Path) -> None:
    upload_demo(org, tmp_path)
    first = workers(SMS_PIXEL)
    wait_for_devices(db, 1)
    run_id = run_case(org, ["Open the app", "Wait 4 seconds", 'Verify "Sign in" is shown'])
    eventually(lambda: db.scalar("SELECT count(*) FROM run_steps") >= 1)
    first.signal(signal.SIGKILL)
    first.wait()
    workers(SMS_PIXEL)
    status = wait_terminal(org, [run_id])[run_id]
    assert status["status"] == "passed" and status["attempts"] == 2
    attempts = org.http.get(f"/v1/jobs/{run_id}/steps", params={"attempt": "all"}).json()
    assert {s["attempt"] for s in attempts["steps"]} == {1, 2}
    assert db.scalar("SELECT credits FROM organizations WHERE id=$1::uuid", org.id) == 99


def test_sigterm_finishes_the_run_then_deregisters(org: Org, db: Db, workers,
                                                   tmp_path: Path) -> None:
    upload_demo(org, tmp_path)
    w = workers(SMS_PIXEL)
    wait_for_devices(db, 1)
    run_id = run_case(org, ["Open the app", "Wait 2 seconds", 'Verify "Sign in" is shown'])
    eventually(lambda: db.scalar("SELECT status FROM test_runs WHERE id=$1::uuid",
                                 run_id) == "running")
    w.signal(signal.SIGTERM)
    assert w.wait(60) == 0
    assert db.scalar("SELECT status FROM test_runs WHERE id=$1::uuid", run_id) == "passed"
    assert db.scalar("SELECT count(*) FROM devices WHERE worker_id IS NOT NULL AND available") == 0
    assert org.http.get("/v1/devices").json() == {"phone": [], "tablet": []}


CACHEABLE = [*SIGN_IN_QUOTED, "Tap the search bar", "Type wireless headphones and submit",
             'Verify "Wireless Headphones X200" is visible']


def test_cached_replay_reuses_the_recording(org: Org, demo_host: None) -> None:
    case = org.test_case(name="cached", steps=[{"description": s} for s in CACHEABLE])
    job = {"test_case_id": case["id"], "device": PIXEL | {"os_version": "14"}, "use_sim": True}
    r = org.http.post("/v1/test-cases/run", json={"jobs": [{**job, "mode": "cached"}]})
    assert r.status_code == 422 and r.json()["error"] == "no_recording"
    first = org.http.post("/v1/test-cases/run", json={"jobs": [job]}).json()
    recorded_id = first["results"][0]["test_run_id"]
    assert wait_terminal(org, [recorded_id])[recorded_id]["status"] == "passed"
    second = org.http.post("/v1/test-cases/run", json={"jobs": [{**job, "mode": "cached"}]})
    assert second.status_code == 200, second.text
    run_id = second.json()["results"][0]["test_run_id"]
    status = wait_terminal(org, [run_id])[run_id]
    assert status["status"] == "passed", (status["explanation"], org.http.get(
        f"/v1/jobs/{run_id}/steps").json()["steps"])
    assert status["cache"] == {"recording_run_id": recorded_id, "fallback": "agent",
                               "replayed_steps": len(CACHEABLE), "healed_steps": 0}
    steps = org.http.get(f"/v1/jobs/{run_id}/steps").json()["steps"]
    assert {s["replay"] for s in steps} == {"replayed"}
    typed = [a["value"] for s in steps for a in s["actions"] if a["action"] == "type"]
    recorded = [a["value"] for s in org.http.get(f"/v1/jobs/{recorded_id}/steps").json()["steps"]
                for a in s["actions"] if a["action"] == "type"]
    assert typed[:2] == recorded[:2] == ["demo@example.com", "hunter2"]
    assert typed[2] != recorded[2] or typed[2].isdigit()  # the OTP is read afresh


def test_audit_names_where_a_run_first_differed(org: Org, demo_host: None) -> None:
    good = run_case(org, ["Open the app", "Type demo@example.com into Email",
                          "Type hunter2 into Password", "Tap Sign in",
                          'Verify "Verify your phone" is shown'], name="baseline")
    assert wait_terminal(org, [good])[good]["status"] == "passed"
    bad = run_case(org, ["Open the app", "Type demo@example.com into Email",
                         "Type wrong into Password", "Tap Sign in",
                         'Verify "Verify your phone" is shown'], name="regressed",
                   audit_source_run_id=good)
    status = wait_terminal(org, [bad])[bad]
    assert status["status"] == "failed"
    assert status["audit"]["first_difference"]["step"] == 3
    assert f"Compared with run {good}, this run first differed at step 3" in \
        status["explanation"]
