"""The WebDriver client and capabilities: JSON shapes, W3C errors, and no network in the
constructor."""

from __future__ import annotations

import json
import socket
import threading
from pathlib import Path

import pytest

from qualgent.drivers.appium import AppiumDevice, WebDriverClient, load_capabilities
from qualgent.drivers.appium.client import (
    InvalidSessionId,
    NoSuchElement,
    SessionNotCreated,
    UnsupportedCommand,
    WebDriverError,
)
from qualgent.drivers.base import DeviceLost
from qualgent.drivers.simulator import SimulatedDevice, parse_simulator_spec
from tests.fakes.webdriver import FakeAppium

FLAT = {"platformName": "iOS", "appium:automationName": "XCUITest",
        "appium:deviceName": "iPhone 15", "appium:platformVersion": "17.2",
        "appium:udid": "00008110-000A1B2C3D4E", "qualgent:sms": True}


def write(tmp_path: Path, data: object, name: str = "caps.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("shape", ["flat", "w3c", "inner", "unprefixed"])
def test_load_capabilities_reads_both_json_shapes(tmp_path: Path, shape: str) -> None:
    data: object = {
        "flat": FLAT,
        "w3c": {"capabilities": {"alwaysMatch": {k: v for k, v in FLAT.items()
                                                 if k != "appium:udid"},
                                 "firstMatch": [{"appium:udid": FLAT["appium:udid"]}]}},
        "inner": {"alwaysMatch": FLAT, "firstMatch": [{}]},
        "unprefixed": {k.removeprefix("appium:"): v for k, v in FLAT.items()},
    }[shape]
    caps = load_capabilities(write(tmp_path, data))
    assert caps == FLAT
    device = AppiumDevice(f"http://127.0.0.1:{closed_port()}", caps)  # no network call
    p = device.profile
    assert (p.name, p.platform, p.os_version, p.serial, p.sms_enabled) == (
        "iPhone 15", "iOS", "17.2", "00008110-000A1B2C3D4E", True)
    assert "qualgent:sms" not in device.capabilities
    with pytest.raises(DeviceLost):  # the first call finds nobody there
        device.hierarchy()


@pytest.mark.parametrize(("content", "message"), [
    ("{not json", "not a readable JSON file"),
    ("[1, 2]", "expected a JSON object"),
    ('{"appium:deviceName": "x"}', "platformName must be iOS or Android"),
    ('{"platformName": "Windows"}', "platformName must be iOS or Android"),
    ('{"alwaysMatch": [], "firstMatch": [{}]}', "alwaysMatch must be an object"),
])
def test_unusable_capability_files_are_refused_by_name(tmp_path: Path, content: str,
                                                       message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message) as info:
        load_capabilities(path)
    assert "bad.json" in str(info.value)
    with pytest.raises(ValueError, match="not a readable JSON file"):
        load_capabilities(tmp_path / "missing.json")


def test_an_ipad_is_a_tablet_from_its_name_alone() -> None:
    device = AppiumDevice("http://127.0.0.1:9", {"platformName": "ios",
                                                 "deviceName": "iPad Pro (12.9-inch)"})
    assert (device.profile.platform, device.profile.form_factor) == ("iOS", "tablet")


def test_w3c_errors_map_to_exceptions() -> None:
    sim = SimulatedDevice(parse_simulator_spec("Pixel 7:Android:14"))
    with FakeAppium(sim) as fake:
        client = WebDriverClient(fake.url, timeout=5)
        assert client.status()["ready"] is True
        with pytest.raises(SessionNotCreated, match="does not match"):
            client.new_session({"platformName": "iOS"})
        with pytest.raises(InvalidSessionId):
            client.source()  # no session yet
        client.new_session({"platformName": "Android"})
        with pytest.raises(UnsupportedCommand, match="mobile: teleport"):
            client.execute("mobile: teleport")
        with pytest.raises(NoSuchElement):
            client.active_element()
        with pytest.raises(WebDriverError) as info:
            client.logs("bugreport")
        assert info.value.error == "unknown error" and info.value.status == 500
        with pytest.raises(UnsupportedCommand):
            client.request("GET", f"/session/{client.session_id}/nowhere")
        fake.expire_sessions()
        with pytest.raises(InvalidSessionId):
            client.window_rect()
        client.delete_session()  # gone already: nothing to do
        assert client.session_id is None
        client.close()


def test_connection_failures_are_device_lost() -> None:
    client = WebDriverClient(f"http://127.0.0.1:{closed_port()}", timeout=2)
    with pytest.raises(DeviceLost, match="unreachable"):
        client.status()
    with socket.socket() as listener:  # accepts, never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        client = WebDriverClient(f"http://127.0.0.1:{listener.getsockname()[1]}", timeout=0.3)
        with pytest.raises(DeviceLost, match="did not answer"):
            client.status()


def test_a_non_webdriver_answer_is_an_error_not_a_crash() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()

        def answer() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.recv(65536)
                conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 11\r\n"
                             b"Connection: close\r\n\r\nBad Gateway")

        t = threading.Thread(target=answer, daemon=True)
        t.start()
        client = WebDriverClient(f"http://127.0.0.1:{listener.getsockname()[1]}", timeout=5)
        with pytest.raises(WebDriverError, match="HTTP 502 .*Bad Gateway"):
            client.status()
        t.join(5)
