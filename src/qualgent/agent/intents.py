"""What a planner decides for a step: a list of intents, each one thing to do or check.

Intents name their targets by description (a `Target`), not by element: the executor finds
the element on the screen it observes when the intent runs, since a compound step changes the
screen between its parts ("Open the app and tap the search bar").
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from qualgent.agent.text import split_kind, tokens
from qualgent.drivers.base import ElementKind
from qualgent.queue.states import FailureCategory


class Action(StrEnum):
    """The action set: what an intent asks the executor to do (every planner chooses from it)."""

    LAUNCH = "launch"  # bring the app to the foreground (value "restart": stop it first)
    TAP = "tap"  # tap target; `checked` set: only if the toggle is not already in that state
    TYPE = "type"  # type `value` into target (None: the focused / most likely input)
    CLEAR = "clear"  # clear target (None: the focused input)
    SWIPE = "swipe"  # swipe `value` (finger direction up|down|left|right), `count` times
    SCROLL_TO = "scroll_to"  # swipe `value` until target is visible ("top"/"bottom": the end)
    BACK = "back"
    KEY = "key"  # press key `value`
    WAIT = "wait"  # sleep `seconds`
    WAIT_FOR = "wait_for"  # poll until target is visible (checked=False: until it is gone)
    ASSERT_VISIBLE = "assert_visible"  # target is on screen (checked set: its toggle state)
    ASSERT_NOT_VISIBLE = "assert_not_visible"
    SMS_CODE = "sms_code"  # read the newest SMS code, type it into target (or the code input)
    JUDGE = "judge"  # the claim `value` ("the cart is empty") judged on the screen by a model


ASSERTIONS = frozenset({Action.ASSERT_VISIBLE, Action.ASSERT_NOT_VISIBLE, Action.JUDGE})


@dataclass(frozen=True)
class Target:
    """How a step names an element: "the Sign in button", "“Order confirmed”", "the first result".

    `phrase` is the text as written (quotes removed); `exact` is True when it was quoted or
    is to be matched word for word (assertions): no kind word is stripped then; `kinds` are
    the element kinds a trailing kind word asks for;
    `ordinal` is 1-based (-1 for "last") when the step picks one of several ("the 2nd item");
    `generic` marks a phrase that names any content ("results", "the page to load").
    """

    phrase: str
    exact: bool = False
    kinds: frozenset[ElementKind] | None = None
    ordinal: int | None = None
    generic: bool = False

    @property
    def words(self) -> tuple[str, ...]:
        """The tokens to match, kind word stripped (unless quoted)."""
        words = tokens(self.phrase)
        if self.exact:
            return words
        core, _ = split_kind(words)
        return core or words

    @classmethod
    def of(cls, phrase: str, *, exact: bool = False, ordinal: int | None = None,
           generic: bool = False) -> Target:
        kinds = None
        if not exact:
            _, kinds = split_kind(tokens(phrase))
        return cls(phrase.strip(), exact, kinds, ordinal, generic)

    def __str__(self) -> str:
        return f'"{self.phrase}"'


@dataclass(frozen=True)
class Intent:
    action: Action
    target: Target | None = None
    value: str | None = None  # text to type, key name, swipe direction
    seconds: float | None = None  # wait / timeout
    checked: bool | None = None  # toggle state wanted (TAP) or expected (ASSERT_VISIBLE)
    submit: bool = False  # TYPE / SMS_CODE: press enter afterwards
    count: int = 1  # SWIPE: how many times
    clause: str = ""  # the part of the step this came from

    @property
    def is_assertion(self) -> bool:
        return self.action in ASSERTIONS


class StepFailure(Exception):
    """A step did not do what it says; `category` is who is to blame (app | test | infra)."""

    category = FailureCategory.TEST

    def __init__(self, reason: str, category: FailureCategory | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        if category is not None:
            self.category = category


class NotUnderstood(StepFailure):
    category = FailureCategory.TEST


class TargetNotFound(StepFailure):
    category = FailureCategory.TEST


class ExpectationFailed(StepFailure):
    """An assertion or a wait whose condition did not hold: the app misbehaved."""

    category = FailureCategory.APP
