"""The Appium driver on iOS, end to end over HTTP against the fake XCUITest server."""

from __future__ import annotations

from pathlib import Path

import pytest

from qualgent.agent import run_steps
from qualgent.drivers.appium import AppiumDevice
from qualgent.drivers.base import AppCrashed, DeviceLost, Hierarchy, InstallFailed
from qualgent.drivers.simulator import SimulatedDevice
from tests.agent.fakes import fast_options
from tests.demo import (
    BUY_FIRST_RESULT_CHECKED,
    CRASH_THEN_VERIFY,
    CREDENTIALS,
    after_step,
    begin,
    enter_email,
)
from tests.fakes.webdriver import FAKE_MP4, appium_device

IPHONE = "iPhone 14 Pro:iOS:16.0:sms"  # sms: the simulated app texts its code (read here
#                                        from the simulator, as a provider would deliver it)


def sign_in(device: AppiumDevice, sim: SimulatedDevice, package: str) -> None:
    """Sign in with the code the app texted, typed in as read from the simulator."""
    out = run_steps(device, package, CREDENTIALS, options=fast_options())
    assert out.status == "completed", out.explanation
    code = sim.read_sms()[-1].body.split()[-1]
    out = run_steps(device, package, [f'Type "{code}" into Code', "Tap Verify",
                                       'Verify "Home" is shown'], options=fast_options())
    assert out.status == "passed", out.explanation


def signed_in(device: AppiumDevice, sim: SimulatedDevice, ipa: Path) -> str:
    """Install the Demo Shop, begin a run and sign in; the app's package."""
    package = begin(device, ipa)
    sign_in(device, sim, package)
    return package


def same_screen(ours: Hierarchy, sim: Hierarchy) -> None:
    """Kinds, texts, ids and hints equal; bounds within a point (3 px) of the simulator's."""
    assert [(e.kind, e.text, e.id, e.hint) for e in ours.elements] == [
        (e.kind, e.text, e.id, e.hint) for e in sim.elements]
    for a, b in zip(ours.elements, sim.elements, strict=True):
        assert all(abs(x - y) <= 2 for x, y in zip(a.bounds.as_list(), b.bounds.as_list(),
                                                    strict=True)), (a, b)


def test_the_source_maps_to_the_simulators_hierarchy_in_pixels(demo_ipa: Path) -> None:
    with appium_device(IPHONE) as (fake, device, sim):
        assert device.profile.width == 1080  # no session yet: nothing measured
        package = begin(device, demo_ipa)
        device.launch(package)
        h = device.hierarchy()
        assert (h.width, h.height, h.package) == (1179, 2556, package)  # 393x852 pt at 3x
        assert device.profile.width == 1179 and device.profile.form_factor == "phone"
        same_screen(h, sim.hierarchy())
        assert "Hidden helper" not in {e.text for e in h.elements}  # visible="false"
        email = next(e for e in h.elements if e.id == "email")
        device.tap(*email.bounds.center)
        assert "XCUIElementTypeKeyboard" in fake.source()
        same_screen(device.hierarchy(), sim.hierarchy())  # no keys of the keyboard
        sign_in(device, sim, package)
        h = device.hierarchy()
        same_screen(h, sim.hierarchy())
        kinds = {e.kind for e in h.elements}
        assert {"list", "list_item", "tab", "input", "button"} <= kinds
        png = device.screenshot()
        assert png.startswith(b"\x89PNG")


def test_search_and_check_out(demo_ipa: Path) -> None:
    with appium_device(IPHONE) as (_, device, sim):
        package = signed_in(device, sim, demo_ipa)
        out = run_steps(device, package, ["Search for wireless headphones",
                                          *BUY_FIRST_RESULT_CHECKED], options=fast_options())
        assert out.status == "passed", out.explanation
        back = out.steps[4].actions
        assert [a.action for a in back] == ["back"]


def test_scrolling_a_list_by_touch_swipes(demo_ipa: Path) -> None:
    with appium_device(IPHONE) as (_, device, sim):
        package = signed_in(device, sim, demo_ipa)
        out = run_steps(device, package, ["Scroll down until Zen Garden Kit is visible",
                                          "Tap Zen Garden Kit", "Verify the price is $34.99"],
                        options=fast_options())
        assert out.status == "passed", out.explanation
        assert [a.action for a in out.steps[0].actions][:2] == ["launch", "swipe"]
        assert {a.action for a in out.steps[0].actions[1:]} == {"swipe"}


def test_a_crash_is_an_app_failure_quoting_the_device_log(demo_ipa: Path, tmp_path: Path) -> None:
    with appium_device(IPHONE) as (_, device, sim):
        package = signed_in(device, sim, demo_ipa)
        out = run_steps(device, package, CRASH_THEN_VERIFY, options=fast_options())
        assert (out.status, out.failure_category) == ("failed", "app")
        assert out.explanation.startswith("The app crashed during step 2 ('Tap Crash app')")
        assert "Terminating app due to uncaught exception" in out.explanation
        assert "Crash app was tapped" in out.explanation
        with pytest.raises(AppCrashed):
            device.hierarchy()  # until launched again
        device.launch(package)
        assert device.hierarchy().package == package
        capture = device.end_run(tmp_path)
        assert capture.log is not None
        assert "Terminating app" in capture.log.read_text()


def test_unicode_typing_reaches_the_field(demo_ipa: Path) -> None:
    text = "Zoë 東京 😀 naïve"
    with appium_device(IPHONE) as (_, device, sim):
        package = begin(device, demo_ipa)
        out = run_steps(device, package, enter_email(text), options=fast_options())
        assert out.status == "completed", out.explanation
        email = next(e for e in sim.hierarchy().elements if e.id == "email")
        assert email.text == text
        assert next(e for e in device.hierarchy().elements if e.id == "email").text == text
        device.key("backspace")
        device.clear()
        assert next(e for e in sim.hierarchy().elements if e.id == "email").text is None


def test_keys_home_and_back(demo_ipa: Path) -> None:
    with appium_device(IPHONE) as (_, device, sim):
        package = signed_in(device, sim, demo_ipa)
        out = run_steps(device, package, ["Tap Wireless Headphones X200", "Go back",
                                          'Verify "Home" is shown'], options=fast_options())
        assert out.status == "passed", out.explanation
        device.key("home")
        assert device.hierarchy().package is None  # SpringBoard; the app lives on
        with pytest.raises(ValueError):
            device.key("volume")
        device.launch(package)
        assert device.hierarchy().package == package


def test_back_taps_the_navigation_bars_back_button(demo_ipa: Path) -> None:
    with appium_device(IPHONE, nav_bar=True) as (fake, device, sim):
        package = signed_in(device, sim, demo_ipa)
        out = run_steps(device, package, ["Tap Wireless Headphones X200",
                                          "Verify $59.99 is shown"], options=fast_options())
        assert out.status == "passed", out.explanation
        back = next(e for e in device.hierarchy().elements if e.text == "Back")
        assert back.bounds.as_list() == [0, 0, 180, 72]  # 60x24 pt at 3x
        fake.calls.clear()
        device.back()
        assert fake.calls == ["GET /session/{id}/source", "POST /session/{id}/actions"]
        assert next(e for e in sim.hierarchy().elements if e.id == "title").text == "Home"


def test_a_connection_lost_mid_run_is_device_lost(demo_ipa: Path) -> None:
    with appium_device(IPHONE) as (fake, device, sim):
        package = begin(device, demo_ipa)
        out = run_steps(device, package, CREDENTIALS, on_step=after_step(1, fake.drop),
                        options=fast_options())
        assert (out.status, out.failure_category) == ("failed", "infrastructure")
        assert out.explanation.startswith("The device was lost during step 3")
        with pytest.raises(DeviceLost):
            device.ping()
        with pytest.raises(DeviceLost):
            device.end_run(Path("/nonexistent"))


def test_a_phone_that_vanishes_drops_the_connection(demo_ipa: Path) -> None:
    with appium_device(IPHONE) as (_, device, sim):
        package = device.install(demo_ipa).package
        device.launch(package)
        sim.disconnect()
        with pytest.raises(DeviceLost):
            device.hierarchy()


def test_a_server_that_stops_answering_is_device_lost_not_a_hang(demo_ipa: Path) -> None:
    with appium_device(IPHONE, call_timeout=0.5) as (fake, device, _):
        package = device.install(demo_ipa).package
        device.launch(package)
        fake.hang()
        with pytest.raises(DeviceLost, match="did not answer"):
            device.tap(10, 10)
        with pytest.raises(DeviceLost):
            device.ping()


def test_install_failures(demo_ipa: Path, demo_apk: Path, tmp_path: Path) -> None:
    with appium_device(IPHONE, fail_install=True) as (fake, device, _):
        with pytest.raises(InstallFailed, match="Installing demo.ipa .*simulated failure"):
            device.install(demo_ipa)
        assert fake.installed_from == [str(demo_ipa.resolve())]
        with pytest.raises(InstallFailed, match="iOS installs .ipa"):
            device.install(demo_apk)
        junk = tmp_path / "junk.ipa"
        junk.write_bytes(b"not a zip")
        with pytest.raises(InstallFailed, match="junk.ipa"):
            device.install(junk)


def test_end_run_writes_the_log_and_the_video_and_ends_the_session(
        demo_ipa: Path, tmp_path: Path) -> None:
    with appium_device(IPHONE) as (fake, device, _):
        package = begin(device, demo_ipa)
        device.launch(package)
        capture = device.end_run(tmp_path)
        assert capture.log == tmp_path / "device.log"
        assert "Start proc" in capture.log.read_text()
        assert [p.name for p in capture.videos] == ["screen-1.mp4"]
        assert capture.videos[0].read_bytes().startswith(FAKE_MP4)
        assert fake.sessions == {}
        device.begin_run(package)  # the next run gets a new session
        assert len(fake.sessions) == 1


def test_an_appium_without_recording_or_logs_still_runs(demo_ipa: Path, tmp_path: Path) -> None:
    with appium_device(IPHONE, recording=False, logs=False) as (fake, device, _):
        package = begin(device, demo_ipa)
        device.launch(package)
        capture = device.end_run(tmp_path)
        assert (capture.log, capture.videos) == (None, [])
        assert list(tmp_path.iterdir()) == []


def test_an_expired_session_is_recreated(demo_ipa: Path) -> None:
    with appium_device(IPHONE) as (fake, device, sim):
        package = device.install(demo_ipa).package
        device.launch(package)
        fake.expire_sessions()
        assert device.hierarchy().package == package
        assert fake.calls.count("POST /session") == 2
        assert len(fake.sessions) == 1


def test_ios_has_no_sms_inbox_of_its_own(demo_ipa: Path) -> None:
    with appium_device(IPHONE) as (_, device, _sim):
        with pytest.raises(NotImplementedError, match="SMS provider"):
            device.read_sms()
        assert device.profile.sms_enabled is False
    with appium_device(IPHONE, capabilities={"qualgent:sms": True}) as (fake, device, _):
        assert device.profile.sms_enabled is True
        device.install(demo_ipa)
        assert "qualgent:sms" not in next(iter(fake.sessions.values()))


def test_a_tap_on_a_settled_screen_costs_few_round_trips(demo_ipa: Path) -> None:
    with appium_device(IPHONE) as (fake, device, _):
        package = begin(device, demo_ipa)
        out = run_steps(device, package, ["Open the app"], options=fast_options())
        assert out.status == "completed"
        fake.calls.clear()
        out = run_steps(device, package, ["Open the app", "Tap Forgot password?"],
                        options=fast_options())
        assert out.status == "completed", out.explanation
        # per step: a launch (activate + source), the tap (source, actions), a source after,
        # a screenshot; our own app label is known, so no queryAppState
        assert fake.calls.count("GET /session/{id}/screenshot") == 2
        assert not any("queryAppState" in c for c in fake.calls)
