"""Typed views of the API's main objects. Each keeps the parsed JSON as `raw`, so fields the
server adds later stay reachable without an SDK release."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TERMINAL = frozenset({"passed", "failed", "completed"})
"""A run in one of these states is finished; `failed` is the only bad one."""


@dataclass(frozen=True)
class AppFile:
    """An uploaded build (the upload's and get's `file` record, or an apps/list item)."""

    id: str
    app_name: str | None
    version: str | None
    os: str | None
    original_name: str | None
    file_size: int | None
    package_name: str | None
    link: str | None
    created_at: str | None
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> AppFile:
        return cls(id=d["id"], app_name=d.get("app_name"), version=d.get("version"),
                   os=d.get("os"), original_name=d.get("original_name", d.get("name")),
                   file_size=d.get("file_size"), package_name=d.get("package_name"),
                   link=d.get("link"), created_at=d.get("created_at"), raw=d)


@dataclass(frozen=True)
class QueuedRun:
    test_run_id: str
    test_case_id: str
    status: str
    link: str

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> QueuedRun:
        return cls(d["test_run_id"], d["test_case_id"], d["status"], d["link"])


@dataclass(frozen=True)
class Submission:
    """What run / run_all queued. `replayed`: the server answered an earlier submission with
    the same Idempotency-Key (nothing new was queued)."""

    results: list[QueuedRun]
    warnings: list[dict[str, Any]]
    idempotency_key: str
    replayed: bool
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class Run:
    """A test run as GET /v1/jobs/status/{id} (or an item of /v1/jobs/list) shows it."""

    id: str
    status: str
    progress: int
    device: str
    test_case_id: str
    test_case_name: str
    app_id: str
    app_name: str
    link: str
    failure_category: str | None
    explanation: str | None
    created_at: str | None
    started_at: str | None
    finished_at: str | None
    raw: dict[str, Any] = field(repr=False)

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Run:
        case, app = d.get("test_case") or {}, d.get("app") or {}
        return cls(id=d["id"], status=d["status"], progress=d.get("progress", 0),
                   device=d.get("device", ""), test_case_id=case.get("id", ""),
                   test_case_name=case.get("name", ""), app_id=app.get("id", ""),
                   app_name=app.get("name", ""), link=d.get("link", ""),
                   failure_category=d.get("failure_category"),
                   explanation=d.get("explanation"), created_at=d.get("created_at"),
                   started_at=d.get("started_at"), finished_at=d.get("finished_at"), raw=d)


@dataclass(frozen=True)
class RunPage:
    runs: list[Run]
    next_cursor: str | None


@dataclass(frozen=True)
class Step:
    attempt: int
    index: int
    description: str
    status: str
    reason: str | None
    duration_ms: int | None
    screenshot_url: str | None
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Step:
        return cls(attempt=d.get("attempt", 1), index=d["index"], description=d["description"],
                   status=d["status"], reason=d.get("reason"),
                   duration_ms=d.get("duration_ms"), screenshot_url=d.get("screenshot_url"),
                   raw=d)


@dataclass(frozen=True)
class Trace:
    """GET /v1/jobs/{id}/steps: what the agent did, step by step."""

    test_run_id: str
    status: str
    explanation: str | None
    failure_category: str | None
    steps: list[Step]
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Trace:
        return cls(test_run_id=d["test_run_id"], status=d["status"],
                   explanation=d.get("explanation"), failure_category=d.get("failure_category"),
                   steps=[Step.from_json(s) for s in d.get("steps", [])], raw=d)


@dataclass(frozen=True)
class RunEvent:
    """One change of a run, from GET /v1/jobs/events."""

    event_id: int
    test_run_id: str
    status: str
    progress: int
    final: bool
    link: str | None
    raw: dict[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> RunEvent:
        return cls(event_id=int(d.get("event_id", 0)), test_run_id=d["test_run_id"],
                   status=d["status"], progress=int(d.get("progress", 0)),
                   final=bool(d.get("final", d["status"] in TERMINAL)), link=d.get("link"),
                   raw=d)
