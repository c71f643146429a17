"""Cached runs: replay a recorded passed run's actions deterministically.

Before each recorded action the replayer checks that the screen still has the fingerprint it
had when the action was recorded, and finds the element by its recorded selector (text,
description, id or hint, and kind), never by its old coordinates. A step whose screen or
element no longer matches diverged: the agent plans it afresh (the step is "healed"), or, with
fallback "fail", the run fails there. An SMS code is read afresh: the recorded one is stale.
A check a model judged ("judge") is judged afresh when the run has a judge, since a verdict
is about the screen of the day; without one the step diverges (and is healed or fails).
"""

from __future__ import annotations

from qualgent.agent.executor import Executor
from qualgent.agent.intents import ExpectationFailed, StepFailure
from qualgent.agent.matching import selector_of
from qualgent.agent.text import fold
from qualgent.drivers.base import Bounds, Element, Hierarchy
from qualgent.queue.states import FailureCategory


class Divergence(Exception):
    """The screen no longer matches the recording."""


def _norm(value: str | None) -> str:
    return fold(value or "")


def find(screen: Hierarchy, selector: dict) -> Element | None:
    """The element the selector names on this screen (same kind, same normalized field)."""
    kind = selector.get("kind")
    fields = [(k, _norm(v)) for k, v in selector.items() if k != "kind"]
    for el in screen.elements:
        if kind and el.kind != kind:
            continue
        if all(_norm(getattr(el, k, None)) == v for k, v in fields):
            return el
    return None


def _shows(screen: Hierarchy, phrase: str | None) -> bool:
    want = _norm(phrase)
    return bool(want) and any(
        want in _norm(e.text) or want in _norm(e.description) for e in screen.elements)


def replay_step(ex: Executor, recorded: list[dict]) -> bool:
    """Perform one step's recorded actions; True when the step asserted something."""
    asserted = False
    fresh_code: str | None = None
    old_code: str | None = None
    for rec in recorded:
        action, selector, value = rec["action"], rec.get("selector"), rec.get("value")
        if action == "launch":
            ex.launch_app(restart=value == "restart")
            continue
        if action == "read_sms":
            old_code, fresh_code = value, ex.read_sms_code()
            continue
        if action == "wait" and selector is None:
            ex.wait(float(value or 0))
            continue
        if rec.get("screen") and rec["screen"] != ex.fingerprint():
            raise Divergence(f"the screen before '{action}' differs from the recording")
        if action == "judge":
            asserted = True
            if ex.judge is None:
                raise Divergence(f"the check '{value}' needs a model to judge it")
            try:
                ex.check_claim(value or "")
            except ExpectationFailed as exc:
                raise Divergence(exc.reason) from exc
            continue
        screen = ex.observe()
        if action in ("assert_visible", "assert_not_visible", "wait"):
            asserted |= action.startswith("assert")
            present = (find(screen, selector) is not None) if selector else _shows(screen, value)
            if present != (action != "assert_not_visible"):
                raise Divergence(f"'{value}' is {'not ' if not present else ''}on the screen")
            ex.record_check(action, selector, value)
            continue
        if action in ("key", "back", "swipe"):
            if action == "key":
                ex.press_key(value or "enter")
            elif action == "back":
                ex.back()
            else:
                area = Bounds(*rec["bounds"]) if rec.get("bounds") else None
                ex.swipe(value or "up", area)
            continue
        el = find(screen, selector or {})
        if el is None:
            raise Divergence(f"no element matches {selector}")
        selector = selector or selector_of(el)
        if action == "tap":
            ex.tap(el, selector)
        elif action == "type":
            text = fresh_code if old_code is not None and value == old_code else (value or "")
            ex.type_text(el, selector, text)
        elif action == "clear":
            ex.clear_text(el, selector)
        else:
            raise StepFailure(f"The recording holds an unknown action '{action}'.",
                              FailureCategory.TEST)
    ex.observe(fresh=True)  # a crash the last action caused belongs to this step
    return asserted
