"""Run submission bodies and the jobs API's response shapes."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator

from qualgent.api.shapes import Id, Platform, Ref, Shape, Timestamp
from qualgent.queue.states import FailureCategory, Priority, RunStatus, StepStatus

MAX_JOBS = 10
_PLATFORMS = {"android": "Android", "ios": "iOS"}
Mode = Literal["agent", "cached"]
CacheFallback = Literal["agent", "fail"]
Orientation = Literal["portrait", "landscape"]
PlannerName = Literal["rules", "llm", "hybrid"]


class DeviceSpec(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    platform: str = Field(description="Android or iOS, in any case", json_schema_extra={
        "pattern": "^([Aa][Nn][Dd][Rr][Oo][Ii][Dd]|[Ii][Oo][Ss])$"})
    os_version: str | None = Field(default=None, max_length=40)
    orientation: Orientation | None = None

    @field_validator("platform")
    @classmethod
    def _platform(cls, v: str) -> str:
        canonical = _PLATFORMS.get(v.lower()) if isinstance(v, str) else None
        if canonical is None:
            raise ValueError("device.platform must be 'Android' or 'iOS'")
        return canonical

    @field_validator("os_version", mode="before")
    @classmethod
    def _os_version(cls, v: Any) -> Any:
        return str(v) if isinstance(v, int | float) and not isinstance(v, bool) else v


class JobSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    app_file_id: Id | None = None
    test_case_id: Id
    device: DeviceSpec
    use_sim: StrictBool = False
    vars: dict[str, Any] = Field(default_factory=dict)
    test_case_version_id: Id | None = None
    audit_source_run_id: Id | None = None
    priority: Priority = Priority.MEDIUM
    mode: Mode = "agent"
    cache_fallback: CacheFallback = "agent"


class RunRequest(BaseModel):
    # Past MAX_JOBS the batch is refused with 400 too_many_jobs (not a validation error).
    jobs: list[JobSpec] = Field(min_length=1, json_schema_extra={"maxItems": MAX_JOBS})


class RunAllRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    app_file_id: Id
    device: DeviceSpec
    category_id: Id | None = None
    use_sim: StrictBool = False
    priority: Priority = Priority.MEDIUM


# ------------------------------------------------------------------------ responses


class SubmitWarning(Shape):
    """Something about a submission worth knowing that did not stop it."""

    code: str = Field(description="unknown_variable or skipped_test_case")
    message: str
    variable: str | None = Field(default=None, description="unknown_variable: the key")
    job_index: int | None = Field(default=None, description="/run: the job it concerns")
    test_case_id: Id | None = Field(default=None,
                                    description="skipped_test_case: the case skipped")


class QueuedResult(Shape):
    test_run_id: Id
    test_case_id: Id
    status: RunStatus
    link: str


class Submitted(Shape):
    success: bool
    results: list[QueuedResult]
    warnings: list[SubmitWarning]


class DeviceDetails(Shape):
    name: str
    platform: Platform
    os_version: str | None
    orientation: Orientation | None
    use_sim: bool


class CacheInfo(Shape):
    """Cached runs: the recording replayed, and how the replay went."""

    recording_run_id: Id | None
    fallback: CacheFallback | None
    replayed_steps: int | None
    healed_steps: int | None


class PlannerFields(Shape):
    """Which planner and model a run used (those of the host that ran its latest attempt)."""

    planner: PlannerName | None = Field(
        description="How the agent planned the steps: rules (offline), llm (a model) or "
                    "hybrid (the rules, and the model where they fall short); null until a "
                    "device host claims the run")
    planner_model: str | None = Field(
        description="The model asked (llm and hybrid); null for rules")


class ModelUsage(Shape):
    """What asking the model cost: tokens, time waiting for it, and calls."""

    input_tokens: int = Field(ge=0)
    output_tokens: int = Field(ge=0)
    latency_ms: float = Field(ge=0)
    calls: int = Field(ge=0)


class RunSummary(PlannerFields):
    """A run as /v1/jobs/list shows it."""

    id: Id
    status: RunStatus
    progress: int = Field(ge=0, le=100)
    priority: Priority
    device: str
    device_details: DeviceDetails
    test_case: Ref
    app: Ref = Field(description="name: '<app name> v<version>'")
    link: str
    test_case_version_id: Id
    version_number: int
    mode: Mode
    audit_source_run_id: Id | None
    warnings: list[SubmitWarning]
    attempts: int
    failure_category: FailureCategory | None
    explanation: str | None
    cache: CacheInfo | None
    audit: dict[str, Any] | None
    created_at: Timestamp
    started_at: Timestamp | None
    finished_at: Timestamp | None


class ResolvedStep(Shape):
    description: str


class RunDetail(RunSummary):
    """A run as /v1/jobs/status/{id} shows it: with its variables and resolved steps."""

    vars: dict[str, Any]
    steps: list[ResolvedStep]


class RunPage(Shape):
    test_runs: list[RunSummary]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null "
                                                "on the last one")


class StepTrace(Shape):
    attempt: int
    index: int
    description: str
    status: StepStatus
    actions: list[Any]
    reason: str | None
    replay: Literal["replayed", "healed"] | None
    usage: ModelUsage | None = Field(
        description="The model's cost for this step; null when no model was asked")
    screenshot_url: str | None = Field(description="Signed link, valid 5 minutes; null "
                                                   "without a screenshot or once pruned")
    started_at: Timestamp
    finished_at: Timestamp
    duration_ms: int


class RunTrace(PlannerFields):
    test_run_id: Id
    status: RunStatus
    attempts: int
    explanation: str | None
    failure_category: FailureCategory | None
    usage: ModelUsage | None = Field(
        description="The model usage of the steps shown, summed; null when no model was "
                    "asked")
    artifacts_pruned_at: Timestamp | None = Field(
        description="When retention removed the run's screenshots, device log and video; null "
                    "while kept")
    device_log_url: str | None = Field(
        description="The device log of the attempt shown (the latest with attempt=all), as "
                    "text: logcat filtered to the app, or the syslog through Appium. Signed "
                    "link, valid 5 minutes; null when the device kept none or once pruned")
    video_urls: list[str] = Field(
        description="The screen recording of the attempt shown, MP4 chunks in order (a device "
                    "records a few minutes per chunk). Signed links, valid 5 minutes; empty "
                    "when the device cannot record or once pruned")
    steps: list[StepTrace]
