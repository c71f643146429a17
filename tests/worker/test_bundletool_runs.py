"""Runs on an Android App Bundle (.aab): real worker processes convert it with bundletool (here
the stand-in of tests/fakes/bundletool, which writes the Demo Shop APK) before installing;
without bundletool the run fails with an explanation, refunded and not retried."""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import pytest

from tests.conftest import Db, Org
from tests.demo import demo_bundle
from tests.worker.conftest import SMS_PIXEL, run_case, wait_for_devices, wait_terminal

STAND_IN = Path(__file__).resolve().parents[1] / "fakes" / "bundletool" / "java.py"
CHECK = ["Open the app", 'Verify "Sign in" is shown']


def upload_bundle(org: Org) -> dict:
    """The Demo Shop as an App Bundle, uploaded."""
    r = org.http.post("/v1/apps/upload", files={"file": ("demo.aab", demo_bundle())},
                      data={"app_name": "Demo Shop", "version": "1.0.0"})
    assert r.status_code == 200, r.text
    return r.json()["file"]


def bundletool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mode: str = "ok") -> None:
    """Workers started from now on have the stand-in as their java and bundletool."""
    java = tmp_path / "bin" / "java"
    java.parent.mkdir()
    java.write_text(f"#!{sys.executable}\n{STAND_IN.read_text().split(chr(10), 1)[1]}")
    java.chmod(java.stat().st_mode | stat.S_IXUSR)
    jar = tmp_path / "bundletool.jar"
    jar.write_text(json.dumps({"mode": mode}))
    monkeypatch.setenv("QUALGENT_BUNDLETOOL", str(jar))
    monkeypatch.setenv("QUALGENT_JAVA", str(java))


def run_on_a_bundle(org: Org, db: Db, workers) -> dict:  # noqa: ANN001
    """Start a worker with a Pixel, upload the bundle, run CHECK on it; the run's status."""
    workers(SMS_PIXEL)
    upload_bundle(org)
    wait_for_devices(db, 1)
    run_id = run_case(org, CHECK)
    return wait_terminal(org, [run_id])[run_id]


def test_without_bundletool_an_aab_run_fails_once_with_an_explanation(
    org: Org, db: Db, workers, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("QUALGENT_BUNDLETOOL", raising=False)
    status = run_on_a_bundle(org, db, workers)
    assert (status["status"], status["failure_category"]) == ("failed", "infrastructure")
    assert status["attempts"] == 1  # another attempt would meet the same host
    assert "App Bundle" in status["explanation"]
    assert "QUALGENT_BUNDLETOOL" in status["explanation"]
    assert "refunded" in status["explanation"]
    assert db.scalar("SELECT credits FROM organizations WHERE id=$1::uuid", org.id) == 100


def test_with_bundletool_an_aab_run_installs_the_universal_apk_and_passes(
    org: Org, db: Db, workers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundletool(tmp_path, monkeypatch)
    status = run_on_a_bundle(org, db, workers)
    assert status["status"] == "passed" and status["attempts"] == 1, status


def test_a_bundle_bundletool_refuses_fails_the_run_as_the_apps(
    org: Org, db: Db, workers, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundletool(tmp_path, monkeypatch, mode="fail")
    status = run_on_a_bundle(org, db, workers)
    assert (status["status"], status["failure_category"]) == ("failed", "app")
    assert "could not be turned into an APK" in status["explanation"]
    assert "conflicting resources" in status["explanation"]  # bundletool's own words
