"""Carrying out intents on a device: find the element on the screen as it is now, act, record.

Every action is recorded with the selector that found its target, the bounds acted on and the
fingerprint of the screen it was taken on. Targets that are not on screen yet are waited for
briefly (the screen may still be changing), then searched for by scrolling (taps, typing).

The executor's public surface is what the runner and a cached replay need: `observe` and
`fingerprint` to see, `run` to carry out a planned intent, and the recorded device actions
`launch_app`, `tap`, `type_text`, `clear_text`, `press_key`, `back`, `swipe`, `wait`,
`read_sms_code` and `record_check`, which act on an element already found (replay finds it by
its recorded selector) and append to `actions`; `take_actions` hands a step's records over.
`check_claim` asks the optional `judge` (a model: see agent.llm) whether a claim holds.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from qualgent.agent.intents import (
    Action,
    ExpectationFailed,
    Intent,
    StepFailure,
    Target,
    TargetNotFound,
)
from qualgent.agent.matching import (
    Match,
    candidates,
    closest,
    describe,
    editable_elements,
    find,
    fingerprint,
    selector_of,
)
from qualgent.agent.records import ActionRecord
from qualgent.agent.text import fmt_seconds
from qualgent.drivers.base import (
    LIST_KINDS,
    TOGGLE_KINDS,
    Bounds,
    Device,
    DeviceTiming,
    Element,
    ElementKind,
    Hierarchy,
)
from qualgent.queue.states import FailureCategory

_CODE_RE = re.compile(r"(?<![\d\w])(\d{4,8})(?![\d\w])")
_CODE_HINTS = ("verification code", "code", "otp", "one time", "pin", "passcode")
_LOADING_RE = re.compile(r"\bloading\b|please wait|\bspinner\b", re.I)
_AND_RE = re.compile(r"\s*,\s+(?:and\s+)?|\s+and\s+|\s*&\s*", re.I)


Judge = Callable[[str, Hierarchy, "bytes | None"], tuple[bool, str]]
"""(claim, screen, screenshot PNG or None) -> (whether the claim holds, why)."""


@dataclass(frozen=True)
class AgentOptions:
    """Timing knobs and bounds. The defaults suit a real device; tests shrink the grace
    periods."""

    poll_interval: float = 0.25  # how often waits re-read the screen
    find_timeout: float = 2.0  # how long a tap/type target may take to appear before scrolling
    assert_timeout: float = 2.0  # how long an assertion may take to come true
    find_swipes: int = 12  # swipes down, then back up, looking for a tap target
    scroll_to_swipes: int = 15  # bound on "scroll until X is visible"
    default_wait_timeout: float = 10.0  # "wait for X" with no time given
    launch_timeout: float = 10.0  # how long to wait for the app to come to the foreground
    sms_timeout: float = 30.0  # how long to wait for an SMS with a code
    settle: float = 0.0  # pause after each action
    max_planning_rounds: int = 20  # bound on an observing planner's plan-act rounds per step

    @classmethod
    def fitted(cls, timing: DeviceTiming) -> AgentOptions:
        """The waits a device needs: a real device reads its screen in a second or two, so
        re-reading every 0.25 s within 2 s would time out before the second read."""
        return cls(poll_interval=timing.poll_interval, find_timeout=timing.find_timeout,
                   assert_timeout=timing.assert_timeout)


class Executor:
    """Runs the intents of one run's steps on one device, recording into `actions`."""

    def __init__(self, device: Device, package: str, options: AgentOptions | None = None,
                 judge: Judge | None = None) -> None:
        self.device = device
        self.package = package
        self.options = options or AgentOptions()
        self.judge = judge  # decides `judge` intents; None: they cannot be carried out
        self.actions: list[ActionRecord] = []
        self._screen: Hierarchy | None = None
        self._fp: str | None = None
        self._used_codes: set[tuple[str, str, float]] = set()

    # --------------------------------------------------------------------------- observing

    def observe(self, fresh: bool = False) -> Hierarchy:
        if self._screen is None or fresh:
            screen = self.device.hierarchy()
            if self._screen is None or screen != self._screen:
                self._fp = None
            self._screen = screen
        return self._screen

    def fingerprint(self) -> str:
        screen = self.observe()
        if self._fp is None:
            self._fp = fingerprint(screen)
        return self._fp

    def take_actions(self) -> list[ActionRecord]:
        """The actions recorded since the last call, handed over (a step's trace)."""
        taken, self.actions = self.actions, []
        return taken

    def _acted(self) -> None:
        self._screen = None
        self._fp = None
        if self.options.settle > 0:
            time.sleep(self.options.settle)

    def _record(self, action: str, selector: dict | None = None, bounds: Bounds | None = None,
                value: str | None = None, fp: str | None = None) -> None:
        self.actions.append(ActionRecord(action, selector, bounds.as_list() if bounds else None,
                                         value, fp if fp is not None else self.fingerprint()))

    # --------------------------------------------------------------------------- actions

    def launch_app(self, restart: bool = False) -> None:
        """Bring the app to the foreground (stopped first with `restart`) and wait for it."""
        fp = self.fingerprint()
        if restart:
            self.device.stop(self.package)
        self.device.launch(self.package)
        self._record("launch", None, None, "restart" if restart else self.package, fp)
        self._acted()
        deadline = time.monotonic() + self.options.launch_timeout
        while True:
            screen = self.observe(fresh=True)
            if screen.package == self.package or time.monotonic() >= deadline:
                return  # in the foreground (or, past the deadline, let the step find out)
            time.sleep(self.options.poll_interval)

    def tap(self, el: Element, selector: dict) -> None:
        """Tap the centre of `el`, recorded under `selector` (how it was found)."""
        fp = self.fingerprint()
        x, y = el.bounds.center
        self.device.tap(x, y)
        self._record("tap", selector, el.bounds, None, fp)
        self._acted()

    def type_text(self, el: Element, selector: dict, text: str) -> None:
        """Type into the focused input, which is `el`."""
        fp = self.fingerprint()
        self.device.type_text(text)
        self._record("type", selector, el.bounds, text, fp)
        self._acted()

    def clear_text(self, el: Element, selector: dict) -> None:
        """Clear the focused input, which is `el`."""
        fp = self.fingerprint()
        self.device.clear()
        self._record("clear", selector, el.bounds, None, fp)
        self._acted()

    def press_key(self, name: str) -> None:
        """A key event ("enter", "search", "back", ...); a key the device lacks fails the step."""
        fp = self.fingerprint()
        try:
            self.device.key(name)
        except ValueError as exc:  # a key this device does not have
            raise StepFailure(f"This device has no '{name}' key ({exc}).",
                              FailureCategory.TEST) from exc
        self._record("key", None, None, name, fp)
        self._acted()

    def back(self) -> None:
        """The system back button."""
        fp = self.fingerprint()
        self.device.back()
        self._record("back", None, None, None, fp)
        self._acted()

    def swipe(self, finger: str, area: Bounds | None = None) -> None:
        """Swipe the finger up/down/left/right across `area` (default: the scrollable area)."""
        screen = self.observe()
        fp = self.fingerprint()
        b = area or _scroll_area(screen)
        w, h = b.right - b.left, b.bottom - b.top
        cx, cy = b.left + w // 2, b.top + h // 2
        if finger in ("up", "down"):
            lo, hi = b.top + int(h * 0.25), b.top + int(h * 0.75)
            x1, y1, x2, y2 = (cx, hi, cx, lo) if finger == "up" else (cx, lo, cx, hi)
        else:
            lo, hi = b.left + int(w * 0.2), b.left + int(w * 0.8)
            x1, y1, x2, y2 = (hi, cy, lo, cy) if finger == "left" else (lo, cy, hi, cy)
        self.device.swipe(x1, y1, x2, y2, 300)
        self._record("swipe", None, b, finger, fp)
        self._acted()

    def wait(self, seconds: float) -> None:
        """Sleep; the screen is observed afresh afterwards."""
        seconds = max(0.0, seconds)
        fp = self.fingerprint()
        time.sleep(seconds)
        self._record("wait", None, None, fmt_seconds(seconds), fp)
        self._acted()

    def read_sms_code(self) -> str:
        """The code (4-8 digits) of the newest SMS not read before, waiting for one."""
        profile = getattr(self.device, "profile", None)
        if profile is not None and getattr(profile, "sms_enabled", True) is False:
            raise StepFailure(
                f"The step needs a code from an SMS, but {profile.name} has no SIM/SMS; run "
                f"the test on an SMS-capable device (use_sim).", FailureCategory.TEST)
        deadline = time.monotonic() + self.options.sms_timeout
        while True:
            try:
                messages = list(self.device.read_sms())
            except NotImplementedError as exc:
                raise StepFailure(f"This device cannot read SMS messages ({exc}).",
                                  FailureCategory.INFRASTRUCTURE) from exc
            newest = sorted(enumerate(messages), key=lambda p: (p[1].received_at, p[0]),
                            reverse=True)
            for _, sms in newest:
                key = (sms.sender, sms.body, sms.received_at)
                codes = _CODE_RE.findall(sms.body)
                if codes and key not in self._used_codes:
                    self._used_codes.add(key)
                    self._record("read_sms", {"sender": sms.sender}, None, codes[-1])
                    return codes[-1]
            if time.monotonic() >= deadline:
                break
            time.sleep(self.options.poll_interval)
        seen = f" ({len(messages)} message(s) without a 4-8 digit code)" if messages else ""
        raise ExpectationFailed(
            f"No SMS with a 4-8 digit code arrived within {fmt_seconds(self.options.sms_timeout)} "
            f"seconds{seen}.")

    def check_claim(self, claim: str) -> None:
        """Have the judge decide `claim` on the screen as it is now (with a screenshot);
        recorded as a "judge" action whose selector holds the verdict. Raises
        ExpectationFailed with the judge's reason when the claim does not hold."""
        if self.judge is None:
            raise StepFailure(f"The step needs a model to judge \"{claim}\", and this run "
                              f"has none (QUALGENT_PLANNER=llm or hybrid).",
                              FailureCategory.INFRASTRUCTURE)
        screen = self.observe(fresh=True)
        try:
            png = self.device.screenshot()
        except NotImplementedError:
            png = None
        holds, reason = self.judge(claim, screen, png)
        self._record("judge", {"verdict": "holds" if holds else "does not hold"}, None, claim)
        if not holds:
            raise ExpectationFailed(f"The check \"{claim}\" does not hold (judged by the "
                                    f"model): {reason}")

    def record_check(self, action: str, selector: dict | None, value: str | None) -> None:
        """Record a check made by the caller on the current screen (a replayed assertion)."""
        self._record(action, selector, None, value)

    # --------------------------------------------------------------------------- intents

    def run(self, intent: Intent) -> None:
        """Carry out one planned intent, finding its target on the screen as it is now."""
        handler = _HANDLERS.get(intent.action)
        if handler is None:
            raise StepFailure(f"The agent cannot perform '{intent.action}'.",
                              FailureCategory.INFRASTRUCTURE)
        handler(self, intent)

    def _do_launch(self, intent: Intent) -> None:
        restart = intent.value == "restart"
        if not restart and self.observe().package == self.package:
            return  # already in the foreground
        self.launch_app(restart)

    # --------------------------------------------------------------------------- finding

    def _poll_find(self, target: Target, purpose: str, timeout: float) -> Match | None:
        deadline = time.monotonic() + timeout
        screen = self.observe()
        while True:
            m = find(screen, target, purpose)
            if m is not None or time.monotonic() >= deadline:
                return m
            time.sleep(min(self.options.poll_interval, max(0.0, deadline - time.monotonic())))
            screen = self.observe(fresh=True)

    def _locate(self, target: Target, purpose: str, verb: str) -> Match:
        """The element `target` names, waiting briefly for it and then scrolling for it."""
        m = self._poll_find(target, purpose, self.options.find_timeout)
        if m is not None:
            return m
        screen = self.observe()
        scrolled = False
        if _scrollable(screen):
            # down to the end of the list, then back up past where we started to its top
            down = 0
            for finger in ("up", "down"):
                limit = self.options.find_swipes + (down if finger == "down" else 0)
                for _ in range(limit):
                    before = self.fingerprint()
                    self.swipe(finger)
                    scrolled = True
                    down += finger == "up"
                    screen = self.observe()
                    m = find(screen, target, purpose)
                    if m is not None:
                        return m
                    if self.fingerprint() == before:
                        break
        raise TargetNotFound(self._not_found(target, purpose, verb, scrolled))

    def _not_found(self, target: Target, purpose: str, verb: str, scrolled: bool) -> str:
        screen = self.observe()
        what = {"type": "an input", "tap": "an element"}.get(purpose, "an element")
        if target.ordinal is not None:
            n = target.ordinal
            which = "the last" if n == -1 else f"number {n} of the"
            return (f"Could not find {which} {target.phrase or 'items'} to {verb}"
                    f"{' after scrolling' if scrolled else ''}. The screen shows: "
                    f"{describe(screen)}.")
        kinds = f" ({'/'.join(sorted(target.kinds))})" if target.kinds else ""
        msg = f"Could not find {what} matching {target}{kinds} to {verb}"
        if scrolled:
            msg += " after scrolling the screen"
        near = closest(screen, target)
        if near is not None:
            msg += f"; the closest text is \"{near.value}\" ({near.element.kind})"
        return f"{msg}. The screen shows: {describe(screen)}."

    # --------------------------------------------------------------------------- taps

    def _do_tap(self, intent: Intent) -> None:
        target = intent.target
        assert target is not None
        if intent.checked is not None and not target.kinds:
            target = Target(target.phrase, target.exact, TOGGLE_KINDS, target.ordinal)
        for _ in range(max(1, intent.count)):
            m = self._locate(target, "tap", "tap")
            el = m.element
            if intent.checked is not None:
                el = self._toggle_for(m)
                if el.checked is intent.checked:
                    return  # already in the state the step asks for
            self.tap(el, m.selector() if el is m.element else selector_of(el))

    def _toggle_for(self, m: Match) -> Element:
        """The switch a label names: the element itself, or the toggle on the label's row."""
        el = m.element
        if el.checked is not None or el.kind in TOGGLE_KINDS:
            return el
        b = el.bounds
        best = None
        for other in self.observe().elements:
            if other.checked is None and other.kind not in TOGGLE_KINDS:
                continue
            ob = other.bounds
            if ob.top < b.bottom and ob.bottom > b.top:  # same row
                dist = abs(ob.left - b.right)
                if best is None or dist < best[0]:
                    best = (dist, other)
        return best[1] if best else el

    # --------------------------------------------------------------------------- typing

    def _input_for(self, target: Target | None, verb: str, prefer: tuple[str, ...] = ()
                   ) -> tuple[Element, dict]:
        if target is not None:
            m = self._locate(target, "type", verb)
            el = m.element
            sel = selector_of(el) if (el.id or el.hint) and m.field == "text" else m.selector()
            return el, sel
        screen = self.observe()
        inputs = editable_elements(screen)
        for phrase in prefer:
            found = candidates(screen, Target.of(phrase), "type")
            if found:
                return found[0].element, found[0].selector()
        focused = [e for _, e in inputs if e.focused]
        if focused:
            return focused[0], selector_of(focused[0])
        if not inputs:
            m = self._poll_any_input()
            if m is not None:
                return m, selector_of(m)
            raise TargetNotFound(
                f"There is no input to {verb} into on this screen. The screen shows: "
                f"{describe(self.observe())}.")
        if len(inputs) == 1:
            return inputs[0][1], selector_of(inputs[0][1])
        empty = [e for _, e in inputs if not _value(e)]
        el = sorted(empty or [e for _, e in inputs], key=lambda e: (e.bounds.top, e.bounds.left))[0]
        return el, selector_of(el)

    def _poll_any_input(self) -> Element | None:
        deadline = time.monotonic() + self.options.find_timeout
        while time.monotonic() < deadline:
            time.sleep(self.options.poll_interval)
            inputs = editable_elements(self.observe(fresh=True))
            if inputs:
                focused = [e for _, e in inputs if e.focused]
                return (focused or [inputs[0][1]])[0]
        return None

    def _focus(self, el: Element, selector: dict) -> None:
        if not el.focused:
            self.tap(el, selector)

    def _type_into(self, el: Element, selector: dict, text: str, submit: bool) -> None:
        self._focus(el, selector)
        if _value(el):
            self.clear_text(el, selector)
        self.type_text(el, selector, text)
        if submit:
            self.press_key("enter")

    def _do_type(self, intent: Intent) -> None:
        el, sel = self._input_for(intent.target, "type")
        self._type_into(el, sel, intent.value or "", intent.submit)

    def _do_clear(self, intent: Intent) -> None:
        el, sel = self._input_for(intent.target, "clear")
        self._focus(el, sel)
        self.clear_text(el, sel)

    def _do_key(self, intent: Intent) -> None:
        self.press_key(intent.value or "enter")

    def _do_back(self, intent: Intent) -> None:
        self.back()

    # --------------------------------------------------------------------------- SMS

    def _do_sms_code(self, intent: Intent) -> None:
        code = self.read_sms_code()
        el, sel = self._input_for(intent.target, "type the code", prefer=_CODE_HINTS)
        self._type_into(el, sel, code, intent.submit)

    # --------------------------------------------------------------------------- swipes

    def _do_swipe(self, intent: Intent) -> None:
        area = None
        if intent.target is not None:
            area = self._locate(intent.target, "tap", "swipe on").element.bounds
        for _ in range(intent.count):
            self.swipe(intent.value or "up", area)

    def _do_scroll_to(self, intent: Intent) -> None:
        finger = intent.value or "up"
        target = intent.target
        if target is None:  # to the top / bottom: until the screen stops changing
            for _ in range(self.options.scroll_to_swipes):
                before = self.fingerprint()
                self.swipe(finger)
                if self.fingerprint() == before:
                    return
            return
        if self._poll_find(target, "see", 0) is not None:
            return
        opposite = {"up": "down", "down": "up", "left": "right", "right": "left"}[finger]
        swipes = 0
        for direction in (finger, opposite):
            while swipes < self.options.scroll_to_swipes:
                before = self.fingerprint()
                self.swipe(direction)
                swipes += 1
                if find(self.observe(), target, "see") is not None:
                    return
                if self.fingerprint() == before:
                    break
        screen = self.observe()
        near = closest(screen, target)
        hint = f"; the closest text is \"{near.value}\"" if near else ""
        raise TargetNotFound(
            f"Scrolled {swipes} time(s) but {target} never became visible{hint}. The screen "
            f"shows: {describe(screen)}.")

    # --------------------------------------------------------------------------- waits

    def _do_wait(self, intent: Intent) -> None:
        self.wait(intent.seconds or 0.0)

    def _do_wait_for(self, intent: Intent) -> None:
        target = intent.target
        assert target is not None
        appear = intent.checked is not False
        timeout = intent.seconds
        if timeout is None:
            timeout = self.options.default_wait_timeout
        start = time.monotonic()
        first_fp = self.fingerprint()
        while True:
            screen = self.observe()
            if appear:
                hit = self._wait_hit(target, screen, first_fp)
            else:
                hit = None if find(screen, target, "see", fuzzy=False) else (None, None)
            waited = time.monotonic() - start
            if hit is not None:
                selector, el = hit
                self._record("wait", selector, el.bounds if el else None,
                             fmt_seconds(round(waited, 2)))
                return
            if waited >= timeout:
                break
            time.sleep(min(self.options.poll_interval, max(0.0, timeout - waited)))
            self.observe(fresh=True)
        screen = self.observe()
        self._record("wait", None, None, fmt_seconds(round(time.monotonic() - start, 2)))
        if appear:
            what = ("anything to load (list items or a change of screen)" if target.generic
                    else f"{target} to appear")
            raise ExpectationFailed(
                f"Waited {fmt_seconds(timeout)} seconds for {what}, but it did not. The screen "
                f"shows: {describe(screen)}.")
        raise ExpectationFailed(
            f"Waited {fmt_seconds(timeout)} seconds for {target} to disappear, but it is still "
            f"on screen. The screen shows: {describe(screen)}.")

    def _wait_hit(self, target: Target, screen: Hierarchy, first_fp: str
                  ) -> tuple[dict | None, Element | None] | None:
        """(selector, element) of what satisfied the wait, or None; generic targets are
        satisfied by the text itself, any list item, or a screen that changed and is not
        showing a loading indicator."""
        m = find(screen, target, "see")
        if m is not None:
            return m.selector(), m.element
        if not target.generic:
            return None
        if _loading(screen):
            return None
        for el in screen.elements:
            if el.kind in LIST_KINDS:
                return selector_of(el), el
        if self.fingerprint() != first_fp:
            return None, None
        return None

    # --------------------------------------------------------------------------- assertions

    def _do_judge(self, intent: Intent) -> None:
        self.check_claim(intent.value or intent.clause)

    def _do_assert_visible(self, intent: Intent) -> None:
        target = intent.target
        assert target is not None
        if intent.checked is not None:
            return self._assert_state(intent)
        parts = [Target.of(p, exact=True) for p in _AND_RE.split(target.phrase) if p.strip()]
        deadline = time.monotonic() + self.options.assert_timeout
        while True:
            screen = self.observe()
            m = find(screen, target, "see")
            if m is not None:
                self._record("assert_visible", m.selector(), m.element.bounds, target.phrase)
                return None
            if len(parts) > 1:  # "X and Y are shown": each of them
                found = [find(screen, p, "see") for p in parts]
                if all(found):
                    for p, pm in zip(parts, found, strict=True):
                        self._record("assert_visible", pm.selector(), pm.element.bounds,
                                     p.phrase)
                    return None
            if time.monotonic() >= deadline:
                break
            time.sleep(self.options.poll_interval)
            self.observe(fresh=True)
        screen = self.observe()
        self._record("assert_visible", None, None, target.phrase)
        near = closest(screen, target)
        hint = f" (the closest text is \"{near.value}\")" if near else ""
        raise ExpectationFailed(
            f"Expected to see {target}, but it is not on screen{hint}. The screen shows: "
            f"{describe(screen)}.")

    def _do_assert_not_visible(self, intent: Intent) -> None:
        target = intent.target
        assert target is not None
        deadline = time.monotonic() + self.options.assert_timeout
        while True:
            m = find(self.observe(), target, "see", fuzzy=False)
            if m is None:
                self._record("assert_not_visible", None, None, target.phrase)
                return
            if time.monotonic() >= deadline:
                break
            time.sleep(self.options.poll_interval)
            self.observe(fresh=True)
        self._record("assert_not_visible", m.selector(), m.element.bounds, target.phrase)
        raise ExpectationFailed(
            f"Expected {target} not to be visible, but the screen shows \"{m.value}\" "
            f"({m.element.kind}). The screen shows: {describe(self.observe())}.")

    def _assert_state(self, intent: Intent) -> None:
        target = intent.target
        assert target is not None
        want = intent.checked
        t = Target(target.phrase, target.exact, target.kinds or TOGGLE_KINDS, target.ordinal)
        deadline = time.monotonic() + self.options.assert_timeout
        while True:
            m = find(self.observe(), t, "tap")
            el = self._toggle_for(m) if m else None
            if el is not None and el.checked is want:
                self._record("assert_visible", m.selector(), el.bounds,
                             f"{target.phrase}: {'on' if want else 'off'}")
                return
            if time.monotonic() >= deadline:
                break
            time.sleep(self.options.poll_interval)
            self.observe(fresh=True)
        screen = self.observe()
        self._record("assert_visible", m.selector() if m else None,
                     el.bounds if el else None, f"{target.phrase}: {'on' if want else 'off'}")
        if el is None:
            raise ExpectationFailed(
                f"Expected {target} to be {'on' if want else 'off'}, but it is not on screen. "
                f"The screen shows: {describe(screen)}.")
        state = {True: "on", False: "off", None: "not a switch"}[el.checked]
        raise ExpectationFailed(
            f"Expected {target} to be {'on' if want else 'off'}, but it is {state}.")


_HANDLERS: dict[Action, Callable[[Executor, Intent], None]] = {
    Action.LAUNCH: Executor._do_launch,
    Action.TAP: Executor._do_tap,
    Action.TYPE: Executor._do_type,
    Action.CLEAR: Executor._do_clear,
    Action.SWIPE: Executor._do_swipe,
    Action.SCROLL_TO: Executor._do_scroll_to,
    Action.BACK: Executor._do_back,
    Action.KEY: Executor._do_key,
    Action.WAIT: Executor._do_wait,
    Action.WAIT_FOR: Executor._do_wait_for,
    Action.ASSERT_VISIBLE: Executor._do_assert_visible,
    Action.ASSERT_NOT_VISIBLE: Executor._do_assert_not_visible,
    Action.SMS_CODE: Executor._do_sms_code,
    Action.JUDGE: Executor._do_judge,
}


def _value(el: Element) -> str:
    """An input's current value (a hint some drivers report as text is no value)."""
    text = el.text or ""
    return "" if not text or text == el.hint else text


def _scrollable(screen: Hierarchy) -> bool:
    return any(e.scrollable or e.kind in LIST_KINDS for e in screen.elements)


def _scroll_area(screen: Hierarchy) -> Bounds:
    areas = [e.bounds for e in screen.elements if e.scrollable]
    if areas:
        return max(areas, key=lambda b: (b.right - b.left) * (b.bottom - b.top))
    w, h = screen.width, screen.height
    return Bounds(int(w * 0.1), int(h * 0.15), int(w * 0.9), int(h * 0.85))


def _loading(screen: Hierarchy) -> bool:
    for el in screen.elements:
        if el.kind == ElementKind.PROGRESS:
            return True
        for value in (el.text, el.description, el.id):
            if value and _LOADING_RE.search(value):
                return True
    return False

