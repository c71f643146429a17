"""Two versions of a test case compared as text, line by line (the History page)."""

from __future__ import annotations

import difflib
import uuid
from dataclasses import dataclass

from qualgent.db.models import TestCaseVersion
from qualgent.web.case_form import as_text


def readable(version: TestCaseVersion, category_names: dict[uuid.UUID, str]) -> list[str]:
    """A version as lines of text, so two versions can be compared line by line."""
    category = "none"
    if version.category_id is not None:
        category = category_names.get(version.category_id, "(a deleted category)")
    lines = [f"Name: {version.name}"]
    description = (version.description or "").splitlines() or [""]
    lines += [f"Description: {description[0]}"] + [f"  {d}" for d in description[1:]]
    lines += [f"Category: {category}", "Steps:"]
    lines += [f"  {i}. {s['description']}" for i, s in enumerate(version.steps, 1)] or \
        ["  (none)"]
    lines += ["Variables:"]
    for v in version.variables:
        facts = [v["type"], "required" if v.get("required") else "optional"]
        if v.get("default") is not None:
            facts.append(f"default {as_text(v['default'])!r}")
        line = f"  {v['name']} ({', '.join(facts)})"
        if v.get("description"):
            line += f": {v['description']}"
        lines.append(line)
    if not version.variables:
        lines.append("  (none)")
    return lines


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "same", "added", "removed", "gap"
    text: str


def diff(old: list[str], new: list[str], context: int = 3) -> list[DiffLine]:
    """Changed lines with a few lines of context around each change."""
    out: list[DiffLine] = []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for n, group in enumerate(matcher.get_grouped_opcodes(context)):
        if n:
            out.append(DiffLine("gap", "…"))
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                out += [DiffLine("same", line) for line in old[i1:i2]]
                continue
            if tag in ("replace", "delete"):
                out += [DiffLine("removed", line) for line in old[i1:i2]]
            if tag in ("replace", "insert"):
                out += [DiffLine("added", line) for line in new[j1:j2]]
    return out
