"""The ADB driver on a real phone or emulator: run with ANDROID_SERIAL set (and the adb server
of ANDROID_ADB_SERVER_HOST/PORT) and `pytest -m real_device tests/drivers/test_android_real.py`.
Skipped otherwise. Uses only what every device has (the launcher, the Settings app)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from qualgent.drivers.android import AdbDevice, adb_client
from qualgent.drivers.base import DeviceFailure

pytestmark = [pytest.mark.real_device,
              pytest.mark.skipif(not os.environ.get("ANDROID_SERIAL"),
                                 reason="set ANDROID_SERIAL to a device the adb server lists")]
SETTINGS = "com.android.settings"


@pytest.fixture
def device() -> AdbDevice:
    helper = os.environ.get("QUALGENT_ANDROID_HELPER_APK")
    return AdbDevice(os.environ["ANDROID_SERIAL"], adb_client(), video_segment_seconds=5,
                     helper_apk=Path(helper) if helper else None)


def test_profile_screen_and_a_recorded_run(device: AdbDevice, tmp_path: Path) -> None:
    device.ping()
    assert device.profile.platform == "Android" and device.profile.name
    device.begin_run(SETTINGS)
    try:
        device.launch(SETTINGS)
        screen = device.hierarchy()
        assert screen.package == SETTINGS and screen.elements
        assert device.screenshot().startswith(b"\x89PNG")
        device.swipe(540, 1600, 540, 800)
        device.back()
        try:
            device.read_sms()  # readable by the shell, or through the helper
        except DeviceFailure as exc:  # neither: it must say what is missing
            assert "SMS" in str(exc) or "QUALGENT_ANDROID_HELPER_APK" in str(exc)
    finally:
        capture = device.end_run(tmp_path)
        device.stop(SETTINGS)
    assert capture.log is not None and capture.log.stat().st_size > 0
    assert capture.videos and all(v.stat().st_size > 0 for v in capture.videos)
