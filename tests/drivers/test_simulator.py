"""The simulated device, driven only through the Device protocol, running Demo Shop."""

from __future__ import annotations

import copy
import io
import json
import re
import zipfile
import zlib
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from qualgent.builds.demo import write_app_build, write_demo_build
from qualgent.drivers.base import (
    AppCrashed,
    Device,
    DeviceFailure,
    DeviceLost,
    DeviceProfile,
    Element,
    InstallFailed,
)
from qualgent.drivers.simulator import (
    SIMULATED_FLEET,
    ModelError,
    SimulatedDevice,
    demo_shop_model,
    load_model,
    parse_simulator_spec,
)
from tests.builds import hostile as h
from tests.builds.test_hostile_builds import peak_growth

FIXTURE_APK = Path(__file__).resolve().parents[1] / "fixtures" / "settings_apk-debug.apk"
DEMO = "com.qualgent.demo"
PIXEL, IPHONE, IPAD = SIMULATED_FLEET


# ---------------------------------------------------------------- helpers


def find(device: Device, text: str | None = None, *, kind: str | None = None,
         hint: str | None = None, id: str | None = None) -> Element:
    elements = device.hierarchy().elements
    for el in elements:
        if ((text is None or el.text == text) and (kind is None or el.kind == kind)
                and (hint is None or el.hint == hint) and (id is None or el.id == id)):
            return el
    listing = "\n".join(f"  {e.kind} {e.text!r} hint={e.hint!r} id={e.id!r}" for e in elements)
    raise AssertionError(f"no element text={text!r} kind={kind!r} hint={hint!r} id={id!r}; "
                         f"on screen:\n{listing}")


def texts(device: Device) -> list[str]:
    return [e.text for e in device.hierarchy().elements if e.text]


def title(device: Device) -> str | None:
    return find(device, id="title").text


def tap(device: Device, el: Element) -> None:
    device.tap(*el.bounds.center)


def fill(device: Device, hint: str, value: str) -> None:
    tap(device, find(device, hint=hint))
    device.clear()
    device.type_text(value)


def sign_in(device: Device, email: str = "demo@example.com", password: str = "hunter2") -> None:
    fill(device, "Email", email)
    fill(device, "Password", password)
    tap(device, find(device, "Sign in", kind="button"))


def otp(device: Device) -> str:
    body = device.read_sms()[-1].body
    match = re.fullmatch(r"Your Demo Shop code is (\d{6})", body)
    assert match, body
    return match.group(1)


def to_home(device: Device) -> None:
    sign_in(device)
    fill(device, "Code", otp(device))
    tap(device, find(device, "Verify", kind="button"))
    assert title(device) == "Home"


def products(device: Device) -> list[str]:
    return [e.text for e in device.hierarchy().elements if e.kind == "list_item"]


def swipe_up(device: Device) -> None:
    w, h = device.profile.width, device.profile.height
    device.swipe(w // 2, h * 7 // 10, w // 2, h * 3 // 10)


def swipe_down(device: Device) -> None:
    w, h = device.profile.width, device.profile.height
    device.swipe(w // 2, h * 3 // 10, w // 2, h * 7 // 10)


def png(data: bytes) -> Image.Image:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


@pytest.fixture(scope="session")
def demo_apk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("builds") / "demo.apk"
    write_demo_build(path, "android")
    return path


@pytest.fixture(scope="session")
def demo_ipa(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("builds") / "demo.ipa"
    write_demo_build(path, "ios")
    return path


@pytest.fixture
def pixel(demo_apk: Path) -> SimulatedDevice:
    device = SimulatedDevice(PIXEL)
    app = device.install(demo_apk)
    device.launch(app.package)
    return device


@pytest.fixture
def iphone(demo_ipa: Path) -> SimulatedDevice:
    device = SimulatedDevice(IPHONE)
    device.install(demo_ipa)
    device.launch(DEMO)
    return device


@pytest.fixture
def home(pixel: SimulatedDevice) -> SimulatedDevice:
    to_home(pixel)
    return pixel


# ---------------------------------------------------------------- Demo Shop


def test_is_a_device(pixel: SimulatedDevice) -> None:
    device: Device = pixel  # the protocol, statically
    assert device.profile is PIXEL
    h = device.hierarchy()
    assert (h.width, h.height, h.package) == (1080, 2400, DEMO)


def test_sign_in_screen(pixel: SimulatedDevice) -> None:
    assert title(pixel) == "Sign in"
    email = find(pixel, hint="Email", kind="input")
    password = find(pixel, hint="Password", kind="input")
    assert (email.id, password.id) == ("email", "password")
    assert email.editable and email.clickable and not email.focused and email.text is None
    button = find(pixel, "Sign in", kind="button")
    assert button.clickable and button.id == "sign_in"
    assert find(pixel, "Forgot password?", kind="link").clickable


def test_sign_in_failure_shows_the_message_and_stays(pixel: SimulatedDevice) -> None:
    sign_in(pixel, password="wrong")
    assert title(pixel) == "Sign in"
    assert "Invalid email or password" in texts(pixel)
    assert find(pixel, hint="Email").text == "demo@example.com"  # the form keeps its values
    sign_in(pixel, email="someone@example.com")
    assert "Invalid email or password" in texts(pixel)
    sign_in(pixel)
    assert title(pixel) == "Verify your phone"
    assert "Invalid email or password" not in texts(pixel)


def test_typing_goes_to_the_focused_input(pixel: SimulatedDevice) -> None:
    pixel.type_text("nowhere")  # nothing focused: nothing happens
    assert find(pixel, hint="Email").text is None
    tap(pixel, find(pixel, hint="Email"))
    assert find(pixel, hint="Email").focused
    pixel.type_text("demo@")
    pixel.type_text("example.comx")
    pixel.key("backspace")
    assert find(pixel, hint="Email").text == "demo@example.com"
    pixel.key("enter")  # no submit action on the email field: focus moves on, like IME "next"
    assert find(pixel, hint="Password").focused and not find(pixel, hint="Email").focused
    pixel.type_text("hunter2")
    password = find(pixel, hint="Password")
    assert password.text == "\u2022" * 7  # a password field shows bullets
    pixel.clear()
    assert find(pixel, hint="Password").text is None
    pixel.type_text("hunter2\n")  # enter in the password field submits the form
    assert title(pixel) == "Verify your phone"


def test_tapping_outside_drops_the_focus(pixel: SimulatedDevice) -> None:
    tap(pixel, find(pixel, hint="Email"))
    pixel.tap(pixel.profile.width // 2, pixel.profile.height - 10)
    assert not find(pixel, hint="Email").focused
    pixel.type_text("lost")
    assert find(pixel, hint="Email").text is None


def test_sms_code_verifies_the_phone(pixel: SimulatedDevice) -> None:
    assert pixel.read_sms() == []
    sign_in(pixel)
    assert title(pixel) == "Verify your phone"
    [sms] = pixel.read_sms()
    assert sms.sender == "DemoShop"
    code = otp(pixel)
    assert find(pixel, hint="Code", kind="input").id == "code"
    wrong = "000000" if code != "000000" else "111111"
    fill(pixel, "Code", wrong)
    tap(pixel, find(pixel, "Verify", kind="button"))
    assert "Incorrect code" in texts(pixel)
    assert title(pixel) == "Verify your phone"
    fill(pixel, "Code", code)
    tap(pixel, find(pixel, "Verify", kind="button"))
    assert title(pixel) == "Home"
    pixel.back()  # signed in: Home is the first screen now
    assert pixel.hierarchy().package is None


def test_codes_are_random_and_resent(pixel: SimulatedDevice) -> None:
    sign_in(pixel)
    first = otp(pixel)
    tap(pixel, find(pixel, "Resend code", kind="link"))
    assert len(pixel.read_sms()) == 2
    second = otp(pixel)
    fill(pixel, "Code", first)
    pixel.key("enter")
    if first != second:
        assert "Incorrect code" in texts(pixel)
    fill(pixel, "Code", second)
    pixel.key("enter")
    assert title(pixel) == "Home"


def test_a_device_without_sms_receives_nothing(iphone: SimulatedDevice) -> None:
    assert not iphone.profile.sms_enabled
    sign_in(iphone)
    assert title(iphone) == "Verify your phone"
    assert iphone.read_sms() == []
    fill(iphone, "Code", "123456")
    tap(iphone, find(iphone, "Verify", kind="button"))
    assert "Incorrect code" in texts(iphone)


def test_seeded_codes_are_reproducible(demo_apk: Path) -> None:
    codes = []
    for _ in range(2):
        device = SimulatedDevice(PIXEL, seed=7)
        device.install(demo_apk)
        device.launch(DEMO)
        sign_in(device)
        codes.append(otp(device))
    assert codes[0] == codes[1]


def test_home_lists_products_with_tabs(home: SimulatedDevice) -> None:
    search = find(home, hint="Search products")
    assert search.id == "search" and search.editable
    shown = products(home)
    assert shown[0] == "Wireless Headphones X200"
    assert 8 <= len(shown) <= 10
    assert "Zen Garden Kit" not in texts(home)
    product_list = find(home, kind="list", id="products")
    assert product_list.scrollable
    for tab in ("Home", "Cart", "Profile"):
        el = find(home, tab, kind="tab")
        assert el.clickable and el.bounds.bottom == home.profile.height
    for el in home.hierarchy().elements:  # nothing outside the screen is listed
        b = el.bounds
        assert 0 <= b.left < b.right <= 1080 and 0 <= b.top < b.bottom <= 2400


def test_search_filters_case_insensitively(home: SimulatedDevice) -> None:
    fill(home, "Search products", "wireless headphones")
    assert len(products(home)) > 1  # typing alone does not search
    home.key("enter")
    assert products(home) == ["Wireless Headphones X200"]
    fill(home, "Search products", "WIRELESS")
    tap(home, find(home, "Search", kind="button"))
    assert products(home) == ["Wireless Headphones X200", "Wireless Charging Pad"]
    fill(home, "Search products", "no such thing")
    home.key("search")
    assert products(home) == []
    assert "No products match your search" in texts(home)
    fill(home, "Search products", "")
    home.key("enter")
    assert products(home)[0] == "Wireless Headphones X200"


def test_scrolling_reveals_the_last_product(home: SimulatedDevice) -> None:
    assert "Zen Garden Kit" not in products(home)
    seen: list[str] = []
    for _ in range(20):
        seen += [p for p in products(home) if p not in seen]
        if "Zen Garden Kit" in products(home):
            break
        swipe_up(home)
    assert "Zen Garden Kit" in products(home)
    assert len(seen) == 40 and seen[-1] == "Zen Garden Kit" and len(set(seen)) == 40
    assert "Wireless Headphones X200" not in products(home)
    before = products(home)
    swipe_up(home)  # at the end: nothing moves
    assert products(home) == before
    tap(home, find(home, "Zen Garden Kit", kind="list_item"))
    assert title(home) == "Zen Garden Kit"
    home.back()
    assert "Zen Garden Kit" in products(home)  # the list kept its position
    for _ in range(20):
        swipe_down(home)
    assert products(home)[0] == "Wireless Headphones X200"


def test_a_horizontal_swipe_does_not_scroll(home: SimulatedDevice) -> None:
    before = products(home)
    home.swipe(900, 1200, 100, 1150)
    assert products(home) == before


def test_product_cart_and_checkout(home: SimulatedDevice) -> None:
    tap(home, find(home, "Wireless Headphones X200", kind="list_item"))
    assert title(home) == "Wireless Headphones X200"
    assert "$59.99" in texts(home)
    assert find(home, id="price").text == "$59.99"
    tap(home, find(home, "Add to cart", kind="button"))
    assert "Added to cart" in texts(home)
    home.back()
    assert title(home) == "Home"
    tap(home, find(home, "Bluetooth Speaker Mini", kind="list_item"))
    assert find(home, id="price").text == "$29.99"
    tap(home, find(home, "Add to cart", kind="button"))
    home.back()
    tap(home, find(home, "Cart", kind="tab"))
    assert title(home) == "Cart"
    assert products(home) == ["Wireless Headphones X200", "Bluetooth Speaker Mini"]
    tap(home, find(home, "Checkout", kind="button"))
    assert "Order confirmed" in texts(home)
    assert products(home) == []
    assert "Your cart is empty" in texts(home)
    tap(home, find(home, "Home", kind="tab"))
    assert title(home) == "Home"
    home.back()  # tabs do not pile up screens: Home is the first one
    assert home.hierarchy().package is None


def test_dark_mode_switch(home: SimulatedDevice) -> None:
    tap(home, find(home, "Profile", kind="tab"))
    assert title(home) == "Profile"
    switch = find(home, "Dark mode", kind="switch")
    assert switch.checked is False and switch.clickable
    light = png(home.screenshot())
    tap(home, switch)
    assert find(home, "Dark mode", kind="switch").checked is True
    dark = png(home.screenshot())
    assert dark.convert("RGB").getpixel((5, 1200)) != light.convert("RGB").getpixel((5, 1200))
    tap(home, find(home, "Dark mode", kind="switch"))
    assert find(home, "Dark mode", kind="switch").checked is False


def test_sign_out(home: SimulatedDevice) -> None:
    tap(home, find(home, "Profile", kind="tab"))
    assert "Signed in as demo@example.com" in texts(home)
    tap(home, find(home, "Sign out", kind="button"))
    assert title(home) == "Sign in"
    assert find(home, hint="Email").text is None
    home.back()
    assert home.hierarchy().package is None


def test_crash_then_relaunch(home: SimulatedDevice) -> None:
    tap(home, find(home, "Profile", kind="tab"))
    tap(home, find(home, "Crash app", kind="button"))
    with pytest.raises(AppCrashed) as info:
        home.hierarchy()
    assert info.value.category == "app"
    assert "Demo Shop" in str(info.value) and "crash" in str(info.value).lower()
    with pytest.raises(AppCrashed):
        home.screenshot()
    with pytest.raises(AppCrashed):
        home.tap(10, 10)
    with pytest.raises(AppCrashed):
        home.hierarchy()
    assert home.read_sms()  # the device itself still answers
    home.launch(DEMO)
    assert title(home) == "Sign in"  # a cold start
    to_home(home)


def test_back_navigation_and_the_launcher(pixel: SimulatedDevice) -> None:
    tap(pixel, find(pixel, "Forgot password?", kind="link"))
    assert title(pixel) == "Reset password"
    tap(pixel, find(pixel, "Send reset link", kind="button"))
    assert "Enter your email" in texts(pixel)
    pixel.back()
    assert title(pixel) == "Sign in"
    pixel.key("back")
    launcher = pixel.hierarchy()
    assert launcher.package is None
    icon = find(pixel, "Demo Shop")
    assert icon.clickable
    pixel.back()  # nothing happens on the home screen
    assert pixel.hierarchy().package is None
    assert png(pixel.screenshot()).size == (1080, 2400)
    tap(pixel, icon)
    assert pixel.hierarchy().package == DEMO
    assert title(pixel) == "Sign in"


def test_home_key_keeps_the_app_alive(home: SimulatedDevice) -> None:
    tap(home, find(home, "Cart", kind="tab"))
    home.key("home")
    assert home.hierarchy().package is None
    home.launch(DEMO)
    assert title(home) == "Cart"  # resumed where it was
    home.stop(DEMO)
    assert home.hierarchy().package is None
    home.launch(DEMO)
    assert title(home) == "Sign in"  # stopped: starts afresh


def test_screenshots(pixel: SimulatedDevice) -> None:
    sign_in_png = png(pixel.screenshot())
    assert sign_in_png.size == (1080, 2400)
    colours = sign_in_png.convert("RGB").getcolors(maxcolors=4096)
    assert colours is not None and len(colours) >= 5  # boxes, text, status bar...
    tap(pixel, find(pixel, hint="Email"))
    focused_png = png(pixel.screenshot())
    assert focused_png.tobytes() != sign_in_png.tobytes()  # the focus is drawn
    to_home(pixel)
    home_png = png(pixel.screenshot())
    assert home_png.size == (1080, 2400)
    assert home_png.convert("RGB").tobytes() != sign_in_png.convert("RGB").tobytes()
    assert pixel.screenshot() == pixel.screenshot()  # deterministic


def test_tablet(demo_ipa: Path) -> None:
    ipad = SimulatedDevice(IPAD)
    app = ipad.install(demo_ipa)
    assert (app.package, app.label) == (DEMO, "Demo Shop")
    ipad.launch(DEMO)
    h = ipad.hierarchy()
    assert (h.width, h.height) == (2048, 2732) and IPAD.form_factor == "tablet"
    assert png(ipad.screenshot()).size == (2048, 2732)
    sign_in(ipad)
    assert ipad.read_sms() == []  # no SMS on this tablet
    assert title(ipad) == "Verify your phone"


def test_a_larger_screen_shows_more(demo_apk: Path) -> None:
    tablet = SimulatedDevice(parse_simulator_spec("Galaxy Tab S9:Android:14:tablet,sms"))
    tablet.install(demo_apk)
    tablet.launch(DEMO)
    to_home(tablet)
    phone = SimulatedDevice(PIXEL)
    phone.install(demo_apk)
    phone.launch(DEMO)
    to_home(phone)
    assert len(products(tablet)) > len(products(phone))


# ---------------------------------------------------------------- install and failures


def test_install_returns_the_app(demo_apk: Path) -> None:
    device = SimulatedDevice(PIXEL)
    app = device.install(demo_apk)
    assert (app.package, app.label) == (DEMO, "Demo Shop")
    assert app.extra["version_name"] == "1.0.0"
    assert device.hierarchy().package is None  # installed, not launched
    assert find(device, "Demo Shop").clickable


def test_reinstall_resets_the_app(home: SimulatedDevice, demo_apk: Path) -> None:
    home.install(demo_apk)
    assert home.hierarchy().package is None
    home.launch(DEMO)
    assert title(home) == "Sign in"


def test_a_real_apk_has_no_model() -> None:
    device = SimulatedDevice(PIXEL)
    with pytest.raises(InstallFailed, match="has no simulator app model") as info:
        device.install(FIXTURE_APK)
    assert "io.appium.settings" in str(info.value)
    assert info.value.category == "app"


def test_platform_mismatch(demo_apk: Path, demo_ipa: Path) -> None:
    with pytest.raises(InstallFailed, match="iOS build"):
        SimulatedDevice(PIXEL).install(demo_ipa)
    with pytest.raises(InstallFailed, match="Android build"):
        SimulatedDevice(IPHONE).install(demo_apk)


def test_unusable_files(tmp_path: Path) -> None:
    device = SimulatedDevice(PIXEL)
    junk = tmp_path / "junk.apk"
    junk.write_bytes(b"not a zip")
    with pytest.raises(InstallFailed, match="not a valid APK"):
        device.install(junk)
    with pytest.raises(InstallFailed, match="does not exist"):
        device.install(tmp_path / "missing.apk")
    with pytest.raises(InstallFailed, match="App Bundle"):
        device.install(tmp_path / "app.aab")
    with pytest.raises(InstallFailed, match="expected .apk or .ipa"):
        device.install(tmp_path / "app.zip")


def test_a_build_with_an_invalid_model(demo_apk: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.apk"
    with zipfile.ZipFile(demo_apk) as src, zipfile.ZipFile(broken, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            if name == "assets/qualgent-app.json":
                doc = json.loads(data)
                doc["start"] = "nowhere"
                data = json.dumps(doc).encode()
            dst.writestr(name, data)
    with pytest.raises(InstallFailed, match="invalid simulator app model.*unknown screen"):
        SimulatedDevice(PIXEL).install(broken)


def test_a_model_entry_that_lies_about_its_size_is_read_in_bounded_memory(
        tmp_path: Path) -> None:
    """The model entry declares 1000 bytes but its stream inflates to 256 MiB: only what is
    declared is inflated (1000 zero bytes, not an app model), not the whole stream."""
    lying = tmp_path / "lying.apk"
    lying.write_bytes(h.build_zip([
        h.manifest_entry(),
        h.Entry("assets/qualgent-app.json", h.zeros_deflate(256 * h.MiB), 8, size=1000,
                crc=zlib.crc32(bytes(1000))),
    ]))
    device = SimulatedDevice(PIXEL)

    def install() -> str:
        with pytest.raises(InstallFailed) as info:
            device.install(lying)
        return str(info.value)

    message, growth = peak_growth(install)
    assert message.startswith("lying.apk has an invalid simulator app model: app model: not "
                              "valid JSON")
    assert growth < 64 * h.MiB


def test_fail_install_knob(demo_apk: Path) -> None:
    device = SimulatedDevice(PIXEL, fail_install=True)
    with pytest.raises(InstallFailed):
        device.install(demo_apk)
    with pytest.raises(DeviceFailure, match="not installed"):
        device.launch(DEMO)


def test_disconnect(pixel: SimulatedDevice, demo_apk: Path) -> None:
    pixel.disconnect()
    calls: list[Any] = [
        pixel.hierarchy, pixel.screenshot, pixel.read_sms, pixel.back, pixel.clear,
        lambda: pixel.tap(1, 1), lambda: pixel.type_text("x"), lambda: pixel.key("enter"),
        lambda: pixel.swipe(1, 2, 3, 4), lambda: pixel.launch(DEMO), lambda: pixel.stop(DEMO),
        lambda: pixel.install(demo_apk),
    ]
    for call in calls:
        with pytest.raises(DeviceLost) as info:
            call()
        assert info.value.category == "infrastructure"


def test_unknown_key(pixel: SimulatedDevice) -> None:
    with pytest.raises(ValueError, match="unknown key"):
        pixel.key("f13")


# ---------------------------------------------------------------- profiles


def test_parse_simulator_spec() -> None:
    p = parse_simulator_spec("Pixel 7:Android:14:sms")
    assert (p.name, p.platform, p.os_version, p.form_factor, p.sms_enabled) == (
        "Pixel 7", "Android", "14", "phone", True)
    assert (p.width, p.height) == (1080, 2400) and p.serial
    p = parse_simulator_spec("iPad Pro:iOS:16.0:tablet")
    assert (p.platform, p.form_factor, p.sms_enabled) == ("iOS", "tablet", False)
    assert p.width > 1080 and p.height > 2400
    p = parse_simulator_spec("Galaxy Tab:android:13:tablet,sms")
    assert (p.platform, p.form_factor, p.sms_enabled) == ("Android", "tablet", True)
    assert parse_simulator_spec("Moto G:Android:12:sms:phone").sms_enabled
    assert parse_simulator_spec("iPhone 14 Pro:iOS:16.0") == IPHONE
    for bad, why in [("Pixel 7", "expected name:platform"), ("Pixel 7:Windows:11", "platform"),
                     ("Pixel 7:Android:14:wifi", "unknown flag"), (":Android:14", "expected"),
                     ("X:Android:14:phone,tablet", "not both")]:
        with pytest.raises(ValueError, match=why):
            parse_simulator_spec(bad)


def test_the_fleet() -> None:
    assert [(p.name, p.platform, p.os_version, p.form_factor, p.sms_enabled)
            for p in SIMULATED_FLEET] == [
        ("Pixel 7", "Android", "14", "phone", True),
        ("iPhone 14 Pro", "iOS", "16.0", "phone", False),
        ("iPad Pro", "iOS", "16.0", "tablet", False),
    ]
    assert all(isinstance(p, DeviceProfile) for p in SIMULATED_FLEET)


# ---------------------------------------------------------------- the model format


def test_demo_shop_is_plain_json() -> None:
    model = demo_shop_model()
    assert json.loads(json.dumps(model)) == model
    assert model["package"] == DEMO and model["label"] == "Demo Shop"
    products_ = model["data"]["products"]
    assert len(products_) == 40 and len({p["name"] for p in products_}) == 40
    assert products_[0] == {"name": "Wireless Headphones X200", "price": "$59.99"}
    assert products_[-1]["name"] == "Zen Garden Kit"
    assert [p["name"] for p in products_ if "wireless headphones" in p["name"].lower()] == [
        "Wireless Headphones X200"]
    model["label"] = "changed"
    assert demo_shop_model()["label"] == "Demo Shop"  # a fresh copy every time


def _broken(change: Any) -> dict[str, Any]:
    model = copy.deepcopy(demo_shop_model())
    change(model)
    return model


def _sign_in_elements(m: dict[str, Any]) -> list[dict[str, Any]]:
    return m["screens"]["sign_in"]["elements"]


@pytest.mark.parametrize(("change", "message"), [
    (lambda m: m.update(format="qualgent-app/9"), r"app model\.format: expected"),
    (lambda m: m.pop("start"), r"app model: missing 'start'"),
    (lambda m: m.update(package="demo"), r"app model\.package: 'demo' is not a package name"),
    (lambda m: m.update(start="nowhere"), r"app model\.start: unknown screen 'nowhere'"),
    (lambda m: _sign_in_elements(m)[3]["on_tap"][0].update(go="forgot"),
     r"screens\.sign_in\.elements\[3\]\.on_tap\[0\]\.go: unknown screen 'forgot'"),
    (lambda m: _sign_in_elements(m)[2].update(on_click=[]),
     r"screens\.sign_in\.elements\[2\]: unknown key 'on_click'"),
    (lambda m: _sign_in_elements(m)[0].update(kind="textbox"),
     r"screens\.sign_in\.elements\[0\]\.kind: expected one of"),
    (lambda m: m["screens"]["profile"]["elements"][1].pop("bind"),
     r"screens\.profile\.elements\[1\]: a switch needs 'bind'"),
    (lambda m: m["screens"]["profile"]["elements"][1].update(bind="night"),
     r"state 'night' is not declared"),
    (lambda m: _sign_in_elements(m)[2].update(text="{input.username}"),
     r"elements\[2\]\.text: this screen has no input with the id 'username'"),
    (lambda m: _sign_in_elements(m)[2].update(text="{user.name}"),
     r"reference 'user.name' must start with one of"),
    (lambda m: _sign_in_elements(m)[2].update(on_tap=[{"goto": "home"}]),
     r"on_tap\[0\]: an action has exactly one of"),
    (lambda m: _sign_in_elements(m)[2].update(on_tap=[{"if": {"equals": []}, "then": []}]),
     r"on_tap\[0\]\.if: a condition is one of"),
    (lambda m: _sign_in_elements(m)[2].update(box=[0, 0, 120, 10]),
     r"elements\[2\]\.box: expected 0 <= left"),
    (lambda m: m["screens"]["home"]["elements"][1].update(source="data.items"),
     r"data 'items' is not declared"),
    (lambda m: m["screens"].update(home=[]), r"screens\.home: expected an object, got list"),
    (lambda m: _sign_in_elements(m).append({"kind": "input", "id": "email"}),
     r"screens\.sign_in: two elements have the id 'email'"),
])
def test_model_validation(change: Any, message: str) -> None:
    with pytest.raises(ModelError, match=message):
        load_model(_broken(change))


def test_model_from_json_text() -> None:
    assert load_model(json.dumps(demo_shop_model())).package == DEMO
    with pytest.raises(ModelError, match="not valid JSON"):
        load_model("{nope")


TOY = {
    "format": "qualgent-app/1",
    "package": "org.example.toy",
    "label": "Toy",
    "start": "main",
    "state": {"agree": False, "picked": ""},
    "screens": {
        "main": {
            "title": "Toy",
            "elements": [
                {"kind": "row", "elements": [
                    {"kind": "button", "text": "A", "on_tap": [{"set": {"picked": "A"}}]},
                    {"kind": "button", "text": "B", "on_tap": [{"set": {"picked": "B"}}]},
                ]},
                {"kind": "text", "text": "Picked {state.picked}",
                 "visible": {"ne": ["{state.picked}", ""]}},
                {"kind": "checkbox", "text": "I agree", "bind": "agree"},
                {"kind": "list", "id": "fruit", "items": ["Apple", "Pear", {"text": "Plum"}],
                 "on_item_tap": [{"go": "fruit"}]},
                {"kind": "button", "id": "fab", "text": "Next", "box": [70, 85, 95, 92],
                 "on_tap": [{"if": {"empty": "state.agree"},
                             "then": [{"show": "Please agree first"}],
                             "else": [{"go": "done"}]}]},
            ],
        },
        "fruit": {"title": "{item.text}", "elements": [
            {"kind": "button", "text": "Done", "on_tap": [{"back": True}]}]},
        "done": {"title": "Done", "on_enter": [{"set": {"picked": "done"}}], "elements": [
            {"kind": "text", "text": "{state.picked}"},
            {"kind": "button", "text": "Boom", "on_tap": [{"crash": "kaboom"}]}]},
    },
}


def test_a_generic_model() -> None:
    device = SimulatedDevice(parse_simulator_spec("Phone:Android:14"))
    app = device.install_model(TOY)
    assert (app.package, app.label) == ("org.example.toy", "Toy")
    device.launch("org.example.toy")
    a, b = find(device, "A", kind="button"), find(device, "B", kind="button")
    assert a.bounds.top == b.bounds.top and a.bounds.right < b.bounds.left  # one row
    assert not any(t.startswith("Picked") for t in texts(device))
    tap(device, b)
    assert "Picked B" in texts(device)
    assert [e.text for e in device.hierarchy().elements if e.kind == "list_item"] == [
        "Apple", "Pear", "Plum"]
    fab = find(device, "Next", kind="button")
    assert fab.bounds.left == round(0.70 * 1080) and fab.bounds.top == round(0.85 * 2400)
    tap(device, fab)
    assert "Please agree first" in texts(device)
    tap(device, find(device, "Pear", kind="list_item"))
    assert title(device) == "Pear"
    tap(device, find(device, "Done", kind="button"))
    assert title(device) == "Toy"
    assert "Please agree first" not in texts(device)
    tap(device, find(device, "I agree", kind="checkbox"))
    assert find(device, "I agree", kind="checkbox").checked is True
    tap(device, fab)
    assert title(device) == "Done" and "done" in texts(device)
    png(device.screenshot())
    tap(device, find(device, "Boom", kind="button"))
    with pytest.raises(AppCrashed, match="kaboom"):
        device.hierarchy()


def test_a_looping_model_crashes_instead_of_hanging() -> None:
    loop = {"format": "qualgent-app/1", "package": "org.example.loop", "label": "Loop",
            "start": "a", "state": {"n": ""}, "screens": {
                "a": {"elements": [{"kind": "button", "text": "Go", "on_tap": [{"go": "b"}]}]},
                "b": {"on_enter": [{"go": "c", "reset": True}], "elements": []},
                "c": {"on_enter": [{"go": "b", "reset": True}], "elements": []}}}
    device = SimulatedDevice(PIXEL)
    device.install_model(loop)
    device.launch("org.example.loop")
    tap(device, find(device, "Go"))
    with pytest.raises(AppCrashed, match="looped"):
        device.hierarchy()


def test_write_app_build_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "toy.apk"
    write_app_build(path, TOY, "android", version_name="2.0", version_code=5)
    app = SimulatedDevice(PIXEL).install(path)
    assert (app.package, app.label, app.extra["version_code"]) == ("org.example.toy", "Toy", "5")
