"""Real `qualgent worker` processes against the test database and the test server's blobs."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest

from qualgent import runtime
from qualgent.config import Settings
from qualgent.drivers.base import Device
from tests.conftest import Db, Org, Server, eventually

TERMINAL = ("passed", "failed", "completed")
SMS_PIXEL = "Pixel 7:Android:14:sms"
PIXEL = {"name": "Pixel 7", "platform": "Android"}


class WorkerProcess:
    """`qualgent worker --simulator SPEC...` (plus `args`, e.g. --adb or --appium, and `env`)."""

    def __init__(self, db_url: str, server: Server, log: Path, *specs: str,
                 grace: float = 30.0, args: Sequence[str] = (),
                 env: Mapping[str, str] | None = None) -> None:
        extra_env = env or {}
        env = {**os.environ,
               "QUALGENT_DATABASE_URL": db_url,
               "QUALGENT_BLOB_DIR": str(server.settings.blob_root),
               "QUALGENT_DATA_DIR": str(server.settings.data_dir),
               "QUALGENT_LEASE_SECONDS": "2",
               "QUALGENT_POLL_SECONDS": "0.5", **extra_env}
        command = [sys.executable, "-m", "qualgent.cli", "worker", "--grace-seconds",
                   str(grace), *args]
        for spec in specs:
            command += ["--simulator", spec]
        self.log = log
        self._fh = log.open("wb")
        self.proc = subprocess.Popen(command, env=env, stdout=self._fh,
                                     stderr=subprocess.STDOUT)

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 60) -> int:
        code = self.proc.wait(timeout)
        self._fh.close()
        return code

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._fh.close()


class InProcessHost:
    """A device host (DeviceHost) in this process, on its own event loop thread: a test can
    reach into its devices, which a `qualgent worker` subprocess would not allow. `sources`:
    device sources scanned every `scan_seconds`, besides `device`."""

    def __init__(self, settings: Settings, url: str, device: Device | None = None, *,
                 sources: Sequence[Any] = (), scan_seconds: float | None = None) -> None:
        self.host = runtime.device_host(settings, url, [device] if device else [],
                                        grace_seconds=5, sources=sources,
                                        scan_seconds=scan_seconds)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_until_complete,
                                       args=(self.host.run(),), daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.host.request_stop)
        self.thread.join(30)


@pytest.fixture
def workers(db_url: str, server: Server, tmp_path: Path) -> Iterator[Any]:
    started: list[WorkerProcess] = []

    def start(*specs: str, grace: float = 30.0, args: Sequence[str] = (),
              env: Mapping[str, str] | None = None) -> WorkerProcess:
        w = WorkerProcess(db_url, server, tmp_path / f"worker{len(started)}.log", *specs,
                          grace=grace, args=args, env=env)
        started.append(w)
        return w

    yield start
    for w in started:
        w.stop()


def host_settings(server: Server, db_url: str, **overrides: Any) -> Settings:
    """An in-process host's settings: the test server's database and blobs, short leases."""
    return Settings(**{"database_url": db_url, "data_dir": server.settings.data_dir,
                       "blob_dir": server.settings.blob_root, "lease_seconds": 2,
                       "poll_seconds": 0.5, **overrides})


def wait_for_devices(db: Db, count: int, timeout: float = 60) -> None:
    eventually(lambda: db.scalar("SELECT count(*) FROM devices WHERE worker_id IS NOT NULL "
                                 "AND available") >= count, timeout)


@pytest.fixture
def demo_host(org: Org, db: Db, workers, tmp_path: Path) -> None:  # noqa: ANN001
    """One worker with an SMS-capable Pixel 7, registered, and the Demo Shop build uploaded."""
    workers(SMS_PIXEL)
    upload_demo(org, tmp_path)
    wait_for_devices(db, 1)


def wait_terminal(org: Org, run_ids: list[str], timeout: float = 120) -> dict[str, dict]:
    deadline = time.time() + timeout
    done: dict[str, dict] = {}
    while len(done) < len(run_ids):
        for rid in run_ids:
            if rid not in done:
                s = org.http.get(f"/v1/jobs/status/{rid}").json()
                if s["status"] in TERMINAL:
                    done[rid] = s
        if time.time() > deadline:
            raise AssertionError(f"runs not finished: {set(run_ids) - set(done)}")
        time.sleep(0.1)
    return done


def upload_demo(org: Org, tmp_path: Path, platform: str = "android") -> dict:
    from qualgent.builds.demo import write_demo_build

    ext = "apk" if platform == "android" else "ipa"
    build = tmp_path / f"demo.{ext}"
    write_demo_build(build, platform)
    with build.open("rb") as fh:
        r = org.http.post("/v1/apps/upload", files={"file": (build.name, fh)},
                          data={"app_name": "Demo Shop", "version": "1.0.0"})
    assert r.status_code == 200, r.text
    return r.json()["file"]


def run_case(org: Org, steps: list[str], device: dict | None = None, **job: Any) -> str:
    case = org.test_case(name=job.pop("name", "Demo case"),
                         steps=[{"description": s} for s in steps],
                         variables=job.pop("variables", []))
    body = {"jobs": [{"test_case_id": case["id"], "device": device or PIXEL, **job}]}
    r = org.http.post("/v1/test-cases/run", json=body)
    assert r.status_code == 200, r.text
    return r.json()["results"][0]["test_run_id"]
