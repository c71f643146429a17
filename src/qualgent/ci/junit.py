"""The JUnit XML report (the Jenkins/Surefire format every CI reads): one <testcase> per run,
classname '<app>/<device>', name the test case's; a failed run's <failure> carries the
agent's explanation as its message and the failure category as its type; <system-out> holds
the run's link and its steps with their status."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from qualgent.client import Step


@dataclass
class Case:
    name: str
    classname: str
    status: str  # passed, failed, completed, or queued/running when the wait timed out
    link: str
    seconds: float = 0.0
    explanation: str | None = None
    failure_category: str | None = None
    steps: list[Step] = field(default_factory=list)


def _text(value: str) -> str:
    """XML 1.0 has no place for most control characters; a device's text may hold some."""
    return "".join(c for c in value if c in "\t\n\r" or ord(c) >= 0x20)


def _system_out(case: Case) -> str:
    lines = [f"Run: {case.link}", f"Status: {case.status}"]
    if case.explanation:
        lines.append(f"Explanation: {case.explanation}")
    if case.steps:
        lines.append("Steps:")
        for s in case.steps:
            mark = f"{s.index + 1}. [{s.status}] {s.description}"
            lines.append(mark + (f" ({s.reason})" if s.reason and s.status != "passed" else ""))
    return _text("\n".join(lines))


def build(cases: list[Case], suite: str, properties: dict[str, str]) -> ET.ElementTree:
    failures = sum(c.status == "failed" for c in cases)
    errors = sum(c.status not in ("passed", "failed", "completed") for c in cases)
    total = sum(c.seconds for c in cases)
    root = ET.Element("testsuites", name="qualgent", tests=str(len(cases)),
                      failures=str(failures), errors=str(errors), time=f"{total:.3f}")
    ts = ET.SubElement(root, "testsuite", name=_text(suite), tests=str(len(cases)),
                       failures=str(failures), errors=str(errors), skipped="0",
                       time=f"{total:.3f}",
                       timestamp=datetime.now(UTC).replace(tzinfo=None).isoformat(
                           timespec="seconds"))
    if properties:
        props = ET.SubElement(ts, "properties")
        for key, value in properties.items():
            ET.SubElement(props, "property", name=key, value=_text(value))
    for c in cases:
        tc = ET.SubElement(ts, "testcase", classname=_text(c.classname), name=_text(c.name),
                           time=f"{c.seconds:.3f}")
        if c.status == "failed":
            message = c.explanation or "the run failed"
            failure = ET.SubElement(tc, "failure", message=_text(message),
                                    type=c.failure_category or "failed")
            failure.text = _text(message)
        elif c.status not in ("passed", "completed"):
            ET.SubElement(tc, "error", message=f"still {c.status} when the wait timed out",
                          type="timeout").text = c.link
        ET.SubElement(tc, "system-out").text = _system_out(c)
    ET.indent(root)
    return ET.ElementTree(root)


def write(path: Path, cases: list[Case], suite: str, properties: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    build(cases, suite, properties).write(path, encoding="utf-8", xml_declaration=True)
