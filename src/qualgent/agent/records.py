"""What a run records: the actions of each step, each step's result, the run's outcome."""

from __future__ import annotations

from dataclasses import dataclass, field

from qualgent.queue.states import FailureCategory, RunStatus, StepStatus


@dataclass
class ActionRecord:
    """One thing the agent did to the device (or checked on it).

    action: launch | tap | type | clear | swipe | back | key | wait | assert_visible |
    assert_not_visible | read_sms
    """

    action: str
    selector: dict | None = None  # {"text"|"description"|"id"|"hint": value, "kind": ...}
    bounds: list[int] | None = None  # [l, t, r, b] of the target (of the swiped area)
    value: str | None = None  # typed text, key name, swipe direction, seconds, code read
    screen: str | None = None  # fingerprint of the screen the action was taken on


@dataclass(frozen=True)
class Usage:
    """What planning a step with a model cost: tokens, time waiting on the model, calls."""

    input_tokens: int = 0
    output_tokens: int = 0
    latency_ms: float = 0.0
    calls: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.input_tokens + other.input_tokens,
                     self.output_tokens + other.output_tokens,
                     self.latency_ms + other.latency_ms, self.calls + other.calls)

    def as_dict(self) -> dict:
        return {"input_tokens": self.input_tokens, "output_tokens": self.output_tokens,
                "latency_ms": round(self.latency_ms, 1), "calls": self.calls}


@dataclass
class StepResult:
    index: int  # 0-based position of the step in the run
    description: str
    status: StepStatus
    actions: list[ActionRecord] = field(default_factory=list)
    screenshot: bytes | None = None  # PNG after the step
    started_at: float = 0.0  # epoch seconds
    finished_at: float = 0.0
    reason: str | None = None  # why it failed (or was skipped), plain English
    has_assertion: bool = False
    replay: str | None = None  # cached runs: "replayed" from the recording, or "healed"
    usage: Usage | None = None  # the model's cost, when a model planned the step


@dataclass
class RunOutcome:
    status: RunStatus  # passed | failed | completed (every step held, nothing was asserted)
    failure_category: FailureCategory | None
    explanation: str | None
    steps: list[StepResult] = field(default_factory=list)
