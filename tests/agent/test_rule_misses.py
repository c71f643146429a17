"""The classes of phrasing the rule-based planner used to miss, end to end on the Demo Shop
(simulator, run_steps): a role noun before the target, a label-style check, finger-direction
swipes with a vague count, a target on a screen behind this one, and misspelt, numbered and
polite steps. Each class in several phrasings, with the cases that must still fail."""

from __future__ import annotations

from pathlib import Path

import pytest

from qualgent.agent import RulePlanner, RunOutcome, run_steps
from qualgent.drivers.base import Bounds, Element, Hierarchy
from qualgent.drivers.simulator import SimulatedDevice, parse_simulator_spec
from tests.demo import SIGN_IN

from .fakes import fast_options

WRONG_PASSWORD = ["Open the app", 'Enter "demo@example.com" into Email',
                  'Enter "letmein" into Password', "Tap Sign in"]
ON_A_PRODUCT = [*SIGN_IN, "Tap the first result"]
ADDED = [*ON_A_PRODUCT, "Tap Add to cart"]


def run(apk: Path, steps: list[str]) -> RunOutcome:
    d = SimulatedDevice(parse_simulator_spec("Pixel 7:Android:14:sms"), seed=7)
    return run_steps(d, d.install(apk).package, steps, options=fast_options())


def last(out: RunOutcome) -> list[tuple[str, str | None]]:
    """(action, value) of the last step's recorded actions."""
    return [(a.action, a.value) for a in out.steps[-1].actions]


# ----------------------------------------------------------------------- role nouns


@pytest.mark.parametrize(("before", "step"), [
    (WRONG_PASSWORD, 'Verify the error "Invalid email or password" is shown'),
    (WRONG_PASSWORD, "The message Invalid email or password appears"),
    (WRONG_PASSWORD, "Check that the error message Invalid email or password is displayed"),
    (WRONG_PASSWORD, "An error saying Invalid email or password should be visible"),
    (WRONG_PASSWORD, "Verify an error is shown"),
    (ADDED, "The toast Added to cart appears"),
    (ADDED, 'Make sure the toast "Added to cart" is on the screen'),
    (ADDED, "Verify the banner that says Added to cart is shown"),
    (SIGN_IN, "Check the title says Home"),
    (SIGN_IN, "Verify the heading Home is displayed"),
    (SIGN_IN, "Verify the label Search is shown"),
])
def test_a_role_noun_before_the_text_checks_the_text(demo_apk: Path, before: list[str],
                                                     step: str) -> None:
    out = run(demo_apk, [*before, step])
    assert out.status == "passed", out.explanation
    assert out.steps[-1].actions[-1].action == "assert_visible"


@pytest.mark.parametrize(("before", "step"), [
    (WRONG_PASSWORD, 'Verify the error "Wrong password" is shown'),
    (WRONG_PASSWORD, "The message Saved appears"),
    (ADDED, "The toast Removed from cart appears"),
    (SIGN_IN, "Check the title says Settings"),
    (WRONG_PASSWORD, "Make sure no error is displayed"),  # "Invalid email or password" is one
    (WRONG_PASSWORD, "The error message should not be visible"),
])
def test_a_role_noun_check_of_what_is_not_there_still_fails(demo_apk: Path,
                                                           before: list[str],
                                                           step: str) -> None:
    out = run(demo_apk, [*before, step])
    assert (out.status, out.failure_category) == ("failed", "app"), out.explanation
    assert out.steps[-1].status == "failed"


# ----------------------------------------------------------------------- label-style checks


@pytest.mark.parametrize(("before", "step"), [
    (SIGN_IN, "Title: Home"),
    (SIGN_IN, "Screen - Home"),
    (ADDED, 'Expected: "Added to cart"'),
    (ADDED, "Result -> Added to cart"),
    (ADDED, "Status: Added to cart"),
    (ADDED, "Price = $59.99"),
    (ADDED, "Expected result: Added to cart is shown"),
    (WRONG_PASSWORD, "Error: Invalid email or password"),
])
def test_a_label_style_line_is_a_check(demo_apk: Path, before: list[str], step: str) -> None:
    out = run(demo_apk, [*before, step])
    assert out.status == "passed", out.explanation
    assert out.steps[-1].actions[-1].action == "assert_visible"


@pytest.mark.parametrize(("before", "step"), [
    (SIGN_IN, "Title: Settings"), (SIGN_IN, "Expected: 'Order confirmed'"),
    (SIGN_IN, "Result -> 3 items"),
    # the message word for word: not "the email is <something with invalid in it>"
    (WRONG_PASSWORD, "Error: Email is invalid"),
])
def test_a_label_style_check_of_what_is_not_there_fails(demo_apk: Path, before: list[str],
                                                        step: str) -> None:
    out = run(demo_apk, [*before, step])
    assert (out.status, out.failure_category) == ("failed", "app"), out.explanation


def test_a_label_naming_an_input_types_into_it(demo_apk: Path) -> None:
    out = run(demo_apk, ["Open the app", "Email: demo@example.com", "Password - hunter2",
                         "Tap Sign in", "Expected: Verify your phone"])
    assert out.status == "passed", out.explanation
    assert [a.value for a in out.steps[1].actions if a.action == "type"] == ["demo@example.com"]


# ----------------------------------------------------------------------- swipes


@pytest.mark.parametrize("step", [
    "Swipe up a few times until Zen Garden Kit is visible",
    "Keep swiping up till you see Zen Garden Kit",
    "swipe up a couple of times until you see Zen Garden Kit",
    "Move your finger up the screen until Zen Garden Kit appears",
    "Scroll down several times until Zen Garden Kit shows up",
])
def test_a_vague_swipe_until_a_target_moves_the_finger_the_way_it_says(demo_apk: Path,
                                                                      step: str) -> None:
    out = run(demo_apk, [*SIGN_IN, step, "Verify Zen Garden Kit is shown"])
    assert out.status == "passed", out.explanation
    swipes = [a.value for a in out.steps[-2].actions if a.action == "swipe"]
    assert swipes and set(swipes) == {"up"}  # the finger goes up: the list scrolls down


@pytest.mark.parametrize(("step", "swipes"), [
    ("Scroll down a bit", ["up"]),
    ("swipe left twice", ["left", "left"]),
    ("Swipe up a few times", ["up"] * 3),
    ("Swipe up a couple of times", ["up"] * 2),
    ("Scroll the list down some more", ["up"]),
    ("Swipe down a few times", ["down"] * 3),
])
def test_a_vague_swipe_count(demo_apk: Path, step: str, swipes: list[str]) -> None:
    out = run(demo_apk, [*SIGN_IN, step])
    assert out.status == "completed", out.explanation
    assert last(out) == [("swipe", s) for s in swipes]


def test_a_vague_swipe_until_something_never_there_stops_at_its_bound(demo_apk: Path) -> None:
    out = run(demo_apk, [*SIGN_IN, "Swipe up a few times until Teleporter is visible"])
    assert (out.status, out.failure_category) == ("failed", "test"), out.explanation
    swipes = [a for a in out.steps[-1].actions if a.action == "swipe"]
    assert 0 < len(swipes) <= fast_options().scroll_to_swipes
    assert "never became visible" in out.steps[-1].reason


def test_swipe_until_the_bottom(demo_apk: Path) -> None:
    out = run(demo_apk, [*SIGN_IN, "Swipe up until you reach the bottom of the list",
                         "Verify Zen Garden Kit is shown"])
    assert out.status == "passed", out.explanation


# ----------------------------------------------------------------------- another screen


@pytest.mark.parametrize(("step", "then"), [
    ("Open the Cart tab", "Verify Wireless Headphones X200 is in the list"),
    ("Tap the Cart tab", "Verify Checkout is shown"),
    ("Go to Profile", "Verify Dark mode is off"),
    ("Switch to the Home tab", "Verify Zen Garden Kit is not visible"),
    ("Open the cart and tap Checkout", 'Verify "Order confirmed" is shown'),
])
def test_a_tab_hidden_by_a_detail_screen_is_found_by_going_back(demo_apk: Path, step: str,
                                                                then: str) -> None:
    out = run(demo_apk, [*ADDED, step, then])
    assert out.status == "passed", out.explanation
    actions = [a.action for a in out.steps[-2].actions]
    assert actions[:2] == ["back", "tap"] or actions.count("back") == 1, actions


def test_turning_on_a_switch_in_another_tab_opens_the_tab(demo_apk: Path) -> None:
    out = run(demo_apk, [*ON_A_PRODUCT, "Turn on Dark mode in the Profile tab",
                         "Verify Dark mode is on"])
    assert out.status == "passed", out.explanation


def test_going_back_is_bounded_and_only_for_what_was_seen(demo_apk: Path) -> None:
    # never seen on any screen: no going back, the failure names the screen it was on
    out = run(demo_apk, [*ON_A_PRODUCT, "Tap the Teleport button"])
    assert (out.status, out.failure_category) == ("failed", "test")
    assert "back" not in [a.action for a in out.steps[-1].actions]
    assert '"Add to cart" (button)' in out.steps[-1].reason
    # seen before, but not behind this screen: a few backs, never out of the app
    out = run(demo_apk, [*SIGN_IN, "Open the Profile tab", "Tap Add to cart"])
    assert (out.status, out.failure_category) == ("failed", "test")


def test_the_planner_goes_back_at_most_three_times() -> None:
    detail = Hierarchy(1080, 2400, (Element("button", Bounds(0, 100, 1080, 200), text="Buy",
                                            clickable=True),), "com.example.shop")
    home = Hierarchy(1080, 2400, (Element("tab", Bounds(0, 2200, 540, 2300), text="Cart",
                                          clickable=True),), "com.example.shop")
    from qualgent.agent.intents import Action, Intent, Target, TargetNotFound

    planner = RulePlanner()
    planner.plan("Tap Cart", home)
    [tap] = planner.plan("Open the Cart tab", detail)
    done: list[Intent] = []
    for _ in range(3):
        again = planner.recover("Open the Cart tab", detail, tap, TargetNotFound("no"),
                                tuple(done), ())
        assert again is not None and again[0].action == Action.BACK and again[1] == tap
        done.append(again[0])
    assert planner.recover("Open the Cart tab", detail, tap, TargetNotFound("no"), tuple(done),
                           ()) is None
    # a screen with a tab bar is a top-level screen: no going back from it
    assert planner.recover("Open the Cart tab", home, tap, TargetNotFound("no"), (), ()) is None
    # checks are not retried elsewhere
    check = Intent(Action.ASSERT_VISIBLE, Target.of("Cart"))
    assert planner.recover("x", detail, check, TargetNotFound("no"), (), ()) is None


# ----------------------------------------------------------------------- other forms


@pytest.mark.parametrize("steps", [
    ["Opne the app", 'Entre "demo@example.com" into Email', "Tpye hunter2 in the password feild",
     "Clik Sign in", "Enter the code from the SMS and tpa Verify", "Verfiy Hoem is shwon"],
    ["1. Open the app", "2) Enter demo@example.com into Email",
     "Step 3: Type hunter2 in the password field", "Step four - Tap Sign in",
     "(5) Enter the code from the SMS and tap Verify", "#6 Verify Home is shown"],
    ["Please open the app", "Kindly enter demo@example.com into Email",
     "Could you type hunter2 in the password field?", "Go ahead and tap Sign in",
     "I want to enter the code from the SMS and tap Verify", "Make sure that Home is shown"],
    ["Open the app", "Enter demo@example.com as the email and hunter2 as the password, then "
     "tap Sign in",
     "When the code arrives, enter the code from the SMS and tap Verify",
     "I should see Home and the Cart tab should be visible"],
])
def test_misspelt_numbered_and_polite_steps(demo_apk: Path, steps: list[str]) -> None:
    out = run(demo_apk, steps)
    assert out.status == "passed", out.explanation


@pytest.mark.parametrize("step", ["Verfiy Teleporter is shwon", "Confirm that Settings is shown",
                                  "I should see Order confirmed"])
def test_a_misspelt_or_polite_check_of_what_is_not_there_fails(demo_apk: Path,
                                                               step: str) -> None:
    out = run(demo_apk, [*SIGN_IN, step])
    assert (out.status, out.failure_category) == ("failed", "app"), out.explanation


def test_respelt_words_keep_their_order(demo_apk: Path) -> None:
    # "Cart added" is no "Added to cart": a spelling match must keep the words' order
    out = run(demo_apk, [*ADDED, "Verify Cart addded is shown"])
    assert (out.status, out.failure_category) == ("failed", "app"), out.explanation


def test_a_word_that_is_on_screen_is_not_taken_for_a_misspelt_verb() -> None:
    screen = Hierarchy(1080, 2400, (
        Element("button", Bounds(0, 100, 1080, 200), text="Clock", clickable=True),
        Element("button", Bounds(0, 300, 1080, 400), text="Tab one", clickable=True)),
        "com.example.shop")
    planner = RulePlanner()
    assert [(i.action, i.target.phrase) for i in planner.plan("Clock", screen)] == [
        ("tap", "Clock")]
    assert [(i.action, i.target.phrase) for i in planner.plan("Tab one", screen)] == [
        ("tap", "Tab one")]
