"""The simulator's run support: timing, ping, run windows (SMS and log), the device log, the
process ids, foreground app and keyboard state that a fake device's shell reports."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from qualgent.drivers.base import DeviceLost, DeviceTiming, RunCapture
from qualgent.drivers.simulator import SIMULATED_FLEET, LogLine, SimulatedDevice
from qualgent.drivers.simulator.device import MAX_LOG_LINES
from tests.drivers.test_simulator import DEMO, find, otp, sign_in, tap, to_home

PIXEL, IPHONE, _ = SIMULATED_FLEET
# 01-15 12:34:56.789  1542  1542 I ActivityManager: Start proc ...
THREADTIME = re.compile(
    r"(\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) +(\d+) +(\d+) ([VDIWEF]) (.{8,}?): (.*)")


@pytest.fixture
def pixel(demo_apk: Path) -> SimulatedDevice:
    device = SimulatedDevice(PIXEL)
    device.install(demo_apk)
    return device


def messages(device: SimulatedDevice, buffer: str | None = None) -> list[str]:
    return [f"{line.tag}: {line.message}" for line in device.log_lines()
            if buffer is None or line.buffer == buffer]


def crash(device: SimulatedDevice) -> None:
    to_home(device)
    tap(device, find(device, "Profile", kind="tab"))
    tap(device, find(device, "Crash app", kind="button"))


def test_timing_and_ping(pixel: SimulatedDevice) -> None:
    assert pixel.timing == DeviceTiming()
    pixel.ping()
    pixel.disconnect()
    with pytest.raises(DeviceLost):
        pixel.ping()
    for call in (lambda: pixel.begin_run(DEMO), lambda: pixel.end_run(Path("."))):
        with pytest.raises(DeviceLost):
            call()


def test_a_launch_starts_a_process_with_a_new_pid(pixel: SimulatedDevice) -> None:
    assert pixel.pid(DEMO) is None and pixel.foreground is None
    pixel.launch(DEMO)
    first = pixel.pid(DEMO)
    assert first is not None and pixel.foreground == DEMO
    pixel.launch(DEMO)  # already running: brought to the front, same process
    assert pixel.pid(DEMO) == first
    pixel.key("home")
    assert pixel.foreground is None and pixel.pid(DEMO) == first  # alive behind the launcher
    pixel.stop(DEMO)
    assert pixel.pid(DEMO) is None
    pixel.launch(DEMO)
    second = pixel.pid(DEMO)
    assert second is not None and second != first
    assert messages(pixel) == [
        f"ActivityManager: Start proc {first}:{DEMO}/u0a100 for activity {{{DEMO}/.MainActivity}}",
        f"ActivityTaskManager: Displayed {DEMO}/.sign_in: +120ms",
        f"ActivityManager: Force stopping {DEMO}",
        f"ActivityManager: Start proc {second}:{DEMO}/u0a100 for activity "
        f"{{{DEMO}/.MainActivity}}",
        f"ActivityTaskManager: Displayed {DEMO}/.sign_in: +120ms",
    ]


def test_each_screen_shown_is_logged(pixel: SimulatedDevice) -> None:
    pixel.launch(DEMO)
    sign_in(pixel)
    pixel.back()
    displayed = [m for m in messages(pixel) if "Displayed" in m]
    assert displayed == [f"ActivityTaskManager: Displayed {DEMO}/.{screen}: +120ms"
                         for screen in ("sign_in", "verify", "sign_in")]


def test_a_crash_is_logged_on_the_crash_buffer(pixel: SimulatedDevice) -> None:
    pixel.launch(DEMO)
    pid = pixel.pid(DEMO)
    crash(pixel)
    assert pixel.pid(DEMO) is None and pixel.foreground is None
    assert messages(pixel, "crash") == [
        "AndroidRuntime: FATAL EXCEPTION: main",
        f"AndroidRuntime: Process: {DEMO}, PID: {pid}",
        "AndroidRuntime: java.lang.IllegalStateException: Crash app was tapped",
        f"AndroidRuntime: \tat {DEMO}.MainActivity.onClick(MainActivity.java:42)",
    ]
    crashed = [line for line in pixel.log_lines() if line.buffer == "crash"]
    assert {(line.pid, line.tid, line.level) for line in crashed} == {(pid, pid, "E")}
    pixel.launch(DEMO)
    assert pixel.pid(DEMO) not in (None, pid)


def test_log_lines_since(pixel: SimulatedDevice) -> None:
    pixel.launch(DEMO)
    lines = pixel.log_lines()
    assert len(lines) == 2 and all(isinstance(line, LogLine) for line in lines)
    assert pixel.log_lines(since=lines[-1].time) == [
        line for line in lines if line.time >= lines[-1].time]
    assert pixel.log_lines(since=lines[-1].time + 3600) == []


def test_the_log_keeps_the_last_lines(pixel: SimulatedDevice) -> None:
    for _ in range(MAX_LOG_LINES):
        pixel.stop(DEMO)
    pixel.launch(DEMO)
    lines = pixel.log_lines()
    assert len(lines) == MAX_LOG_LINES
    assert lines[-2].message.startswith("Start proc")


def test_end_run_writes_the_runs_log_in_threadtime_format(
        pixel: SimulatedDevice, tmp_path: Path) -> None:
    pixel.launch(DEMO)  # before the run: not in its log
    pixel.stop(DEMO)
    pixel.begin_run(DEMO)
    pixel.launch(DEMO)
    pid = pixel.pid(DEMO)
    crash(pixel)
    capture = pixel.end_run(tmp_path)
    assert capture == RunCapture(log=tmp_path / "device.log", videos=[])
    text = capture.log.read_text(encoding="utf-8")
    parsed = [THREADTIME.fullmatch(line) for line in text.splitlines()]
    assert all(parsed), text
    rows = [(int(m[2]), int(m[3]), m[4], m[5].strip(), m[6]) for m in parsed if m]
    assert rows[0][4].startswith(f"Start proc {pid}:{DEMO}/")
    assert "Force stopping" not in text  # the stop came before begin_run
    assert (pid, pid, "E", "AndroidRuntime",
            "java.lang.IllegalStateException: Crash app was tapped") in rows
    assert (pid, pid, "E", "AndroidRuntime",
            f"\tat {DEMO}.MainActivity.onClick(MainActivity.java:42)") in rows
    assert text.endswith("\n")


def test_end_run_with_nothing_logged_writes_an_empty_log(
        pixel: SimulatedDevice, tmp_path: Path) -> None:
    pixel.launch(DEMO)
    pixel.begin_run(DEMO)
    capture = pixel.end_run(tmp_path)
    assert capture.log is not None and capture.log.read_text() == ""


def test_begin_run_opens_a_new_sms_window(pixel: SimulatedDevice) -> None:
    pixel.launch(DEMO)
    sign_in(pixel)
    assert otp(pixel)
    pixel.begin_run(DEMO)
    assert pixel.read_sms() == []
    pixel.receive_sms("+15551234567", "Your code is 424242")
    [sms] = pixel.read_sms()
    assert (sms.sender, sms.body) == ("+15551234567", "Your code is 424242")


def test_receive_sms_reaches_a_device_without_sms() -> None:
    device = SimulatedDevice(IPHONE)
    assert not device.profile.sms_enabled
    device.receive_sms("Bank", "code 1234")
    assert [s.body for s in device.read_sms()] == ["code 1234"]


def test_keyboard_and_focused_input(pixel: SimulatedDevice) -> None:
    assert not pixel.keyboard_shown and pixel.focused_input_text() is None
    pixel.launch(DEMO)
    assert not pixel.keyboard_shown
    tap(pixel, find(pixel, hint="Email"))
    assert pixel.keyboard_shown and pixel.focused_input_text() == ""
    pixel.type_text("ab")
    assert pixel.focused_input_text() == "ab"
    pixel.tap(pixel.profile.width // 2, pixel.profile.height - 10)  # outside: focus dropped
    assert not pixel.keyboard_shown and pixel.focused_input_text() is None


def test_clear_log_per_buffer(pixel: SimulatedDevice) -> None:
    pixel.launch(DEMO)
    crash(pixel)
    pixel.clear_log("crash")
    assert messages(pixel, "crash") == [] and messages(pixel, "main")
    pixel.clear_log()
    assert pixel.log_lines() == []
    pixel.launch(DEMO)
    assert len(pixel.log_lines()) == 2
