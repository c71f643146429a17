"""Test case bodies: requests validated exactly as the API reference's variable table says,
and the response shapes."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator, model_validator

from qualgent.api.shapes import Id, Ref, Shape, Timestamp
from qualgent.queue.states import RunStatus

VAR_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class CaseStatus(StrEnum):
    ACTIVE = "active"
    ARCHIVED = "archived"  # readable with its history, never run by run-all


class Step(BaseModel):
    model_config = ConfigDict(extra="forbid")
    description: str = Field(min_length=1, max_length=2000)


# The document says what _default_matches_type checks: a default is of the variable's type.
_DEFAULT_OF_ITS_TYPE = {"anyOf": [
    {"properties": {"type": {"const": kind}, "default": {"type": [kind, "null"]}}}
    for kind in ("string", "number")
]}


class Variable(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra=_DEFAULT_OF_ITS_TYPE)
    name: str = Field(max_length=40, json_schema_extra={"pattern": VAR_NAME.pattern})
    type: Literal["string", "number"]
    required: StrictBool = False
    default: str | int | float | None = None
    description: str | None = Field(default=None, max_length=200)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not VAR_NAME.fullmatch(v):
            raise ValueError(f"variable name '{v}' must match ^[a-z][a-z0-9_]*$")
        return v

    @field_validator("default", mode="before")
    @classmethod
    def _no_bool(cls, v: object) -> object:
        if isinstance(v, bool):
            raise ValueError("default must be a string or a number, not a boolean")
        return v

    @model_validator(mode="after")
    def _default_matches_type(self) -> Variable:
        if self.default is not None and not matches_type(self.default, self.type):
            raise ValueError(f"default of '{self.name}' must be a {self.type}")
        return self


def matches_type(value: object, kind: str) -> bool:
    if kind == "string":
        return isinstance(value, str)
    return isinstance(value, int | float) and not isinstance(value, bool)


class _UniqueVariables(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @field_validator("variables", check_fields=False)
    @classmethod
    def _unique(cls, variables: list[Variable] | None) -> list[Variable] | None:
        seen: set[str] = set()
        for v in variables or []:
            if v.name in seen:
                raise ValueError(f"variable name '{v.name}' is declared twice")
            seen.add(v.name)
        return variables


class CaseCreate(_UniqueVariables):
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    category_id: Id | None = None
    steps: list[Step] = Field(min_length=1, max_length=500)
    variables: list[Variable] = Field(default_factory=list, max_length=100)


class CaseUpdate(_UniqueVariables):
    """Fields left out keep their current value; any edit creates a new version."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    category_id: Id | None = None
    steps: list[Step] | None = Field(default=None, min_length=1, max_length=500)
    variables: list[Variable] | None = Field(default=None, max_length=100)


class LatestRun(Shape):
    """The case's most recent run that reached a terminal state."""

    id: Id
    status: RunStatus
    progress: int
    device: str


class CaseSummary(Shape):
    id: Id
    name: str
    status: CaseStatus
    category: Ref | None
    latest_completed_run: LatestRun | None
    version_number: int
    created_at: Timestamp
    updated_at: Timestamp


class CaseDetail(Shape):
    """The case with its current version's content."""

    id: Id
    name: str
    description: str | None
    status: CaseStatus
    category: Ref | None
    steps: list[Step]
    variables: list[Variable]
    version_id: Id
    version_number: int
    created_at: Timestamp
    updated_at: Timestamp


class CaseResponse(Shape):
    success: bool
    test_case: CaseDetail


class VersionDetail(Shape):
    id: Id
    version_number: int
    name: str
    description: str | None
    category_id: Id | None
    steps: list[Step]
    variables: list[Variable]
    created_at: Timestamp


class VersionsResponse(Shape):
    success: bool
    versions: list[VersionDetail]
