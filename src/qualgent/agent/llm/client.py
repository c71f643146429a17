"""One model call with a forced tool call, over the providers' official clients.

`OpenAIChat` speaks to any OpenAI-compatible chat-completions endpoint (hosted, vLLM, Ollama,
LM Studio), `AnthropicMessages` to Anthropic's Messages API. Both force the model to answer by
calling one tool (temperature 0 where the API still takes one), fall back to a JSON object in
the text for servers that do not do tools, and leave back-off to the clients' own retry
machinery (Retry-After honoured on 429; 5xx, timeouts and dropped connections retried). What
is left after the retries becomes one of our three errors: `ModelUnavailable` (may pass later:
infrastructure), `ModelRefused` (will not pass until someone fixes a setting: infrastructure,
with what to fix) and `MalformedAnswer` (the model answered, but not in the requested shape;
the planner retries once).

The API key is handed to the official client and nowhere else: it is not in a repr, a log line
or an exception message (a server error body that echoes it is redacted, and the SDK's own
exception, whose message carries that body, is not chained).
"""

from __future__ import annotations

import base64
import json
import logging
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol
from urllib.parse import urlsplit, urlunsplit

import anthropic
import openai

from qualgent.agent.records import Usage

if TYPE_CHECKING:
    from qualgent.config import Settings

log = logging.getLogger(__name__)

MAX_RETRY_AFTER = 60.0
"""Longest Retry-After we wait out inside one call; a longer one fails the call at once
(the run is retried later as infrastructure) rather than holding a device idle."""
LOCAL_KEY = "unused"
"""Sent as the key to a self-hosted OpenAI-compatible server when none is set: they ignore it,
the client requires one."""


@dataclass(frozen=True)
class Tool:
    """The one function the model must call: its arguments' JSON schema (strict: every property
    required, additionalProperties false)."""

    name: str
    description: str
    schema: dict


@dataclass(frozen=True)
class Message:
    """One turn of the conversation; `image` is a PNG shown with the text (user turns only)."""

    role: Literal["user", "assistant"]
    text: str
    image: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Answer:
    """The tool call's arguments, what the call cost, and any words the model said besides."""

    arguments: dict
    usage: Usage
    text: str = ""


class ModelClient(Protocol):
    model: str
    provider: str

    def call(self, system: str, messages: list[Message], tool: Tool) -> Answer: ...


class ModelUnavailable(Exception):
    """The model could not be reached or kept refusing for now (429, 5xx, timeout, connection)
    after the client's back-off: an infrastructure failure, worth retrying the run later."""


class ModelRefused(Exception):
    """The endpoint refused the request for a reason retrying will not cure (bad key, unknown
    model, rejected request): an infrastructure failure whose message says what to fix."""


class MalformedAnswer(Exception):
    """The model answered without a usable tool call or JSON object; `text` is what it said."""

    def __init__(self, message: str, text: str) -> None:
        super().__init__(message)
        self.text = text


def model_client(settings: Settings) -> ModelClient:
    """The client the settings describe; ValueError names the setting that is missing."""
    if not settings.llm_model:
        raise ValueError("QUALGENT_LLM_MODEL is not set: name the model the planner should use")
    key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else None
    common = {"model": settings.llm_model, "base_url": settings.llm_base_url,
              "timeout": settings.llm_timeout, "max_retries": settings.llm_max_retries}
    if settings.llm_provider == "anthropic":
        if not key:
            raise ValueError("QUALGENT_LLM_API_KEY is not set: Anthropic's API needs a key")
        return AnthropicMessages(api_key=key, **common)
    if not key:
        if not settings.llm_base_url:
            raise ValueError("QUALGENT_LLM_API_KEY is not set: the hosted OpenAI API needs a "
                             "key (or set QUALGENT_LLM_BASE_URL to a local server)")
        key = LOCAL_KEY
    return OpenAIChat(api_key=key, **common)


class _BoundedRetryAfter:
    """Mixed into the SDK clients: a Retry-After beyond MAX_RETRY_AFTER is not waited out (the
    Anthropic client would otherwise sleep as long as the server asks, hours included)."""

    def _should_retry(self, response: Any) -> bool:
        wait = self._parse_retry_after_header(response.headers)  # type: ignore[attr-defined]
        if wait is not None and wait > MAX_RETRY_AFTER:
            return False
        return super()._should_retry(response)  # type: ignore[misc]


# Named like their bases: the clients name themselves in the User-Agent by their class name.
class OpenAI(_BoundedRetryAfter, openai.OpenAI):
    pass


class Anthropic(_BoundedRetryAfter, anthropic.Anthropic):
    pass


class _Endpoint:
    """What both providers share: settings, error mapping, the repr, answer checks."""

    provider = ""

    def __init__(self, model: str, base_url: str | None, api_key: str, timeout: float,
                 max_retries: int) -> None:
        self.model = model
        self.base_url = base_url
        self.timeout = timeout
        self.max_retries = max_retries
        self._key = api_key

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(model={self.model!r}, base_url={self.base_url!r}, "
                f"timeout={self.timeout}, max_retries={self.max_retries})")

    def close(self) -> None:
        self._sdk.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def _where(self) -> str:
        return f"the model endpoint {_safe_url(self.base_url)}" if self.base_url else (
            f"the {self.provider} API")

    def _redact(self, text: str) -> str:
        return text.replace(self._key, "[api key]") if self._key else text

    def _failure(self, err: Exception) -> Exception:
        """Our error for what the SDK raised after its retries (never carrying the key)."""
        tries = f"{self.max_retries + 1} attempt{'s' if self.max_retries else ''}"
        if isinstance(err, (openai.APITimeoutError, anthropic.APITimeoutError)):
            return ModelUnavailable(f"{self._where} did not answer model {self.model} within "
                                    f"{self.timeout:g}s ({tries})")
        if isinstance(err, (openai.APIConnectionError, anthropic.APIConnectionError)):
            return ModelUnavailable(f"could not connect to {self._where} ({tries})")
        if not isinstance(err, (openai.APIStatusError, anthropic.APIStatusError)):
            return ModelUnavailable(f"{self._where} failed: {type(err).__name__}")
        status = err.status_code
        said = self._redact(_server_message(err.response))
        said = f": {said}" if said else ""
        if status == 429:
            wait = _retry_after(err.response)
            if wait is not None and wait > MAX_RETRY_AFTER:
                return ModelUnavailable(
                    f"{self._where} is rate limiting (429) and asked to wait {wait:g}s, longer "
                    f"than the {MAX_RETRY_AFTER:g}s a call waits{said}")
            return ModelUnavailable(f"{self._where} is rate limiting (429) after {tries}{said}")
        if status >= 500 or status in (408, 409):
            return ModelUnavailable(f"{self._where} failed ({status}) after {tries}{said}")
        if status == 401:
            return ModelRefused(f"{self._where} refused the API key (401): check "
                                f"QUALGENT_LLM_API_KEY{said}")
        if status == 403:
            return ModelRefused(f"{self._where} does not let this API key use model "
                                f"{self.model} (403){said}")
        if status == 404:
            return ModelRefused(f"unknown model {self.model} at {self._where} (404): check "
                                f"QUALGENT_LLM_MODEL and QUALGENT_LLM_BASE_URL{said}")
        return ModelRefused(f"{self._where} refused the request for model {self.model} "
                            f"({status}){said}")

    def _usage(self, started: float, input_tokens: int | None, output_tokens: int | None) -> Usage:
        return Usage(input_tokens or 0, output_tokens or 0,
                     (time.perf_counter() - started) * 1000, 1)

    def _checked(self, arguments: Any, tool: Tool, raw: str) -> dict:
        if not isinstance(arguments, dict):
            raise MalformedAnswer(f"the model's {tool.name} arguments are not a JSON object",
                                  raw)
        missing = [k for k in tool.schema.get("required", []) if k not in arguments]
        if missing:
            raise MalformedAnswer(f"the model's {tool.name} call lacks {', '.join(missing)}",
                                  raw)
        return arguments


class OpenAIChat(_Endpoint):
    """Any OpenAI-compatible chat-completions endpoint, through the official `openai` client."""

    provider = "openai"

    def __init__(self, model: str, base_url: str | None = None, *, api_key: str,
                 timeout: float = 60.0, max_retries: int = 2) -> None:
        super().__init__(model, base_url, api_key, timeout, max_retries)
        self._sdk = OpenAI(api_key=api_key, base_url=base_url, timeout=timeout,
                            max_retries=max_retries)
        self._tools = True  # False once the server said it does not do tools

    def call(self, system: str, messages: list[Message], tool: Tool) -> Answer:
        started = time.perf_counter()
        try:
            response = self._create(system, messages, tool)
        except openai.BadRequestError as err:
            if not (self._tools and _no_tools(err)):
                raise self._failure(err) from None
            log.info("%s does not do tool calls; asking for JSON in the text instead",
                     self._where)
            self._tools = False
            try:
                response = self._create(system, messages, tool)
            except openai.OpenAIError as again:
                raise self._failure(again) from None
        except openai.OpenAIError as err:
            raise self._failure(err) from None
        usage = getattr(response, "usage", None)
        spent = self._usage(started, getattr(usage, "prompt_tokens", None),
                            getattr(usage, "completion_tokens", None))
        choices = getattr(response, "choices", None) or []
        if not choices or getattr(choices[0], "message", None) is None:
            raise MalformedAnswer(f"{self._where} answered without a message", "")
        message = choices[0].message
        text = message.content or message.refusal or ""
        for call in message.tool_calls or []:
            function = getattr(call, "function", None)
            if function is not None and function.name == tool.name:
                try:
                    arguments = json.loads(function.arguments or "")
                except ValueError:
                    raise MalformedAnswer(f"the model's {tool.name} arguments are not JSON",
                                          function.arguments or "") from None
                return Answer(self._checked(arguments, tool, function.arguments), spent, text)
        return Answer(self._checked(_json_in(text, tool), tool, text), spent, text)

    def _create(self, system: str, messages: list[Message], tool: Tool):
        chat: list[dict] = [{"role": "system", "content": system if self._tools
                             else system + "\n\n" + _json_instruction(tool)}]
        chat += [_openai_message(m) for m in messages]
        extra: dict[str, Any] = {}
        if self._tools:
            extra["tools"] = [{"type": "function", "function": {
                "name": tool.name, "description": tool.description, "parameters": tool.schema}}]
            extra["tool_choice"] = {"type": "function", "function": {"name": tool.name}}
        return self._sdk.chat.completions.create(model=self.model, messages=chat,
                                                 temperature=0, **extra)


class AnthropicMessages(_Endpoint):
    """Anthropic's Messages API, through the official `anthropic` client.

    No temperature: the client (2.x) has no such parameter and the API version it speaks
    (anthropic-version 2026-10-21) rejects sampling parameters; the forced tool call is what
    keeps the answer in shape.
    """

    provider = "anthropic"

    def __init__(self, model: str, base_url: str | None = None, *, api_key: str,
                 timeout: float = 60.0, max_retries: int = 2, max_tokens: int = 4096) -> None:
        super().__init__(model, base_url, api_key, timeout, max_retries)
        self.max_tokens = max_tokens
        self._sdk = Anthropic(api_key=api_key, base_url=base_url, timeout=timeout,
                               max_retries=max_retries)

    def call(self, system: str, messages: list[Message], tool: Tool) -> Answer:
        started = time.perf_counter()
        try:
            response = self._sdk.messages.create(
                model=self.model, max_tokens=self.max_tokens, system=system,
                messages=_anthropic_messages(messages),
                tools=[{"name": tool.name, "description": tool.description,
                        "input_schema": tool.schema}],
                tool_choice={"type": "tool", "name": tool.name})
        except anthropic.AnthropicError as err:
            raise self._failure(err) from None
        usage = getattr(response, "usage", None)
        cached = sum(getattr(usage, k, None) or 0 for k in (
            "cache_read_input_tokens", "cache_creation_input_tokens"))
        spent = self._usage(started, (getattr(usage, "input_tokens", None) or 0) + cached,
                            getattr(usage, "output_tokens", None))
        blocks = getattr(response, "content", None) or []
        text = "\n".join(b.text for b in blocks if getattr(b, "type", None) == "text")
        for block in blocks:
            if getattr(block, "type", None) == "tool_use" and block.name == tool.name:
                raw = json.dumps(block.input)
                return Answer(self._checked(block.input, tool, raw), spent, text)
        return Answer(self._checked(_json_in(text, tool), tool, text), spent, text)


def _openai_message(message: Message) -> dict:
    if message.image is None:
        return {"role": message.role, "content": message.text}
    if message.role != "user":
        raise ValueError("only a user message can carry an image")
    url = "data:image/png;base64," + base64.b64encode(message.image).decode()
    return {"role": "user", "content": [{"type": "text", "text": message.text},
                                        {"type": "image_url", "image_url": {"url": url}}]}


def _anthropic_messages(messages: list[Message]) -> list[dict]:
    """Content blocks per turn; consecutive turns of one role become one turn (the API wants
    them alternating)."""
    turns: list[dict] = []
    for message in messages:
        blocks: list[dict] = []
        if message.image is not None:
            if message.role != "user":
                raise ValueError("only a user message can carry an image")
            blocks.append({"type": "image", "source": {
                "type": "base64", "media_type": "image/png",
                "data": base64.b64encode(message.image).decode()}})
        blocks.append({"type": "text", "text": message.text})
        if turns and turns[-1]["role"] == message.role:
            turns[-1]["content"] += blocks
        else:
            turns.append({"role": message.role, "content": blocks})
    return turns


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)


def _json_in(text: str, tool: Tool) -> dict:
    """The JSON object in a text answer: a fenced block, the whole text, or the first object
    found in it; {"name": tool, "arguments": {...}} wrappers are unwrapped."""
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    decoder = json.JSONDecoder()
    for candidate in candidates:
        for start in (i for i, c in enumerate(candidate) if c == "{"):
            try:
                value, _ = decoder.raw_decode(candidate, start)
            except ValueError:
                continue
            if isinstance(value, dict):
                inner = value.get("arguments", value.get("parameters"))
                if value.get("name") == tool.name and isinstance(inner, dict):
                    return inner
                return value
    raise MalformedAnswer(f"the model answered without calling {tool.name} and without a JSON "
                          f"object: {_clip(text) or '(nothing)'}", text)


def _json_instruction(tool: Tool) -> str:
    return (f"Answer with only a JSON object: the arguments of `{tool.name}` "
            f"({tool.description}), matching this JSON schema:\n{json.dumps(tool.schema)}")


def _no_tools(err: openai.BadRequestError) -> bool:
    """A 400 that says the server or model does not do tools (Ollama, LM Studio, old vLLM)."""
    said = _server_message(err.response).lower()
    return "tool" in said and any(w in said for w in ("support", "not enabled", "unknown",
                                                      "unrecognized", "not allowed"))


def _server_message(response: Any) -> str:
    try:
        body = response.json()
    except ValueError:
        return _clip(response.text)
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        return _clip(str(error.get("message") or ""))
    if isinstance(error, str):
        return _clip(error)
    return _clip(str(body.get("message") or "")) if isinstance(body, dict) else ""


def _retry_after(response: Any) -> float | None:
    for header, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            return float(response.headers[header]) * scale
        except (KeyError, ValueError):
            continue
    return None


def _safe_url(url: str) -> str:
    """The URL without credentials, query or fragment (where keys sometimes hide)."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


def _clip(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."
