"""The rule-based planner: a step's clauses, each matched against the rules in a fixed order.

Order matters where phrasings overlap: SMS codes before typing ("enter the code from the
SMS"), keys before taps ("press enter"), toggles before assertions ("turn on X"), assertions
before typing and taps ("check that X is shown" is no checkbox). A clause that fits no rule
but is the label of something tappable on screen is a tap on it ("Add to cart").
"""

from __future__ import annotations

from collections.abc import Callable

from qualgent.agent.intents import Intent, NotUnderstood
from qualgent.agent.matching import describe
from qualgent.agent.planning.rules import actions, assertions
from qualgent.agent.planning.rules.clauses import split_clauses, strip_lead
from qualgent.agent.planning.rules.labels import relabel
from qualgent.agent.planning.rules.phrases import restore
from qualgent.drivers.base import Hierarchy

Rule = Callable[[str, list[str], Hierarchy, list[Intent]], "list[Intent] | None"]
"""(clause, quoted texts, screen, intents so far) -> the clause's intents, or None: not mine."""

RULES: tuple[Rule, ...] = (
    actions.parse_sms, actions.parse_launch, actions.parse_back, actions.parse_wait,
    actions.parse_scroll, actions.parse_key, actions.parse_toggle, assertions.parse_assert,
    actions.parse_type, actions.parse_clear, actions.parse_tap,
)


class RulePlanner:
    """The default planner: ordinary English in many phrasings, deterministic, no model calls;
    about a millisecond per step on a 200-element screen (benchmarks/planner_decision.py).

    The screen is consulted only to resolve ambiguities (where a typed value ends and its
    field begins, whether "and" joins two instructions or belongs to a name); elements are
    found later, by the executor, on the screen it observes when each intent runs.
    """

    def plan(self, step: str, screen: Hierarchy) -> list[Intent]:
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
            if intents is None:
                shown = restore(raw, quoted)
                raise NotUnderstood(
                    f"Could not understand \"{shown}\": it is not a tap, type, scroll, wait, "
                    f"back, verify or SMS-code instruction, and nothing on screen is called "
                    f"that. The screen shows: {describe(screen)}."
                )
            src = restore(raw, quoted)
            out.extend(_with_clause(i, src) for i in intents)
        if not out:
            raise NotUnderstood(f"The step \"{step}\" has no instruction in it.")
        return out


def _with_clause(intent: Intent, clause: str) -> Intent:
    if intent.clause:
        return intent
    return Intent(intent.action, intent.target, intent.value, intent.seconds, intent.checked,
                  intent.submit, intent.count, clause)
