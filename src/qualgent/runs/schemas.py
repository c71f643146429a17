"""Request bodies for run submission."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

MAX_JOBS = 10
PRIORITY_RANK = {"low": 0, "medium": 1, "high": 2}
_PLATFORMS = {"android": "Android", "ios": "iOS"}


class DeviceSpec(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    platform: str
    os_version: str | None = Field(default=None, max_length=40)
    orientation: Literal["portrait", "landscape"] | None = None

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
    app_file_id: str | None = None
    test_case_id: str
    device: DeviceSpec
    use_sim: bool = False
    vars: dict[str, Any] = Field(default_factory=dict)
    test_case_version_id: str | None = None
    audit_source_run_id: str | None = None
    priority: Literal["low", "medium", "high"] = "medium"
    mode: Literal["agent", "cached"] = "agent"
    cache_fallback: Literal["agent", "fail"] = "agent"


class RunRequest(BaseModel):
    jobs: list[JobSpec] = Field(min_length=1)


class RunAllRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    app_file_id: str
    device: DeviceSpec
    category_id: str | None = None
    use_sim: bool = False
    priority: Literal["low", "medium", "high"] = "medium"
