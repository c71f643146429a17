"""The Planner protocols as a second planner sees them: a planner that decides a step a few
intents at a time, looking at the screen after each round, bounded by the runner."""

from __future__ import annotations

from collections.abc import Sequence

from qualgent.agent import Intent, ObservingPlanner, Planner, RulePlanner, Target, run_steps
from qualgent.agent.intents import Action
from qualgent.drivers.base import Hierarchy

from .fakes import PACKAGE, fast_options, shop


def _shows(screen: Hierarchy, text: str) -> bool:
    return any(e.text == text for e in screen.elements)


class OneAtATime:
    """Signs in the way a model choosing one action per look would: what to do next depends
    on what the screen shows now and on what it has done."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, bool]] = []  # (intents done, verify screen shown) per look

    def plan(self, step: str, screen: Hierarchy) -> list[Intent]:
        return [Intent(Action.TYPE, Target.of("Email"), value="demo@example.com")]

    def plan_next(self, step: str, screen: Hierarchy, done: Sequence[Intent]) -> list[Intent]:
        on_verify = _shows(screen, "Verify")
        self.seen.append((len(done), on_verify))
        if on_verify:
            return []
        if not any(i.value == "hunter2" for i in done):
            return [Intent(Action.TYPE, Target.of("Password"), value="hunter2")]
        return [Intent(Action.TAP, Target.of("Sign in", exact=True))]


def test_an_observing_planner_is_asked_again_until_the_step_is_done() -> None:
    planner = OneAtATime()
    assert isinstance(planner, ObservingPlanner)
    d = shop()
    out = run_steps(d, PACKAGE, ["Sign in as the demo user"], planner=planner,
                    options=fast_options())
    assert out.status == "completed", out.explanation
    assert d.screen == "verify"
    assert d.value("email") == "demo@example.com" and d.value("password") == "hunter2"
    assert planner.seen == [(1, False), (2, False), (3, True)]
    typed = [a.value for a in out.steps[0].actions if a.action == "type"]
    assert typed == ["demo@example.com", "hunter2"]
    assert out.steps[0].actions[-1].selector == {"text": "Sign in", "kind": "button"}


class NeverDone:
    def plan(self, step: str, screen: Hierarchy) -> list[Intent]:
        return [Intent(Action.SWIPE, value="up")]

    def plan_next(self, step: str, screen: Hierarchy, done: Sequence[Intent]) -> list[Intent]:
        return [Intent(Action.SWIPE, value="up")]


def test_an_observing_planner_that_never_finishes_fails_the_step_within_the_bound() -> None:
    out = run_steps(shop(start="home"), PACKAGE, ["Find something"], planner=NeverDone(),
                    options=fast_options(max_planning_rounds=4))
    assert out.status == "failed"
    assert out.failure_category == "test"
    assert "had not finished the step after 4 rounds of actions (4 in all)" in out.explanation
    swipes = [a for a in out.steps[0].actions if a.action == "swipe"]
    assert len(swipes) == 4


def test_the_rule_planner_plans_a_whole_step_at_once() -> None:
    planner: Planner = RulePlanner()
    assert not isinstance(planner, ObservingPlanner)
    d = shop()
    out = run_steps(d, PACKAGE, ['Enter demo@example.com into Email, type hunter2 in Password '
                                 'and tap "Sign in"'], planner=planner, options=fast_options())
    assert out.status == "completed", out.explanation
    assert d.screen == "verify"
