"""The Appium driver on Android, end to end over HTTP against the fake UiAutomator2 server.

The page source goes through the ADB driver's parser (qualgent.drivers.android.xml); SMS codes
come from the device's inbox through `mobile: listSms`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from qualgent.agent import run_steps
from qualgent.drivers.base import DeviceLost, InstallFailed
from tests.agent.fakes import fast_options
from tests.demo import (
    CRASH_EXCEPTION,
    CRASH_THEN_VERIFY,
    CREDENTIALS,
    ENTER_SMS_CODE,
    PACKAGE,
    SIGN_IN,
    after_step,
    begin,
    enter_email,
)
from tests.fakes.webdriver import FAKE_MP4, appium_device

PIXEL = "Pixel 7:Android:14:sms"
SMS = {"qualgent:sms": True}


def test_the_source_maps_to_the_simulators_hierarchy(demo_apk: Path) -> None:
    with appium_device(PIXEL, capabilities=SMS) as (_, device, sim):
        package = begin(device, demo_apk)
        out = run_steps(device, package, [*SIGN_IN, 'Verify "Home" is shown'],
                        options=fast_options())
        assert out.status == "passed", out.explanation
        ours, theirs = device.hierarchy(), sim.hierarchy()
        assert (ours.width, ours.height, ours.package) == (1080, 2400, package)
        assert [(e.kind, e.text, e.id, e.hint, e.bounds) for e in ours.elements] == [
            (e.kind, e.text, e.id, e.hint, e.bounds) for e in theirs.elements]
        assert device.profile.form_factor == "phone"  # 1080 px at 420 dpi is 411 dp


def test_sign_in_reads_only_this_runs_sms(demo_apk: Path) -> None:
    with appium_device(PIXEL, capabilities=SMS) as (_, device, sim):
        package = device.install(demo_apk).package
        out = run_steps(device, package, CREDENTIALS, options=fast_options())
        assert out.status == "completed", out.explanation
        assert len(sim.read_sms()) == 1  # a code sent before this run began
        device.begin_run(package)
        assert device.read_sms() == []
        out = run_steps(device, package, ["Tap Resend code", ENTER_SMS_CODE,
                                          'Verify "Home" is shown'], options=fast_options())
        assert out.status == "passed", out.explanation
        [sms] = device.read_sms()
        assert sms.sender == "DemoShop" and out.steps[1].actions[0].value in sms.body


def test_search_check_out_and_back(demo_apk: Path) -> None:
    with appium_device(PIXEL, capabilities=SMS) as (fake, device, _):
        package = begin(device, demo_apk)
        out = run_steps(device, package, [
            *SIGN_IN,
            "Search for speaker",
            "Verify Bluetooth Speaker Mini is shown",
            "Clear the search bar and press enter",
            "Tap Wireless Headphones X200",
            "Tap the Add to cart button and verify “Added to cart” is shown",
            "Go back",
            "Open the Cart tab",
            "Tap Checkout",
            'Verify that "Order confirmed" is shown',
        ], options=fast_options())
        assert out.status == "passed", out.explanation
        assert "POST /session/{id}/back" in fake.calls


def test_a_crash_quotes_the_exception_from_logcat(demo_apk: Path, tmp_path: Path) -> None:
    with appium_device(PIXEL, capabilities=SMS) as (_, device, _sim):
        package = begin(device, demo_apk)
        out = run_steps(device, package, [*SIGN_IN, *CRASH_THEN_VERIFY], options=fast_options())
        assert (out.status, out.failure_category) == ("failed", "app")
        assert out.explanation.startswith("The app crashed during step 7 ('Tap Crash app')")
        assert CRASH_EXCEPTION in out.explanation
        capture = device.end_run(tmp_path)
        text = capture.log.read_text()
        assert "FATAL EXCEPTION: main" in text and f"Process: {package}" in text
        assert capture.videos and capture.videos[0].read_bytes().startswith(FAKE_MP4)


def test_unicode_typing(demo_apk: Path) -> None:
    text = "Grüße, 東京! 😀"
    with appium_device(PIXEL) as (_, device, sim):
        package = begin(device, demo_apk)
        out = run_steps(device, package, enter_email(text), options=fast_options())
        assert out.status == "completed", out.explanation
        assert next(e for e in sim.hierarchy().elements if e.id == "email").text == text


def test_a_connection_lost_mid_run_is_device_lost(demo_apk: Path) -> None:
    with appium_device(PIXEL, capabilities=SMS) as (fake, device, _):
        package = begin(device, demo_apk)
        out = run_steps(device, package, SIGN_IN, on_step=after_step(2, fake.drop),
                        options=fast_options())
        assert (out.status, out.failure_category) == ("failed", "infrastructure")
        assert out.explanation.startswith("The device was lost during step 4")
        with pytest.raises(DeviceLost):
            device.ping()


def test_install_failure_names_the_reason(demo_apk: Path, demo_ipa: Path) -> None:
    with appium_device(PIXEL, fail_install=True) as (fake, device, _):
        with pytest.raises(InstallFailed, match=f"{PACKAGE}.*simulated failure"):
            device.install(demo_apk)
        with pytest.raises(InstallFailed, match="Android installs .apk"):
            device.install(demo_ipa)
        assert fake.installed_from == [str(demo_apk.resolve())]


def test_an_expired_session_is_recreated_mid_run(demo_apk: Path) -> None:
    with appium_device(PIXEL, capabilities=SMS) as (fake, device, _):
        package = begin(device, demo_apk)
        out = run_steps(device, package, [*SIGN_IN, 'Verify "Home" is shown'],
                        on_step=after_step(1, fake.expire_sessions), options=fast_options())
        assert out.status == "passed", out.explanation
        assert fake.calls.count("POST /session") == 2
