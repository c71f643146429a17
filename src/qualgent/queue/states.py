"""The words a run's lifecycle is written in, defined once.

StrEnums compare equal to their values, so they go straight into SQL parameters, JSON and
the API's responses; the database's CHECK constraints list the same values.
"""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    PASSED = "passed"
    FAILED = "failed"
    COMPLETED = "completed"  # every step held, but none asserted anything


TERMINAL = frozenset({RunStatus.PASSED, RunStatus.FAILED, RunStatus.COMPLETED})


class FailureCategory(StrEnum):
    APP = "app"  # the app misbehaved: a check failed, a wait timed out, a crash
    TEST = "test"  # the test cannot be carried out as written
    INFRASTRUCTURE = "infrastructure"  # the device or host failed: retried, then refunded


class StepStatus(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"  # a step after the one that failed


class Priority(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"

    @property
    def rank(self) -> int:
        """Claim order: higher first (test_runs.priority_rank)."""
        return {"low": 0, "medium": 1, "high": 2}[self.value]


class CreditReason(StrEnum):
    """Why an organization's balance changed (credit_ledger.reason)."""

    INITIAL_GRANT = "initial_grant"
    TOP_UP = "top_up"
    RUNS_QUEUED = "runs_queued"  # a batch debited, one row per batch
    REFUND_INFRASTRUCTURE = "refund_infrastructure"  # one row per run lost to infrastructure
