"""The rule-based planner: a step's clauses, each matched against the rules in a fixed order.

Order matters where phrasings overlap: SMS codes before typing ("enter the code from the
SMS"), keys before taps ("press enter"), toggles before assertions ("turn on X"), assertions
before typing and taps ("check that X is shown" is no checkbox). A clause that fits no rule
but is the label of something tappable on screen is a tap on it ("Add to cart").
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Sequence

from qualgent.agent.intents import (
    Action,
    Intent,
    NotUnderstood,
    StepFailure,
    Target,
    TargetNotFound,
)
from qualgent.agent.matching import describe, editable_elements, find
from qualgent.agent.planning.rules import actions, assertions, credentials
from qualgent.agent.planning.rules.clauses import split_clauses, strip_lead
from qualgent.agent.planning.rules.labels import relabel
from qualgent.agent.planning.rules.phrases import restore
from qualgent.drivers.base import ElementKind, Hierarchy

Rule = Callable[[str, list[str], Hierarchy, list[Intent]], "list[Intent] | None"]
"""(clause, quoted texts, screen, intents so far) -> the clause's intents, or None: not mine."""

RULES: tuple[Rule, ...] = (
    credentials.parse_sign_in, actions.parse_sms, actions.parse_launch, actions.parse_back,
    actions.parse_wait,
    actions.parse_scroll, actions.parse_key, actions.parse_toggle, actions.parse_dialog,
    credentials.parse_labelled_value, assertions.parse_assert,
    actions.parse_type, actions.parse_clear, actions.parse_find, actions.parse_add,
    actions.parse_tap,
)


class RulePlanner:
    """The default planner: ordinary English in many phrasings, deterministic, no model calls;
    about a millisecond per step on a 200-element screen (benchmarks/planner_decision.py).

    The screen is consulted only to resolve ambiguities (where a typed value ends and its
    field begins, whether "and" joins two instructions or belongs to a name); elements are
    found later, by the executor, on the screen it observes when each intent runs.
    """

    def __init__(self) -> None:
        self._seen: deque[Hierarchy] = deque(maxlen=SCREENS_REMEMBERED)
        self._last: Target | None = None  # what "it" refers to

    def plan(self, step: str, screen: Hierarchy) -> list[Intent]:
        if not self._seen or self._seen[-1] != screen:
            self._seen.append(screen)
        clauses, quoted = split_clauses(step, screen)
        out: list[Intent] = []
        for raw in clauses:
            clause = strip_lead(raw, screen)
            if not clause:
                continue
            clause = strip_lead(relabel(clause, quoted, screen), screen)
            intents = None
            for rule in RULES:
                intents = rule(clause, quoted, screen, out)
                if intents is not None:
                    break
            if intents is None:
                intents = actions.fallback_tap(clause, quoted, screen)
            if (intents is None and out and out[-1].action == Action.TAP
                    and len(clause.split()) <= 5 and _LABEL_START.match(clause)):
                # "Tap Get started and then Allow": the verb carries over to the next label
                intents = actions.parse_tap(f"tap {clause}", quoted, screen, out)
            if intents is None:
                shown = restore(raw, quoted)
                raise NotUnderstood(
                    f"Could not understand \"{shown}\": it is not a tap, type, scroll, wait, "
                    f"back, verify or SMS-code instruction, and nothing on screen is called "
                    f"that. The screen shows: {describe(screen)}."
                )
            src = restore(raw, quoted)
            out.extend(_with_clause(self._referent(i), src) for i in intents)
        if not out:
            raise NotUnderstood(f"The step \"{step}\" has no instruction in it.")
        return out

    def _referent(self, intent: Intent) -> Intent:
        """"Turn it off again": "it" is what the last tap or typing named (this step or an
        earlier one)."""
        t = intent.target
        if t is not None and t.phrase.lower() in _PRONOUNS and self._last is not None:
            t = self._last
            intent = Intent(intent.action, t, intent.value, intent.seconds, intent.checked,
                            intent.submit, intent.count, intent.clause)
        if t is not None and intent.action in _REFERRED and not t.generic:
            self._last = t
        return intent

    def recover(self, step: str, screen: Hierarchy, failed: Intent, failure: StepFailure,
                done: Sequence[Intent], pending: Sequence[Intent]) -> list[Intent] | None:
        """Go back and try again when what a tap or typing names is not on this screen (the
        executor has waited and scrolled): it may be on a screen behind this one, as a tab
        bar is behind a detail screen, or a list behind a dialog. A person who saw it on an
        earlier screen goes back to look for it; so do we, at most `BACK_LOOKS` times a step,
        only for a target an earlier step's screen showed, and not from a screen showing a
        tab bar (a top-level screen: back would leave it, not reveal more)."""
        if not isinstance(failure, TargetNotFound) or failed.action not in _RETRIED:
            return None
        backs = sum(1 for i in done if i.action == Action.BACK and i.clause == _LOOKING_BACK)
        if backs >= BACK_LOOKS or screen.package is None:
            return None
        if any(e.kind == ElementKind.TAB for e in screen.elements):
            return None
        if not any(_shows(seen, failed) for seen in self._seen):
            return None  # never seen on an earlier screen: going back would not find it
        return [Intent(Action.BACK, clause=_LOOKING_BACK), failed, *pending]


BACK_LOOKS = 3  # how many times a step may go back looking for its target
SCREENS_REMEMBERED = 30  # the screens steps started on, where a target may have been seen
_LOOKING_BACK = "(going back to look for it)"
_RETRIED = frozenset({Action.TAP, Action.TYPE, Action.CLEAR})
_REFERRED = _RETRIED | {Action.SCROLL_TO}
_LABEL_START = re.compile(r"^(?:the\s+)?(?:[A-Z]|\x00)")  # a name, not a verb: "Allow"
_PRONOUNS = frozenset({"it", "that", "this", "them", "that one", "this one", "the same"})


def _shows(screen: Hierarchy, intent: Intent) -> bool:
    """True when `screen` has what `intent` acts on (any input, for typing into no field)."""
    if intent.target is None:
        return bool(editable_elements(screen))
    purpose = "tap" if intent.action == Action.TAP else "type"
    return find(screen, intent.target, purpose) is not None


def _with_clause(intent: Intent, clause: str) -> Intent:
    if intent.clause:
        return intent
    return Intent(intent.action, intent.target, intent.value, intent.seconds, intent.checked,
                  intent.submit, intent.count, clause)
