"""The executor's public actions, as a cached replay drives them: each acts on an element
already found, records what it did on which screen, and makes the next look fresh."""

from __future__ import annotations

import time
from dataclasses import asdict

from qualgent.agent import Executor, run_steps
from qualgent.agent.matching import fingerprint, selector_of

from .fakes import PACKAGE, FakeDevice, Node, fast_options, shop


def test_each_public_action_records_what_it_did_on_the_screen_it_saw() -> None:
    d = shop(start="sign_in")
    ex = Executor(d, PACKAGE, fast_options())
    ex.launch_app()
    screen = ex.observe()
    email = next(e for e in screen.elements if e.id == "email")
    sel = selector_of(email)
    before = fingerprint(screen)

    ex.tap(email, sel)
    ex.type_text(email, sel, "demo@example.com")
    ex.clear_text(email, sel)
    ex.type_text(email, sel, "demo@example.com")
    ex.press_key("enter")
    ex.wait(0.01)
    ex.record_check("assert_visible", {"text": "Sign in", "kind": "button"}, "Sign in")
    ex.back()

    records = ex.take_actions()
    assert [(r.action, r.value) for r in records] == [
        ("launch", PACKAGE), ("tap", None), ("type", "demo@example.com"), ("clear", None),
        ("type", "demo@example.com"), ("key", "enter"), ("wait", "0.01"),
        ("assert_visible", "Sign in"), ("back", None)]
    assert records[1].screen == before and records[1].selector == sel
    assert records[1].bounds == email.bounds.as_list()
    assert d.value("email") == "demo@example.com"
    assert ex.actions == [] and ex.take_actions() == []


def _slow_start() -> FakeDevice:
    """A screen whose Continue button shows up 0.15 s after the device is made."""
    ready_at = time.monotonic() + 0.15
    screens = {
        "home": [Node("text", "Welcome"),
                 Node("button", "Continue", on_tap="done",
                      visible=lambda d: time.monotonic() >= ready_at)],
        "done": [Node("text", "All set")],
    }
    return FakeDevice(screens, start="home")


def test_a_replayed_wait_looks_at_the_screen_again_before_the_next_action() -> None:
    steps = ["Wait 0.3 seconds, then tap Continue"]
    first = run_steps(_slow_start(), PACKAGE, steps, options=fast_options())
    assert first.status == "completed", first.explanation
    recording = [[asdict(a) for a in s.actions] for s in first.steps]

    d = _slow_start()
    again = run_steps(d, PACKAGE, steps, recording=recording, options=fast_options())
    assert again.status == "completed", again.explanation
    assert again.steps[0].replay == "replayed"  # not healed: the tap's screen matched
    assert d.screen == "done"
