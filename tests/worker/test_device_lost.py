"""A device that disappears mid-run: an infrastructure failure, retried, then explained."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

from qualgent.config import Settings
from qualgent.drivers.simulator import SimulatedDevice, parse_simulator_spec
from qualgent.storage import LocalBlobStore
from qualgent.worker.host import DeviceHost
from tests.conftest import Db, Org, Server
from tests.worker.conftest import run_case, upload_demo, wait_terminal


def test_a_lost_device_fails_the_run_and_refunds_it(org: Org, db: Db, server: Server,
                                                    db_url: str, tmp_path: Path,
                                                    pixel: dict) -> None:
    upload_demo(org, tmp_path)
    device = SimulatedDevice(parse_simulator_spec("Pixel 7:Android:14:sms"))
    settings = Settings(database_url=db_url, data_dir=server.settings.data_dir,
                        blob_dir=server.settings.blob_root, lease_seconds=2, poll_seconds=0.5,
                        max_attempts=2)
    host = DeviceHost(settings, db_url, LocalBlobStore(settings.blob_root), [device],
                      grace_seconds=5)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(host.run(),), daemon=True)
    thread.start()
    try:
        run_id = run_case(org, ["Open the app", "Wait 3 seconds", 'Verify "Sign in" is shown'])
        deadline = time.time() + 30
        while db.scalar("SELECT count(*) FROM run_steps WHERE test_run_id=$1::uuid",
                        run_id) < 1:
            assert time.time() < deadline
            time.sleep(0.05)
        device.disconnect()  # the phone is unplugged during the wait
        status = wait_terminal(org, [run_id])[run_id]
    finally:
        loop.call_soon_threadsafe(host.request_stop)
        thread.join(30)
    assert status["status"] == "failed" and status["failure_category"] == "infrastructure"
    assert status["attempts"] == 2  # retried once, on the same (still lost) device
    assert "no longer connected" in status["explanation"]
    assert db.scalar("SELECT credits FROM organizations WHERE id=$1::uuid", org.id) == 100
    trace = org.http.get(f"/v1/jobs/{run_id}/steps", params={"attempt": "all"}).json()
    # Attempt 1's steps are kept; attempt 2 could not even install on the lost device.
    assert {s["attempt"] for s in trace["steps"]} == {1}


def test_a_worker_declared_dead_stops_itself(db: Db, server: Server, db_url: str) -> None:
    device = SimulatedDevice(parse_simulator_spec("Pixel 7:Android:14"))
    settings = Settings(database_url=db_url, data_dir=server.settings.data_dir,
                        blob_dir=server.settings.blob_root, lease_seconds=0.6,
                        poll_seconds=0.2)
    host = DeviceHost(settings, db_url, LocalBlobStore(settings.blob_root), [device])
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(host.run(),), daemon=True)
    thread.start()
    deadline = time.time() + 30
    while db.scalar("SELECT count(*) FROM workers") < 1:
        assert time.time() < deadline
        time.sleep(0.05)
    db.fetch("UPDATE workers SET stopped_at = now()")  # what the reaper does to a silent host
    thread.join(10)
    assert not thread.is_alive()
    assert db.scalar("SELECT count(*) FROM devices WHERE available") == 0
