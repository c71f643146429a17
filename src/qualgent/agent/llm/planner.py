"""Planners backed by a model: `LLMPlanner` does steps with a model in a bounded loop,
`HybridPlanner` lets the rules do what they can and asks the model for the rest.

The model never touches the device. Each round it sees the step, what was done for it and the
screen as a numbered element list (agent.llm.prompt), and answers with actions from the
executor's own action set; an element number becomes a `Target` built from that element's own
words, so the executor finds it, records an ordinary selector, and cached replay and audit
work as for any run. Checks the step asks for become `judge` intents, decided by a separate
verdict call on the screen as it is when the check runs.

Failures: a model that cannot be reached or refuses the request fails the step as
infrastructure (the run is retried); an answer that cannot be used (malformed, an element that
does not exist) is sent back once with what was wrong, then fails the step as `test` quoting
the model's words; a model that gives up fails it as `test` with its reason; a step that is
not done within `max_actions` actions fails as `test` naming the budget.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from qualgent.agent.intents import (
    Action,
    ExpectationFailed,
    Intent,
    NotUnderstood,
    StepFailure,
    Target,
    TargetNotFound,
)
from qualgent.agent.llm.cache import PlanCache, cache_key
from qualgent.agent.llm.client import (
    MalformedAnswer,
    Message,
    ModelClient,
    ModelRefused,
    ModelUnavailable,
    Tool,
)
from qualgent.agent.llm.prompt import (
    ACT,
    ACTIONS,
    DIRECTIONS,
    JUDGE_SYSTEM,
    SYSTEM,
    VERDICT,
    act_prompt,
    element_list,
    judge_prompt,
    poor,
)
from qualgent.agent.matching import candidates, find, fingerprint
from qualgent.agent.planning import Planner
from qualgent.agent.planning.rules.phrases import protect_quotes
from qualgent.agent.records import Usage
from qualgent.agent.text import fold
from qualgent.drivers.base import EDITABLE_KINDS, Element, Hierarchy
from qualgent.queue.states import FailureCategory

Screenshot = Callable[[], "bytes | None"]
T = TypeVar("T")
_PURPOSE = {"tap": "tap", "swipe": "tap", "type": "type", "clear": "type", "sms_code": "type",
            "wait_for": "see", "scroll_to": "see"}
_ELEMENT_ACTIONS = frozenset(_PURPOSE)
_NEEDS_TEXT = {"type": "the text to type", "key": "the key's name", "check": "the claim",
               "scroll_to": None}  # scroll_to: text or nothing (to the end)
_IDLE_WAIT = 1.0  # "continue" with nothing to do: look again after this long


class _Unusable(Exception):
    """An answer that parsed but cannot be carried out (the model is told why, once)."""


class LLMPlanner:
    """An ObservingPlanner that asks a model what to do, round by round, within one step."""

    name = "llm"

    def __init__(self, client: ModelClient, *, cache: PlanCache | None = None,
                 max_actions: int = 12) -> None:
        self.client = client
        self.cache = cache
        self.max_actions = max_actions
        self._usage: Usage | None = None
        self._screenshot: Screenshot | None = None
        self._begin("")

    @property
    def model(self) -> str:
        return self.client.model

    # ------------------------------------------------------------------ the runner's hooks

    def use_screenshots(self, take: Screenshot) -> None:
        """How to take a screenshot (shown to the model when the element list is poor or it
        asked for one)."""
        self._screenshot = take

    def take_usage(self) -> Usage | None:
        """What the model calls cost since the last call (None: no calls), handed over."""
        usage, self._usage = self._usage, None
        return usage

    def plan(self, step: str, screen: Hierarchy) -> list[Intent]:
        self._begin(step)
        if self.cache is not None:
            self._cache_key = cache_key(step, fingerprint(screen), self.model)
            hit = self.cache.get(self._cache_key)
            if hit:
                self._from_cache = True
                self._finished = True
                return hit
        return self._round(screen, ())

    def plan_next(self, step: str, screen: Hierarchy, done: Sequence[Intent]) -> list[Intent]:
        if self._finished:
            self._remember()
            return []
        return self._round(screen, done)

    def take_over(self, step: str, screen: Hierarchy, done: Sequence[Intent],
                  why: str) -> list[Intent]:
        """Carry on a step another planner began (`done`) and could not finish (`why`)."""
        self._begin(step, note=f"The agent could not go on: {why}")
        self._cacheable = False
        return self._round(screen, done)

    def recover(self, step: str, screen: Hierarchy, failed: Intent, failure: StepFailure,
                done: Sequence[Intent], pending: Sequence[Intent]) -> list[Intent] | None:
        """After `failed` raised `failure`: a remembered plan is dropped and the model asked
        afresh; a model's target that is not there is told to the model; a check that does
        not hold, or a wait that ran out, stands."""
        from_cache = self._from_cache
        if from_cache and self.cache is not None and self._cache_key is not None:
            self.cache.drop(self._cache_key)
        self._from_cache = False
        self._cacheable = False
        if failed.action is Action.JUDGE:
            return None
        if from_cache:
            note = f"A plan remembered from an earlier run failed here: {failure.reason}"
        elif isinstance(failure, TargetNotFound):
            note = f"The action {describe(failed)} failed: {failure.reason}"
        else:
            return None
        self._finished = False
        return self._round(screen, done, note)

    def judge(self, claim: str, screen: Hierarchy, png: bytes | None) -> tuple[bool, str]:
        """Whether `claim` holds on `screen`, and why (one verdict call, never cached)."""
        listing, _ = element_list(screen)
        image = png if png and poor(screen) else None
        messages = [Message("user", judge_prompt(claim, listing, screen), image)]
        args, _ = self._ask(JUDGE_SYSTEM, messages, VERDICT, _verdict)
        return args["holds"], args["reason"].strip() or "(no reason given)"

    # ------------------------------------------------------------------ one step

    def _begin(self, step: str, note: str | None = None) -> None:
        self._step = step
        self._note = note
        self._issued: list[Intent] = []  # every intent this step got from the model
        self._spent = 0  # the step's action budget used
        self._finished = False  # the model said the step is done
        self._want_shot = False
        self._cache_key: str | None = None
        self._from_cache = False
        self._cacheable = True

    def _remember(self) -> None:
        if (self.cache is not None and self._cache_key is not None and self._cacheable
                and not self._from_cache and self._issued):
            self.cache.put(self._cache_key, self._issued)
            self._cacheable = False  # once

    def _round(self, screen: Hierarchy, done: Sequence[Intent],
               note: str | None = None) -> list[Intent]:
        if self._spent >= self.max_actions:
            raise self._over_budget(note)
        note, self._note = note or self._note, None
        listing, numbered = element_list(screen)
        text = act_prompt(self._step, listing, screen, [describe(i) for i in done], note)
        image = None
        if self._screenshot is not None and (self._want_shot or poor(screen)):
            image = self._screenshot()
        def usable(a: dict) -> list[Intent]:
            _check_act(a, numbered)
            return [self._intent(x, screen, numbered) for x in a["actions"]]

        args, intents = self._ask(SYSTEM, [Message("user", text, image)], ACT, usable)
        status, reason = args["status"], args["reason"].strip()
        self._want_shot = args.get("want_screenshot") is True
        if status == "failed":
            raise StepFailure(f"The model could not do the step: {reason or '(no reason)'}",
                              FailureCategory.TEST)
        if not intents and status == "continue":
            intents = [Intent(Action.WAIT, seconds=_IDLE_WAIT, clause=self._step)]
        if self._spent + len(intents) > self.max_actions:
            raise self._over_budget(reason)
        self._spent += len(intents)
        self._issued.extend(intents)
        self._finished = status == "passed"
        if self._finished and not intents:
            self._remember()  # all the step's intents have been carried out
        return intents

    def _over_budget(self, said: str | None) -> StepFailure:
        last = f" The model's last words: {said}" if said else ""
        return StepFailure(
            f"The model had not finished the step within its budget of {self.max_actions} "
            f"actions ({self._spent} done).{last}", FailureCategory.TEST)

    def _intent(self, a: dict, screen: Hierarchy, numbered: dict[int, Element]) -> Intent:
        """An action of the model's answer as an intent (checked by _check_act already)."""
        action = a["action"]
        n = a.get("element")
        text = a.get("text")
        target = None
        if action in _ELEMENT_ACTIONS and n is not None:
            target = target_for(numbered[n], screen, _PURPOSE[action])
        elif action in ("tap", "wait_for", "scroll_to") and text:
            target = Target.of(text)
        common = {"clause": self._step}
        if action == "check":
            return Intent(Action.JUDGE, value=text, **common)
        if action == "tap":
            return Intent(Action.TAP, target, **common)
        if action in ("type", "sms_code"):
            kind = Action.TYPE if action == "type" else Action.SMS_CODE
            return Intent(kind, target, value=text if action == "type" else None,
                          submit=a.get("submit") is True, **common)
        if action == "clear":
            return Intent(Action.CLEAR, target, **common)
        if action == "swipe":
            return Intent(Action.SWIPE, target, value=a.get("direction") or "up", **common)
        if action == "scroll_to":
            return Intent(Action.SCROLL_TO, target, value=a.get("direction") or "up", **common)
        if action == "wait":
            return Intent(Action.WAIT, seconds=_seconds(a, 1.0), **common)
        if action == "wait_for":
            return Intent(Action.WAIT_FOR, target, seconds=_seconds(a, None), **common)
        if action == "key":
            return Intent(Action.KEY, value=text, **common)
        if action == "launch":
            return Intent(Action.LAUNCH, value="restart" if text == "restart" else None,
                          **common)
        return Intent(Action.BACK, **common)

    # ------------------------------------------------------------------ model calls

    def _ask(self, system: str, messages: list[Message], tool: Tool,
             usable: Callable[[dict], T]) -> tuple[dict, T]:
        """The tool call's arguments and what `usable` makes of them; an answer it finds
        unusable (_Unusable) or that is malformed is sent back once with what was wrong, then
        fails the step quoting the model."""
        for attempt in (1, 2):
            try:
                answer = self._call(system, messages, tool)
                said = answer.text.strip() or json.dumps(answer.arguments, ensure_ascii=False)
                return answer.arguments, usable(answer.arguments)
            except MalformedAnswer as exc:
                problem, said = str(exc), exc.text.strip()
            except _Unusable as exc:
                problem = str(exc)
            if attempt == 2:
                raise StepFailure(
                    f"The model's answer could not be used ({problem}). It said: "
                    f"{_clip(said) or '(nothing)'}", FailureCategory.TEST)
            messages = [*messages, Message("assistant", said or "(nothing)"), Message(
                "user", f"That answer could not be used: {problem}. Answer again by calling "
                        f"the `{tool.name}` tool with arguments that match its schema.")]
        raise AssertionError("unreachable")

    def _call(self, system: str, messages: list[Message], tool: Tool):  # noqa: ANN202
        started = time.perf_counter()
        try:
            answer = self.client.call(system, messages, tool)
        except (ModelUnavailable, ModelRefused) as exc:
            self._spend(Usage(0, 0, (time.perf_counter() - started) * 1000, 1))
            raise StepFailure(f"The model could not be used: {exc}.",
                              FailureCategory.INFRASTRUCTURE) from None
        except MalformedAnswer:
            self._spend(Usage(0, 0, (time.perf_counter() - started) * 1000, 1))
            raise
        self._spend(answer.usage)
        return answer

    def _spend(self, usage: Usage) -> None:
        self._usage = usage if self._usage is None else self._usage + usage


class HybridPlanner:
    """The rules first; the model only where they fall short: a step the rules do not
    understand, a target the executor cannot find for an action (once the rules' own
    `recover`, if they have one, has nothing more to try), and a check of unquoted
    words that does not hold literally ("the cart is empty"), which the model judges. A check
    of quoted words ('"Order confirmed" is shown') or of a toggle's state stays literal."""

    name = "hybrid"

    def __init__(self, rules: Planner, llm: LLMPlanner) -> None:
        self.rules = rules
        self.llm = llm
        self._model_step = False  # the model has this step
        self._quoted: list[str] = []

    @property
    def model(self) -> str:
        return self.llm.model

    def use_screenshots(self, take: Screenshot) -> None:
        self.llm.use_screenshots(take)

    def take_usage(self) -> Usage | None:
        return self.llm.take_usage()

    def judge(self, claim: str, screen: Hierarchy, png: bytes | None) -> tuple[bool, str]:
        return self.llm.judge(claim, screen, png)

    def plan(self, step: str, screen: Hierarchy) -> list[Intent]:
        self._model_step = False
        self._quoted = [fold(q) for q in protect_quotes(step)[1] if q.strip()]
        try:
            return self.rules.plan(step, screen)
        except NotUnderstood:
            self._model_step = True
            return self.llm.plan(step, screen)

    def plan_next(self, step: str, screen: Hierarchy, done: Sequence[Intent]) -> list[Intent]:
        if self._model_step:
            return self.llm.plan_next(step, screen, done)
        return []

    def recover(self, step: str, screen: Hierarchy, failed: Intent, failure: StepFailure,
                done: Sequence[Intent], pending: Sequence[Intent]) -> list[Intent] | None:
        if self._model_step:
            return self.llm.recover(step, screen, failed, failure, done, pending)
        if isinstance(failure, ExpectationFailed) and self._judgeable(failed):
            return [Intent(Action.JUDGE, value=failed.clause or step, clause=failed.clause),
                    *pending]
        rules_recover = getattr(self.rules, "recover", None)  # the rules' own remedies first
        if rules_recover is not None:
            instead = rules_recover(step, screen, failed, failure, done, pending)
            if instead is not None:
                return instead
        if isinstance(failure, TargetNotFound) and not failed.is_assertion:
            self._model_step = True
            return self.llm.take_over(step, screen, done, failure.reason)
        return None

    def _judgeable(self, intent: Intent) -> bool:
        """A check of visible words that were not quoted (a toggle's state is literal)."""
        if intent.action not in (Action.ASSERT_VISIBLE, Action.ASSERT_NOT_VISIBLE):
            return False
        if intent.checked is not None or intent.target is None:
            return False
        phrase = fold(intent.target.phrase)
        return not any(q in phrase for q in self._quoted)


# ---------------------------------------------------------------------- elements as targets


def target_for(el: Element, screen: Hierarchy, purpose: str) -> Target:
    """A description of `el` that the executor's matcher resolves to `el` on `screen`: its
    own words (text, description, hint or id; an input by its hint or id before its value),
    word for word, with its kind, and the ordinal among elements matching the same words when
    several do. Raises _Unusable when nothing names it (no words of its own)."""
    position = next(i for i, e in enumerate(screen.elements) if e is el)
    editable = el.editable or el.kind in EDITABLE_KINDS
    fields = ("hint", "id", "description", "text") if editable else (
        "text", "description", "hint", "id")
    kinds = frozenset({el.kind})
    for field in fields:
        value = getattr(el, field)
        if not value or not value.strip():
            continue
        target = Target(value.strip(), True, kinds)
        hit = find(screen, target, purpose)
        if hit is not None and hit.position == position:
            return target
        alike = sorted(candidates(screen, target, purpose),
                       key=lambda m: (m.element.bounds.top, m.element.bounds.left))
        for k, m in enumerate(alike, 1):
            if m.position == position:
                nth = Target(target.phrase, True, kinds, k)
                hit = find(screen, nth, purpose)
                if hit is not None and hit.position == position:
                    return nth
    raise _Unusable(f"the agent cannot tell element {el.kind} apart from the others by its "
                    f"text, description, hint or id; choose another way")


def describe(intent: Intent) -> str:
    """An intent in a few words, for the model's "done so far" list."""
    what = intent.action.value
    t = intent.target
    target = f" {t}" if t is not None else ""
    if t is not None and t.kinds is not None and len(t.kinds) == 1:
        target += f" ({next(iter(t.kinds))})"
    if t is not None and t.ordinal:
        target += f" (number {t.ordinal})"
    if intent.action is Action.TYPE:
        return f"type {json.dumps(intent.value or '', ensure_ascii=False)}" + (
            f" into{target}" if target else "")
    if intent.action is Action.JUDGE:
        return f"check {json.dumps(intent.value or '', ensure_ascii=False)}"
    if intent.action in (Action.SWIPE, Action.SCROLL_TO):
        return f"{what} {intent.value}{target}"
    if intent.action is Action.KEY:
        return f"key {intent.value}"
    if intent.action is Action.WAIT:
        return f"wait {intent.seconds:g}s"
    return f"{what}{target}"


# ---------------------------------------------------------------------- answer checks


def _check_act(args: dict, numbered: dict[int, Element]) -> None:
    actions = args.get("actions")
    if not isinstance(actions, list):
        raise _Unusable("actions must be a list")
    if args.get("status") not in ("continue", "passed", "failed"):
        raise _Unusable('status must be "continue", "passed" or "failed"')
    if not isinstance(args.get("reason"), str):
        raise _Unusable("reason must be a string")
    for k, a in enumerate(actions, 1):
        if not isinstance(a, dict):
            raise _Unusable(f"action {k} is not an object")
        name = a.get("action")
        if name not in ACTIONS:
            raise _Unusable(f"action {k}: {name!r} is not one of {', '.join(ACTIONS)}")
        n = a.get("element")
        if n is not None and name in _ELEMENT_ACTIONS:
            if isinstance(n, bool) or not isinstance(n, int) or n not in numbered:
                last = max(numbered, default=0)
                raise _Unusable(f"action {k} ({name}): there is no element [{n}] on this "
                                f"screen (the elements are numbered 1 to {last})")
        text = a.get("text")
        if text is not None and not isinstance(text, str):
            raise _Unusable(f"action {k} ({name}): text must be a string or null")
        if name in _NEEDS_TEXT and _NEEDS_TEXT[name] and not text:
            raise _Unusable(f"action {k} ({name}) needs text: {_NEEDS_TEXT[name]}")
        if name == "tap" and n is None and not text:
            raise _Unusable(f"action {k} (tap) needs an element or the text to tap")
        if name == "wait_for" and n is None and not text:
            raise _Unusable(f"action {k} (wait_for) needs an element or the text to wait for")
        if name == "swipe" and a.get("direction") not in DIRECTIONS:
            raise _Unusable(f"action {k} (swipe) needs a direction: {', '.join(DIRECTIONS)}")
        if a.get("direction") is not None and a.get("direction") not in DIRECTIONS:
            raise _Unusable(f"action {k} ({name}): direction must be one of "
                            f"{', '.join(DIRECTIONS)} or null")
        seconds = a.get("seconds")
        if seconds is not None and (isinstance(seconds, bool)
                                    or not isinstance(seconds, int | float) or seconds < 0):
            raise _Unusable(f"action {k} ({name}): seconds must be a positive number or null")


def _verdict(args: dict) -> None:
    if not isinstance(args.get("holds"), bool):
        raise _Unusable("holds must be true or false")
    if not isinstance(args.get("reason"), str):
        raise _Unusable("reason must be a string")


def _seconds(a: dict, default: float | None) -> float | None:
    s = a.get("seconds")
    return float(s) if s is not None else default


def _clip(text: str, limit: int = 400) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."
