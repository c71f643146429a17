"""The step agent: drives a Device through a test case's plain-English steps and records what
it saw, did and concluded. Offline and deterministic: a rule-based planner, no model calls."""

from qualgent.agent.executor import AgentOptions, Executor
from qualgent.agent.intents import (
    ExpectationFailed,
    Intent,
    NotUnderstood,
    StepFailure,
    Target,
    TargetNotFound,
)
from qualgent.agent.matching import fingerprint
from qualgent.agent.planner import Planner, RuleBasedPlanner, split_clauses
from qualgent.agent.records import ActionRecord, RunOutcome, StepResult
from qualgent.agent.runner import run_steps

__all__ = [
    "ActionRecord",
    "AgentOptions",
    "Executor",
    "ExpectationFailed",
    "Intent",
    "NotUnderstood",
    "Planner",
    "RuleBasedPlanner",
    "RunOutcome",
    "StepFailure",
    "StepResult",
    "Target",
    "TargetNotFound",
    "fingerprint",
    "run_steps",
    "split_clauses",
]
