"""Hostile builds uploaded to a real `qualgent serve` process: each gets its answer, and the
server's resident memory never peaks more than 128 MB above idle.

The peak is the kernel's: VmHWM in /proc/<pid>/status, reset before each upload by writing 5
to /proc/<pid>/clear_refs, so every figure is that one upload's own peak.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.builds.test_hostile_builds import HOSTILE
from tests.conftest import FIXTURE_APK, Db
from tests.serve import ServeProcess

MiB = 1024 * 1024
BUDGET = 128 * MiB


@pytest.fixture
def serve(db_url: str, tmp_path: Path) -> Iterator[ServeProcess]:
    if not Path("/proc/self/clear_refs").exists():
        pytest.skip("needs Linux /proc to read a process's peak memory")
    server = ServeProcess(db_url, tmp_path / "data")
    yield server
    server.stop()


def upload(client: httpx.Client, path: Path) -> httpx.Response:
    with path.open("rb") as fh:
        return client.post("/v1/apps/upload", files={"file": (path.name, fh)},
                           data={"app_name": "hostile", "version": "1"})


def test_hostile_uploads_keep_server_memory_bounded(
    serve: ServeProcess, db: Db, hostile: Callable[[str], Path]
) -> None:
    key = db.admin("create_org", "Memory", 10, "enterprise")["api_key"]
    paths = {name: hostile(name) for name in sorted(HOSTILE)}  # built before measuring
    with httpx.Client(base_url=serve.base_url, headers={"X-Api-Key": key},
                      timeout=60) as client:
        assert upload(client, FIXTURE_APK).status_code == 200  # warm up: imports, pools
        idle = serve.status("VmRSS")
        figures: dict[str, int] = {}  # peak above idle
        own: dict[str, int] = {}  # peak above the resident size just before the upload
        for name, path in paths.items():
            serve.reset_peak()
            before = serve.status("VmRSS")
            r = upload(client, path)
            figures[name] = serve.status("VmHWM") - idle
            own[name] = serve.status("VmHWM") - before
            outcome, expected = HOSTILE[name]
            if outcome == "refused":
                assert r.status_code == 422, (name, r.text)
                body = r.json()
                assert body["error"] == "invalid_build" and expected in body["message"]
            else:
                assert r.status_code == 200, (name, r.text)
                assert r.json()["file"]["package_name"] == expected

        serve.reset_peak()  # three 1 GB bombs at once
        before = serve.status("VmRSS")
        lying = [paths[f"lying_1g.{kind}"] for kind in ("apk", "ipa", "aab")]
        with ThreadPoolExecutor(3) as pool:
            codes = [r.status_code for r in pool.map(lambda p: upload(client, p), lying)]
        figures["3 lying_1g at once"] = serve.status("VmHWM") - idle
        own["3 lying_1g at once"] = serve.status("VmHWM") - before
        assert codes == [422, 422, 422]

    report = ", ".join(f"{name} +{growth / MiB:.0f} MB (own +{own[name] / MiB:.0f})"
                       for name, growth in figures.items())
    print(f"\nserver idle RSS {idle / MiB:.0f} MB; peak above idle per upload: {report}")
    assert max(figures.values()) < BUDGET, report
    assert db.scalar("SELECT count(*) FROM app_files") == 1 + sum(
        outcome == "read" for outcome, _ in HOSTILE.values())
