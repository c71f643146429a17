"""The hybrid planner: the rules first, the model only where they fall short, on the Demo Shop
against the fake OpenAI-compatible server."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from qualgent.agent import RulePlanner
from qualgent.agent.llm.planner import HybridPlanner, LLMPlanner
from qualgent.queue.states import FailureCategory
from tests.demo import SIGN_IN
from tests.fakes.llm import FakeOpenAI, tool_name

from .test_llm_planner import (
    MODEL,
    ScriptedModel,
    Seen,
    act,
    answer,
    client_for,
    run_demo,
    selectors,
)

NO_ITEMS = "Check that the cart has no items"  # true of an empty cart, in no literal words


def hybrid(fake: FakeOpenAI) -> HybridPlanner:
    return HybridPlanner(RulePlanner(), LLMPlanner(client_for(fake)))


def model_for_misses(s: Seen) -> dict:
    """What the model does with the steps the rules cannot do."""
    if "cannot remember my login" in s.step or "password reset screen" in s.step:
        if s.done and s.done[-1].startswith('tap "Forgot password?"'):
            return answer(reason="the reset screen is showing")
        return answer(act("tap", s.element("Forgot password?")), status="continue")
    raise AssertionError(f"the model was asked about {s.step!r}")


def verdict(s: Seen) -> dict:
    if s.step == NO_ITEMS:
        empty = s.shows("Your cart is empty")
        return {"holds": empty, "reason": "the cart says it is empty" if empty else
                "the cart lists Wireless Headphones X200"}
    raise AssertionError(f"the model was asked to judge {s.step!r}")


def test_steps_the_rules_do_cost_no_model_call(demo_apk: Path, openai_fake: FakeOpenAI) -> None:
    openai_fake.respond(ScriptedModel(model_for_misses, verdict))
    planner = hybrid(openai_fake)
    assert (planner.name, planner.model) == ("hybrid", MODEL)
    out = run_demo(demo_apk, [*SIGN_IN, 'Verify "Home" is shown', "Open the Cart tab",
                              "Your cart is empty should be visible"], planner)
    assert out.status == "passed", out.explanation
    assert openai_fake.requests == []
    assert all(s.usage is None for s in out.steps)


def test_a_target_the_rules_cannot_find_goes_to_the_model(demo_apk: Path,
                                                          openai_fake: FakeOpenAI) -> None:
    model = ScriptedModel(model_for_misses, verdict)
    openai_fake.respond(model)
    out = run_demo(demo_apk, ["Open the app", "Tap the link for when I cannot remember my login",
                              'Verify "Reset password" is shown'], hybrid(openai_fake))
    assert out.status == "passed", out.explanation
    [first, second] = model.seen
    assert first.step == "Tap the link for when I cannot remember my login"
    assert first.note.startswith("The agent could not go on: Could not find an element")
    assert second.done == ['tap "Forgot password?" (link)']
    assert ("tap", {"text": "Forgot password?", "kind": "link"}) in selectors(out.steps[1])
    assert out.steps[1].usage.calls == 2
    assert out.steps[0].usage is None and out.steps[2].usage is None


def test_a_step_the_rules_do_not_understand_goes_to_the_model(
        demo_apk: Path, openai_fake: FakeOpenAI) -> None:
    model = ScriptedModel(model_for_misses, verdict)
    openai_fake.respond(model)
    out = run_demo(demo_apk, ["Open the app", "Get me to the password reset screen"],
                   hybrid(openai_fake))
    assert out.status == "completed", out.explanation
    assert model.seen[0].note == ""  # asked from the start of the step
    assert ("tap", {"text": "Forgot password?", "kind": "link"}) in selectors(out.steps[1])


def test_a_check_in_other_words_is_judged_by_the_model(demo_apk: Path,
                                                       openai_fake: FakeOpenAI) -> None:
    model = ScriptedModel(model_for_misses, verdict)
    openai_fake.respond(model)
    steps = [*SIGN_IN, "Open the Cart tab", NO_ITEMS]
    out = run_demo(demo_apk, steps, hybrid(openai_fake))
    assert out.status == "passed", out.explanation
    assert [tool_name(r.json) for r in openai_fake.requests] == ["verdict"]
    assert model.seen[0].step == NO_ITEMS and model.seen[0].shows("Your cart is empty")
    judged = out.steps[-1]
    # the literal attempt leaves no record: the step's trace is the verdict, and replays
    assert selectors(judged) == [("judge", {"verdict": "holds"})]
    assert judged.has_assertion and judged.usage.calls == 1

    recording = [[asdict(a) for a in s.actions] for s in out.steps]
    again = run_demo(demo_apk, steps, hybrid(openai_fake), recording=recording)
    assert again.status == "passed", again.explanation
    assert [s.replay for s in again.steps] == ["replayed"] * len(steps)


def test_a_check_in_other_words_judged_false_fails_as_the_apps_fault(
        demo_apk: Path, openai_fake: FakeOpenAI) -> None:
    openai_fake.respond(ScriptedModel(model_for_misses, verdict))
    out = run_demo(demo_apk, [*SIGN_IN, "Tap the first result", "Tap Add to cart", "Go back",
                              "Open the Cart tab", NO_ITEMS], hybrid(openai_fake))
    assert (out.status, out.failure_category) == ("failed", FailureCategory.APP)
    assert out.steps[-1].reason.endswith(
        "(judged by the model): the cart lists Wireless Headphones X200")


def test_a_quoted_check_stays_literal(demo_apk: Path, openai_fake: FakeOpenAI) -> None:
    openai_fake.respond(ScriptedModel(model_for_misses, verdict))
    out = run_demo(demo_apk, [*SIGN_IN, "Open the Cart tab",
                              'Verify that "Order confirmed" is shown'], hybrid(openai_fake))
    assert (out.status, out.failure_category) == ("failed", FailureCategory.APP)
    assert "Expected to see \"Order confirmed\"" in out.steps[-1].reason
    assert openai_fake.requests == []


def test_a_model_that_is_down_fails_only_the_steps_that_need_it(
        demo_apk: Path, openai_fake: FakeOpenAI) -> None:
    for _ in range(3):
        openai_fake.fail(502)
    openai_fake.respond(ScriptedModel(model_for_misses, verdict))
    out = run_demo(demo_apk, [*SIGN_IN, "Open the Cart tab", NO_ITEMS], hybrid(openai_fake))
    assert (out.status, out.failure_category) == ("failed", FailureCategory.INFRASTRUCTURE)
    assert [s.status for s in out.steps[:-1]] == ["passed"] * 6
    assert "502" in out.steps[-1].reason
