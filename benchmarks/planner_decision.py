"""How long the rule-based planner takes to decide a step on a busy screen.

    python benchmarks/planner_decision.py [--repeat 200] [--elements 200]

A decision is what the agent does between observing a screen and acting on it: plan the step
(split it, parse each clause) and find every target the plan names on the screen. Three cases:

  new texts   a new Hierarchy whose strings were never seen: every text is tokenized again
              (the per-string caches are cleared before each decision) - the worst case
  new screen  a new Hierarchy object with texts seen before, as when a screen is observed
              again after an action (most texts of consecutive screens are the same)
  same screen the Hierarchy the previous decision used (its word index is cached)

Prints the median, p90, p99 and max wall-clock time per step over a set of varied steps on a
synthetic screen (and the median and p99 CPU time, which other processes on a busy machine
disturb less), then the median of each step in the "new screen" case; asserts nothing.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time

from qualgent.agent import RulePlanner, StepFailure, matching, text
from qualgent.agent.matching import find
from qualgent.drivers.base import Bounds, Element, Hierarchy

STEPS = [
    "Open the app and tap the search bar",
    "Type wireless headphones and submit",
    "Wait up to 30 seconds for results",
    'Tap "Sign in"',
    "Enter demo@example.com into Email",
    "Type hunter2 in the password field",
    "Scroll down until Zen Garden Kit is visible",
    'Verify that "Order confirmed" is shown',
    "Check the price shows $59.99",
    "Enter the code from the SMS and tap Verify",
    "Go back",
    "Wait 2 seconds",
    "The error message should not be visible",
    "Tap Terms and Conditions",
    "Tap the Add to cart button and verify “Added to cart” is shown",
    "Open the Cart tab",
    "Turn on Dark mode",
    "Verify Dark mode is on",
    "Tap the first result",
    "Tap Wireles Headphones X200",
    "Click on the checkout button",
    "Fill Email with demo@example.com",
    "Clear the search field",
    "Scroll down 3 times",
    "Then the user taps Add to cart, then verifies 'Added to cart' appears",
    "Make sure the cart shows 3 items",
    "I should see Product 117",
    "There is no error",
    "Press enter",
    "Select Profile",
    "Tap Product 149",
    "Tap the Frobnicate button",  # not on screen: a full search that finds nothing
]


def synthetic_screen(n: int) -> Hierarchy:
    """A busy shop screen: inputs, buttons, a switch, tabs, many products with prices."""
    fixed: list[tuple] = [
        ("text", "Demo Shop", None, None, None),
        ("search", None, None, "search_input", "Search products"),
        ("button", "Search", "Search", "search_button", None),
        ("input", None, None, "email", "Email"),
        ("input", None, None, "password", "Password"),
        ("input", None, None, "code", "Code"),
        ("button", "Sign in", None, "sign_in", None),
        ("button", "Verify", None, "verify", None),
        ("link", "Forgot password?", None, "forgot", None),
        ("link", "Terms and Conditions", None, "terms", None),
        ("button", "Add to cart", None, "add_to_cart", None),
        ("button", "Checkout", None, "checkout", None),
        ("text", "Added to cart", None, None, None),
        ("text", "$59.99", None, "price", None),
        ("switch", "Dark mode", None, "dark_mode", None),
        ("text", "Signed in as demo@example.com", None, None, None),
        ("image", None, "Wireless Headphones X200", "product_image", None),
        ("tab", "Home", None, "tab_home", None),
        ("tab", "Cart", None, "tab_cart", None),
        ("tab", "Profile", None, "tab_profile", None),
    ]
    words = ["Wireless", "Bluetooth", "Smart", "Portable", "Classic", "Premium", "Compact",
             "Ceramic", "Bamboo", "Stainless"]
    things = ["Speaker", "Watch", "Lamp", "Kettle", "Backpack", "Blanket", "Grinder", "Bottle",
              "Pillow", "Camera"]
    elements: list[Element] = []
    y = 0
    for kind, label, desc, rid, hint in fixed:
        elements.append(Element(kind, Bounds(0, y, 1080, y + 90), text=label, description=desc,
                                id=rid, hint=hint, clickable=kind != "text",
                                editable=kind in ("input", "search"),
                                checked=False if kind == "switch" else None))
        y += 10
    i = 0
    while len(elements) < n - 1:
        name = f"{words[i % 10]} {things[(i // 10) % 10]} {i}" if i % 3 else f"Product {i}"
        kind = "list_item" if i % 4 else "text"
        elements.append(Element(kind, Bounds(0, y, 1080, y + 90), text=name,
                                description=f"${10 + i}.99", id=f"item_{i}",
                                clickable=kind == "list_item"))
        y += 10
        i += 1
    elements.append(Element("text", Bounds(0, y, 1080, y + 90), text="Zen Garden Kit"))
    return Hierarchy(1080, 2400, tuple(elements[:n]), "com.qualgent.demo")


_PURPOSE = {"type": "type", "clear": "type", "sms_code": "type", "assert_visible": "see",
            "assert_not_visible": "see", "wait_for": "see", "scroll_to": "see"}


def decide(planner: RulePlanner, step: str, screen: Hierarchy) -> int:
    try:
        intents = planner.plan(step, screen)
    except StepFailure:
        return 0
    for intent in intents:
        if intent.target is not None:
            find(screen, intent.target, _PURPOSE.get(intent.action, "tap"),
                 fuzzy=intent.action != "assert_not_visible")
    return len(intents)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def clear_text_caches() -> None:
    text.tokens.cache_clear()
    text.id_tokens.cache_clear()
    matching._analyse.cache_clear()


def run(repeat: int, n: int, case: str) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU milliseconds of each decision."""
    planner = RulePlanner()
    base = synthetic_screen(n)
    times: list[float] = []
    cpu: list[float] = []
    for step in STEPS:  # warm up imports and regex caches
        decide(planner, step, base)
    gc.disable()
    try:
        for _ in range(repeat):
            for step in STEPS:
                screen = base
                if case != "same screen":
                    screen = Hierarchy(base.width, base.height, base.elements, base.package)
                if case == "new texts":
                    clear_text_caches()
                c0, t0 = time.thread_time(), time.perf_counter()
                decide(planner, step, screen)
                times.append((time.perf_counter() - t0) * 1000)
                cpu.append((time.thread_time() - c0) * 1000)
    finally:
        gc.enable()
    return times, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=200)
    ap.add_argument("--elements", type=int, default=200)
    args = ap.parse_args()
    screen = synthetic_screen(args.elements)
    print(f"screen: {len(screen.elements)} elements; {len(STEPS)} varied steps x {args.repeat}")
    print("wall-clock ms per decision (CPU ms in the last two columns: less disturbed by "
          "other load)")
    print(f"{'':12} {'median':>8} {'p90':>8} {'p99':>8} {'max':>8} {'decisions':>10} "
          f"{'cpu med':>8} {'cpu p99':>8}")
    for case in ("new texts", "new screen", "same screen"):
        t, c = run(args.repeat, args.elements, case)
        print(f"{case:12} {statistics.median(t):8.3f} {pct(t, 0.90):8.3f} "
              f"{pct(t, 0.99):8.3f} {max(t):8.3f} {len(t):10d} {statistics.median(c):8.3f} "
              f"{pct(c, 0.99):8.3f}")
    planner = RulePlanner()
    print("\nper step, new screen (median ms):")
    for step in STEPS:
        t = []
        for _ in range(max(5, args.repeat // 10)):
            s = Hierarchy(screen.width, screen.height, screen.elements, screen.package)
            t0 = time.perf_counter()
            decide(planner, step, s)
            t.append((time.perf_counter() - t0) * 1000)
        print(f"  {statistics.median(t):7.3f}  {step}")


if __name__ == "__main__":
    main()
