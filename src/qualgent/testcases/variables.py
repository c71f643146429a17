"""Run-time variable resolution: single pass, declared names only, defaults as fallback."""

from __future__ import annotations

import re
from typing import Any

from qualgent.domain import DomainError
from qualgent.testcases.schemas import matches_type

TOKEN = re.compile(r"\{\{\s*([a-z][a-z0-9_]*)\s*\}\}")


class VariableError(DomainError):
    """A refusal about one declared variable; `field` is vars.<name> (of its job)."""

    def __init__(self, message: str, variable: str, **details: Any) -> None:
        super().__init__(message, f"vars.{variable}", variable=variable, **details)
        self.variable = variable


class MissingRequiredVariable(VariableError):
    """Required, not supplied, and no default."""

    def __init__(self, variable: str) -> None:
        super().__init__(f"Variable '{variable}' is required and has no default.", variable)


class UnresolvedReference(VariableError):
    """A step names a declared variable that ended up with no value."""

    def __init__(self, variable: str) -> None:
        super().__init__(
            f"A step references '{{{{{variable}}}}}', which has no value.", variable)


class InvalidVariableValue(VariableError):
    """A supplied value is not of the declared type."""

    def __init__(self, variable: str, expected: str) -> None:
        super().__init__(f"Variable '{variable}' must be a {expected}.", variable,
                         expected=expected)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def resolve(
    steps: list[dict], declared: list[dict], supplied: dict[str, Any]
) -> tuple[list[dict], dict[str, Any], list[dict]]:
    """Returns (resolved steps, effective values, warnings); raises a VariableError."""
    by_name = {v["name"]: v for v in declared}
    warnings = [
        {"code": "unknown_variable", "variable": key,
         "message": f"'{key}' is not declared on this test case; it was ignored."}
        for key in supplied if key not in by_name
    ]
    effective: dict[str, Any] = {}
    for name, var in by_name.items():
        if name in supplied:
            value = supplied[name]
            if not matches_type(value, var["type"]):
                raise InvalidVariableValue(name, var["type"])
            effective[name] = value
        elif var.get("default") is not None:
            effective[name] = var["default"]
        elif var.get("required"):
            raise MissingRequiredVariable(name)

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in by_name:
            return match.group(0)  # undeclared: literal text
        if name not in effective:
            raise UnresolvedReference(name)
        return _text(effective[name])

    resolved = [{**step, "description": TOKEN.sub(substitute, step["description"])}
                for step in steps]
    return resolved, effective, warnings
