"""The ADB driver against fake devices behind the REAL adb server (the binary in the adbutils
wheel), each backed by a simulator running the Demo Shop build: what the driver reads matches
what the simulator shows, the agent's Demo Shop flows run on it, and faults (install failure,
idle-state errors, crashes, hung commands, devices that vanish) come out as the protocol says.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from qualgent.agent import AgentOptions, run_steps
from qualgent.drivers.android import AdbDevice, AdbSource, send_sms
from qualgent.drivers.base import (
    AppCrashed,
    DeviceFailure,
    DeviceLost,
    Hierarchy,
    InstallFailed,
)
from qualgent.drivers.simulator import SimulatedDevice, parse_simulator_spec
from tests.demo import (
    CRASH,
    CRASH_EXCEPTION,
    CRASH_THEN_VERIFY,
    PACKAGE,
    SEARCH_AND_CHECK_OUT,
    SIGN_IN,
    UNICODE_RESET_EMAIL,
    UNICODE_TEXT,
    after_step,
)
from tests.demo import FIXTURE_APK as HELPER_APK
from tests.fakes.android import TOKEN_FILE, AdbFleet
from tests.fakes.android.shell import LATIN_IME, SimShell


def options() -> AgentOptions:
    return AgentOptions(poll_interval=0.05, find_timeout=0.3, assert_timeout=0.5,
                        sms_timeout=2.0, launch_timeout=2.0, default_wait_timeout=1.0)


def attach(fleet: AdbFleet, spec: str = "Pixel 9:Android:16:sms", *, seed: int = 7,
           **kw: object) -> tuple[SimulatedDevice, AdbDevice, SimShell]:
    """A simulator behind a fake device, and the driver for it (knobs go to the shell,
    driver options are those AdbDevice takes)."""
    driver_kw = {k: kw.pop(k) for k in list(kw) if k in (
        "helper_apk", "video", "video_segment_seconds", "call_timeout")}
    sim = SimulatedDevice(parse_simulator_spec(spec), seed=seed)
    serial = fleet.add(sim, **kw)
    driver_kw.setdefault("video", False)
    driver_kw.setdefault("call_timeout", 5.0)
    device = AdbDevice(serial, fleet.client(), **driver_kw)
    shell = fleet[serial].handler
    assert isinstance(shell, SimShell)
    return sim, device, shell


def installed(fleet: AdbFleet, demo_apk: Path, **kw: object
              ) -> tuple[SimulatedDevice, AdbDevice, SimShell]:
    sim, device, shell = attach(fleet, **kw)
    assert device.install(demo_apk).package == PACKAGE
    device.begin_run(PACKAGE)
    return sim, device, shell


def same_screen(device: AdbDevice, sim: SimulatedDevice) -> Hierarchy:
    ours, theirs = device.hierarchy(), sim.hierarchy()
    assert ours == theirs
    return ours


def tap(device: AdbDevice, screen: Hierarchy, **match: str) -> None:
    el = next(e for e in screen.elements
              if all(getattr(e, k) == v for k, v in match.items()))
    device.tap(*el.bounds.center)


# ------------------------------------------------------------------------ the profile


def test_the_profile_comes_from_the_device(adb_fleet: AdbFleet) -> None:
    _, phone, _ = attach(adb_fleet, "Pixel 7:Android:14:sms")
    p = phone.profile
    assert (p.name, p.platform, p.os_version, p.form_factor, p.sms_enabled) == (
        "Pixel 7", "Android", "14", "phone", True)
    assert (p.serial, p.width, p.height) == (phone.serial, 1080, 2400)
    _, tablet, _ = attach(adb_fleet, "Galaxy Tab S9:Android:14:tablet")
    assert (tablet.profile.form_factor, tablet.profile.sms_enabled) == ("tablet", False)
    phone.ping()


# ------------------------------------------------------------------- the round trip


def test_every_demo_shop_screen_reads_as_the_simulator_shows_it(
        adb_fleet: AdbFleet, demo_apk: Path) -> None:
    sim, device, _ = installed(adb_fleet, demo_apk)
    assert device.hierarchy().package is None  # the launcher
    device.launch(PACKAGE)
    screen = same_screen(device, sim)  # sign in, every field empty
    tap(device, screen, id="forgot_password")
    screen = same_screen(device, sim)
    tap(device, screen, id="reset_email")
    device.type_text("x@y.z")
    screen = same_screen(device, sim)  # a focused field with text
    tap(device, screen, id="send_reset_link")
    same_screen(device, sim)  # the message
    device.back()  # keyboard closed, then back
    screen = same_screen(device, sim)
    assert screen.elements[0].text == "Sign in"
    tap(device, screen, id="email")
    device.type_text("demo@example.com")
    tap(device, device.hierarchy(), id="password")
    device.type_text("hunter2")
    screen = same_screen(device, sim)  # a password shows dots
    tap(device, screen, id="sign_in")
    screen = same_screen(device, sim)  # verify your phone
    tap(device, screen, id="code")
    device.type_text(sim.read_sms()[-1].body.split()[-1])
    tap(device, device.hierarchy(), id="verify")
    screen = same_screen(device, sim)  # home: the list, its rows, the tabs
    assert [e.kind for e in screen.elements].count("list_item") >= 5
    device.swipe(540, 1800, 540, 900)
    same_screen(device, sim)  # scrolled: rows clipped at the list's edges
    tap(device, screen, id="search")
    device.type_text("watch\n")
    screen = same_screen(device, sim)
    tap(device, screen, kind="list_item")
    screen = same_screen(device, sim)  # a product: image, price
    tap(device, screen, id="add_to_cart")
    same_screen(device, sim)
    device.back()
    tap(device, device.hierarchy(), id="tab_cart")
    same_screen(device, sim)
    tap(device, device.hierarchy(), id="tab_profile")
    screen = same_screen(device, sim)  # a switch
    tap(device, screen, id="dark_mode")
    assert next(e for e in same_screen(device, sim).elements if e.id == "dark_mode").checked


def test_before_android_16_an_empty_fields_hint_arrives_as_its_text(
        adb_fleet: AdbFleet, demo_apk: Path) -> None:
    sim, device, _ = attach(adb_fleet, "Pixel 7:Android:14:sms")
    device.install(demo_apk)
    device.begin_run(PACKAGE)
    device.launch(PACKAGE)
    email = next(e for e in device.hierarchy().elements if e.id == "email")
    assert (email.text, email.hint) == ("Email", None)
    assert [(e.kind, e.id, e.bounds) for e in device.hierarchy().elements] == [
        (e.kind, e.id, e.bounds) for e in sim.hierarchy().elements]


def test_a_tap_on_a_settled_screen_costs_two_reads_and_the_agent_reuses_the_last(
        adb_fleet: AdbFleet, demo_apk: Path) -> None:
    _, device, shell = installed(adb_fleet, demo_apk)
    device.launch(PACKAGE)
    screen = device.hierarchy()
    before = len(shell.commands)
    tap(device, screen, id="forgot_password")
    after = device.hierarchy()  # what the agent reads next: the settled read
    sent = shell.commands[before:]
    assert [c.split()[0] for c in sent] == ["input", "rm", "rm"]  # the tap, two dumps
    assert all(f"pidof {PACKAGE}" in c for c in sent[1:])  # crash check included
    assert after.elements[0].text == "Reset password"


# ------------------------------------------------------------------- agent flows


def test_sign_in_with_the_sms_code_search_and_check_out(
        adb_fleet: AdbFleet, demo_apk: Path) -> None:
    sim, device, shell = installed(adb_fleet, demo_apk)
    out = run_steps(device, PACKAGE, [*SIGN_IN, *SEARCH_AND_CHECK_OUT], options=options())
    assert out.status == "passed", out.explanation
    code = out.steps[4].actions[0]
    assert code.action == "read_sms" and code.value in sim.read_sms()[-1].body
    assert any(c.startswith("content query --uri content://sms/inbox") for c in shell.commands)
    assert all(s.screenshot.startswith(b"\x89PNG") for s in out.steps)


def test_sms_through_appium_settings_when_the_inbox_is_refused(
        adb_fleet: AdbFleet, demo_apk: Path) -> None:
    sim, device, shell = installed(adb_fleet, demo_apk, no_sms_provider=True,
                                   helper_apk=HELPER_APK)
    sim.receive_sms("Bank", "old code 111111")  # before the run: not this run's
    device.begin_run(PACKAGE)
    out = run_steps(device, PACKAGE, [*SIGN_IN, 'Verify "Home" is shown'], options=options())
    assert out.status == "passed", out.explanation
    assert "io.appium.settings" in shell.helpers
    assert any("io.appium.settings.sms.read" in c for c in shell.commands)
    assert [m.sender for m in device.read_sms()] == ["DemoShop"]


def test_without_the_helper_a_refused_inbox_says_what_to_set(
        adb_fleet: AdbFleet) -> None:
    _, device, _ = attach(adb_fleet, no_sms_provider=True)
    with pytest.raises(DeviceFailure, match="QUALGENT_ANDROID_HELPER_APK"):
        device.read_sms()


def test_an_sms_sent_through_the_emulator_console_is_read(
        adb_fleet: AdbFleet) -> None:
    _, device, _ = attach(adb_fleet, "Pixel 7:Android:14", console=True)
    device.begin_run(PACKAGE)
    console = adb_fleet[device.serial].console
    assert console is not None
    token = (adb_fleet.home / TOKEN_FILE).read_text().strip()
    send_sms(console.port, "+15551234567", "Your code is 424242, friend", token=token)
    (sms,) = device.read_sms()
    assert (sms.sender, sms.body) == ("+15551234567", "Your code is 424242, friend")


def test_a_crash_is_an_app_failure_quoting_the_exception(
        adb_fleet: AdbFleet, demo_apk: Path) -> None:
    _, device, _ = installed(adb_fleet, demo_apk)
    out = run_steps(device, PACKAGE, [*SIGN_IN, *CRASH_THEN_VERIFY], options=options())
    assert (out.status, out.failure_category) == ("failed", "app")
    assert out.explanation.startswith("The app crashed during step 7 ('Tap Crash app')")
    assert CRASH_EXCEPTION in out.explanation
    with pytest.raises(AppCrashed, match="Crash app was tapped"):
        device.hierarchy()  # until launched again
    device.launch(PACKAGE)
    assert device.hierarchy().elements[0].text == "Sign in"


def test_unicode_text_goes_through_the_helper_ime_and_the_keyboard_is_restored(
        adb_fleet: AdbFleet, demo_apk: Path) -> None:
    sim, device, shell = installed(adb_fleet, demo_apk, helper_apk=HELPER_APK)
    out = run_steps(device, PACKAGE, UNICODE_RESET_EMAIL, options=options())
    assert out.status == "passed", out.explanation
    assert sim.focused_input_text() == UNICODE_TEXT
    assert any("ime set io.appium.settings/.UnicodeIME" in c for c in shell.commands)
    assert shell.settings[("secure", "default_input_method")] == LATIN_IME


def test_unicode_text_without_the_helper_fails_clearly(
        adb_fleet: AdbFleet, demo_apk: Path) -> None:
    _, device, shell = installed(adb_fleet, demo_apk)
    device.launch(PACKAGE)
    tap(device, device.hierarchy(), id="email")
    with pytest.raises(DeviceFailure, match="QUALGENT_ANDROID_HELPER_APK"):
        device.type_text("東京")
    # and a device's own `input text` refuses it as a real one does
    raw = device._t.shell("input text 東京")
    assert "java.lang.NullPointerException" in raw and "InputShellCommand" in raw


def test_clear_empties_the_focused_field_and_back_closes_the_keyboard_first(
        adb_fleet: AdbFleet, demo_apk: Path) -> None:
    sim, device, shell = installed(adb_fleet, demo_apk)
    device.launch(PACKAGE)
    tap(device, device.hierarchy(), id="forgot_password")
    tap(device, device.hierarchy(), id="reset_email")
    device.type_text("someone@example.com")
    device.clear()
    assert sim.focused_input_text() == ""
    assert shell.keyboard_shown  # the keyboard's window is in the dumps, not in the screen
    assert device.hierarchy() == sim.hierarchy()
    device.back()
    assert sim.hierarchy().elements[0].text == "Sign in"
    device.back()  # no keyboard now: one BACK closes the app from its first screen
    assert device.hierarchy().package is None


def test_text_that_does_not_arrive_fails_the_typing(
        adb_fleet: AdbFleet, demo_apk: Path) -> None:
    _, device, _ = installed(adb_fleet, demo_apk, helper_apk=HELPER_APK, ime_blocked=True)
    device.launch(PACKAGE)
    tap(device, device.hierarchy(), id="email")
    with pytest.raises(DeviceFailure, match="but the field shows 'Caf&AOk-'"):
        device.type_text("Café")


# ------------------------------------------------------------------------ faults


def test_an_install_failure_names_the_reason(adb_fleet: AdbFleet, demo_apk: Path) -> None:
    _, device, _ = attach(adb_fleet, install_failure=(
        "INSTALL_FAILED_INSUFFICIENT_STORAGE: Failed to override installation location"))
    with pytest.raises(InstallFailed) as err:
        device.install(demo_apk)
    assert "INSTALL_FAILED_INSUFFICIENT_STORAGE" in str(err.value)
    assert "Failed to override installation location" in str(err.value)
    assert err.value.category == "app"
    with pytest.raises(InstallFailed, match="not an APK"):
        device.install(demo_apk.with_suffix(".ipa"))


def test_a_build_the_device_refuses_is_an_install_failure(
        adb_fleet: AdbFleet, demo_apk: Path, tmp_path: Path) -> None:
    apk = tmp_path / "no-model.apk"  # an APK the simulated device cannot run
    with zipfile.ZipFile(demo_apk) as src, zipfile.ZipFile(apk, "w") as dst:
        for name in src.namelist():
            if not name.startswith("assets/"):
                dst.writestr(name, src.read(name))
    _, device, _ = attach(adb_fleet)
    with pytest.raises(InstallFailed, match="failed with INSTALL_FAILED_INVALID_APK: "):
        device.install(apk)


def test_the_idle_state_error_is_retried(adb_fleet: AdbFleet) -> None:
    _, device, shell = attach(adb_fleet, idle_failures=2)
    assert device.hierarchy().package is None
    assert sum(c.count("uiautomator dump") for c in shell.commands) == 3
    shell.idle_failures = 10
    with pytest.raises(DeviceFailure, match="could not get idle state"):
        device.hierarchy()


def test_a_hung_command_is_a_lost_device(adb_fleet: AdbFleet) -> None:
    _, device, _ = attach(adb_fleet, hang_on="uiautomator", call_timeout=1.0)
    with pytest.raises(DeviceLost, match="did not answer in time"):
        device.hierarchy()
    device.ping()  # the rest of the device still answers


def test_a_frozen_device_is_lost(adb_fleet: AdbFleet) -> None:
    _, device, _ = attach(adb_fleet, call_timeout=1.0)
    adb_fleet.freeze(device.serial)
    try:
        with pytest.raises(DeviceLost):
            device.ping()
    finally:
        adb_fleet.thaw(device.serial)


def test_a_device_dropped_mid_run_is_an_infrastructure_failure(
        adb_fleet: AdbFleet, demo_apk: Path) -> None:
    _, device, _ = installed(adb_fleet, demo_apk)
    out = run_steps(device, PACKAGE, SIGN_IN, options=options(),
                    on_step=after_step(1, lambda: adb_fleet.drop(device.serial)))
    assert (out.status, out.failure_category) == ("failed", "infrastructure")
    assert out.explanation.startswith("The device was lost during step 3")
    with pytest.raises(DeviceLost):
        device.ping()


# ---------------------------------------------------------------- run capture


def test_animations_are_off_for_the_run_and_restored_after(
        adb_fleet: AdbFleet, demo_apk: Path, tmp_path: Path) -> None:
    _, device, shell = attach(adb_fleet)
    shell.settings[("global", "animator_duration_scale")] = "0.5"
    del shell.settings[("global", "transition_animation_scale")]
    device.begin_run(PACKAGE)
    assert {v for (ns, k), v in shell.settings.items() if k.endswith("_scale")} == {"0"}
    device.end_run(tmp_path)
    assert shell.settings[("global", "window_animation_scale")] == "1.0"
    assert shell.settings[("global", "animator_duration_scale")] == "0.5"
    assert ("global", "transition_animation_scale") not in shell.settings


def test_the_run_records_the_apps_log_and_a_chunked_video(
        adb_fleet: AdbFleet, demo_apk: Path, tmp_path: Path) -> None:
    sim, device, shell = installed(adb_fleet, demo_apk, video=True, video_segment_seconds=1)
    device.launch(PACKAGE)
    screen = device.hierarchy()
    while sum(c.startswith("screenrecord") for c in shell.commands) < 3:
        device.hierarchy()  # the run goes on while segments end and restart
    tap(device, screen, id="forgot_password")
    capture = device.end_run(tmp_path)
    assert len(capture.videos) >= 3
    segments = [json.loads(v.read_bytes().split(b"mp42isom", 1)[1]) for v in capture.videos]
    assert [s["path"] for s in segments] == [
        f"/sdcard/qualgent-{i}.mp4" for i in range(len(segments))]
    assert all(s["seconds"] <= 1.5 for s in segments[:-1])
    assert not [p for p in adb_fleet[device.serial].fs if p.startswith("/sdcard/qualgent-")]
    assert not shell._recordings  # screenrecord stopped
    log = capture.log.read_text()
    pid = sim.pid(PACKAGE)
    assert f"Start proc {pid}:{PACKAGE}" in log
    assert f"Displayed {PACKAGE}/.forgot_password" in log


def test_the_log_holds_the_crash(
        adb_fleet: AdbFleet, demo_apk: Path, tmp_path: Path) -> None:
    _, device, _ = installed(adb_fleet, demo_apk)
    out = run_steps(device, PACKAGE, [*SIGN_IN, *CRASH], options=options())
    assert out.failure_category == "app"
    log = device.end_run(tmp_path).log.read_text()
    assert f"E AndroidRuntime: {CRASH_EXCEPTION}" in log


# ------------------------------------------------------------------------ discovery


def test_devices_join_and_leave_the_source(adb_fleet: AdbFleet) -> None:
    source = AdbSource(adb_fleet.client(), call_timeout=5.0, video=False)
    assert source.scan() == {}
    first = adb_fleet.add(SimulatedDevice(parse_simulator_spec("Pixel 7:Android:14:sms")))
    found = source.scan()
    assert list(found) == [first] and found[first].profile.name == "Pixel 7"
    second = adb_fleet.add(SimulatedDevice(parse_simulator_spec("Pixel 8:Android:15")))
    again = source.scan()
    assert set(again) == {first, second} and again[first] is found[first]
    adb_fleet.drop(first)
    adb_fleet.wait_for_state(first, {None, "offline"})
    assert list(source.scan()) == [second]
    only = AdbSource(adb_fleet.client(), [first, "emulator-5554"], call_timeout=5.0)
    assert only.scan() == {}


def test_an_unreachable_adb_server_lists_nothing(adb_fleet: AdbFleet) -> None:
    import adbutils

    from tests.fakes.android import free_port

    client = adbutils.AdbClient(host="127.0.0.1", port=free_port(), socket_timeout=2)
    assert AdbSource(client).scan() == {}


def test_files_stream_both_ways_whole_and_unchanged(adb_fleet: AdbFleet, tmp_path: Path) -> None:
    """Builds are pushed and video segments pulled in 64 KiB sync frames from and to files,
    never held whole: what arrives is byte for byte what was sent, past many frames."""
    from qualgent.drivers.android.transport import RemoteFileMissing, Transport

    _, device, _ = attach(adb_fleet)
    transport = Transport(adb_fleet.client(), device.serial, 10.0)
    payload = bytes(range(256)) * (5 * 4096 + 7)  # ~5 MB, not a multiple of a frame
    source = tmp_path / "build.apk"
    source.write_bytes(payload)
    transport.push(source, "/data/local/tmp/build.apk")
    assert adb_fleet[device.serial].adbd.fs.read("/data/local/tmp/build.apk") == payload
    with (tmp_path / "back.bin").open("wb") as fh:
        assert transport.pull("/data/local/tmp/build.apk", fh) == len(payload)
    assert (tmp_path / "back.bin").read_bytes() == payload
    with pytest.raises(RemoteFileMissing), (tmp_path / "none.bin").open("wb") as fh:
        transport.pull("/sdcard/nothing.mp4", fh)
