"""Run-time variable resolution: single pass, declared names only, defaults as fallback."""

from __future__ import annotations

import re
from typing import Any

from qualgent.api.errors import ApiError
from qualgent.testcases.schemas import matches_type

TOKEN = re.compile(r"\{\{\s*([a-z][a-z0-9_]*)\s*\}\}")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def resolve(
    steps: list[dict], declared: list[dict], supplied: dict[str, Any], field: str
) -> tuple[list[dict], dict[str, Any], list[dict]]:
    """Returns (resolved steps, effective values, warnings); raises the reference's errors.

    `field` names the job in error details, e.g. "jobs[2].vars".
    """
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
                raise ApiError(
                    422, "invalid_variable_value",
                    f"Variable '{name}' must be a {var['type']}.",
                    {"field": f"{field}.{name}", "variable": name, "expected": var["type"]},
                )
            effective[name] = value
        elif var.get("default") is not None:
            effective[name] = var["default"]
        elif var.get("required"):
            raise ApiError(
                400, "missing_required_variable",
                f"Variable '{name}' is required and has no default.",
                {"field": f"{field}.{name}", "variable": name},
            )

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in by_name:
            return match.group(0)  # undeclared: literal text
        if name not in effective:
            raise ApiError(
                400, "unresolved_reference",
                f"A step references '{{{{{name}}}}}', which has no value.",
                {"field": f"{field}.{name}", "variable": name},
            )
        return _text(effective[name])

    resolved = [{**step, "description": TOKEN.sub(substitute, step["description"])}
                for step in steps]
    return resolved, effective, warnings
