"""The rule-based planner: every phrasing class, compound splitting, quotes, failures."""

from __future__ import annotations

import pytest

from qualgent.agent import NotUnderstood, RulePlanner, split_clauses
from qualgent.drivers.base import Bounds, Element, Hierarchy


def _el(kind: str, i: int, **kw) -> Element:  # noqa: ANN003
    return Element(kind, Bounds(40, 100 + i * 120, 1040, 200 + i * 120), **kw)


SCREEN = Hierarchy(1080, 2400, (
    _el("input", 0, id="search", hint="Search products", clickable=True, editable=True),
    _el("button", 1, text="Search", description="Search", id="search_button", clickable=True),
    _el("input", 2, id="email", hint="Email", clickable=True, editable=True),
    _el("input", 3, id="password", hint="Password", clickable=True, editable=True),
    _el("link", 4, text="Terms and Conditions", clickable=True),
    _el("list_item", 5, text="Wireless Headphones X200", description="$59.99", clickable=True),
    _el("switch", 6, text="Dark mode", id="dark_mode", checked=False, clickable=True),
    _el("button", 7, text="Add to cart", id="add_to_cart", clickable=True),
    _el("button", 8, text="Crash app", clickable=True),
    _el("button", 9, text="Read and accept", clickable=True),
    _el("tab", 10, text="Cart", clickable=True),
), "com.example.shop")

planner = RulePlanner()


def plan(step: str, screen: Hierarchy = SCREEN) -> list:
    return planner.plan(step, screen)


def brief(step: str) -> list[tuple]:
    """(action, target phrase, value) of each intent."""
    return [(i.action, i.target.phrase if i.target else None, i.value) for i in plan(step)]


# ------------------------------------------------------------------------------ taps


@pytest.mark.parametrize(("step", "phrase", "words"), [
    ("Tap Sign in", "Sign in", ("sign", "in")),
    ("tap on Verify", "Verify", ("verify",)),
    ("Click the Checkout button", "the Checkout button", ("checkout",)),
    ("Click on the checkout button", "the checkout button", ("checkout",)),
    ("Press Add to cart", "Add to cart", ("add", "to", "cart")),
    ("Select Dark mode", "Dark mode", ("dark", "mode")),
    ("Choose the Cart tab", "the Cart tab", ("cart",)),
    ("Open the Profile tab", "the Profile tab", ("profile",)),
    ("Go to Profile", "Profile", ("profile",)),
    ("Navigate to the Cart tab", "the Cart tab", ("cart",)),
    ("Hit the Terms link", "the Terms link", ("terms",)),
    ("Tap the search bar", "the search bar", ("search",)),
    ("Tap the cart icon", "the cart icon", ("cart",)),
    ("Tap the Dark mode switch", "the Dark mode switch", ("dark", "mode")),
])
def test_tap_phrasings(step: str, phrase: str, words: tuple) -> None:
    [intent] = plan(step)
    assert intent.action == "tap"
    assert intent.target.phrase == phrase
    assert intent.target.words == words


def test_kind_words_become_kind_preferences() -> None:
    assert plan("Click the Checkout button")[0].target.kinds == {"button"}
    assert plan("Open the Profile tab")[0].target.kinds == {"tab"}
    assert {"input", "search"} <= plan("Tap the search bar")[0].target.kinds
    assert plan("Tap Sign in")[0].target.kinds is None


def test_open_the_app_launches_but_open_a_named_button_taps() -> None:
    assert brief("Open the app") == [("launch", None, None)]
    assert brief("Launch the app") == [("launch", None, None)]
    assert brief("Start the application") == [("launch", None, None)]
    assert brief("Restart the app") == [("launch", None, "restart")]
    assert brief("Open the Demo Shop app") == [("launch", None, None)]
    # "Crash app" is a button on this screen: opening it is tapping it
    assert brief("Open the Crash app") == [("tap", "the Crash app", None)]


def test_repeated_taps() -> None:
    [intent] = plan('Tap "Add to cart" twice')
    assert (intent.target.phrase, intent.count) == ("Add to cart", 2)
    assert plan("Tap Add to cart 3 times")[0].count == 3


def test_a_bare_label_on_screen_is_a_tap() -> None:
    assert brief("Add to cart") == [("tap", "Add to cart", None)]
    assert brief("Terms and Conditions") == [("tap", "Terms and Conditions", None)]


@pytest.mark.parametrize(("step", "ordinal", "phrase"), [
    ("Tap the first result", 1, "result"),
    ("Tap the second product", 2, "product"),
    ("Select the 3rd item", 3, "item"),
    ("Tap the last result", -1, "result"),
])
def test_ordinals(step: str, ordinal: int, phrase: str) -> None:
    [intent] = plan(step)
    assert (intent.action, intent.target.ordinal, intent.target.phrase) == ("tap", ordinal, phrase)


# ------------------------------------------------------------------------------ typing


@pytest.mark.parametrize(("step", "value", "target"), [
    ("Type hello", "hello", None),
    ("Type wireless headphones", "wireless headphones", None),
    ("Enter demo@example.com into Email", "demo@example.com", "Email"),
    ("Input hunter2 in the password field", "hunter2", "the password field"),
    ("Type hunter2 in Password", "hunter2", "Password"),
    ("Enter demo@example.com on the Email field", "demo@example.com", "the Email field"),
    ("Write hello world into the search bar", "hello world", "the search bar"),
    ("Fill Email with demo@example.com", "demo@example.com", "Email"),
    ("Fill in the email field with demo@example.com", "demo@example.com", "the email field"),
    ("Enter Email as demo@example.com", "demo@example.com", "Email"),
    ("Enter hunter2 as the password", "hunter2", "password"),
    ("Type salt and pepper", "salt and pepper", None),
    ("Type salt and pepper into the search bar", "salt and pepper", "the search bar"),
    ("Type sign in", "sign in", None),  # " in" alone names no field: part of the value
    ('Type "Sign in to continue" into the search bar', "Sign in to continue", "the search bar"),
    ("Enter “hello world” in the search field", "hello world", "the search field"),
    ("Type 'rock and roll'", "rock and roll", None),
    ("Type Hello World", "Hello World", None),  # case is kept
])
def test_type_phrasings(step: str, value: str, target: str | None) -> None:
    [intent] = plan(step)
    assert intent.action == "type"
    assert intent.value == value
    assert (intent.target.phrase if intent.target else None) == target


@pytest.mark.parametrize("step", [
    "Type wireless headphones and submit",
    "Type wireless headphones and press enter",
    "Type wireless headphones and hit enter",
    "Type wireless headphones and search",
    "Type wireless headphones, then press enter",
])
def test_type_and_submit_presses_enter(step: str) -> None:
    assert brief(step) == [("type", None, "wireless headphones"), ("key", None, "enter")]


def test_the_typing_verb_carries_over_to_a_second_field() -> None:
    assert brief("Enter 'demo@example.com' in the email field and 'hunter2' in the password "
                 "field") == [("type", "the email field", "demo@example.com"),
                              ("type", "the password field", "hunter2")]
    # but a value with "and" and one field is one value
    assert brief("Type salt and pepper in the search bar") == [
        ("type", "the search bar", "salt and pepper")]


def test_search_for_types_into_the_search_field_and_submits() -> None:
    [intent] = plan("Search for wireless headphones")
    assert (intent.action, intent.value, intent.submit) == ("type", "wireless headphones", True)
    assert intent.target.phrase == "search field"


@pytest.mark.parametrize(("step", "target"), [
    ("Clear the search field", "the search field"),
    ("Clear the text in Email", "Email"),
    ("Clear Email", "Email"),
    ("Clear", None),
    ("Clear the field", None),
])
def test_clear(step: str, target: str | None) -> None:
    [intent] = plan(step)
    assert intent.action == "clear"
    assert (intent.target.phrase if intent.target else None) == target


# ------------------------------------------------------------------------------ SMS codes


@pytest.mark.parametrize("step", [
    "Enter the code from the SMS",
    "Type the OTP from the text message",
    "Enter the verification code",
    "Enter the 6-digit code sent via SMS",
    "Input the one-time code we received by text",
    "Enter the code",
])
def test_sms_code_phrasings(step: str) -> None:
    [intent] = plan(step)
    assert intent.action == "sms_code"
    assert intent.target is None


def test_sms_code_into_a_named_field() -> None:
    [intent] = plan("Enter the code from the SMS into the Code field")
    assert (intent.action, intent.target.phrase) == ("sms_code", "the Code field")


def test_a_password_is_not_an_sms_code() -> None:
    assert plan("Enter the password")[0].action == "type"


# ------------------------------------------------------------------------------ scrolling


@pytest.mark.parametrize(("step", "finger", "count"), [
    ("Scroll down", "up", 1),
    ("Scroll up", "down", 1),
    ("Scroll the list down", "up", 1),
    ("Swipe up", "up", 1),
    ("Swipe left", "left", 1),
    ("Scroll right", "left", 1),
    ("Scroll down 3 times", "up", 3),
    ("Swipe down twice", "down", 2),
])
def test_swipes(step: str, finger: str, count: int) -> None:
    [intent] = plan(step)
    assert (intent.action, intent.value, intent.count) == ("swipe", finger, count)


@pytest.mark.parametrize(("step", "phrase", "finger"), [
    ("Scroll down until Zen Garden Kit is visible", "Zen Garden Kit", "up"),
    ("Scroll until Zen Garden Kit appears", "Zen Garden Kit", "up"),
    ("Scroll to Zen Garden Kit", "Zen Garden Kit", "up"),
    ("Scroll down to the Zen Garden Kit", "Zen Garden Kit", "up"),
    ("Scroll up until the Search field is shown", "Search", "down"),
    ("Swipe up until Terms and Conditions is visible", "Terms and Conditions", "up"),
    ('Keep scrolling until you see "Zen Garden Kit"', "Zen Garden Kit", "up"),
])
def test_scroll_until(step: str, phrase: str, finger: str) -> None:
    [intent] = plan(step)
    assert (intent.action, intent.target.phrase, intent.value) == ("scroll_to", phrase, finger)


def test_scroll_to_the_ends() -> None:
    assert brief("Scroll to the bottom") == [("scroll_to", None, "up")]
    assert brief("Scroll to the top of the page") == [("scroll_to", None, "down")]


# ------------------------------------------------------------------------------ back, keys


@pytest.mark.parametrize("step", [
    "Go back", "go back", "Press back", "Navigate back", "Press the back button",
    "Go back to the previous screen", "Back", "Tap the back button", "Press the system back key",
])
def test_back(step: str) -> None:
    assert brief(step) == [("back", None, None)]


def test_keys() -> None:
    assert brief("Press enter") == [("key", None, "enter")]
    assert brief("Hit return") == [("key", None, "enter")]
    assert brief("Press the search key") == [("key", None, "search")]
    assert brief("Press the home key") == [("key", None, "home")]
    # "Search" is a button on this screen: pressing it is a tap
    assert brief("Press Search") == [("tap", "Search", None)]


# ------------------------------------------------------------------------------ waits


@pytest.mark.parametrize(("step", "seconds"), [
    ("Wait 2 seconds", 2.0),
    ("wait 2s", 2.0),
    ("Wait for 1.5 seconds", 1.5),
    ("Wait 500 ms", 0.5),
    ("Wait 500ms", 0.5),
    ("Pause for 3 seconds", 3.0),
    ("Wait a second", 1.0),
    ("Wait a few seconds", 3.0),
    ("Wait half a second", 0.5),
    ("Wait two seconds", 2.0),
    ("Wait 1 minute", 60.0),
    ("Sleep 0.25 seconds", 0.25),
])
def test_wait_seconds(step: str, seconds: float) -> None:
    [intent] = plan(step)
    assert (intent.action, intent.seconds) == ("wait", seconds)


@pytest.mark.parametrize(("step", "phrase", "seconds", "generic"), [
    ("Wait up to 30 seconds for results", "results", 30.0, True),
    ("Wait up to 10 seconds for the search results to load", "search results", 10.0, True),
    ("Wait for the page to load", "page", None, True),
    ("Wait until the list loads", "list", None, True),
    ('Wait until "Order confirmed" appears', "Order confirmed", None, False),
    ("Wait for Order confirmed to appear for up to 5 seconds", "Order confirmed", 5.0, False),
    ("Wait 5 seconds for Zen Garden Kit", "Zen Garden Kit", 5.0, False),
])
def test_wait_for(step: str, phrase: str, seconds: float | None, generic: bool) -> None:
    [intent] = plan(step)
    assert intent.action == "wait_for"
    assert (intent.target.phrase, intent.seconds, intent.target.generic) == (
        phrase, seconds, generic)
    assert intent.checked is True


def test_wait_until_gone() -> None:
    [intent] = plan("Wait up to 5 seconds for the loading spinner to disappear")
    assert (intent.action, intent.target.phrase, intent.checked) == (
        "wait_for", "loading spinner", False)


# ------------------------------------------------------------------------------ assertions


@pytest.mark.parametrize(("step", "phrase"), [
    ('Verify that "Order confirmed" is shown', "Order confirmed"),
    ("Verify Order confirmed is shown", "Order confirmed"),
    ("Check the price shows $59.99", "$59.99"),
    ("Check that the total is $59.99", "$59.99"),
    ("Assert Added to cart is displayed", "Added to cart"),
    ("Ensure the Order confirmed message appears", "Order confirmed"),
    ("Confirm that Sign out is visible", "Sign out"),
    ("Make sure Checkout is on the screen", "Checkout"),
    ("I should see Wireless Headphones", "Wireless Headphones"),
    ("The user should see “Added to cart”", "Added to cart"),
    ("Expect Order confirmed to be visible", "Order confirmed"),
    ("The screen shows Your cart is empty", "Your cart is empty"),
    ("Order confirmed should appear", "Order confirmed"),
    ('"Order confirmed" is displayed', "Order confirmed"),
    ("It displays Order confirmed", "Order confirmed"),
    ("Verify the Checkout button is visible", "Checkout"),
    ("Validate Zen Garden Kit", "Zen Garden Kit"),
    ("Verify the cart is empty", "cart empty"),
    ("Check the title says Cart", "Cart"),
    ("Verify the page title is Cart", "Cart"),
    ("Verify Wireless Headphones X200 appears in the results", "Wireless Headphones X200"),
    ("Verify Wireless Headphones X200 is in the list", "Wireless Headphones X200"),
    ("Verify the search results contain Wireless Headphones X200", "Wireless Headphones X200"),
    ('Verify "Added to cart" toast is shown', "Added to cart"),
])
def test_positive_assertions(step: str, phrase: str) -> None:
    [intent] = plan(step)
    assert (intent.action, intent.target.phrase) == ("assert_visible", phrase)
    assert intent.is_assertion


@pytest.mark.parametrize(("step", "phrase"), [
    ("The error message should not be visible", "error"),
    ("Verify Invalid password is not shown", "Invalid password"),
    ("verify that 'Invalid password' isn't displayed", "Invalid password"),
    ("No error is shown", "error"),
    ("There is no error message", "error"),
    ("Ensure the spinner is gone", "spinner"),
    ("I should not see Sign in", "Sign in"),
    ("Expect Sign in not to be visible", "Sign in"),
    ("Check that Added to cart does not appear", "Added to cart"),
    ("No results found should not appear", "No results found"),
    ("Verify no error", "error"),
])
def test_negative_assertions(step: str, phrase: str) -> None:
    [intent] = plan(step)
    assert (intent.action, intent.target.phrase) == ("assert_not_visible", phrase)


@pytest.mark.parametrize(("step", "checked"), [
    ("Verify Dark mode is on", True),
    ("Dark mode should be off", False),
    ("Check that the Dark mode switch is enabled", True),
])
def test_state_assertions(step: str, checked: bool) -> None:
    [intent] = plan(step)
    assert (intent.action, intent.checked) == ("assert_visible", checked)
    assert intent.target.words == ("dark", "mode")


# ------------------------------------------------------------------------------ toggles


@pytest.mark.parametrize(("step", "checked"), [
    ("Turn on Dark mode", True),
    ("Turn Dark mode off", False),
    ("Enable Dark mode", True),
    ("Disable dark mode", False),
    ("Switch on the Dark mode switch", True),
    ("Set Dark mode to on", True),
    ("Toggle Dark mode", None),
    ("Check the Remember me checkbox", True),
    ("Uncheck Remember me", False),
])
def test_toggles(step: str, checked: bool | None) -> None:
    [intent] = plan(step)
    assert (intent.action, intent.checked) == ("tap", checked)


# ------------------------------------------------------------------------------ compound


@pytest.mark.parametrize(("step", "actions"), [
    ("Open the app and tap the search bar", ["launch", "tap"]),
    ("Enter the code from the SMS and tap Verify", ["sms_code", "tap"]),
    ("Tap Cart, then tap Checkout", ["tap", "tap"]),
    ("Tap Cart then verify Checkout is visible", ["tap", "assert_visible"]),
    ("Tap Cart; tap Checkout", ["tap", "tap"]),
    ("Tap Cart and then tap Checkout", ["tap", "tap"]),
    ("Tap Sign in. Then enter the code", ["tap", "sms_code"]),
    ("Tap Add to cart and the confirmation should appear", ["tap", "assert_visible"]),
    ("Type hunter2 into Password, then tap Sign in and wait 2 seconds",
     ["type", "tap", "wait"]),
    ("Go back and scroll down", ["back", "swipe"]),
    ("Tap the Add to cart button and verify “Added to cart” is shown", ["tap", "assert_visible"]),
    ("Then the user taps Add to cart, then verifies 'Added to cart' appears",
     ["tap", "assert_visible"]),
])
def test_compound_steps(step: str, actions: list[str]) -> None:
    assert [i.action for i in plan(step)] == actions


@pytest.mark.parametrize("step", [
    "Tap Terms and Conditions",  # "conditions" is no verb
    "Scroll down until Terms and Conditions is visible",
    'Type "tap this and tap that"',  # inside quotes
    "Tap Black and White",
    "Tap Read and accept",  # "read" is a verb, but "Read and accept" is on screen
    "Verify Terms and Conditions is shown",
])
def test_and_inside_a_name_or_quotes_is_not_split(step: str) -> None:
    assert len(plan(step)) == 1


def test_and_joining_a_label_on_screen_splits() -> None:
    assert brief("Tap Dark mode and Add to cart") == [("tap", "Dark mode", None),
                                                      ("tap", "Add to cart", None)]


def test_split_clauses_keeps_quotes_whole() -> None:
    clauses, quoted = split_clauses('Tap "Save and exit" and then go back; wait 1 second')
    assert len(clauses) == 3
    assert quoted == ["Save and exit"]


def test_intents_remember_their_clause() -> None:
    intents = plan("Open the app and tap the search bar")
    assert [i.clause for i in intents] == ["Open the app", "tap the search bar"]


# ------------------------------------------------------------------------------ quotes


@pytest.mark.parametrize("step", [
    'Tap "Sign in"', "Tap 'Sign in'", "Tap “Sign in”", "Tap ‘Sign in’", "Tap `Sign in`",
])
def test_quoted_targets_are_exact(step: str) -> None:
    [intent] = plan(step)
    assert (intent.target.phrase, intent.target.exact) == ("Sign in", True)


def test_quoted_target_keeps_kind_words() -> None:
    [intent] = plan('Tap "Search bar"')
    assert intent.target.words == ("search", "bar")


def test_apostrophes_are_not_quotes() -> None:
    [intent] = plan("Tap Don't allow")
    assert intent.target.phrase == "Don't allow"
    [intent] = plan("Verify the user's name is shown")
    assert intent.target.phrase == "user's name"


# ------------------------------------------------------------------------------ fillers


@pytest.mark.parametrize("step", [
    "Please tap Sign in", "Then tap Sign in", "Now tap Sign in", "3. Tap Sign in",
    "Step 2: Tap Sign in", "- Tap Sign in", "The user taps Sign in", "I tap Sign in",
    "Tap Sign in.", "  Tap   Sign in  ", "Finally, tap Sign in",
])
def test_fillers_numbering_and_inflections(step: str) -> None:
    assert brief(step) == [("tap", "Sign in", None)]


# ------------------------------------------------------------------------------ failures


def test_not_understood_names_the_clause_and_the_screen() -> None:
    with pytest.raises(NotUnderstood) as err:
        plan("Blorp the flux capacitor")
    reason = err.value.reason
    assert '"Blorp the flux capacitor"' in reason
    assert '"Add to cart" (button)' in reason and '"Search products" (input)' in reason
    assert err.value.category == "test"


def test_one_bad_clause_fails_the_whole_step() -> None:
    with pytest.raises(NotUnderstood) as err:
        plan("Tap Cart, then frobnicate the widget")
    assert "frobnicate the widget" in err.value.reason


def test_empty_step_is_not_understood() -> None:
    with pytest.raises(NotUnderstood):
        plan("   ")
