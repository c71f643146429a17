"""The Appium driver on Android, end to end over HTTP against the fake UiAutomator2 server.

The page source goes through the ADB driver's parser (qualgent.drivers.android.xml); SMS codes
come from the device's inbox through `mobile: listSms`.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from qualgent.agent import run_steps
from qualgent.builds.demo import write_demo_build
from qualgent.drivers.base import DeviceLost, InstallFailed
from tests.agent.fakes import fast_options
from tests.fakes.webdriver import FAKE_MP4, appium_device

PIXEL = "Pixel 7:Android:14:sms"
SMS = {"qualgent:sms": True}
SIGN_IN = [
    "Open the app",
    'Enter "demo@example.com" into Email',
    "Type hunter2 in the password field",
    "Tap Sign in",
    "Enter the code from the SMS and tap Verify",
]


@pytest.fixture(scope="module")
def apk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("builds") / "demo.apk"
    write_demo_build(path, "android")
    return path


def test_the_source_maps_to_the_simulators_hierarchy(apk: Path) -> None:
    with appium_device(PIXEL, capabilities=SMS) as (_, device, sim):
        package = device.install(apk).package
        device.begin_run(package)
        out = run_steps(device, package, [*SIGN_IN, 'Verify "Home" is shown'],
                        options=fast_options())
        assert out.status == "passed", out.explanation
        ours, theirs = device.hierarchy(), sim.hierarchy()
        assert (ours.width, ours.height, ours.package) == (1080, 2400, package)
        assert [(e.kind, e.text, e.id, e.hint, e.bounds) for e in ours.elements] == [
            (e.kind, e.text, e.id, e.hint, e.bounds) for e in theirs.elements]
        assert device.profile.form_factor == "phone"  # 1080 px at 420 dpi is 411 dp


def test_sign_in_reads_only_this_runs_sms(apk: Path) -> None:
    with appium_device(PIXEL, capabilities=SMS) as (_, device, sim):
        package = device.install(apk).package
        out = run_steps(device, package, SIGN_IN[:4], options=fast_options())
        assert out.status == "completed", out.explanation
        assert len(sim.read_sms()) == 1  # a code sent before this run began
        device.begin_run(package)
        assert device.read_sms() == []
        out = run_steps(device, package, ["Tap Resend code",
                                          "Enter the code from the SMS and tap Verify",
                                          'Verify "Home" is shown'], options=fast_options())
        assert out.status == "passed", out.explanation
        [sms] = device.read_sms()
        assert sms.sender == "DemoShop" and out.steps[1].actions[0].value in sms.body


def test_search_check_out_and_back(apk: Path) -> None:
    with appium_device(PIXEL, capabilities=SMS) as (fake, device, _):
        package = device.install(apk).package
        device.begin_run(package)
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


def test_a_crash_quotes_the_exception_from_logcat(apk: Path, tmp_path: Path) -> None:
    with appium_device(PIXEL, capabilities=SMS) as (_, device, _sim):
        package = device.install(apk).package
        device.begin_run(package)
        out = run_steps(device, package, [*SIGN_IN, "Open the Profile tab", "Tap Crash app",
                                          'Verify "Profile" is shown'], options=fast_options())
        assert (out.status, out.failure_category) == ("failed", "app")
        assert out.explanation.startswith("The app crashed during step 7 ('Tap Crash app')")
        assert "java.lang.IllegalStateException: Crash app was tapped" in out.explanation
        capture = device.end_run(tmp_path)
        text = capture.log.read_text()
        assert "FATAL EXCEPTION: main" in text and f"Process: {package}" in text
        assert capture.videos and capture.videos[0].read_bytes().startswith(FAKE_MP4)


def test_unicode_typing(apk: Path) -> None:
    text = "Grüße, 東京! 😀"
    with appium_device(PIXEL) as (_, device, sim):
        package = device.install(apk).package
        device.begin_run(package)
        out = run_steps(device, package, ["Open the app", f'Enter "{text}" into Email'],
                        options=fast_options())
        assert out.status == "completed", out.explanation
        assert next(e for e in sim.hierarchy().elements if e.id == "email").text == text


def test_a_connection_lost_mid_run_is_device_lost(apk: Path) -> None:
    with appium_device(PIXEL, capabilities=SMS) as (fake, device, _):
        package = device.install(apk).package
        device.begin_run(package)

        def on_step(result, progress: int) -> None:  # noqa: ANN001
            if result.index == 2:
                fake.drop()

        out = run_steps(device, package, SIGN_IN, on_step=on_step, options=fast_options())
        assert (out.status, out.failure_category) == ("failed", "infrastructure")
        assert out.explanation.startswith("The device was lost during step 4")
        with pytest.raises(DeviceLost):
            device.ping()


def test_install_failure_names_the_reason(apk: Path, tmp_path: Path) -> None:
    with appium_device(PIXEL, fail_install=True) as (fake, device, _):
        with pytest.raises(InstallFailed, match="com.qualgent.demo.*simulated failure"):
            device.install(apk)
        ipa = tmp_path / "demo.ipa"
        write_demo_build(ipa, "ios")
        with pytest.raises(InstallFailed, match="Android installs .apk"):
            device.install(ipa)
        assert fake.installed_from == [str(apk.resolve())]


def test_an_expired_session_is_recreated_mid_run(apk: Path) -> None:
    with appium_device(PIXEL, capabilities=SMS) as (fake, device, _):
        package = device.install(apk).package
        device.begin_run(package)

        def on_step(result, progress: int) -> None:  # noqa: ANN001
            if result.index == 1:
                fake.expire_sessions()

        out = run_steps(device, package, [*SIGN_IN, 'Verify "Home" is shown'],
                        on_step=on_step, options=fast_options())
        assert out.status == "passed", out.explanation
        assert fake.calls.count("POST /session") == 2
