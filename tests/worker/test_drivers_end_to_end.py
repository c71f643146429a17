"""The Demo Shop end to end through a real `qualgent worker`, on each kind of device it drives:

* `simulator`: `--simulator`, the in-memory phone;
* `adb`: `--adb all`, fake phones (the device side of the ADB transport, over the simulator)
  behind the real adb server, driven through the real adbutils client;
* `appium`: `--appium URL --capabilities FILE`, iPhones behind a fake Appium (W3C WebDriver)
  server; their SMS codes come the way an iPhone's must, through a provider number: the
  "carrier" below posts each text the app sends to the Twilio-compatible webhook, signed.

Only the phone is fake; the API, database, queue, worker, drivers and adb server are real.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from qualgent.drivers.simulator import SimulatedDevice, parse_simulator_spec
from tests.conftest import Db, Org, Server, eventually, start_server
from tests.demo import (
    CRASH_EXCEPTION,
    CRASH_THEN_VERIFY,
    FIXTURE_APK,
    SEARCH_AND_CHECK_OUT,
    SIGN_IN_QUOTED,
    UNICODE_RESET_EMAIL,
    UNICODE_TEXT,
)
from tests.fakes.webdriver import FakeAppium
from tests.sms.conftest import TOKEN, Webhook, inbound
from tests.worker.conftest import (
    PIXEL,
    SMS_PIXEL,
    run_case,
    upload_demo,
    wait_for_devices,
    wait_terminal,
)

IPHONE_SPEC = "iPhone 14 Pro:iOS:16.0:sms"
IPHONE = {"name": "iPhone 14 Pro", "platform": "iOS"}
BACKENDS = ["simulator", "adb", "appium"]


@pytest.fixture
def server(db_url: str, tmp_path: Path) -> Iterator[Server]:
    """The API with a Twilio auth token, so provider numbers can receive texts."""
    srv = start_server(db_url, tmp_path / "data", twilio_auth_token=TOKEN)
    yield srv
    srv.stop()


class Carrier:
    """The SMS network for phones with a provider number: each text the app under test sends
    to the phone is delivered to the webhook, as Twilio would post it."""

    def __init__(self, server: Server) -> None:
        self.webhook = Webhook(server)
        self.routes: list[tuple[SimulatedDevice, str]] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._forward, daemon=True)

    def _forward(self) -> None:
        sent: dict[int, int] = {}
        while not self.stopping.wait(0.1):
            for sim, number in self.routes:
                texts = sim.read_sms()
                for text in texts[sent.get(id(sim), 0):]:
                    r = self.webhook.post(inbound(to=number, body=text.body))
                    assert r.status_code == 200, r.text
                sent[id(sim)] = len(texts)

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(10)
        self.webhook.close()


@dataclass
class Rig:
    """One backend's devices: what a job asks for, how the worker is started, and the
    simulators behind the fakes (by the serial the worker registers)."""

    backend: str
    job_device: dict
    platform: str  # of the build: android | ios
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    specs: list[str] = field(default_factory=list)
    sims: dict[str, SimulatedDevice] = field(default_factory=dict)
    drop: Callable[[str], None] | None = None


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def rigs(backend: str, request: pytest.FixtureRequest, server: Server, db_url: str,
         tmp_path: Path) -> Iterator[Callable[..., Rig]]:
    """make(count, **knobs) -> a Rig of `count` devices of this backend."""
    with contextlib.ExitStack() as stack:
        def make(count: int = 1, fail_install: bool = False) -> Rig:
            if backend == "simulator":
                return Rig(backend, PIXEL, "android", specs=[SMS_PIXEL] * count)
            if backend == "adb":
                fleet = request.getfixturevalue("adb_fleet")
                knobs = ({"install_failure": "INSTALL_FAILED_INSUFFICIENT_STORAGE: Failed to "
                                             "override installation location"}
                         if fail_install else {})
                rig = Rig(backend, PIXEL, "android", args=["--adb", "all"],
                          env={"ANDROID_ADB_SERVER_PORT": str(fleet.port),
                               "ANDROID_ADB_SERVER_HOST": "127.0.0.1",
                               "QUALGENT_ANDROID_HELPER_APK": str(FIXTURE_APK)},
                          drop=fleet.drop)
                for i in range(count):
                    sim = SimulatedDevice(parse_simulator_spec(SMS_PIXEL), seed=7 + i)
                    rig.sims[fleet.add(sim, **knobs)] = sim
                return rig
            carrier = Carrier(server)
            stack.callback(carrier.stop)
            fakes: dict[str, FakeAppium] = {}
            rig = Rig(backend, IPHONE, "ios", drop=lambda serial: fakes[serial].drop())
            for i in range(count):
                sim = SimulatedDevice(parse_simulator_spec(IPHONE_SPEC), seed=7 + i,
                                      fail_install=fail_install)
                fake = stack.enter_context(FakeAppium(sim))
                udid = f"00008120-00000000000{i}"
                caps = tmp_path / f"iphone{i}.json"
                caps.write_text(json.dumps({
                    "platformName": "iOS", "appium:automationName": "XCUITest",
                    "appium:deviceName": "iPhone 14 Pro", "appium:platformVersion": "16.0",
                    "appium:udid": udid}))
                rig.args += ["--appium", fake.url, "--capabilities", str(caps)]
                number = f"+1555010000{i}"
                _admin(db_url, server, "set-device-number", udid, number)
                carrier.routes.append((sim, number))
                fakes[udid] = fake
                rig.sims[udid] = sim
            carrier.thread.start()
            return rig

        yield make


def _admin(db_url: str, server: Server, *args: str) -> None:
    """`qualgent admin ...` as an operator runs it."""
    env = {"QUALGENT_DATABASE_URL": db_url, "QUALGENT_DATA_DIR": str(server.settings.data_dir),
           "PATH": str(Path(sys.executable).parent)}
    done = subprocess.run([sys.executable, "-m", "qualgent.cli", "admin", *args], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def _start(rig: Rig, workers, db: Db) -> None:  # noqa: ANN001
    workers(*rig.specs, args=rig.args, env={**rig.env, "QUALGENT_DEVICE_SCAN_SECONDS": "0.5"})
    wait_for_devices(db, max(len(rig.sims), len(rig.specs)))


def _download(url: str | None) -> bytes:
    assert url, "no link"
    r = httpx.get(url, timeout=30)
    assert r.status_code == 200, r.text
    return r.content


def test_the_demo_shop_suite(backend: str, rigs, org: Org, db: Db, workers,  # noqa: ANN001
                             tmp_path: Path) -> None:
    rig = rigs(1)
    upload_demo(org, tmp_path, rig.platform)
    _start(rig, workers, db)
    # The pool shows the device by the profile it reported (ADB: read from the device; Appium:
    # from its capabilities), SMS-capable (a SIM, or a provider number).
    pool = org.http.get("/v1/devices").json()["phone"]
    assert {**rig.job_device, "sms_enabled": True} in [
        {k: d[k] for k in ("name", "platform", "sms_enabled")} for d in pool]
    sms = dict(device=rig.job_device, use_sim=True)
    ids = {
        "sign in": run_case(org, [*SIGN_IN_QUOTED, 'Verify "Home" is shown'], name="sign in",
                            **sms),
        "shop": run_case(org, [*SIGN_IN_QUOTED, *SEARCH_AND_CHECK_OUT],
                         name="search and check out", **sms),
        "crash": run_case(org, [*SIGN_IN_QUOTED, *CRASH_THEN_VERIFY], name="crash", **sms),
        "unicode": run_case(org, UNICODE_RESET_EMAIL, device=rig.job_device, name="unicode"),
    }
    done = wait_terminal(org, list(ids.values()), timeout=240)
    status = {name: done[rid] for name, rid in ids.items()}
    for name in ("sign in", "shop", "unicode"):
        assert status[name]["status"] == "passed", (name, status[name])
    assert status["crash"]["status"] == "failed"
    assert status["crash"]["failure_category"] == "app"
    assert CRASH_EXCEPTION in status["crash"]["explanation"]

    trace = org.http.get(f"/v1/jobs/{ids['sign in']}/steps").json()
    code = next(a for a in trace["steps"][4]["actions"] if a["action"] == "read_sms")
    assert code["value"].isdigit()
    for sim in rig.sims.values():  # the code the app sent to that phone
        assert any(code["value"] in text.body for text in sim.read_sms())
    typed = [a["value"] for s in org.http.get(f"/v1/jobs/{ids['unicode']}/steps").json()["steps"]
             for a in s["actions"] if a["action"] == "type"]
    assert typed == [UNICODE_TEXT]

    crash = org.http.get(f"/v1/jobs/{ids['crash']}/steps").json()
    assert _download(crash["steps"][5]["screenshot_url"]).startswith(b"\x89PNG")
    log = _download(crash["device_log_url"]).decode()
    if backend != "appium":  # Android: logcat (or the simulator's) holds the crash block
        assert "FATAL EXCEPTION" in log and CRASH_EXCEPTION in log
    if backend == "simulator":
        assert crash["video_urls"] == []  # the simulator records no video
    else:
        videos = [_download(u) for u in crash["video_urls"]]
        assert videos and all(videos)


def test_a_device_lost_mid_run_is_left_and_the_run_retried_on_another(
        backend: str, rigs, org: Org, db: Db, workers, tmp_path: Path) -> None:  # noqa: ANN001
    if backend == "simulator":
        pytest.skip("a simulator in a worker process cannot be unplugged; "
                    "tests/worker/test_device_lost.py disconnects one in process")
    rig = rigs(2)
    assert rig.drop is not None
    upload_demo(org, tmp_path, rig.platform)
    _start(rig, workers, db)
    run_id = run_case(org, [*SIGN_IN_QUOTED, 'Verify "Home" is shown', "Wait 3 seconds",
                            "Open the Profile tab", 'Verify "Profile" is shown'],
                      device=rig.job_device, use_sim=True)

    running: list[str] = []

    def mid_run() -> bool:  # past the sign-in, in the wait: find the device running it
        if org.http.get(f"/v1/jobs/status/{run_id}").json()["progress"] < 50:
            return False
        serial = db.scalar("SELECT serial FROM devices WHERE current_run_id = $1::uuid",
                           run_id)
        running.extend([serial] if serial else [])
        return bool(running)

    eventually(mid_run, timeout=120)
    rig.drop(running[0])
    status = wait_terminal(org, [run_id], timeout=240)[run_id]
    assert (status["status"], status["attempts"]) == ("passed", 2), status
    assert db.scalar("SELECT available FROM devices WHERE serial = $1", running[0]) is False
    first = org.http.get(f"/v1/jobs/{run_id}/steps", params={"attempt": 1}).json()
    assert any(s["status"] == "failed" for s in first["steps"])


def test_a_build_the_device_refuses(backend: str, rigs, org: Org, db: Db, workers,  # noqa: ANN001
                                    tmp_path: Path) -> None:
    rig = rigs(1, fail_install=True)
    if backend == "simulator":
        org.upload_fixture()  # a real app: the simulator runs only builds made for it
        reason = "no simulator app model"
    else:
        upload_demo(org, tmp_path, rig.platform)
        reason = ("INSTALL_FAILED_INSUFFICIENT_STORAGE" if backend == "adb"
                  else "simulated failure")
    _start(rig, workers, db)
    run_id = run_case(org, ["Open the app"], device=rig.job_device)
    status = wait_terminal(org, [run_id], timeout=120)[run_id]
    assert (status["status"], status["failure_category"]) == ("failed", "app"), status
    assert status["explanation"].startswith("Could not install the build")
    assert reason in status["explanation"]
