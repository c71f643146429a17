"""Pytest fixtures for the fake Android devices; register them in a conftest with
``pytest_plugins = ["tests.fakes.android.fixtures"]`` (or import the fixture names)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.fakes.android.server import AdbFleet


@pytest.fixture
def adb_fleet(tmp_path_factory: pytest.TempPathFactory,
              monkeypatch: pytest.MonkeyPatch) -> Iterator[AdbFleet]:
    """A real adb server of the test's own (it starts in about 0.1 s) for fake devices:
    ``serial = adb_fleet.add(sim)``. The test process points at it too
    (ANDROID_ADB_SERVER_PORT/HOST), so a client built from the environment finds it, and a
    server that adbutils would start by itself would land on this port and be killed with
    it. At teardown, nothing is left running."""
    fleet = AdbFleet(home=tmp_path_factory.mktemp("adb-home"))
    for name in ("ANDROID_ADB_SERVER_PORT", "ANDROID_ADB_SERVER_HOST"):
        monkeypatch.setenv(name, fleet.env_overrides[name])
    monkeypatch.delenv("ANDROID_SERIAL", raising=False)
    try:
        yield fleet
    finally:
        fleet.close()
    assert not fleet.server_running, f"an adb server still answers on port {fleet.port}"
    try:
        os.kill(fleet.server_pid, 0)
    except ProcessLookupError:
        pass
    else:
        pytest.fail(f"the adb server (pid {fleet.server_pid}) is still running")
