"""The edge's table: every typed refusal of a service has its HTTP answer."""

from __future__ import annotations

import pytest

from qualgent.api.refusals import STATUS, as_api_error
from qualgent.domain import DomainError, NotFound
from qualgent.queue.lifecycle import InsufficientCredits
from qualgent.testcases.variables import (
    InvalidVariableValue,
    MissingRequiredVariable,
    UnresolvedReference,
)


def _leaves(cls: type) -> list[type]:
    subs = cls.__subclasses__()
    return [cls] if not subs else [leaf for sub in subs for leaf in _leaves(sub)]


def test_every_refusal_class_maps_to_a_status() -> None:
    leaves = _leaves(DomainError)  # every feature's refusals: api.refusals imports them all
    assert NotFound in leaves and MissingRequiredVariable in leaves
    for cls in leaves:
        assert any(base in STATUS for base in cls.__mro__), cls


@pytest.mark.parametrize(("refusal", "status", "error", "message", "details"), [
    (MissingRequiredVariable("query").at("jobs[0]"), 400, "missing_required_variable",
     "Variable 'query' is required and has no default.",
     {"field": "jobs[0].vars.query", "variable": "query"}),
    (UnresolvedReference("note"), 400, "unresolved_reference",
     "A step references '{{note}}', which has no value.",
     {"field": "vars.note", "variable": "note"}),
    (InvalidVariableValue("t", "number").at("jobs[2]"), 422, "invalid_variable_value",
     "Variable 't' must be a number.",
     {"field": "jobs[2].vars.t", "variable": "t", "expected": "number"}),
    (InsufficientCredits(3, 2), 402, "insufficient_credits",
     "This batch needs 3 credits and the organization has 2.",
     {"required": 3, "available": 2}),
    (NotFound("App", files=["x"]), 404, "S-90004", "App not found in your organization.",
     {"files": ["x"]}),
    (NotFound("Test run"), 404, "S-90004", "Test run not found in your organization.", {}),
])
def test_refusals_become_the_documented_errors(
    refusal: Exception, status: int, error: str, message: str, details: dict
) -> None:
    answer = as_api_error(refusal)
    assert (answer.status, answer.error, answer.message, answer.details) == \
        (status, error, message, details)
