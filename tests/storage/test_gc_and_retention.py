"""Blob sweeps keep what runs reference; retention removes old artifacts and says so."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

import httpx

from tests.conftest import Db, Org, Server
from tests.demo import SIGN_IN_QUOTED
from tests.serve import qualgent_command
from tests.worker.conftest import run_case, wait_terminal


def _admin(server: Server, db_url: str, *args: str, **env: str) -> dict:
    out = subprocess.run(
        [*qualgent_command(), "admin", *args, "--json"], capture_output=True, text=True,
        timeout=120,
        env={**os.environ, "QUALGENT_DATABASE_URL": db_url,
             "QUALGENT_DATA_DIR": str(server.settings.data_dir), **env})
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _steps(org: Org, run_id: str) -> dict:
    r = org.http.get(f"/v1/jobs/{run_id}/steps")
    assert r.status_code == 200, r.text
    return r.json()


def test_sweep_keeps_run_screenshots_and_prune_removes_them(
    org: Org, db: Db, db_url: str, server: Server, demo_host: None
) -> None:
    run_id = run_case(org, [*SIGN_IN_QUOTED, 'Verify "Home" is shown'])
    assert wait_terminal(org, [run_id])[run_id]["status"] == "passed"
    shots = [s["screenshot_url"] for s in _steps(org, run_id)["steps"]]
    assert shots and all(shots)
    root: Path = server.settings.blob_root
    on_disk = sorted((root / "screenshots" / run_id).iterdir())
    assert len(on_disk) == len(shots)

    # What a crashed upload leaves, and a file that is not ours at all.
    orphan_build = root / org.id / f"{uuid.uuid4()}.apk"
    orphan_build.write_bytes(b"PK")
    staging = root / org.id / f".{uuid.uuid4()}.apk.{uuid.uuid4().hex}.part"
    staging.write_bytes(b"PK")
    foreign = root / "README.txt"
    foreign.write_text("operator's note")

    swept = _admin(server, db_url, "gc-blobs", "--older-than-hours", "0")
    assert sorted(swept["removed"]) == sorted(
        p.relative_to(root).as_posix() for p in (orphan_build, staging))
    assert foreign.exists()
    with httpx.Client(timeout=30) as c:
        assert all(c.get(url).status_code == 200 for url in shots)
        app = org.http.get("/v1/apps/latest").json()["file"]
        assert c.get(org.http.get(f"/v1/apps/{app['id']}").json()["file"]["link"]
                      ).status_code == 200

    # Retention unset: prune keeps everything.
    kept = _admin(server, db_url, "prune")
    assert kept["runs"] == 0 and kept["retention_days"] is None
    assert len(list((root / "screenshots" / run_id).iterdir())) == len(shots)

    pruned = _admin(server, db_url, "prune", QUALGENT_RETENTION_DAYS="0")
    # the steps' screenshots and the run's device log
    assert pruned == {"runs": 1, "blobs": len(shots) + 1, "retention_days": 0.0}
    assert not (root / "screenshots" / run_id).exists() or not any(
        (root / "screenshots" / run_id).iterdir())
    trace = _steps(org, run_id)
    assert trace["artifacts_pruned_at"] is not None
    assert all(s["screenshot_url"] is None for s in trace["steps"])
    assert all(s["status"] == "passed" and s["actions"] for s in trace["steps"])
    status = org.http.get(f"/v1/jobs/status/{run_id}").json()
    assert status["status"] == "passed" and status["progress"] == 100
    assert db.scalar("SELECT count(*) FROM run_steps WHERE test_run_id=$1::uuid", run_id) == len(
        shots)
    with httpx.Client(timeout=30) as c:
        assert all(c.get(url).status_code == 404 for url in shots)

    # A second prune finds nothing; what a prune that died half-way left is swept by gc.
    assert _admin(server, db_url, "prune", "--older-than-days", "0")["runs"] == 0
    leftover = root / "screenshots" / run_id / "1-0.png"
    leftover.parent.mkdir(parents=True, exist_ok=True)
    leftover.write_bytes(b"\x89PNG")
    assert _admin(server, db_url, "gc-blobs", "--older-than-hours", "0")["removed"] == [
        f"screenshots/{run_id}/1-0.png"]


def test_prune_only_takes_runs_older_than_the_retention(
    org: Org, db_url: str, server: Server, demo_host: None
) -> None:
    run_id = run_case(org, ["Open the app", 'Verify "Sign in" is shown'])
    assert wait_terminal(org, [run_id])[run_id]["status"] == "passed"
    result = _admin(server, db_url, "prune", QUALGENT_RETENTION_DAYS="30")
    assert result["runs"] == 0
    steps = _steps(org, run_id)
    assert steps["artifacts_pruned_at"] is None
    assert all(s["screenshot_url"] for s in steps["steps"])


def test_stored_bytes_are_private_to_the_service(org: Org, server: Server) -> None:
    stored = server.settings.blob_root / org.upload_fixture()["file_path"]
    assert stored.stat().st_mode & 0o777 == 0o600
    assert stored.parent.stat().st_mode & 0o777 == 0o700
