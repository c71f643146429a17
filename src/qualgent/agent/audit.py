"""Audit against a baseline run: where did this run first do something different?

Each step is compared with the same step of the source run's trace: its outcome, and the
sequence of actions and the elements they targeted. The first difference is what a person
triaging a regression or a flaky test wants to look at.
"""

from __future__ import annotations

from typing import Any

from qualgent.queue.states import StepStatus


def _did(actions: list[dict]) -> list[tuple[str, str]]:
    out = []
    # timings and fresh codes differ on every run: a code read from an SMS, and typing it,
    # compare as the same action whatever the code was
    codes = {a.get("value") for a in actions if a["action"] == "read_sms"} - {None}
    for a in actions:
        if a["action"] in ("wait", "read_sms"):
            continue
        sel = a.get("selector") or {}
        target = next((str(v) for k, v in sel.items() if k != "kind"), "")
        value = a.get("value") if a["action"] in ("type", "key", "swipe") else None
        if value in codes:
            value = "<code from the SMS>"
        out.append((a["action"], target if value is None else f"{target}={value}"))
    return out


def _summary(step: dict) -> str:
    did = ", ".join(f"{act} {what}".strip() for act, what in _did(step["actions"])) or "nothing"
    text = f"{step['status']} after: {did}"
    if step.get("reason"):
        text += f" ({step['reason']})"
    return text


def compare(current: list[dict], source: list[dict], source_run_id: str) -> dict[str, Any]:
    """current/source: step dicts with index, description, status, actions, reason."""
    by_index = {s["index"]: s for s in source}
    matched = 0
    for step in sorted(current, key=lambda s: s["index"]):
        if step["status"] == StepStatus.SKIPPED:
            break
        base = by_index.get(step["index"])
        if base is None or base["status"] != step["status"] or \
                _did(base["actions"]) != _did(step["actions"]):
            return {
                "source_run_id": source_run_id,
                "matched_steps": matched,
                "first_difference": {
                    "step": step["index"] + 1,
                    "description": step["description"],
                    "source": _summary(base) if base else "had no such step",
                    "this_run": _summary(step),
                },
            }
        matched += 1
    return {"source_run_id": source_run_id, "matched_steps": matched, "first_difference": None}


def sentence(audit: dict[str, Any]) -> str:
    diff = audit["first_difference"]
    if diff is None:
        return (f"Compared with run {audit['source_run_id']}, every step that ran behaved the "
                f"same.")
    return (f"Compared with run {audit['source_run_id']}, this run first differed at step "
            f"{diff['step']} ('{diff['description']}'): there it {diff['source']}; here it "
            f"{diff['this_run']}.")
