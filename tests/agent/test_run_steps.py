"""run_steps end to end on a fake device: actions, records, outcomes, failures, stopping."""

from __future__ import annotations

import time

import pytest

from qualgent.agent import (
    ActionRecord,
    Intent,
    RunOutcome,
    StepResult,
    Target,
    run_steps,
)
from qualgent.drivers.base import Hierarchy

from .fakes import PACKAGE, FakeDevice, Node, fast_options, shop, tabs

SIGN_IN = [
    "Enter demo@example.com into Email",
    "Type hunter2 in the password field",
    'Tap "Sign in"',
    "Enter the code from the SMS and tap Verify",
]


def run(device: FakeDevice, steps: list[str], **kw) -> RunOutcome:  # noqa: ANN003
    kw.setdefault("options", fast_options())
    return run_steps(device, PACKAGE, steps, **kw)


def actions(result: StepResult) -> list[tuple]:
    """(action, value) of a step's records, without the run's initial launch."""
    recs = result.actions
    if result.index == 0 and recs and recs[0].action == "launch":
        recs = recs[1:]
    return [(a.action, a.value) for a in recs]


# ------------------------------------------------------------------------------ happy paths


def test_sign_in_with_otp_then_search_and_verify() -> None:
    d = shop()
    progress: list[int] = []
    out = run(d, [*SIGN_IN,
                  "Open the app and tap the search bar",
                  "Type wireless headphones and submit",
                  "Wait up to 30 seconds for results",
                  "Verify that Product 01 is shown"],
              on_step=lambda r, p: progress.append(p))
    assert out.status == "passed", out.explanation
    assert out.failure_category is None and out.explanation is None
    assert [s.status for s in out.steps] == ["passed"] * 8
    assert progress == [12, 25, 37, 50, 62, 75, 87, 100]
    assert d.value("email") == "demo@example.com" and d.value("password") == "hunter2"
    assert d.value("code") == "482913"
    assert d.value("search") == "wireless headphones"
    assert d.screen == "results"

    first = out.steps[0]
    assert first.index == 0 and first.description == SIGN_IN[0]
    assert first.actions[0] == ActionRecord("launch", None, None, PACKAGE,
                                            first.actions[0].screen)
    tap, typed = first.actions[1], first.actions[2]
    assert tap.action == "tap" and tap.selector == {"hint": "Email", "kind": "input"}
    assert tap.bounds == [40, 220, 1040, 320]
    assert (typed.action, typed.value, typed.selector) == ("type", "demo@example.com",
                                                           {"hint": "Email", "kind": "input"})
    otp = out.steps[3]
    assert actions(otp) == [("read_sms", "482913"), ("tap", None), ("type", "482913"),
                            ("tap", None)]
    assert otp.actions[-1].selector == {"text": "Verify", "kind": "button"}
    assert actions(out.steps[4]) == [("tap", None)]  # the app is already in the foreground
    assert actions(out.steps[5]) == [("type", "wireless headphones"), ("key", "enter")]
    assert out.steps[6].actions[0].action == "wait"
    assert out.steps[7].has_assertion and not any(s.has_assertion for s in out.steps[:7])
    for step in out.steps:
        assert step.screenshot.startswith(b"\x89PNG")
        assert step.started_at <= step.finished_at
        assert step.reason is None
        assert all(a.screen and len(a.screen) == 16 for a in step.actions)


def test_screen_fingerprints_are_stable_across_runs() -> None:
    steps = [*SIGN_IN, "Tap Product 02"]
    a, b = run(shop(), steps), run(shop(), steps)
    assert [[x.screen for x in s.actions] for s in a.steps] == \
        [[x.screen for x in s.actions] for s in b.steps]
    screens = {x.screen for s in a.steps for x in s.actions}
    assert len(screens) > 3


def test_completed_when_nothing_is_asserted() -> None:
    out = run(shop(), SIGN_IN)
    assert (out.status, out.failure_category) == ("completed", None)
    assert all(s.status == "passed" for s in out.steps)


def test_no_steps_launches_and_completes() -> None:
    d = shop()
    out = run(d, [])
    assert (out.status, out.steps) == ("completed", [])
    assert d.calls("launch") == [("launch", PACKAGE)]


# ------------------------------------------------------------------------------ failures


def test_failed_assertion_is_an_app_failure_and_skips_the_rest() -> None:
    d = shop()
    reported: list[tuple[str, int]] = []
    out = run(d, ["Verify Order confirmed is shown", "Tap Sign in", "Go back"],
              on_step=lambda r, p: reported.append((r.status, p)))
    assert (out.status, out.failure_category) == ("failed", "app")
    assert out.explanation.startswith("Step 1 ('Verify Order confirmed is shown') failed: "
                                      "Expected to see \"Order confirmed\"")
    assert '"Sign in" (button)' in out.explanation
    assert reported == [("failed", 33), ("skipped", 66), ("skipped", 100)]
    first, *rest = out.steps
    assert first.has_assertion and first.screenshot
    assert first.actions[-1].action == "assert_visible" and first.actions[-1].selector is None
    assert all(s.reason == "Skipped: step 1 failed." and s.actions == [] for s in rest)
    assert d.calls("tap") == []


def test_missing_tap_target_is_a_test_failure_naming_the_screen() -> None:
    out = run(shop(), ["Tap the Register button"])
    assert (out.status, out.failure_category) == ("failed", "test")
    reason = out.steps[0].reason
    assert 'Could not find an element matching "the Register button" (button) to tap' in reason
    assert '"Sign in" (button)' in reason and '"Email" (input)' in reason


def test_tap_scrolls_to_find_its_target_and_records_the_swipes() -> None:
    d = shop(start="home")
    out = run(d, ["Tap Zen Garden Kit"])
    assert out.status == "completed", out.explanation
    acts = out.steps[0].actions
    swipes = [a for a in acts if a.action == "swipe"]
    assert swipes and all(a.value == "up" and a.bounds == [0, 100, 1080, 2200] for a in swipes)
    assert acts[-1].action == "tap" and acts[-1].selector["text"] == "Zen Garden Kit"
    assert d.screen == "product"


def test_tap_gives_up_after_bounded_scrolling() -> None:
    d = shop(start="home")
    out = run(d, ["Tap Product 99"])
    assert out.failure_category == "test"
    assert "after scrolling the screen" in out.steps[0].reason
    assert 2 <= len(d.calls("swipe")) <= 40


def test_not_understood_is_a_test_failure() -> None:
    out = run(shop(), ["Sign in as the admin user"])
    assert out.failure_category == "test"
    assert out.steps[0].reason.startswith('Could not understand "Sign in as the admin user"')
    assert [a.action for a in out.steps[0].actions] == ["launch"]


def test_app_crash_fails_the_step_that_caused_it() -> None:
    d = shop(start="profile")
    out = run(d, ["Tap Dark mode", "Tap Crash app", "Go back", "Tap Home"])
    assert (out.status, out.failure_category) == ("failed", "app")
    assert out.explanation.startswith("The app crashed during step 2 ('Tap Crash app')")
    assert "Crash app was tapped" in out.explanation
    assert [s.status for s in out.steps] == ["passed", "failed", "skipped", "skipped"]
    assert out.steps[1].reason.startswith("The app crashed")


def test_app_crash_on_launch() -> None:
    d = shop()
    d.crashed = "boom"
    out = run(d, ["Tap Sign in"])
    assert out.failure_category == "app"
    assert "The app crashed during step 1 ('Tap Sign in')" in out.explanation


def test_device_lost_is_an_infrastructure_failure() -> None:
    d = shop()

    def lose(device: FakeDevice) -> None:
        device.lost = True

    d.screens["sign_in"][3].on_tap = lose
    out = run(d, ["Tap Sign in", "Type x"])
    assert (out.status, out.failure_category) == ("failed", "infrastructure")
    assert out.explanation.startswith("The device was lost during step 1 ('Tap Sign in')")
    assert out.steps[0].screenshot is None
    assert out.steps[1].status == "skipped"


def test_a_planner_bug_is_an_infrastructure_failure() -> None:
    class Broken:
        def plan(self, step: str, screen: Hierarchy) -> list[Intent]:
            raise RuntimeError("oops")

    out = run(shop(), ["Tap Sign in"], planner=Broken())
    assert out.failure_category == "infrastructure"
    assert "oops" in out.explanation


def test_a_custom_planner_is_used() -> None:
    class OneTap:
        def plan(self, step: str, screen: Hierarchy) -> list[Intent]:
            return [Intent("tap", Target.of("Terms and Conditions"))]

    d = shop()
    out = run(d, ["anything at all"], planner=OneTap())
    assert out.status == "completed"
    assert d.screen == "terms"


# ------------------------------------------------------------------------------ stopping


def test_should_stop_skips_the_remaining_steps() -> None:
    d = shop()
    done: list[int] = []
    out = run(d, ["Tap Terms and Conditions", "Go back", "Tap Sign in"],
              on_step=lambda r, p: done.append(p), should_stop=lambda: len(done) >= 1)
    assert [s.status for s in out.steps] == ["passed", "skipped", "skipped"]
    assert (out.status, out.failure_category) == ("failed", "infrastructure")
    assert out.explanation == "The run was stopped before step 2 ('Go back')."
    assert out.steps[1].reason == "The run was stopped before this step."
    assert done == [33, 66, 100]
    assert d.calls("back") == []


def test_should_stop_before_anything() -> None:
    d = shop()
    out = run(d, ["Tap Sign in"], should_stop=lambda: True)
    assert [s.status for s in out.steps] == ["skipped"]
    assert d.log == []


# ------------------------------------------------------------------------------ waits


def test_wait_seconds_sleeps_exactly() -> None:
    t0 = time.monotonic()
    out = run(shop(), ["Wait 0.3 seconds"])
    assert time.monotonic() - t0 >= 0.3
    assert actions(out.steps[0])[-1] == ("wait", "0.3")


def test_wait_for_polls_until_the_element_appears() -> None:
    d = shop()
    d.screens["sign_in"].append(Node("text", "Welcome back", visible=lambda dev: dev.polls > 6))
    out = run(d, ["Wait up to 2 seconds for Welcome back to appear"])
    assert out.status == "completed", out.explanation
    wait = out.steps[0].actions[-1]
    assert wait.action == "wait" and wait.selector == {"text": "Welcome back", "kind": "text"}
    assert float(wait.value) < 2


def test_wait_for_times_out_as_an_app_failure() -> None:
    d = shop()
    t0 = time.monotonic()
    out = run(d, ["Wait up to 0.3 seconds for Welcome back"])
    assert 0.3 <= time.monotonic() - t0 < 2
    assert out.failure_category == "app"
    assert 'Waited 0.3 seconds for "Welcome back" to appear' in out.steps[0].reason


def test_wait_for_generic_results_accepts_list_items() -> None:
    out = run(shop(start="home"), ["Wait up to 1 second for the results to load"])
    assert out.status == "completed"
    assert out.steps[0].actions[-1].selector["kind"] == "list_item"


def test_wait_for_generic_page_accepts_a_screen_change() -> None:
    d = shop()
    d.screens["sign_in"].append(Node("text", "Loaded", visible=lambda dev: dev.polls > 5))
    out = run(d, ["Wait for the page to load"])
    assert out.status == "completed"


def test_wait_for_generic_fails_when_nothing_happens() -> None:
    out = run(shop(), ["Wait up to 0.2 seconds for the page to load"])
    assert out.failure_category == "app"
    assert "anything to load" in out.steps[0].reason


def test_wait_until_gone() -> None:
    d = shop()
    d.screens["sign_in"].append(Node("text", "Loading...", visible=lambda dev: dev.polls < 6))
    out = run(d, ["Wait until Loading disappears"])
    assert out.status == "completed", out.explanation


# ------------------------------------------------------------------------------ scrolling


def test_scroll_until_visible() -> None:
    d = shop(start="home")
    out = run(d, ["Scroll down until Zen Garden Kit is visible", "Verify Zen Garden Kit is shown"])
    assert out.status == "passed", out.explanation
    assert {a for a, _ in actions(out.steps[0])} == {"swipe"}


def test_scroll_until_gives_up_after_the_end_of_the_list() -> None:
    d = shop(start="home")
    out = run(d, ["Scroll down until Product 99 is visible"])
    assert out.failure_category == "test"
    assert 'never became visible' in out.steps[0].reason
    assert len(d.calls("swipe")) <= 15


def test_plain_swipes_and_scroll_to_the_bottom() -> None:
    d = shop(start="home")
    out = run(d, ["Scroll down 2 times", "Swipe down", "Scroll to the bottom"])
    assert out.status == "completed"
    assert actions(out.steps[0]) == [("swipe", "up"), ("swipe", "up")]
    assert actions(out.steps[1]) == [("swipe", "down")]
    up, down = d.calls("swipe")[0], d.calls("swipe")[2]
    assert up[2] > up[4] and down[2] < down[4]  # the finger moves up to scroll down
    assert d.offsets["home"] == d._max_offset()


# ------------------------------------------------------------------------------ typing


def test_type_into_the_only_input_and_clear_an_old_value() -> None:
    d = FakeDevice({"s": [Node("input", id="note", hint="Note", value="old")]}, "s")
    out = run(d, ["Type new text"])
    assert actions(out.steps[0]) == [("tap", None), ("clear", None), ("type", "new text")]
    assert d.value("note") == "new text"


def test_type_without_target_prefers_the_focused_input() -> None:
    d = shop()
    out = run(d, ["Tap the password field", "Type hunter2", "Type demo@example.com"])
    assert out.status == "completed"
    assert d.value("password") == "demo@example.com"  # typing again replaces the value
    assert d.value("email") == ""


def test_type_without_focus_picks_the_first_empty_input() -> None:
    d = shop()
    run(d, ["Type demo@example.com", "Type hunter2 into Password and press enter"])
    assert (d.value("email"), d.value("password")) == ("demo@example.com", "hunter2")
    assert d.screen == "verify"


def test_type_into_a_missing_field_fails() -> None:
    out = run(shop(), ["Enter 12 into the Quantity field"])
    assert out.failure_category == "test"
    assert 'Could not find an input matching "the Quantity field"' in out.steps[0].reason


def test_clear_a_named_field() -> None:
    d = shop()
    out = run(d, ["Enter demo@example.com into Email", "Clear the Email field"])
    assert out.status == "completed"
    assert d.value("email") == ""
    assert out.steps[1].actions[-1].action == "clear"


# ------------------------------------------------------------------------------ SMS


def test_sms_code_takes_the_newest_code() -> None:
    d = shop(start="verify")
    d.text_sms("Your Shop code is 111111")
    d.text_sms("Welcome! Reply STOP to unsubscribe")
    d.text_sms("Your Shop code is 482913")
    out = run(d, ["Type the OTP from the text message", "Tap Verify"])
    assert out.status == "completed", out.explanation
    read = out.steps[0].actions[1]
    assert read == ActionRecord("read_sms", {"sender": "Shop"}, None, "482913", read.screen)
    assert d.screen == "home"


def test_no_sms_is_an_app_failure() -> None:
    out = run(shop(start="verify"), ["Enter the code from the SMS"])
    assert out.failure_category == "app"
    assert "No SMS with a 4-8 digit code arrived" in out.steps[0].reason


def test_no_sms_on_a_device_without_sms_is_a_test_failure() -> None:
    out = run(shop(start="verify", sms_enabled=False), ["Enter the code from the SMS"])
    assert out.failure_category == "test"
    assert "SMS-capable device" in out.steps[0].reason


# ------------------------------------------------------------------------------ more actions


def test_open_the_app_relaunches_only_when_needed() -> None:
    d = shop()
    out = run(d, ["Open the app", "Press the home key", "Open the app", "Tap Sign in"])
    assert out.status == "completed", out.explanation
    assert len(d.calls("launch")) == 2
    assert [(a.action, a.value) for a in out.steps[0].actions] == [("launch", PACKAGE)]
    assert actions(out.steps[2]) == [("launch", PACKAGE)]


def test_restart_the_app() -> None:
    d = shop()
    run(d, ["Tap Terms and Conditions", "Restart the app"])
    assert d.calls("stop") and d.screen == "sign_in"


def test_go_back() -> None:
    d = shop()
    out = run(d, ["Tap Terms and Conditions", "Go back", "Verify Sign in is shown"])
    assert out.status == "passed"
    assert actions(out.steps[1]) == [("back", None)]


def test_toggles_are_idempotent() -> None:
    d = shop(start="profile")
    out = run(d, ["Turn on Dark mode", "Enable Dark mode", "Verify Dark mode is on",
                  "Toggle Dark mode", "Dark mode should be off"])
    assert out.status == "passed", out.explanation
    assert len(d.calls("tap")) == 2


def test_state_assertion_failure() -> None:
    out = run(shop(start="profile"), ["Verify Dark mode is on"])
    assert out.failure_category == "app"
    assert out.steps[0].reason == 'Expected "Dark mode" to be on, but it is off.'


def test_negative_assertions() -> None:
    d = shop()
    out = run(d, ["The error message should not be visible",
                  "Tap Sign in", "Verify Invalid email or password is not shown"])
    assert out.failure_category == "app"
    assert [s.status for s in out.steps] == ["passed", "passed", "failed"]
    assert out.steps[2].reason.startswith(
        'Expected "Invalid email or password" not to be visible, but the screen shows '
        '"Invalid email or password" (text)')


def test_repeated_taps() -> None:
    d = shop(start="product")
    out = run(d, ['Tap "Add to cart" twice'])
    assert actions(out.steps[0]) == [("tap", None), ("tap", None)]


def test_several_things_asserted_at_once() -> None:
    d = shop(start="product")
    out = run(d, ["Verify Add to cart and $59.99 are shown"])
    assert out.status == "passed", out.explanation
    assert actions(out.steps[0]) == [("assert_visible", "Add to cart"),
                                     ("assert_visible", "$59.99")]


def test_quoted_and_fuzzy_targets_on_a_device() -> None:
    d = FakeDevice({"s": [Node("button", "Terms & Conditions", on_tap="t"),
                          Node("button", "Wireless Headphones X200", on_tap="p")],
                    "t": [Node("text", "Terms")], "p": [Node("text", "Product")]}, "s")
    out = run(d, ["Tap Wireles Headphones", "Go back", 'Tap "terms & conditions"'])
    assert out.status == "completed", out.explanation
    assert d.stack == ["s", "t"]


def test_an_unknown_key_is_a_test_failure() -> None:
    out = run(shop(), ["Press the escape key"])
    assert out.failure_category == "test"
    assert "no 'escape' key" in out.steps[0].reason


@pytest.mark.parametrize("step", ["Go to Cart", "Open the Cart tab", "Tap the cart tab"])
def test_tabs(step: str) -> None:
    d = FakeDevice({"home": [Node("text", "Home"), *tabs("Home", "Cart")],
                    "cart": [Node("text", "Your cart")]}, "home")
    assert run(d, [step]).status == "completed"
    assert d.screen == "cart"
