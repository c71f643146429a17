"""Realistic cases end to end on the simulator running the Demo Shop build."""

from __future__ import annotations

from pathlib import Path

from qualgent.agent import RunOutcome, run_steps
from qualgent.drivers.simulator import SimulatedDevice, parse_simulator_spec
from tests.demo import BUY_FIRST_RESULT_CHECKED, SIGN_IN, after_step

from .fakes import fast_options

# The reference case: search for headphones and wait for the results (after SIGN_IN).
REFERENCE = [
    "Open the app and tap the search bar",
    "Type wireless headphones and submit",
    "Wait up to 30 seconds for results",
]


def device(builds: dict[str, Path], spec: str = "Pixel 7:Android:14:sms",
           seed: int = 7) -> tuple[SimulatedDevice, str]:
    d = SimulatedDevice(parse_simulator_spec(spec), seed=seed)
    platform = "ios" if ":iOS:" in spec else "android"
    return d, d.install(builds[platform]).package


def run(builds: dict[str, Path], steps: list[str], fast: bool = True, **kw) -> RunOutcome:  # noqa: ANN003
    d, package = device(builds)
    return run_steps(d, package, steps, options=fast_options() if fast else None, **kw)


def test_the_reference_case_after_sign_in_and_otp(demo_builds: dict[str, Path]) -> None:
    d, package = device(demo_builds)
    progress: list[int] = []
    out = run_steps(d, package, [*SIGN_IN, *REFERENCE],
                    on_step=lambda r, p: progress.append(p))  # default timings
    assert (out.status, out.failure_category) == ("completed", None), out.explanation
    assert [s.status for s in out.steps] == ["passed"] * 8
    assert progress == sorted(progress) and progress[-1] == 100
    otp = out.steps[4]
    code = otp.actions[0]
    assert (code.action, code.selector) == ("read_sms", {"sender": "DemoShop"})
    assert code.value in d.read_sms()[-1].body
    assert otp.actions[2].value == code.value
    search_tap = out.steps[5].actions[0]
    assert search_tap.action == "tap" and search_tap.selector["kind"] == "input"
    screen = d.hierarchy()
    search = next(e for e in screen.elements if e.id == "search")
    assert search.text == "wireless headphones"
    products = [e.text for e in screen.elements if e.kind == "list_item"]
    assert products == ["Wireless Headphones X200"]
    assert out.steps[7].actions[-1].selector == {"text": "Wireless Headphones X200",
                                                 "kind": "list_item"}
    assert all(s.screenshot and s.screenshot.startswith(b"\x89PNG") for s in out.steps)


def test_buy_headphones_and_check_out(demo_builds: dict[str, Path]) -> None:
    out = run(demo_builds, [
        *SIGN_IN,
        'Verify "Home" is shown',
        *BUY_FIRST_RESULT_CHECKED,
        "Your cart is empty should be visible",
        "The error message should not be visible",
    ])
    assert out.status == "passed", out.explanation
    assert sum(s.has_assertion for s in out.steps) == 7


def test_scroll_to_the_last_product(demo_builds: dict[str, Path]) -> None:
    out = run(demo_builds, [*SIGN_IN, "Zen Garden Kit should not be visible",
                            "Scroll down until Zen Garden Kit is visible", "Tap Zen Garden Kit",
                            "Verify the price is $34.99"])
    assert out.status == "passed", out.explanation
    assert {a.action for a in out.steps[6].actions} == {"swipe"}


def test_search_then_clear_and_tap_a_product_found_by_scrolling(
        demo_builds: dict[str, Path]) -> None:
    out = run(demo_builds, [*SIGN_IN,
                            "Search for speaker",
                            "Verify Bluetooth Speaker Mini is shown",
                            "Wireless Headphones X200 should not be visible",
                            "Clear the search bar and press enter",
                            "Tap Tea Sampler Box",
                            "Verify $24.00 is shown"])
    assert out.status == "passed", out.explanation
    assert any(a.action == "swipe" for a in out.steps[9].actions)


def test_wrong_password_fails_the_assertion_as_an_app_failure(demo_builds: dict[str, Path]) -> None:
    out = run(demo_builds, ["Open the app", "Type demo@example.com into Email",
                            "Type nope into Password", "Tap Sign in",
                            'Verify "Verify your phone" is shown', "Tap Verify"])
    assert (out.status, out.failure_category) == ("failed", "app")
    assert out.explanation.startswith("Step 5 ('Verify \"Verify your phone\" is shown') failed")
    assert "Invalid email or password" in out.explanation  # what the screen showed instead
    assert [s.status for s in out.steps] == ["passed"] * 4 + ["failed", "skipped"]


def test_a_missing_target_is_a_test_failure(demo_builds: dict[str, Path]) -> None:
    out = run(demo_builds, ["Open the app", "Tap the Teleport button"])
    assert out.failure_category == "test"
    assert "Teleport" in out.explanation and '"Sign in" (button)' in out.steps[1].reason


def test_crash_is_an_app_failure_of_the_step_that_caused_it(demo_builds: dict[str, Path]) -> None:
    out = run(demo_builds, [*SIGN_IN, "Open the Profile tab", "Turn on Dark mode",
                            "Verify Dark mode is on", "Tap Crash app", 'Verify "Profile" is shown'])
    assert (out.status, out.failure_category) == ("failed", "app")
    assert out.explanation.startswith("The app crashed during step 9 ('Tap Crash app')")
    assert out.steps[-1].status == "skipped"


def test_sign_out_and_back_navigation(demo_builds: dict[str, Path]) -> None:
    out = run(demo_builds, [*SIGN_IN, "Go to Profile",
                            "Verify Signed in as demo@example.com is shown", "Tap Sign out",
                            "Verify the Sign in button is visible", "Tap Forgot password?",
                            "Verify Reset password is shown", "Go back", "Verify Email is shown"])
    assert out.status == "passed", out.explanation


def test_no_sms_on_a_device_without_sim(demo_builds: dict[str, Path]) -> None:
    d, package = device(demo_builds, "iPhone 14 Pro:iOS:16.0")
    out = run_steps(d, package, SIGN_IN)  # default timings: fails at once, no 30 s wait
    assert (out.status, out.failure_category) == ("failed", "test")
    assert "SMS" in out.explanation


def test_a_lost_device_is_an_infrastructure_failure(demo_builds: dict[str, Path]) -> None:
    d, package = device(demo_builds)
    out = run_steps(d, package, SIGN_IN, on_step=after_step(1, d.disconnect),
                    options=fast_options())
    assert (out.status, out.failure_category) == ("failed", "infrastructure")
    assert out.explanation.startswith("The device was lost during step 3")
    assert [s.status for s in out.steps] == ["passed", "passed", "failed", "skipped", "skipped"]


def test_the_same_screens_give_the_same_fingerprints(demo_builds: dict[str, Path]) -> None:
    steps = [*SIGN_IN, *REFERENCE, "Tap Wireless Headphones X200"]
    a, b = run(demo_builds, steps), run(demo_builds, steps)  # same seed, same codes
    prints = [[x.screen for x in s.actions] for s in a.steps]
    assert prints == [[x.screen for x in s.actions] for s in b.steps]
    # sign in, verification, home, search results, product (typed text is ignored)
    assert len({p for step in prints for p in step}) >= 5
