"""What a run records besides its steps: the device log and the video, stored in the blob
store, listed in run_artifacts, linked from GET /v1/jobs/{id}/steps, and removed by
retention."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx

from qualgent.drivers.base import RunCapture
from qualgent.drivers.simulator import SimulatedDevice, parse_simulator_spec
from tests.conftest import Db, Org, Server
from tests.demo import CRASH, SIGN_IN_QUOTED
from tests.worker.conftest import InProcessHost, host_settings, run_case, upload_demo, wait_terminal

# Two chunks, the first larger than the worker's upload part (1 MiB): streamed in parts.
CHUNKS = [b"\x00\x00\x00\x20ftypisom" + bytes(range(256)) * 12_000, b"\x00\x00\x00\x20ftypmp42"]


class RecordingSimulator:
    """A test device: the simulator, plus a screen recording in two chunks (the simulator
    records no video)."""

    def __init__(self, sim: SimulatedDevice) -> None:
        self.sim = sim

    def __getattr__(self, name: str):  # noqa: ANN204
        return getattr(self.sim, name)

    def end_run(self, out_dir: Path) -> RunCapture:
        capture = self.sim.end_run(out_dir)
        for n, chunk in enumerate(CHUNKS, 1):
            (out_dir / f"screen-{n}.mp4").write_bytes(chunk)
        return RunCapture(log=capture.log,
                          videos=[out_dir / f"screen-{n}.mp4" for n in (1, 2)])


def _trace(org: Org, run_id: str, **params: str) -> dict:
    r = org.http.get(f"/v1/jobs/{run_id}/steps", params=params)
    assert r.status_code == 200, r.text
    return r.json()


def _artifacts(db: Db, run_id: str) -> list[tuple]:
    return [tuple(r) for r in db.fetch(
        "SELECT attempt, kind, seq, key, bytes FROM run_artifacts WHERE test_run_id=$1::uuid "
        "ORDER BY kind, seq", run_id)]


def test_the_device_log_is_stored_with_the_run_and_linked(
    org: Org, db: Db, server: Server, demo_host: None
) -> None:
    passed = run_case(org, [*SIGN_IN_QUOTED, 'Verify "Home" is shown'], use_sim=True)
    crash = run_case(org, [*SIGN_IN_QUOTED, *CRASH], use_sim=True, name="crash")
    done = wait_terminal(org, [passed, crash])
    assert done[passed]["status"] == "passed" and done[crash]["failure_category"] == "app"
    root: Path = server.settings.blob_root
    for run_id in (passed, crash):
        key = f"logs/{run_id}/1.txt"
        size = (root / key).stat().st_size
        assert _artifacts(db, run_id) == [(1, "log", 1, key, size)]
        trace = _trace(org, run_id)
        assert trace["device_log_url"].startswith(f"{server.settings.public_url}/downloads/"
                                                  f"{key}?expires=")
        assert trace["video_urls"] == []  # the simulator records no video
    log = (root / f"logs/{passed}/1.txt").read_text()
    assert "I ActivityManager: Start proc" in log and "ActivityTaskManager: Displayed" in log
    assert "FATAL EXCEPTION" not in log
    crashed = (root / f"logs/{crash}/1.txt").read_text()
    assert "E AndroidRuntime: FATAL EXCEPTION: main" in crashed
    # Each run's log starts at its own begin_run: the first run's lines are not in the second.
    assert crashed.count("Start proc") == 1


def test_the_device_log_downloads_through_its_signed_link(
    org: Org, server: Server, demo_host: None
) -> None:
    run_id = run_case(org, ["Open the app", 'Verify "Sign in" is shown'])
    assert wait_terminal(org, [run_id])[run_id]["status"] == "passed"
    r = httpx.get(_trace(org, run_id)["device_log_url"])
    assert r.status_code == 200, r.text
    assert r.content == (server.settings.blob_root / f"logs/{run_id}/1.txt").read_bytes()


def _recorded_run(org: Org, server: Server, db_url: str, tmp_path: Path) -> str:
    upload_demo(org, tmp_path)
    device = RecordingSimulator(SimulatedDevice(parse_simulator_spec("Pixel 7:Android:14")))
    host = InProcessHost(host_settings(server, db_url), db_url, device)  # type: ignore[arg-type]
    try:
        run_id = run_case(org, ["Open the app", 'Verify "Sign in" is shown'])
        assert wait_terminal(org, [run_id])[run_id]["status"] == "passed"
    finally:
        host.stop()
    return run_id


def test_video_chunks_are_stored_in_order_and_linked(
    org: Org, db: Db, server: Server, db_url: str, tmp_path: Path, pixel: dict
) -> None:
    run_id = _recorded_run(org, server, db_url, tmp_path)
    root: Path = server.settings.blob_root
    keys = [f"videos/{run_id}/1-{n}.mp4" for n in (1, 2)]
    assert [(root / k).read_bytes() for k in keys] == CHUNKS
    assert [a for a in _artifacts(db, run_id) if a[1] == "video"] == [
        (1, "video", n, k, len(c)) for n, (k, c) in enumerate(zip(keys, CHUNKS, strict=True), 1)]
    trace = _trace(org, run_id)
    assert [u.split("?")[0] for u in trace["video_urls"]] == [
        f"{server.settings.public_url}/downloads/{k}" for k in keys]
    assert trace["device_log_url"] is not None
    assert _trace(org, run_id, attempt="all")["video_urls"] == trace["video_urls"]
    other = _trace(org, run_id, attempt="2")  # an attempt that never was
    assert other["device_log_url"] is None and other["video_urls"] == []


def test_video_chunks_download_through_their_signed_links(
    org: Org, server: Server, db_url: str, tmp_path: Path, pixel: dict
) -> None:
    run_id = _recorded_run(org, server, db_url, tmp_path)
    urls = _trace(org, run_id)["video_urls"]
    assert [httpx.get(u).content for u in urls] == CHUNKS


def _prune(server: Server, db_url: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "qualgent.cli", "admin", "prune", "--json"],
        capture_output=True, text=True, timeout=120,
        env={**os.environ, "QUALGENT_DATABASE_URL": db_url,
             "QUALGENT_DATA_DIR": str(server.settings.data_dir),
             "QUALGENT_BLOB_DIR": str(server.settings.blob_root),
             "QUALGENT_RETENTION_DAYS": "0"})
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_retention_removes_logs_and_videos_and_their_links(
    org: Org, db: Db, server: Server, db_url: str, tmp_path: Path, pixel: dict
) -> None:
    run_id = _recorded_run(org, server, db_url, tmp_path)
    root: Path = server.settings.blob_root
    shots = [s for s in _trace(org, run_id)["steps"] if s["screenshot_url"]]
    pruned = _prune(server, db_url)
    assert pruned["runs"] == 1 and pruned["blobs"] == len(shots) + 1 + len(CHUNKS)
    for directory in ("screenshots", "logs", "videos"):
        left = root / directory / run_id
        assert not left.exists() or not any(left.iterdir()), directory
    trace = _trace(org, run_id)
    assert trace["artifacts_pruned_at"] is not None
    assert trace["device_log_url"] is None and trace["video_urls"] == []
    assert _artifacts(db, run_id) == []
    assert [s["status"] for s in trace["steps"]] == ["passed", "passed"]
