"""A device that disappears mid-run: an infrastructure failure, retried, then explained."""

from __future__ import annotations

import time
from pathlib import Path

from qualgent.config import Settings
from qualgent.drivers.simulator import SimulatedDevice, parse_simulator_spec
from tests.conftest import Db, Org, Server, eventually
from tests.worker.conftest import InProcessHost, run_case, upload_demo, wait_terminal


def start_host(server: Server, db_url: str, device: SimulatedDevice,
               max_attempts: int) -> InProcessHost:
    settings = Settings(database_url=db_url, data_dir=server.settings.data_dir,
                        blob_dir=server.settings.blob_root, lease_seconds=2,
                        poll_seconds=0.5, max_attempts=max_attempts)
    return InProcessHost(settings, db_url, device)


def _unplug_during_the_wait(org: Org, db: Db, device: SimulatedDevice) -> str:
    run_id = run_case(org, ["Open the app", "Wait 3 seconds", 'Verify "Sign in" is shown'])
    eventually(lambda: db.scalar("SELECT count(*) FROM run_steps WHERE test_run_id=$1::uuid",
                                 run_id) >= 1)
    device.disconnect()
    return run_id


def test_a_lost_device_fails_the_run_with_that_explanation_and_a_refund(
    org: Org, db: Db, server: Server, db_url: str, tmp_path: Path, pixel: dict
) -> None:
    upload_demo(org, tmp_path)
    device = SimulatedDevice(parse_simulator_spec("Pixel 7:Android:14:sms"))
    host = start_host(server, db_url, device, max_attempts=1)
    try:
        run_id = _unplug_during_the_wait(org, db, device)
        status = wait_terminal(org, [run_id])[run_id]
    finally:
        host.stop()
    assert status["status"] == "failed" and status["failure_category"] == "infrastructure"
    assert status["explanation"].startswith("The device was lost during step 2")
    assert db.scalar("SELECT credits FROM organizations WHERE id=$1::uuid", org.id) == 100
    assert db.scalar("SELECT reason FROM credit_ledger ORDER BY id DESC LIMIT 1") == \
        "refund_infrastructure"


def test_a_lost_device_leaves_the_pool_and_the_retry_runs_elsewhere(
    org: Org, db: Db, server: Server, db_url: str, tmp_path: Path, pixel: dict
) -> None:
    upload_demo(org, tmp_path)
    lost = SimulatedDevice(parse_simulator_spec("Pixel 7:Android:14:sms"))
    first = start_host(server, db_url, lost, max_attempts=2)
    try:
        run_id = _unplug_during_the_wait(org, db, lost)
        eventually(lambda: db.scalar("SELECT status FROM test_runs WHERE id=$1::uuid",
                                     run_id) == "queued")
        time.sleep(1)  # the only device is out of the pool: nobody takes the retry
        assert db.scalar("SELECT status FROM test_runs WHERE id=$1::uuid", run_id) == "queued"
        assert db.scalar("SELECT count(*) FROM devices WHERE worker_id IS NOT NULL "
                         "AND available") == 0
        second = start_host(server, db_url, SimulatedDevice(parse_simulator_spec(
            "Pixel 7:Android:14:sms")), max_attempts=2)
        try:
            status = wait_terminal(org, [run_id])[run_id]
        finally:
            second.stop()
    finally:
        first.stop()
    assert status["status"] == "passed" and status["attempts"] == 2
    trace = org.http.get(f"/v1/jobs/{run_id}/steps", params={"attempt": "all"}).json()
    assert {s["attempt"] for s in trace["steps"]} == {1, 2}
    assert db.scalar("SELECT credits FROM organizations WHERE id=$1::uuid", org.id) == 99


def test_a_worker_declared_dead_registers_again_and_keeps_working(
    org: Org, db: Db, server: Server, db_url: str, tmp_path: Path, pixel: dict
) -> None:
    upload_demo(org, tmp_path)
    host = start_host(server, db_url,
                      SimulatedDevice(parse_simulator_spec("Pixel 7:Android:14:sms")),
                      max_attempts=2)
    try:
        eventually(lambda: db.scalar("SELECT count(*) FROM devices WHERE worker_id IS NOT NULL "
                                     "AND available") == 1)
        # What the reaper does to a host silent for two leases (say, a long database outage).
        db.fetch("WITH w AS (UPDATE workers SET stopped_at = now() RETURNING id) "
                 "UPDATE devices SET available = false WHERE worker_id IN (SELECT id FROM w)")
        eventually(lambda: db.scalar("SELECT count(*) FROM devices WHERE worker_id IS NOT NULL "
                                     "AND available") == 1, timeout=10)
        assert host.thread.is_alive()
        assert db.scalar("SELECT count(*) FROM workers WHERE stopped_at IS NULL") == 1
        run_id = run_case(org, ["Open the app", 'Verify "Sign in" is shown'])
        assert wait_terminal(org, [run_id])[run_id]["status"] == "passed"
    finally:
        host.stop()
    assert not host.thread.is_alive()
    assert db.scalar("SELECT count(*) FROM devices WHERE available AND worker_id IS NOT NULL") == 0
    assert db.scalar("SELECT count(*) FROM workers WHERE stopped_at IS NULL") == 0
