"""Measuring a planner on a corpus of cases: `qualgent eval CORPUS`.

A corpus is JSON Lines (one file, or a directory of ``*.jsonl`` files read in name order); each
line is a case::

    {"id": "shop-sign-in-terse", "app": "demo_shop", "device": "Pixel 7:Android:14:sms",
     "steps": ["open app", "email demo@example.com", ...], "expect": "passed",
     "expect_category": "app", "style": "terse", "note": "why this case is here"}

``expect`` is the run status a person would expect (passed, failed, completed);
``expect_category`` (app, test, infrastructure) is checked only when given. Blank lines and
lines starting with ``#`` are skipped. Each case runs on a fresh simulated device with its app
installed, through the same ``run_steps`` a worker uses, so the figure is what users get.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qualgent.agent import AgentOptions, Planner, RulePlanner, run_steps
from qualgent.agent.records import Usage
from qualgent.drivers.simulator import SimulatedDevice, demo_shop_model, parse_simulator_spec
from qualgent.drivers.simulator.field_notes import field_notes_model

APPS: dict[str, Callable[[], dict[str, Any]]] = {
    "demo_shop": demo_shop_model,
    "field_notes": field_notes_model,
}
STATUSES = ("passed", "failed", "completed")
CATEGORIES = ("app", "test", "infrastructure")
_REQUIRED = {"id", "app", "device", "steps", "expect"}
_OPTIONAL = {"expect_category", "style", "note"}


class CorpusError(ValueError):
    """The corpus cannot be read; the message names the file and line."""


@dataclass(frozen=True)
class Case:
    id: str
    app: str
    device: str
    steps: tuple[str, ...]
    expect: str
    expect_category: str | None = None
    style: str = "other"
    note: str = ""
    where: str = ""  # file:line, for messages


@dataclass(frozen=True)
class CaseResult:
    case: Case
    status: str
    category: str | None
    explanation: str | None
    seconds: float
    usage: Usage | None = None  # the model's, summed over the steps (model planners only)

    @property
    def ok(self) -> bool:
        if self.status != self.case.expect:
            return False
        return self.case.expect_category is None or self.category == self.case.expect_category

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.case.id, "app": self.case.app, "style": self.case.style,
                "expected": self.case.expect, "expected_category": self.case.expect_category,
                "got": self.status, "category": self.category, "ok": self.ok,
                "explanation": self.explanation, "seconds": round(self.seconds, 2),
                "usage": self.usage.as_dict() if self.usage else None}


@dataclass
class Report:
    planner: str
    results: list[CaseResult] = field(default_factory=list)

    @property
    def right(self) -> int:
        return sum(r.ok for r in self.results)

    @property
    def accuracy(self) -> float:
        return self.right / len(self.results) if self.results else 0.0

    def by(self, key: Callable[[Case], str]) -> dict[str, tuple[int, int]]:
        """(right, total) per value of `key`, in name order."""
        right: Counter[str] = Counter()
        total: Counter[str] = Counter()
        for r in self.results:
            total[key(r.case)] += 1
            right[key(r.case)] += r.ok
        return {k: (right[k], total[k]) for k in sorted(total)}

    def as_dict(self) -> dict[str, Any]:
        def split(groups: dict[str, tuple[int, int]]) -> dict[str, Any]:
            return {k: {"right": r, "total": t, "accuracy": round(r / t, 4)}
                    for k, (r, t) in groups.items()}

        usages = [r.usage for r in self.results if r.usage is not None]
        return {"planner": self.planner, "total": len(self.results), "right": self.right,
                "accuracy": round(self.accuracy, 4),
                "usage": sum(usages, Usage()).as_dict() if usages else None,
                "by_style": split(self.by(lambda c: c.style)),
                "by_app": split(self.by(lambda c: c.app)),
                "cases": [r.as_dict() for r in self.results]}


# --------------------------------------------------------------------------- reading


def load_corpus(path: Path) -> list[Case]:
    """Every case of a corpus file, or of the ``*.jsonl`` files of a directory."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.jsonl"))
        if not files:
            raise CorpusError(f"{path}: no *.jsonl files in this directory")
    elif path.is_file():
        files = [path]
    else:
        raise CorpusError(f"{path}: no such file or directory")
    cases: list[Case] = []
    seen: dict[str, str] = {}
    for file in files:
        for case in _read_file(file):
            if case.id in seen:
                raise CorpusError(f"{case.where}: the id {case.id!r} is also used at "
                                  f"{seen[case.id]}")
            seen[case.id] = case.where
            cases.append(case)
    if not cases:
        raise CorpusError(f"{path}: the corpus holds no cases")
    return cases


def _read_file(file: Path) -> Iterable[Case]:
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CorpusError(f"{file}: cannot be read ({exc})") from exc
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip() and not line.lstrip().startswith("#"):
            yield _case(line, f"{file}:{number}")


def _case(line: str, where: str) -> Case:
    try:
        doc = json.loads(line)
    except ValueError as exc:
        raise CorpusError(f"{where}: not a JSON object ({exc})") from exc
    if not isinstance(doc, dict):
        raise CorpusError(f"{where}: expected a JSON object, got {type(doc).__name__}")
    missing = sorted(_REQUIRED - set(doc))
    if missing:
        raise CorpusError(f"{where}: missing {', '.join(missing)}")
    unknown = sorted(set(doc) - _REQUIRED - _OPTIONAL)
    if unknown:
        raise CorpusError(f"{where}: unknown key {unknown[0]!r}")
    for key in ("id", "app", "device", "expect"):
        if not isinstance(doc[key], str) or not doc[key]:
            raise CorpusError(f"{where}: {key} must be a non-empty string")
    steps = doc["steps"]
    if not isinstance(steps, list) or not all(isinstance(s, str) for s in steps):
        raise CorpusError(f"{where}: steps must be a list of strings")
    if doc["app"] not in APPS:
        raise CorpusError(f"{where}: unknown app {doc['app']!r} (apps: {', '.join(APPS)})")
    if doc["expect"] not in STATUSES:
        raise CorpusError(f"{where}: expect must be one of {', '.join(STATUSES)}")
    category = doc.get("expect_category")
    if category is not None and category not in CATEGORIES:
        raise CorpusError(f"{where}: expect_category must be one of {', '.join(CATEGORIES)}")
    try:
        parse_simulator_spec(doc["device"])
    except ValueError as exc:
        raise CorpusError(f"{where}: {exc}") from exc
    for key in ("style", "note"):
        if key in doc and not isinstance(doc[key], str):
            raise CorpusError(f"{where}: {key} must be a string")
    return Case(id=doc["id"], app=doc["app"], device=doc["device"], steps=tuple(steps),
                expect=doc["expect"], expect_category=category,
                style=doc.get("style") or "other", note=doc.get("note", ""), where=where)


# --------------------------------------------------------------------------- running


def run_case(case: Case, planner: Planner, options: AgentOptions | None = None) -> CaseResult:
    """Run one case on a fresh simulated device with its app installed."""
    started = time.monotonic()
    device = SimulatedDevice(parse_simulator_spec(case.device))
    package = device.install_model(APPS[case.app]()).package
    device.begin_run(package)
    outcome = run_steps(device, package, list(case.steps), planner=planner,
                        options=options or AgentOptions.fitted(device.timing))
    category = outcome.failure_category.value if outcome.failure_category else None
    usages = [r.usage for r in outcome.steps if r.usage is not None]
    return CaseResult(case, outcome.status.value, category, outcome.explanation,
                      time.monotonic() - started, sum(usages, Usage()) if usages else None)


def evaluate(cases: list[Case], planner_factory: Callable[[], Planner], *, name: str = "rules",
             jobs: int = 1, options: AgentOptions | None = None,
             on_result: Callable[[CaseResult], None] | None = None) -> Report:
    """Run every case (`jobs` at a time, each with its own planner) and report, in corpus
    order. `on_result` sees each result as it finishes."""

    def one(case: Case) -> CaseResult:
        result = run_case(case, planner_factory(), options)
        if on_result is not None:
            on_result(result)
        return result

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        results = list(pool.map(one, cases))
    return Report(planner=name, results=results)


def planner_factory(name: str, settings: Any = None) -> tuple[Callable[[], Planner], str]:
    """A function making a fresh planner of the named kind for each case, and the planner's
    description ("rules", or "llm (model m)").

    rules: the offline RulePlanner. llm / hybrid: what a worker builds from the settings
    (QUALGENT_LLM_*, ``runtime.planner_choice``); raises ValueError naming what is missing."""
    if name not in ("rules", "llm", "hybrid"):
        raise ValueError(f"unknown planner {name!r}: rules, llm or hybrid")
    if name == "rules":
        return RulePlanner, "rules"
    from qualgent import runtime  # noqa: PLC0415 - the model planner's imports, only when used
    from qualgent.config import Settings  # noqa: PLC0415

    settings = (settings or Settings()).model_copy(update={"planner": name})
    choice = runtime.planner_choice(settings)
    return choice.build, f"{name} (model {choice.model})" if choice.model else name


def report_lines(report: Report) -> list[str]:
    """The report for people: a line per case (why, when it was wrong), then the accuracy
    overall, by style and by app."""
    width = max((len(r.case.id) for r in report.results), default=2)
    lines = []
    for r in report.results:
        expected = r.case.expect + (f"/{r.case.expect_category}" if r.case.expect_category
                                    else "")
        got = r.status + (f"/{r.category}" if r.category else "")
        mark = "ok   " if r.ok else "WRONG"
        line = f"{mark} {r.case.id:<{width}}  expected {expected:<13} got {got}"
        if not r.ok and r.explanation:
            line += f"\n      {r.explanation}"
        lines.append(line)
    lines.append("")
    lines.append(f"{report.planner}: {report.right}/{len(report.results)} right "
                 f"({100 * report.accuracy:.1f}%)")
    for title, groups in (("by style", report.by(lambda c: c.style)),
                          ("by app", report.by(lambda c: c.app))):
        lines.append(f"{title}:")
        lines.extend(f"  {key:<14} {right:>4}/{total:<4} {100 * right / total:5.1f}%"
                     for key, (right, total) in groups.items())
    return lines
