"""The model planner end to end: the real LLMPlanner and the real OpenAIChat / AnthropicMessages
clients against the fake model servers on loopback, on the simulator running the Demo Shop.

The fake model is scripted from the request, as a model would work: it reads the step and the
numbered element list in the prompt and picks the element whose words the step names
(tests.fakes.scripted_model). What was sent is checked on the wire, and so is every failure
path.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import pytest

from qualgent.agent import RulePlanner, RunOutcome, Target, run_steps
from qualgent.agent.audit import compare
from qualgent.agent.llm.client import AnthropicMessages, OpenAIChat
from qualgent.agent.llm.planner import LLMPlanner
from qualgent.drivers.base import Bounds, Element, ElementKind, Hierarchy
from qualgent.drivers.simulator import SimulatedDevice, parse_simulator_spec
from tests.demo import SEARCH_AND_CHECK_OUT, SIGN_IN
from tests.fakes.llm import FakeAnthropic, FakeOpenAI, tool_name
from tests.fakes.scripted_model import KEY, MODEL, ScriptedModel, Seen, act, answer

from .fakes import fast_options

# ----------------------------------------------------------------------------- fixtures


PROVIDERS = {"openai": (FakeOpenAI, OpenAIChat), "anthropic": (FakeAnthropic, AnthropicMessages)}


@pytest.fixture(params=sorted(PROVIDERS))
def provider(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def fake(provider: str) -> Iterator[FakeOpenAI | FakeAnthropic]:
    with PROVIDERS[provider][0](api_key=KEY, models=[MODEL]) as server:
        yield server



def client_for(server: FakeOpenAI | FakeAnthropic, timeout: float = 5.0, retries: int = 2
               ) -> OpenAIChat | AnthropicMessages:
    cls = OpenAIChat if isinstance(server, FakeOpenAI) else AnthropicMessages
    return cls(MODEL, server.url, api_key=KEY, timeout=timeout, max_retries=retries)


def demo_device(demo_apk: Path) -> tuple[SimulatedDevice, str]:
    device = SimulatedDevice(parse_simulator_spec("Pixel 7:Android:14:sms"), seed=7)
    return device, device.install(demo_apk).package


def run_demo(demo_apk: Path, steps: list[str], planner, **kw) -> RunOutcome:  # noqa: ANN001, ANN003
    device, package = demo_device(demo_apk)
    return run_steps(device, package, steps, planner=planner, options=fast_options(), **kw)


def selectors(step) -> list[tuple[str, dict | None]]:  # noqa: ANN001
    return [(a.action, a.selector) for a in step.actions]


# ----------------------------------------------------------------------------- end to end


def test_demo_shop_sign_in_and_checkout_planned_by_the_model(demo_apk: Path, fake) -> None:  # noqa: ANN001
    model = ScriptedModel()
    fake.respond(model)
    planner = LLMPlanner(client_for(fake))
    assert (planner.name, planner.model) == ("llm", MODEL)
    out = run_demo(demo_apk, [*SIGN_IN, *SEARCH_AND_CHECK_OUT], planner)
    assert out.status == "passed", out.explanation
    steps = out.steps
    # model-chosen elements are recorded by their own words, like any other run
    assert ("type", {"hint": "Email", "kind": "input"}) in selectors(steps[1])
    assert ("tap", {"text": "Sign in", "kind": "button"}) in selectors(steps[3])
    assert [a.action for a in steps[4].actions][:1] == ["read_sms"]
    assert ("tap", {"text": "Wireless Headphones X200", "kind": "list_item"}) in \
        selectors(steps[6])
    assert selectors(steps[7]) == [("judge", {"verdict": "holds"})]
    assert steps[7].actions[0].value == "the price shows $59.99"
    assert ("tap", {"text": "Cart", "kind": "tab"}) in selectors(steps[10])
    assert steps[-1].has_assertion and steps[-1].actions[-1].action == "judge"
    # usage: every call counted with its step, two rounds for a tap that changes the screen
    calls = [s.usage.calls for s in steps]
    assert calls[3] == 2 and calls[0] == 1 and calls[7] == 2  # the check: act + verdict
    assert sum(calls) == len(fake.requests)
    assert all(s.usage.input_tokens == 120 * s.usage.calls for s in steps)
    assert all(s.usage.output_tokens == 30 * s.usage.calls for s in steps)
    assert all(s.usage.latency_ms > 0 for s in steps)


def test_what_is_sent(demo_apk: Path, fake) -> None:  # noqa: ANN001
    fake.respond(ScriptedModel())
    out = run_demo(demo_apk, SIGN_IN[:4], LLMPlanner(client_for(fake)))
    assert out.status == "completed", out.explanation
    for req in fake.requests:
        body = req.json
        assert body["model"] == MODEL
        # temperature 0 where the API takes one (Anthropic's current API version does not)
        assert body["temperature"] == 0 if isinstance(fake, FakeOpenAI) else \
            body.get("temperature", 0) == 0
        assert KEY not in json.dumps(body)  # the key travels in a header only
        [tool] = body["tools"]
        schema = tool.get("input_schema") or tool["function"]["parameters"]
        name = tool.get("name") or tool["function"]["name"]
        assert name == "act" and tool_name(body) == "act"
        assert set(schema["required"]) == set(schema["properties"])
        assert schema["additionalProperties"] is False
        assert "tap" in schema["properties"]["actions"]["items"]["properties"]["action"]["enum"]
    sign_in = [r.text for r in fake.requests if "Step: Tap Sign in" in r.text]
    assert len(sign_in) == 2
    assert '[4] button "Sign in" id=sign_in' in sign_in[0]
    assert '[2] input "demo@example.com" hint="Email" id=email' in sign_in[0]
    assert '[3] input "•••••••" hint="Password" id=password focused' in sign_in[0]
    assert "Done so far for this step:\n- nothing yet" in sign_in[0]
    assert '- tap "Sign in"' in sign_in[1] and "Verify your phone" in sign_in[1]
    assert "ONE plain-English test step" in fake.requests[0].text  # the system prompt


def test_a_check_judged_false_fails_the_step_as_the_apps_fault(demo_apk: Path,
                                                               openai_fake: FakeOpenAI) -> None:
    openai_fake.respond(ScriptedModel())
    out = run_demo(demo_apk, [*SIGN_IN, 'Verify that "Order confirmed" is shown'],
                   LLMPlanner(client_for(openai_fake)))
    assert (out.status, out.failure_category) == ("failed", "app")
    reason = out.steps[-1].reason
    assert "does not hold" in reason and "'Order confirmed' is not on the screen" in reason
    assert selectors(out.steps[-1]) == [("judge", {"verdict": "does not hold"})]


def test_the_model_asks_to_see_the_screen(demo_apk: Path, openai_fake: FakeOpenAI) -> None:
    def look_first(s: Seen) -> dict:
        if not s.has_image:
            return answer(status="continue", reason="I want to see it", want_screenshot=True)
        return answer(act("launch"))

    openai_fake.respond(ScriptedModel(look_first))
    out = run_demo(demo_apk, ["Open the app"], LLMPlanner(client_for(openai_fake)))
    assert out.status == "completed", out.explanation
    first, second = (r.json["messages"][-1]["content"] for r in openai_fake.requests)
    assert isinstance(first, str)  # a rich element list: no screenshot unless asked
    image = next(b for b in second if b["type"] == "image_url")
    assert image["image_url"]["url"].startswith("data:image/png;base64,")
    # the runner's launch, then a short wait for "continue" with nothing to do
    assert [a.action for a in out.steps[0].actions] == ["launch", "wait"]


# ----------------------------------------------------------------------------- failures


def test_429_with_retry_after_then_success(demo_apk: Path, fake) -> None:  # noqa: ANN001
    fake.fail(429, retry_after=0.3).respond(ScriptedModel())
    out = run_demo(demo_apk, ["Open the app"], LLMPlanner(client_for(fake)))
    assert out.status == "completed", out.explanation
    assert len(fake.requests) == 2
    assert fake.requests[1].at - fake.requests[0].at >= 0.3  # Retry-After honoured
    assert out.steps[0].usage.calls == 1


def test_5xx_fails_the_step_as_infrastructure(demo_apk: Path, fake) -> None:  # noqa: ANN001
    for _ in range(3):
        fake.fail(503)
    fake.respond(ScriptedModel())
    out = run_demo(demo_apk, ["Open the app", "Tap Sign in"],
                   LLMPlanner(client_for(fake, retries=2)))
    assert (out.status, out.failure_category) == ("failed", "infrastructure")
    assert "The model could not be used" in out.steps[0].reason and "503" in out.steps[0].reason
    assert [s.status for s in out.steps] == ["failed", "skipped"]
    assert len(fake.requests) == 3  # the client's back-off, then the step failed
    assert KEY not in out.explanation


def test_a_timeout_fails_the_step_as_infrastructure(demo_apk: Path,
                                                   openai_fake: FakeOpenAI) -> None:
    openai_fake.hang(5).respond(ScriptedModel())
    out = run_demo(demo_apk, ["Open the app"],
                   LLMPlanner(client_for(openai_fake, timeout=0.3, retries=0)))
    assert (out.status, out.failure_category) == ("failed", "infrastructure")
    assert "did not answer" in out.steps[0].reason
    assert out.steps[0].usage.calls == 1


def test_a_refused_key_fails_as_infrastructure_without_the_key(demo_apk: Path,
                                                              openai_fake: FakeOpenAI) -> None:
    openai_fake.respond(ScriptedModel())
    client = OpenAIChat(MODEL, openai_fake.url, api_key="sk-wrong-key-123", timeout=5,
                        max_retries=0)
    out = run_demo(demo_apk, ["Open the app"], LLMPlanner(client))
    assert (out.status, out.failure_category) == ("failed", "infrastructure")
    assert "401" in out.explanation and "sk-wrong-key-123" not in out.explanation


def test_a_malformed_answer_is_retried_once_with_what_was_wrong(demo_apk: Path, fake) -> None:  # noqa: ANN001
    fake.malformed("Sure! I would launch the app.").respond(ScriptedModel())
    out = run_demo(demo_apk, ["Open the app"], LLMPlanner(client_for(fake)))
    assert out.status == "completed", out.explanation
    retry = fake.requests[1].text
    assert "Sure! I would launch the app." in retry  # its words, as the assistant's turn
    assert "That answer could not be used" in retry and "`act` tool" in retry
    assert out.steps[0].usage.calls == 2


def test_malformed_twice_fails_as_test_quoting_the_model(demo_apk: Path, fake) -> None:  # noqa: ANN001
    fake.malformed("Let me think about it.").malformed("I really cannot decide.")
    fake.respond(ScriptedModel())
    out = run_demo(demo_apk, ["Open the app"], LLMPlanner(client_for(fake)))
    assert (out.status, out.failure_category) == ("failed", "test")
    assert "I really cannot decide." in out.steps[0].reason
    assert "could not be used" in out.steps[0].reason
    assert len(fake.requests) == 2


def test_an_element_that_does_not_exist_is_told_to_the_model(demo_apk: Path,
                                                             openai_fake: FakeOpenAI) -> None:
    def handler(s: Seen) -> dict:
        if s.step == "Open the app":
            return answer(act("launch"))
        if not s.retry:
            return answer(act("tap", 99))
        return answer(act("tap", s.element("Sign in", "button")))

    model = ScriptedModel(handler)
    openai_fake.respond(model)
    out = run_demo(demo_apk, ["Open the app", "Tap Sign in"], LLMPlanner(client_for(openai_fake)))
    assert out.status == "completed", out.explanation
    assert "That answer could not be used" in model.seen[-1].retry
    corrected = openai_fake.requests[-1].text
    assert "there is no element [99] on this screen (the elements are numbered 1 to 5)" in \
        corrected
    assert ("tap", {"text": "Sign in", "kind": "button"}) in selectors(out.steps[1])


def test_an_element_that_does_not_exist_twice_fails_as_test(demo_apk: Path,
                                                            openai_fake: FakeOpenAI) -> None:
    def handler(s: Seen) -> dict:
        if s.step == "Open the app":
            return answer(act("launch"))
        return answer(act("tap", 42), reason="tapping the forty-second element")

    openai_fake.respond(ScriptedModel(handler))
    out = run_demo(demo_apk, ["Open the app", "Tap Sign in"], LLMPlanner(client_for(openai_fake)))
    assert (out.status, out.failure_category) == ("failed", "test")
    reason = out.steps[1].reason
    assert "no element [42]" in reason and "tapping the forty-second element" in reason
    assert out.steps[1].actions == []  # nothing was done on a bad answer


def test_a_model_that_never_finishes_runs_out_of_its_budget(demo_apk: Path,
                                                            openai_fake: FakeOpenAI) -> None:
    def handler(s: Seen) -> dict:
        if s.step == "Open the app":
            return answer(act("launch"))
        return answer(act("swipe", direction="up"), status="continue",
                      reason="still looking for it")

    openai_fake.respond(ScriptedModel(handler))
    out = run_demo(demo_apk, ["Open the app", "Find the wishlist"],
                   LLMPlanner(client_for(openai_fake), max_actions=3))
    assert (out.status, out.failure_category) == ("failed", "test")
    reason = out.steps[1].reason
    assert "budget of 3 actions (3 done)" in reason
    assert [a.action for a in out.steps[1].actions] == ["swipe"] * 3
    assert out.steps[1].usage.calls == 3


def test_a_model_that_gives_up_fails_the_step_with_its_reason(demo_apk: Path,
                                                              openai_fake: FakeOpenAI) -> None:
    def handler(s: Seen) -> dict:
        if s.step == "Open the app":
            return answer(act("launch"))
        return answer(status="failed", reason="This app has no wishlist.")

    openai_fake.respond(ScriptedModel(handler))
    out = run_demo(demo_apk, ["Open the app", "Open the wishlist"],
                   LLMPlanner(client_for(openai_fake)))
    assert (out.status, out.failure_category) == ("failed", "test")
    assert out.steps[1].reason == "The model could not do the step: This app has no wishlist."


def test_a_target_gone_by_the_time_it_is_tapped_is_told_to_the_model(
        demo_apk: Path, openai_fake: FakeOpenAI) -> None:
    """Two taps planned on one screen: the first moves on, the second's element is gone;
    the model hears why and carries on from the new screen."""
    def handler(s: Seen) -> dict:
        if s.step == "Open the app":
            return answer(act("launch"))
        if not s.note:
            return answer(act("tap", s.element("Forgot password?")), act(
                "tap", s.element("Sign in", "button")))
        assert "Could not find an element matching" in s.note
        return answer(act("back"))

    openai_fake.respond(ScriptedModel(handler))
    out = run_demo(demo_apk, ["Open the app", "Tap Forgot password? and then go back"],
                   LLMPlanner(client_for(openai_fake)))
    assert out.status == "completed", out.explanation
    assert [a.action for a in out.steps[1].actions][0] == "tap"
    assert out.steps[1].actions[-1].action == "back"


# ----------------------------------------------------------------------------- replay, audit


def test_cached_replay_and_audit_of_a_model_planned_run(demo_apk: Path,
                                                        openai_fake: FakeOpenAI) -> None:
    model = ScriptedModel()
    openai_fake.respond(model)
    steps = [*SIGN_IN, *SEARCH_AND_CHECK_OUT]
    first = run_demo(demo_apk, steps, LLMPlanner(client_for(openai_fake)))
    assert first.status == "passed", first.explanation
    recording = [[asdict(a) for a in s.actions] for s in first.steps]

    # replayed with a judge: no planning calls, the checks judged afresh
    openai_fake.requests.clear()
    again = run_demo(demo_apk, steps, LLMPlanner(client_for(openai_fake)), recording=recording)
    assert again.status == "passed", again.explanation
    assert [s.replay for s in again.steps] == ["replayed"] * len(steps)
    assert {tool_name(r.json) for r in openai_fake.requests} == {"verdict"}
    assert len(openai_fake.requests) == 2  # the two checks
    assert again.steps[7].usage.calls == 1 and again.steps[0].usage is None
    current = [dict(asdict(s), status=str(s.status)) for s in again.steps]
    source = [dict(asdict(s), status=str(s.status)) for s in first.steps]
    assert compare(current, source, "src")["first_difference"] is None

    # replayed without a model: the judged steps diverge and the rules heal them
    rules = run_demo(demo_apk, steps, RulePlanner(), recording=recording)
    assert rules.status == "passed", rules.explanation
    healed = [i for i, s in enumerate(rules.steps) if s.replay == "healed"]
    assert healed == [7, 12]



def test_a_poor_screen_is_sent_with_a_screenshot(openai_fake: FakeOpenAI) -> None:
    """A canvas with one unlabelled control (a game, a webview): the list says too little."""
    png = b"\x89PNG\r\n\x1a\nfake"
    screen = Hierarchy(1080, 2400, (
        Element("image", Bounds(0, 0, 1080, 2400), id="canvas", clickable=True),
        Element("text", Bounds(0, 0, 1080, 100)),  # nothing to say: left out of the list
    ), "com.example.game")
    openai_fake.respond(lambda request: answer(act("tap", 1)))
    planner = LLMPlanner(client_for(openai_fake))
    planner.use_screenshots(lambda: png)
    [intent] = planner.plan("Tap the play button", screen)
    assert intent.target == Target("canvas", True, frozenset({ElementKind.IMAGE}))
    content = openai_fake.requests[0].json["messages"][-1]["content"]
    assert "[1] image id=canvas" in content[0]["text"] and "[2]" not in content[0]["text"]
    assert content[1]["image_url"]["url"] == "data:image/png;base64," + \
        base64.b64encode(png).decode()
    assert planner.take_usage().calls == 1 and planner.take_usage() is None
