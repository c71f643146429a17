"""A device host's pool follows its sources while it runs: devices that appear join, devices
that go away leave (their run is retried on another), a device that answers again rejoins,
and a provider number makes a device SMS-capable."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from qualgent.drivers.base import Device, DeviceLost
from qualgent.drivers.simulator import SimulatedDevice, parse_simulator_spec
from tests.conftest import Db, Org, Server, eventually
from tests.demo import SIGN_IN_QUOTED
from tests.worker.conftest import InProcessHost, host_settings, run_case, upload_demo, wait_terminal

SCAN = 0.2  # seconds between scans
# Long enough for the test to take the device away mid-run.
SLOW_CHECK = ["Open the app", "Wait 3 seconds", 'Verify "Sign in" is shown']


class DictSource:
    """A device source whose devices the test plugs in and pulls out, as on a USB hub."""

    def __init__(self, **devices: Device) -> None:
        self._devices = dict(devices)
        self._lock = threading.Lock()

    def plug(self, serial: str, device: Device) -> None:
        with self._lock:
            self._devices[serial] = device

    def pull(self, serial: str) -> None:
        with self._lock:
            del self._devices[serial]

    def scan(self) -> dict[str, Device]:
        with self._lock:
            return dict(self._devices)


class Cable:
    """A test device: a simulator behind a cable the test can pull (every call raises
    DeviceLost, while the source still lists it) and plug back in."""

    def __init__(self, sim: SimulatedDevice) -> None:
        self.sim = sim
        self.connected = True

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.sim, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            if not self.connected:
                raise DeviceLost(f"{self.sim.profile.name}: the cable is out")
            return attr(*args, **kwargs)

        return call


def sim(spec: str) -> SimulatedDevice:
    return SimulatedDevice(parse_simulator_spec(spec))


def offered(org: Org) -> set[tuple[str, bool]]:
    """(name, sms_enabled) of every profile GET /v1/devices offers now."""
    pool = org.http.get("/v1/devices").json()
    return {(p["name"], p["sms_enabled"]) for p in pool["phone"] + pool["tablet"]}


def run_status(db: Db, run_id: str) -> str:
    return db.scalar("SELECT status FROM test_runs WHERE id=$1::uuid", run_id)


def step_recorded(db: Db, run_id: str) -> bool:
    return db.scalar("SELECT count(*) FROM run_steps WHERE test_run_id=$1::uuid", run_id) >= 1


def scanning_host(server: Server, db_url: str, source: DictSource,
                  **settings: Any) -> InProcessHost:
    """An in-process host with no devices of its own, scanning `source` every SCAN seconds."""
    return InProcessHost(host_settings(server, db_url, **settings), db_url, sources=[source],
                         scan_seconds=SCAN)


def slow_run_under_way(org: Org, db: Db) -> str:
    """Once the Pixel 7 is offered: a SLOW_CHECK run, returned when its first step is in."""
    eventually(lambda: offered(org) == {("Pixel 7", False)})
    run_id = run_case(org, SLOW_CHECK)
    eventually(lambda: step_recorded(db, run_id))
    return run_id


def test_devices_join_and_leave_a_running_host(
    org: Org, db: Db, server: Server, db_url: str, tmp_path: Path
) -> None:
    upload_demo(org, tmp_path)
    source = DictSource(pixel=sim("Pixel 7:Android:14"))
    host = scanning_host(server, db_url, source)
    try:
        eventually(lambda: offered(org) == {("Pixel 7", False)})
        source.plug("galaxy", sim("Galaxy S23:Android:14:sms"))
        eventually(lambda: offered(org) == {("Pixel 7", False), ("Galaxy S23", True)})
        row = db.fetch("SELECT id, worker_id FROM devices WHERE serial = 'galaxy'")[0]
        source.pull("galaxy")
        eventually(lambda: offered(org) == {("Pixel 7", False)})
        kept = db.fetch("SELECT id, worker_id, available FROM devices WHERE serial = 'galaxy'")
        assert [tuple(r) for r in kept] == [(row["id"], row["worker_id"], False)]
        source.plug("galaxy", sim("Galaxy S23:Android:14:sms"))  # plugged back in
        eventually(lambda: offered(org) == {("Pixel 7", False), ("Galaxy S23", True)})
        assert db.scalar("SELECT count(*) FROM devices WHERE serial = 'galaxy'") == 1
        run_id = run_case(org, ["Open the app", 'Verify "Sign in" is shown'],
                          device={"name": "Galaxy S23", "platform": "Android"})
        status = wait_terminal(org, [run_id])[run_id]
    finally:
        host.stop()
    assert status["status"] == "passed", status
    assert db.scalar("SELECT device_id FROM test_runs WHERE id=$1::uuid", run_id) == row["id"]


def test_a_run_on_a_device_that_goes_away_is_retried_on_one_that_came(
    org: Org, db: Db, server: Server, db_url: str, tmp_path: Path
) -> None:
    upload_demo(org, tmp_path)
    first = sim("Pixel 7:Android:14")
    source = DictSource(first=first)
    host = scanning_host(server, db_url, source, max_attempts=2)
    try:
        run_id = slow_run_under_way(org, db)
        source.pull("first")  # unplugged mid-run: gone from the list, and silent
        first.disconnect()
        eventually(lambda: run_status(db, run_id) == "queued")
        source.plug("second", sim("Pixel 7:Android:14"))
        status = wait_terminal(org, [run_id])[run_id]
    finally:
        host.stop()
    assert status["status"] == "passed" and status["attempts"] == 2, status
    trace = org.http.get(f"/v1/jobs/{run_id}/steps", params={"attempt": "all"}).json()
    assert {s["attempt"] for s in trace["steps"]} == {1, 2}
    assert trace["steps"][1]["status"] == "failed"  # the wait, on the device that went away
    ran_on = db.scalar("SELECT serial FROM devices d JOIN test_runs r ON r.device_id = d.id "
                       "WHERE r.id = $1::uuid", run_id)
    assert ran_on == "second"
    assert db.scalar("SELECT available FROM devices WHERE serial = 'first'") is False


def test_a_device_that_answers_again_rejoins_the_pool(
    org: Org, db: Db, server: Server, db_url: str, tmp_path: Path
) -> None:
    upload_demo(org, tmp_path)
    cable = Cable(sim("Pixel 7:Android:14"))
    host = scanning_host(server, db_url, DictSource(pixel=cable), max_attempts=2)
    try:
        run_id = slow_run_under_way(org, db)
        cable.connected = False  # still listed, but silent: the run's device is lost
        eventually(lambda: run_status(db, run_id) == "queued")
        time.sleep(5 * SCAN)  # scans find it silent: it stays out, nobody takes the retry
        assert run_status(db, run_id) == "queued"
        assert offered(org) == set()
        cable.connected = True
        status = wait_terminal(org, [run_id])[run_id]
    finally:
        host.stop()
    assert status["status"] == "passed" and status["attempts"] == 2, status


def test_a_provider_number_makes_a_device_sms_capable_without_a_restart(
    org: Org, db: Db, server: Server, db_url: str, tmp_path: Path
) -> None:
    """A phone whose inbox the host cannot read: the texts the app sends it reach the SMS
    provider (this test is the carrier), and the agent reads them from there."""
    upload_demo(org, tmp_path)
    phone = SilentInbox(sim("Pixel 7:Android:14:sms"))
    host = scanning_host(server, db_url, DictSource(phone1=phone))
    carrier = Carrier(phone.sim, db, "+15550100001")
    try:
        eventually(lambda: offered(org) == {("Pixel 7", False)})
        db.fetch("INSERT INTO device_numbers (serial, phone_number) VALUES ('phone1', $1)",
                 carrier.number)
        eventually(lambda: offered(org) == {("Pixel 7", True)})
        # A text the number got before the run is not the run's.
        db.fetch("INSERT INTO inbound_sms (to_number, from_number, body) "
                 "VALUES ($1, 'Demo Shop', 'Your Demo Shop code is 999999')", carrier.number)
        carrier.start()
        run_id = run_case(org, [*SIGN_IN_QUOTED, 'Verify "Home" is shown'], use_sim=True)
        status = wait_terminal(org, [run_id])[run_id]
    finally:
        carrier.stop()
        host.stop()
    assert status["status"] == "passed", status
    assert carrier.delivered == 1
    read = [a["value"] for s in org.http.get(f"/v1/jobs/{run_id}/steps").json()["steps"]
            for a in s["actions"] if a["action"] == "read_sms"]
    assert len(read) == 1 and read[0] != "999999"


class SilentInbox(Cable):
    """A phone whose SMS inbox the host cannot read (its profile says no SMS)."""

    def __init__(self, sim: SimulatedDevice) -> None:
        super().__init__(sim)
        from dataclasses import replace

        self.profile = replace(sim.profile, sms_enabled=False)

    def read_sms(self) -> list:
        return []


class Carrier(threading.Thread):
    """Delivers the texts the app sends the phone to the provider's inbox (inbound_sms), half
    a second late: the agent's first read finds only what was there before."""

    def __init__(self, sim: SimulatedDevice, db: Db, number: str) -> None:
        super().__init__(daemon=True)
        self.sim, self.db, self.number = sim, db, number
        self.delivered = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        seen = 0
        while not self._stop_event.wait(0.05):
            texts = self.sim.read_sms()  # the window the run's begin_run opened
            if len(texts) > seen:
                time.sleep(0.5)
            for text in texts[seen:]:
                self.db.fetch("INSERT INTO inbound_sms (to_number, from_number, body) "
                              "VALUES ($1, $2, $3)", self.number, text.sender, text.body)
                self.delivered += 1
            seen = len(texts)

    def stop(self) -> None:
        self._stop_event.set()
        if self.is_alive():
            self.join(10)


def _worker(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "QUALGENT_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"}
    return subprocess.run([sys.executable, "-m", "qualgent.cli", "worker", *args], env=env,
                          capture_output=True, text=True, timeout=60)


def test_the_worker_command_refuses_a_host_without_devices(tmp_path: Path) -> None:
    none = _worker()
    assert none.returncode == 2 and "at least one device source" in none.stderr, none.stderr
    unpaired = _worker("--appium", "http://127.0.0.1:4723")
    assert unpaired.returncode == 2 and "--capabilities" in unpaired.stderr, unpaired.stderr
    mixed = _worker("--adb", "all", "--adb", "emulator-5554")
    assert mixed.returncode == 2 and "'all'" in mixed.stderr, mixed.stderr
    broken = tmp_path / "caps.json"
    broken.write_text("{not json")
    unreadable = _worker("--appium", "http://127.0.0.1:4723", "--capabilities", str(broken))
    assert unreadable.returncode == 2 and "caps.json" in unreadable.stderr, unreadable.stderr
