"""Against a real Appium server, when APPIUM_URL (and APPIUM_CAPABILITIES, a JSON file) name
one; skipped otherwise. Checks what the fake cannot: the scale, the source and the log."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from qualgent.drivers.appium import AppiumDevice, load_capabilities

pytestmark = pytest.mark.real_device


@pytest.fixture
def device() -> Iterator[AppiumDevice]:
    url, caps = os.environ.get("APPIUM_URL"), os.environ.get("APPIUM_CAPABILITIES")
    if not url or not caps:
        pytest.skip("set APPIUM_URL and APPIUM_CAPABILITIES (a capabilities JSON file)")
    d = AppiumDevice(url, load_capabilities(caps))
    yield d
    d.close()


def test_a_real_appium_answers_and_its_screen_maps(device: AppiumDevice, tmp_path: Path) -> None:
    device.ping()
    device.begin_run(os.environ.get("APPIUM_PACKAGE", "com.apple.Preferences"
                                    if device.ios else "com.android.settings"))
    h = device.hierarchy()
    png = device.screenshot()
    assert png.startswith(b"\x89PNG")
    assert (h.width, h.height) == (device.profile.width, device.profile.height)
    assert h.elements, "the page source gave no elements"
    assert all(0 <= e.bounds.left < e.bounds.right <= h.width for e in h.elements)
    device.end_run(tmp_path)
