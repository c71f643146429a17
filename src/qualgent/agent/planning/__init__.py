"""Planning: turning a plain-English step into the intents the executor carries out.

A planner is given the step and the screen; it returns intents (`agent.intents`), each one
thing to do or check, drawn from one action set (tap, type, clear, swipe, scroll to, back,
key, wait, wait for, assert visible / not visible, SMS code, launch). Intents name their
targets by description, so a planner never holds an element: the executor finds each target
on the screen as it is when the intent runs, and raises a StepFailure when it cannot.

Two shapes of planner, one runner:
- `Planner`: plans a whole step from the screen as the step starts (the rule-based
  `RulePlanner`; a compound step such as "Open the app and tap the search bar" is planned in
  one call because targets are found later).
- `ObservingPlanner`: also looks again after its intents ran and decides what comes next, a
  few intents at a time, until it says the step is done (a model choosing actions in a bounded
  loop). The runner bounds the loop (`AgentOptions.max_planning_rounds`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from qualgent.agent.intents import Intent
from qualgent.agent.planning.rules import RulePlanner, split_clauses
from qualgent.drivers.base import Hierarchy


class Planner(Protocol):
    """Turns one step into intents."""

    def plan(self, step: str, screen: Hierarchy) -> list[Intent]:
        """The intents that carry out `step`, decided on `screen` (the screen as it starts).

        Raises NotUnderstood (a StepFailure: the test is to blame) when the step cannot be
        turned into intents; any other exception fails the run as an infrastructure failure.
        """
        ...


@runtime_checkable
class ObservingPlanner(Planner, Protocol):
    """A planner that decides a step a few intents at a time, seeing the result of each.

    The runner calls `plan` as the step starts, carries out its intents, then calls
    `plan_next` with the screen as it is now, and so on until `plan_next` returns no intents
    (the step is done) or the step used up `AgentOptions.max_planning_rounds` (it fails).
    """

    def plan_next(self, step: str, screen: Hierarchy, done: Sequence[Intent]) -> list[Intent]:
        """The next intents of `step`, given every intent this step has carried out so far
        (`done`, in order, all of which succeeded); an empty list when the step is complete."""
        ...


__all__ = ["ObservingPlanner", "Planner", "RulePlanner", "split_clauses"]
