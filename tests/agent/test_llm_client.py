"""The model clients driven through the official openai / anthropic clients against fake
servers on loopback: what is sent, what is parsed, and every way a call can fail."""

from __future__ import annotations

import base64
import logging
import time
from dataclasses import dataclass

import pytest

from qualgent.agent.llm import (
    AnthropicMessages,
    MalformedAnswer,
    Message,
    ModelRefused,
    ModelUnavailable,
    OpenAIChat,
    Tool,
    model_client,
)
from qualgent.config import Settings
from tests.fakes.llm import CassetteResponder, FakeAnthropic, FakeOpenAI, record, request_key

KEY = "sk-test-9f8e7d6c5b4a39281706"
PNG = b"\x89PNG\r\n\x1a\nfake-screenshot"
SYSTEM = "You operate a phone app to carry out one test step."
STEP = 'Step: tap "Sign in"'
ELEMENTS = '[1] input "Email" id=email\n[2] button "Sign in" id=sign_in'
ACT = Tool("act", "Choose the next actions.", {
    "type": "object", "additionalProperties": False, "required": ["element", "status"],
    "properties": {"element": {"type": ["integer", "null"]},
                   "status": {"type": "string", "enum": ["continue", "passed", "failed"]}}})
ANSWER = {"element": 2, "status": "continue"}


@dataclass
class Provider:
    name: str
    fake: type
    client: type

    def make(self, fake, *, key: str = KEY, timeout: float = 2.0, max_retries: int = 1,
             model: str = "test-model"):
        return self.client(model, fake.url, api_key=key, timeout=timeout,
                           max_retries=max_retries)


PROVIDERS = [Provider("openai", FakeOpenAI, OpenAIChat),
             Provider("anthropic", FakeAnthropic, AnthropicMessages)]


@pytest.fixture(params=PROVIDERS, ids=lambda p: p.name)
def provider(request) -> Provider:
    return request.param


def ask(client, image: bytes | None = None):
    return client.call(SYSTEM, [Message("user", f"{STEP}\n{ELEMENTS}", image)], ACT)


def test_request_shape_and_answer(provider: Provider) -> None:
    with provider.fake(api_key=KEY, usage=(321, 45)) as fake:
        fake.respond(lambda request: ("Tapping Sign in.", ANSWER))
        answer = ask(provider.make(fake), image=PNG)
    assert answer.arguments == ANSWER
    assert answer.text == "Tapping Sign in."
    assert (answer.usage.input_tokens, answer.usage.output_tokens) == (321, 45)
    assert answer.usage.calls == 1 and answer.usage.latency_ms > 0
    [sent] = fake.requests
    body = sent.json
    assert body["model"] == "test-model"
    assert SYSTEM in sent.text and STEP in sent.text and ELEMENTS in sent.text
    encoded = base64.b64encode(PNG).decode()
    if provider.name == "openai":
        assert sent.path == "/v1/chat/completions"
        assert sent.headers["authorization"] == f"Bearer {KEY}"
        assert body["temperature"] == 0
        assert body["messages"][0] == {"role": "system", "content": SYSTEM}
        assert body["tools"] == [{"type": "function", "function": {
            "name": "act", "description": ACT.description, "parameters": ACT.schema}}]
        assert body["tool_choice"] == {"type": "function", "function": {"name": "act"}}
        parts = body["messages"][1]["content"]
        assert {"type": "image_url",
                "image_url": {"url": f"data:image/png;base64,{encoded}"}} in parts
    else:
        assert sent.path == "/v1/messages"
        assert sent.headers["authorization"] == f"Bearer {KEY}"  # client 2.x: bearer
        assert "temperature" not in body  # the API version the client speaks refuses it
        assert body["system"] == SYSTEM and body["max_tokens"] > 0
        assert body["tools"] == [{"name": "act", "description": ACT.description,
                                  "input_schema": ACT.schema}]
        assert body["tool_choice"] == {"type": "tool", "name": "act"}
        blocks = body["messages"][0]["content"]
        assert {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                            "data": encoded}} in blocks
    assert KEY not in str(body)  # only in its header


def test_no_image_unless_given(provider: Provider) -> None:
    with provider.fake() as fake:
        fake.respond(lambda request: ANSWER)
        ask(provider.make(fake))
    assert "image" not in str(fake.requests[0].json)


def test_conversation_turns(provider: Provider) -> None:
    """History goes as turns; Anthropic gets consecutive user turns merged (it wants them
    alternating)."""
    turns = [Message("user", "first"), Message("assistant", '{"status": "continue"}'),
             Message("user", "screen now"), Message("user", "and this", PNG)]
    with provider.fake() as fake:
        fake.respond(lambda request: ANSWER)
        provider.make(fake).call(SYSTEM, turns, ACT)
    roles = [m["role"] for m in fake.requests[0].json["messages"]]
    if provider.name == "openai":
        assert roles == ["system", "user", "assistant", "user", "user"]
    else:
        assert roles == ["user", "assistant", "user"]
        assert [b["type"] for b in fake.requests[0].json["messages"][2]["content"]] == [
            "text", "image", "text"]


def test_assistant_turn_cannot_carry_an_image(provider: Provider) -> None:
    with provider.fake() as fake, pytest.raises(ValueError, match="user message"):
        provider.make(fake).call(SYSTEM, [Message("assistant", "x", PNG)], ACT)
    assert fake.requests == []


def test_429_waits_out_retry_after_then_succeeds(provider: Provider) -> None:
    with provider.fake() as fake:
        fake.fail(429, retry_after=1).respond(lambda request: ANSWER)
        answer = ask(provider.make(fake, max_retries=1))
    assert answer.arguments == ANSWER
    first, second = fake.requests
    assert second.at - first.at >= 1.0  # the retry came after the Retry-After, not before


def test_retry_after_longer_than_a_call_waits_fails_at_once(provider: Provider) -> None:
    with provider.fake() as fake:
        fake.fail(429, retry_after=3600).respond(lambda request: ANSWER)
        with pytest.raises(ModelUnavailable, match=r"429.*3600s"):
            ask(provider.make(fake, max_retries=2))
    assert len(fake.requests) == 1


def test_5xx_exhausted_is_unavailable(provider: Provider) -> None:
    with provider.fake() as fake:
        fake.fail(503).fail(503).respond(lambda request: ANSWER)
        with pytest.raises(ModelUnavailable, match=r"\(503\) after 2 attempts") as caught:
            ask(provider.make(fake, max_retries=1))
    assert len(fake.requests) == 2
    assert "fake failure 503" in str(caught.value)  # what the server said


def test_timeout_is_unavailable_in_bounded_time(provider: Provider) -> None:
    with provider.fake() as fake:
        fake.hang(30).hang(30).respond(lambda request: ANSWER)
        started = time.monotonic()
        with pytest.raises(ModelUnavailable, match=r"within 0\.5s \(2 attempts\)"):
            ask(provider.make(fake, timeout=0.5, max_retries=1))
        assert time.monotonic() - started < 20  # the hang (30 s per attempt) was cut short
    assert len(fake.requests) == 2


def test_nothing_listening_is_unavailable(provider: Provider) -> None:
    with provider.fake() as fake:
        url = fake.url
    client = provider.client("test-model", url, api_key=KEY, timeout=1, max_retries=0)
    with pytest.raises(ModelUnavailable, match="could not connect to the model endpoint"):
        ask(client)


def test_bad_key_is_refused_naming_the_fix(provider: Provider) -> None:
    with provider.fake(api_key="sk-the-right-one") as fake:
        fake.respond(lambda request: ANSWER)
        with pytest.raises(ModelRefused, match=r"refused the API key \(401\).*"
                                               "QUALGENT_LLM_API_KEY"):
            ask(provider.make(fake, max_retries=2))
    assert len(fake.requests) == 1  # not retried: it will not get better


def test_unknown_model_is_refused_naming_it(provider: Provider) -> None:
    with provider.fake(models=["known-model"]) as fake:
        fake.respond(lambda request: ANSWER)
        with pytest.raises(ModelRefused, match=r"unknown model nope-7b .*\(404\).*"
                                               "QUALGENT_LLM_MODEL"):
            ask(provider.make(fake, model="nope-7b"))
    assert len(fake.requests) == 1


def test_bad_request_is_refused_with_the_servers_words(provider: Provider) -> None:
    with provider.fake() as fake:
        fake.fail(400, body={"error": {"message": "messages: too many images"}})
        with pytest.raises(ModelRefused, match=r"\(400\): messages: too many images"):
            ask(provider.make(fake))


def test_malformed_answer_carries_the_text(provider: Provider) -> None:
    said = "I am not sure which button you mean."
    with provider.fake() as fake:
        fake.malformed(said).respond(lambda request: ANSWER)
        with pytest.raises(MalformedAnswer, match="without calling act") as caught:
            ask(provider.make(fake, max_retries=2))
    assert caught.value.text == said
    assert len(fake.requests) == 1  # the client does not retry; the planner decides


def test_json_in_text_is_accepted(provider: Provider) -> None:
    with provider.fake() as fake:
        fake.no_tool('Here it is:\n```json\n{"element": 1, "status": "passed"}\n```\nDone.')
        fake.no_tool('{"name": "act", "arguments": {"element": null, "status": "failed"}}')
        client = provider.make(fake)
        first, second = ask(client), ask(client)
    assert first.arguments == {"element": 1, "status": "passed"}
    assert first.usage.calls == 1 and first.usage.input_tokens > 0
    assert second.arguments == {"element": None, "status": "failed"}


def test_tool_call_lacking_a_required_key_is_malformed(provider: Provider) -> None:
    with provider.fake() as fake:
        fake.respond(lambda request: {"element": 2})
        with pytest.raises(MalformedAnswer, match="lacks status") as caught:
            ask(provider.make(fake))
    assert '"element": 2' in caught.value.text


def test_openai_arguments_that_are_not_json_are_malformed() -> None:
    """A chat completion cut off mid-arguments (finish_reason length)."""
    cut = {"id": "chatcmpl-cut", "object": "chat.completion", "created": 0, "model": "m",
            "choices": [{"index": 0, "finish_reason": "length", "logprobs": None,
                         "message": {"role": "assistant", "content": None, "tool_calls": [
                             {"id": "call_1", "type": "function", "function": {
                                 "name": "act", "arguments": '{"element": 2, "sta'}}]}}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
    with FakeOpenAI() as fake:
        fake.raw(cut)
        client = OpenAIChat("m", fake.url, api_key=KEY, timeout=2, max_retries=0)
        with pytest.raises(MalformedAnswer, match="not JSON") as caught:
            ask(client)
    assert caught.value.text == '{"element": 2, "sta'


def test_openai_server_without_tools_gets_json_instructions() -> None:
    """A local server that rejects `tools` (400): asked again without them, with the schema in
    the system prompt, and not offered tools again."""
    with FakeOpenAI(tools=False) as fake:
        fake.respond(lambda request: ANSWER)
        client = OpenAIChat("llama", fake.url, api_key=KEY, timeout=2, max_retries=0)
        assert ask(client).arguments == ANSWER
        assert ask(client).arguments == ANSWER
    with_tools, without, later = fake.requests
    assert "tools" in with_tools.json
    for request in (without, later):
        assert "tools" not in request.json and "tool_choice" not in request.json
        system = request.json["messages"][0]["content"]
        assert system.startswith(SYSTEM) and '"required": ["element", "status"]' in system


def test_the_key_never_leaks(provider: Provider, caplog: pytest.LogCaptureFixture) -> None:
    """Not in a repr, a log line (debug included) or an exception, even when the server's
    error body echoes it."""
    caplog.set_level(logging.DEBUG)
    echo = {"error": {"message": f"Incorrect API key provided: {KEY}"},
            "type": "error"}
    with provider.fake() as fake:
        fake.respond(lambda request: ANSWER)
        client = provider.make(fake, max_retries=1)
        ask(client, image=PNG)
        fake.fail(401, body=echo)
        with pytest.raises(ModelRefused) as refused:
            ask(client)
        fake.fail(500, body=echo).fail(500, body=echo)
        with pytest.raises(ModelUnavailable) as unavailable:
            ask(client)
    assert fake.requests[0].headers["authorization"] == f"Bearer {KEY}"  # it was sent...
    for err in (refused.value, unavailable.value):
        assert "[api key]" in str(err)  # ...the server's words kept, the key taken out
        assert KEY not in str(err) and KEY not in repr(err)
        assert err.__cause__ is None and err.__suppress_context__
    assert KEY not in repr(client) and "test-model" in repr(client)
    assert caplog.records and KEY not in caplog.text


# model_client(settings)

def settings(**values) -> Settings:
    """Settings from these values only (QUALGENT_LLM_* in the environment cannot interfere)."""
    defaults = {"llm_provider": "openai", "llm_model": None, "llm_api_key": None,
                "llm_base_url": None}
    return Settings(_env_file=None, **{**defaults, **values})


def test_model_client_builds_the_configured_provider() -> None:
    openai_client = model_client(settings(llm_model="gpt-x", llm_api_key=KEY,
                                          llm_timeout=7, llm_max_retries=3))
    assert isinstance(openai_client, OpenAIChat)
    assert (openai_client.provider, openai_client.model, openai_client.timeout,
            openai_client.max_retries) == ("openai", "gpt-x", 7, 3)
    claude = model_client(settings(llm_provider="anthropic", llm_model="claude-x",
                                   llm_api_key=KEY, llm_base_url="http://127.0.0.1:9"))
    assert isinstance(claude, AnthropicMessages) and claude.base_url == "http://127.0.0.1:9"
    assert KEY not in repr(claude)


def test_model_client_names_what_is_missing() -> None:
    with pytest.raises(ValueError, match="QUALGENT_LLM_MODEL"):
        model_client(settings(llm_api_key=KEY))
    with pytest.raises(ValueError, match="QUALGENT_LLM_API_KEY"):
        model_client(settings(llm_model="gpt-x"))
    with pytest.raises(ValueError, match="QUALGENT_LLM_API_KEY"):
        model_client(settings(llm_provider="anthropic", llm_model="c",
                              llm_base_url="http://127.0.0.1:9"))


def test_local_openai_server_needs_no_key() -> None:
    with FakeOpenAI() as fake:
        fake.respond(lambda request: ANSWER)
        client = model_client(settings(llm_model="qwen", llm_base_url=fake.url,
                                       llm_max_retries=0))
        assert ask(client).arguments == ANSWER
    assert fake.requests[0].headers["authorization"] == "Bearer unused"


# cassettes

def test_cassette_replays_for_both_providers(tmp_path) -> None:
    """Recorded once, replayed by either fake: the key is the model, tool and messages' text."""
    cassette = tmp_path / "answers.jsonl"
    with FakeOpenAI() as fake:
        fake.respond(CassetteResponder(cassette, fallback=lambda request: ANSWER))
        ask(OpenAIChat("m", fake.url, api_key=KEY, timeout=2, max_retries=0), image=PNG)
    key = request_key(fake.requests[0].json)
    assert cassette.read_text().count(key) == 1
    for fake_type, client_type in ((FakeOpenAI, OpenAIChat), (FakeAnthropic, AnthropicMessages)):
        with fake_type() as fake:
            fake.respond(CassetteResponder(cassette))
            client = client_type("m", fake.url, api_key=KEY, timeout=2, max_retries=0)
            assert ask(client).arguments == ANSWER  # no image: the same key
            assert request_key(fake.requests[0].json) == key


def test_cassette_without_the_answer_says_which_request(tmp_path) -> None:
    cassette = tmp_path / "answers.jsonl"
    record(cassette, {"model": "m", "messages": [{"role": "user", "content": "other"}],
                      "tools": [{"name": "act"}]}, ANSWER)
    with FakeAnthropic() as fake:
        fake.respond(CassetteResponder(cassette))
        client = AnthropicMessages("m", fake.url, api_key=KEY, timeout=2, max_retries=0)
        with pytest.raises(ModelRefused, match="no recorded answer in answers.jsonl"):
            ask(client)
    [error] = fake.errors
    assert "UnknownRequest" in error and "Sign in" in error
