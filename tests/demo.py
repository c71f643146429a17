"""The Demo Shop (qualgent.builds.demo) as the tests drive it: its package, and the step lists
several test files (and benchmarks/device_round_trips.py) run on it.

Sign-in comes in two phrasings on purpose: the agent must understand both the informal
"Type hunter2 in the password field" (SIGN_IN, the driver and agent tests' phrasing) and
'Enter "hunter2" into Password' (SIGN_IN_QUOTED, the worker tests' phrasing).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qualgent.agent import StepResult
from qualgent.drivers.base import Device

# The Demo Shop's package (Android) and bundle id (iOS).
PACKAGE = "com.qualgent.demo"
# A real APK (Appium Settings' stand-in): the helper app, or a build the simulator cannot run.
FIXTURE_APK = Path(__file__).resolve().parent / "fixtures" / "settings_apk-debug.apk"

# Open the app and type the email: the start of every sign-in.
OPEN_AND_ENTER_EMAIL = ["Open the app", 'Enter "demo@example.com" into Email']
# The SMS code step; steps[4] of a run that starts with a sign-in.
ENTER_SMS_CODE = "Enter the code from the SMS and tap Verify"
# Sign in with the code from the SMS, the password step phrased informally.
SIGN_IN = [*OPEN_AND_ENTER_EMAIL, "Type hunter2 in the password field", "Tap Sign in",
           ENTER_SMS_CODE]
# The same sign-in with the password step quoted, as the worker tests write it.
SIGN_IN_QUOTED = [*OPEN_AND_ENTER_EMAIL, 'Enter "hunter2" into Password', "Tap Sign in",
                  ENTER_SMS_CODE]
# SIGN_IN up to the verification screen (the app texts its code on "Sign in").
CREDENTIALS = SIGN_IN[:4]

# From the home screen: search for the headphones and buy the first result, tersely, ending on
# the order's confirmation.
SEARCH_AND_CHECK_OUT = [
    "Type wireless headphones into the search field and submit",
    "Tap the first result",
    "Check the price shows $59.99",
    "Tap Add to cart",
    "Go back",
    "Open the Cart tab",
    "Tap Checkout",
    'Verify that "Order confirmed" is shown',
]
# The first product listed, bought with a check at each stage (the toast, the cart's contents).
BUY_FIRST_RESULT_CHECKED = [
    "Tap the first result",
    "Check the price shows $59.99",
    "Tap the Add to cart button and verify “Added to cart” is shown",
    "Go back",
    "Open the Cart tab",
    "Verify Wireless Headphones X200 is in the list",
    "Tap Checkout",
    'Verify that "Order confirmed" is shown',
]

# From the home screen: the Profile tab's "Crash app" button, which kills the app.
CRASH = ["Open the Profile tab", "Tap Crash app"]
# The crash, then a check that is skipped because the app died before it.
CRASH_THEN_VERIFY = [*CRASH, 'Verify "Profile" is shown']
# What the crash throws (Android quotes it from logcat).
CRASH_EXCEPTION = "java.lang.IllegalStateException: Crash app was tapped"

# Non-ASCII text with a shell metacharacter: `input text` cannot type it, the helper IME can.
UNICODE_TEXT = "Café 東京 & co"
# Type UNICODE_TEXT into the reset-password screen's Email field and see it shown.
UNICODE_RESET_EMAIL = ["Open the app", "Tap Forgot password?",
                       f'Type "{UNICODE_TEXT}" into Email', f'Verify "{UNICODE_TEXT}" is shown']


def begin(device: Device, build: Path) -> str:
    """Install the Demo Shop build on `device` and begin a run; the app's package."""
    package = device.install(build).package
    device.begin_run(package)
    return package


def demo_bundle(package: str = PACKAGE) -> bytes:
    """The Demo Shop as an Android App Bundle (.aab): what bundletool (or its stand-in,
    tests/fakes/bundletool) turns into the Demo Shop APK."""
    from tests.builds.test_inspect import aab_manifest  # protobuf: only where bundles are made

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("BundleConfig.pb", b"")
        zf.writestr("base/manifest/AndroidManifest.xml",
                    aab_manifest(package=package, label="Demo Shop"))
        zf.writestr("base/dex/classes.dex", b"dex\n035\0")
    return buf.getvalue()


def enter_email(text: str) -> list[str]:
    """Open the app and type `text` into the sign-in screen's Email field."""
    return ["Open the app", f'Enter "{text}" into Email']


def after_step(index: int, act: Callable[[], Any]) -> Callable[[StepResult, int], None]:
    """An on_step callback for run_steps: `act()` once step `index` has finished (to drop
    a device or expire a session mid-run)."""
    def on_step(result: StepResult, progress: int) -> None:
        if result.index == index:
            act()
    return on_step
