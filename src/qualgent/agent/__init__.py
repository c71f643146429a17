"""The step agent: drives a Device through a test case's plain-English steps and records what
it saw, did and concluded. Offline and deterministic by default: the rule-based planner, no
model calls (`agent.planning`)."""

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
from qualgent.agent.planning import ObservingPlanner, Planner, RulePlanner, split_clauses
from qualgent.agent.records import ActionRecord, RunOutcome, StepResult
from qualgent.agent.runner import run_steps

__all__ = [
    "ActionRecord",
    "AgentOptions",
    "Executor",
    "ExpectationFailed",
    "Intent",
    "NotUnderstood",
    "ObservingPlanner",
    "Planner",
    "RulePlanner",
    "RunOutcome",
    "StepFailure",
    "StepResult",
    "Target",
    "TargetNotFound",
    "fingerprint",
    "run_steps",
    "split_clauses",
]
