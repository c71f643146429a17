"""The test-case editor's form: its content as text (Draft), the server-side buttons that
add, move and remove steps and variables, and the API schemas' errors placed next to the
field each names. No HTTP here; web.testcases renders and routes it."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from starlette.datastructures import FormData

from qualgent.db.models import TestCaseVersion
from qualgent.testcases.variables import TOKEN
from qualgent.web.pages import field as form_field

MAX_STEPS = 500
MAX_VARIABLES = 100
VAR_COLUMNS = ("name", "type", "required", "default", "description")


@dataclass
class Draft:
    """The editor's content as the form holds it (text), before validation."""

    name: str = ""
    description: str = ""
    category_id: str = ""
    steps: list[str] = field(default_factory=lambda: [""])
    variables: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def of(cls, version: TestCaseVersion) -> Draft:
        return cls(
            name=version.name, description=version.description or "",
            category_id=str(version.category_id) if version.category_id else "",
            steps=[s["description"] for s in version.steps],
            variables=[{
                "name": v["name"], "type": v["type"], "required": bool(v.get("required")),
                "default": "" if v.get("default") is None else as_text(v["default"]),
                "description": v.get("description") or "",
            } for v in version.variables],
        )

    @classmethod
    def from_form(cls, form: FormData) -> Draft:
        # Limits above the schema's maxima: too long is refused by validation, not cut.
        steps = [s[:4000] for s in form.getlist("step")[:MAX_STEPS + 1] if isinstance(s, str)]
        try:
            count = min(int(form_field(form, "var_count", 10)), MAX_VARIABLES + 1)
        except ValueError:
            count = 0
        variables = [{
            "name": form_field(form, f"var-{i}-name", 200).strip(),
            "type": form_field(form, f"var-{i}-type", 20),
            "required": form_field(form, f"var-{i}-required", 10) == "yes",
            "default": form_field(form, f"var-{i}-default", 4000),
            "description": form_field(form, f"var-{i}-description", 1000),
        } for i in range(max(count, 0))]
        return cls(
            name=form_field(form, "name", 1000).strip(),
            description=form_field(form, "description", 8000).strip(),
            category_id=form_field(form, "category_id", 100),
            steps=steps, variables=variables,
        )

    def body(self) -> dict[str, Any]:
        """What the API would receive for this content."""
        return {
            "name": self.name,
            "description": self.description or None,
            "category_id": self.category_id or None,
            "steps": [{"description": s.strip()} for s in self.steps],
            "variables": [{
                "name": v["name"], "type": v["type"], "required": v["required"],
                "default": typed(v["default"], v["type"]),
                "description": v["description"].strip() or None,
            } for v in self.variables],
        }


def as_text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


NUMBER = re.compile(r"^-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")


def typed(text: str, kind: str) -> str | int | float | None:
    """A form's text as the API would get it: '' is no value; a number variable's number text
    is a number (anything else stays text, which the schema then refuses)."""
    if text == "":
        return None
    if kind == "number" and NUMBER.fullmatch(text.strip()):
        number = float(text)
        if math.isfinite(number):
            return int(number) if number.is_integer() and "." not in text else number
    return text


def apply_op(draft: Draft, op: str) -> str | None:
    """Applies an editing button to the draft; returns the id of the element to focus."""
    verb, _, arg = op.partition(":")
    try:
        index = int(arg) if arg else -1
    except ValueError:
        return None
    steps, variables = draft.steps, draft.variables
    if verb == "add-step" and len(steps) < MAX_STEPS:
        steps.append("")
        return f"f-step-{len(steps) - 1}"
    if verb == "remove-step" and 0 <= index < len(steps):
        del steps[index]
        return f"f-step-{min(index, len(steps) - 1)}" if steps else "add-step"
    if verb in ("up", "down") and 0 <= index < len(steps):
        other = index - 1 if verb == "up" else index + 1
        if 0 <= other < len(steps):
            steps[index], steps[other] = steps[other], steps[index]
            index = other
        at_end = index == 0 if verb == "up" else index == len(steps) - 1
        return f"f-step-{index}" if at_end else f"step-{index}-{verb}"
    if verb == "add-var" and len(variables) < MAX_VARIABLES:
        variables.append({"name": "", "type": "string", "required": False, "default": "",
                          "description": ""})
        return f"f-var-{len(variables) - 1}-name"
    if verb == "remove-var" and 0 <= index < len(variables):
        del variables[index]
        return f"f-var-{min(index, len(variables) - 1)}-name" if variables else "add-var"
    return None


def _message(err: dict[str, Any], loc: tuple) -> str:
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind == "string_too_short":
        return "Write the step, or remove it." if loc[:1] == ("steps",) else \
            "This cannot be empty."
    if kind == "string_too_long":
        return f"At most {ctx.get('max_length')} characters."
    if kind == "too_short" and loc == ("steps",):
        return "Add at least one step."
    if kind == "too_long":
        return f"At most {ctx.get('max_length')} of these."
    if kind == "literal_error":
        return "Choose string or number."
    return err["msg"].removeprefix("Value error, ")


def _error_key(loc: tuple, message: str) -> str:
    """pydantic's loc as the editor's field key: steps[2], variables[0].name, ..."""
    head, rest = loc[0], loc[1:]
    if head in ("steps", "variables") and rest and isinstance(rest[0], int):
        key = f"{head}[{rest[0]}]"
        if head == "variables":
            column = rest[1] if len(rest) > 1 and rest[1] in VAR_COLUMNS else (
                "default" if "default" in message else "name")
            key += f".{column}"
        return key
    return str(head)


def validation_errors(draft: Draft, exc: ValidationError) -> dict[str, str]:
    errors: dict[str, str] = {}
    for err in exc.errors():
        loc = tuple(err["loc"])
        message = _message(err, loc)
        key = _error_key(loc, message) if loc else "form"
        if key == "variables" and "declared twice" in message:
            key = _duplicate_row(draft) or key
        errors.setdefault(key, message)
    return errors


def _duplicate_row(draft: Draft) -> str | None:
    seen: set[str] = set()
    for i, v in enumerate(draft.variables):
        if v["name"] in seen:
            return f"variables[{i}].name"
        seen.add(v["name"])
    return None


def focus_of(errors: dict[str, str]) -> str | None:
    """The element of the first error, in the form's order."""
    order = ["name", "description", "category_id"]
    order += sorted((k for k in errors if k.startswith("steps[")),
                    key=lambda k: int(k[6:-1])) + ["steps"]
    order += sorted((k for k in errors if k.startswith("variables[")),
                    key=lambda k: (int(k[10:k.index("]")]), k)) + ["variables"]
    for key in order:
        if key in errors:
            return _element_id(key)
    return None


def _element_id(key: str) -> str:
    fixed = {"name": "f-name", "description": "f-description", "category_id": "f-category",
             "steps": "add-step", "variables": "add-var"}
    if key in fixed:
        return fixed[key]
    if key.startswith("steps["):
        return f"f-step-{key[6:-1]}"
    index, column = key[10:].split("].")
    return f"f-var-{index}-{column}"


def undeclared(draft: Draft) -> list[str]:
    """Tokens in the steps that name no declared variable: sent as written, worth a hint."""
    declared = {v["name"] for v in draft.variables}
    found = {m.group(1) for s in draft.steps for m in TOKEN.finditer(s)}
    return sorted(found - declared)
