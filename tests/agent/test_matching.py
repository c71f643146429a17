"""Finding the element a target names: tiers, fuzziness, kinds, purposes, fingerprints."""

from __future__ import annotations

from qualgent.agent import Target, fingerprint
from qualgent.agent.matching import closest, describe, find
from qualgent.drivers.base import Bounds, Element, Hierarchy


def _screen(*elements: Element, package: str = "com.example.shop") -> Hierarchy:
    return Hierarchy(1080, 2400, tuple(elements), package)


def _el(kind: str, i: int = 0, **kw) -> Element:  # noqa: ANN003
    kw.setdefault("clickable", kind in ("button", "link", "tab", "list_item", "switch"))
    kw.setdefault("editable", kind in ("input", "search"))
    return Element(kind, Bounds(40, 100 + i * 120, 1040, 200 + i * 120), **kw)


def _found(screen: Hierarchy, phrase: str, purpose: str = "tap", **kw) -> Element | None:  # noqa: ANN003
    m = find(screen, Target.of(phrase, **kw), purpose)
    return m.element if m else None


def test_exact_beats_prefix_beats_fuzzy() -> None:
    exact = _el("button", 2, text="Sign in")
    screen = _screen(_el("button", 0, text="Sing in"), _el("button", 1, text="Sign in with Google"),
                     exact)
    assert _found(screen, "Sign in") is exact
    assert _found(_screen(*screen.elements[:2]), "Sign in").text == "Sign in with Google"
    assert _found(_screen(screen.elements[0]), "Sign in").text == "Sing in"


def test_case_punctuation_and_articles_do_not_matter() -> None:
    el = _el("button", text="Sign in!")
    screen = _screen(el)
    assert _found(screen, "SIGN IN") is el
    assert _found(screen, "the sign in") is el
    assert _found(_screen(_el("link", text="Forgot password?")), "forgot password") is not None


def test_prefix_and_containment() -> None:
    item = _el("list_item", text="Wireless Headphones X200")
    screen = _screen(_el("list_item", 1, text="Wireless Charger"), item)
    assert _found(screen, "Wireless Headphones") is item
    assert _found(screen, "Headphones X200") is item


def test_fuzzy_spelling() -> None:
    item = _el("list_item", text="Wireless Headphones X200")
    screen = _screen(_el("list_item", 1, text="Bluetooth Speaker"), item)
    assert _found(screen, "Wireles Headphone") is item
    assert _found(_screen(_el("button", text="Sign in")), "Signin") is not None
    assert _found(_screen(_el("tab", text="Cart")), "Card") is None  # too short to guess


def test_numbers_must_match_exactly() -> None:
    screen = _screen(_el("list_item", 0, text="Product 14"), _el("list_item", 1, text="Product 1"))
    assert _found(screen, "Product 149") is None
    assert _found(screen, "Product 14").text == "Product 14"


def test_description_id_and_hint_are_matched() -> None:
    icon = _el("image", 0, description="Shopping cart", clickable=True)
    by_id = _el("button", 1, id="com.example.shop:id/settings_button")
    field = _el("input", 2, hint="Email address")
    screen = _screen(icon, by_id, field)
    assert _found(screen, "shopping cart") is icon
    assert _found(screen, "Settings") is by_id
    assert _found(screen, "email address", "type") is field
    camel = _el("input", 3, id="loginPasswordInput")
    assert _found(_screen(camel), "login password", "type") is camel


def test_kind_words_steer_to_the_right_kind() -> None:
    title = _el("text", 0, text="Checkout")
    button = _el("button", 1, text="Checkout")
    screen = _screen(title, button)
    assert _found(screen, "the Checkout button") is button
    tab = _el("tab", 2, text="Cart")
    heading = _el("button", 3, text="Cart")
    assert _found(_screen(heading, tab), "the Cart tab") is tab


def test_search_bar_is_the_input_with_a_search_hint() -> None:
    button = _el("button", 0, text="Search", description="Search")
    field = _el("input", 1, hint="Search products")
    screen = _screen(button, field)
    assert _found(screen, "the search bar") is field
    assert _found(screen, "search field") is field
    assert _found(screen, "Search") is button


def test_taps_prefer_clickable_elements() -> None:
    label = _el("text", 0, text="Sign in", clickable=False)
    button = _el("button", 1, text="Sign in")
    assert _found(_screen(label, button), "Sign in") is button


def test_typing_only_targets_inputs_and_finds_them_by_label() -> None:
    label = _el("text", 0, text="Email")
    unnamed = _el("input", 1)
    other = _el("input", 4)
    screen = _screen(label, unnamed, other, _el("button", 2, text="Email me"))
    assert _found(screen, "Email", "type") is unnamed


def test_assertions_are_stricter() -> None:
    screen = _screen(_el("text", text="Order cancelled"))
    assert _found(screen, "Order confirmed", "see") is None
    assert _found(_screen(_el("text", text="Your order is confirmed!")), "order confirmed",
                  "see") is not None
    assert _found(_screen(_el("text", text="$59.99")), "59.99", "see") is not None
    # a hint on screen is visible text; an id is not
    assert _found(_screen(_el("input", hint="Search products")), "Search products", "see")
    assert _found(_screen(_el("input", id="secret_field")), "secret field", "see") is None


def test_ordinals_pick_list_items_by_position() -> None:
    items = [_el("list_item", i, text=f"Item {n}") for i, n in ((2, "C"), (0, "A"), (1, "B"))]
    screen = _screen(_el("button", 3, text="Add"), *items)
    assert _found(screen, "result", ordinal=1).text == "Item A"
    assert _found(screen, "item", ordinal=2).text == "Item B"
    assert _found(screen, "product", ordinal=-1).text == "Item C"
    assert _found(screen, "result", ordinal=4) is None
    adds = [_el("button", i, text="Add to cart") for i in range(3)]
    assert _found(_screen(*adds), "Add to cart button", ordinal=2) is adds[1]


def test_closest_names_what_almost_matched() -> None:
    screen = _screen(_el("button", text="Check out later"))
    assert find(screen, Target.of("Checkout now please"), "tap") is None
    near = closest(screen, Target.of("Check out"))
    assert near is not None and near.value == "Check out later"


def test_fingerprint_is_stable_and_content_based() -> None:
    a = _screen(_el("button", 0, text="Sign in"), _el("input", 1, hint="Email"))
    b = _screen(_el("input", 5, hint="Email"), _el("button", 3, text="Sign in"))
    assert fingerprint(a) == fingerprint(b)  # positions and order do not matter
    assert len(fingerprint(a)) == 16
    c = _screen(_el("button", 0, text="Sign up"), _el("input", 1, hint="Email"))
    assert fingerprint(a) != fingerprint(c)
    assert fingerprint(a) != fingerprint(_screen(*a.elements, package="other.app"))


def test_describe_lists_texts_briefly() -> None:
    screen = _screen(_el("text", 0, text="Sign in"), _el("input", 1, hint="Email"),
                     _el("button", 2, text="Sign in"), _el("text", 3, text="x" * 80),
                     *[_el("list_item", 4 + i, text=f"Item {i}") for i in range(20)])
    text = describe(screen)
    assert text.startswith('"Sign in", "Email" (input), "Sign in" (button), "xxx')
    assert "..." in text and "and 9 more" in text
    assert describe(_screen()) == "nothing readable (no text on screen)"


def test_spelling_correction_can_be_turned_off_for_negative_checks() -> None:
    screen = _screen(_el("text", text="Error: wrong password"))
    assert _found(screen, "eror", "see") is not None
    assert find(screen, Target.of("eror", exact=True), "see", fuzzy=False) is None
    assert find(screen, Target.of("error", exact=True), "see", fuzzy=False) is not None
