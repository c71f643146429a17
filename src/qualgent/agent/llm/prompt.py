"""What the model is shown and how it must answer: the screen as a numbered element list, the
system prompts, and the two tools (`act` for doing a step, `verdict` for judging a check).

The element list is a compact set-of-marks over the hierarchy (~10 tokens an element, where a
raw uiautomator dump is 15-50 kB): `[3] button "Sign in" id=sign_in`. The model picks elements
by number; the planner turns a number back into a description of that element (its own text,
description, hint or id), so the executor finds it like any other target. Bump PROMPT_VERSION
whenever the wording, the list format or a schema changes: it is part of the plan cache's key.
"""

from __future__ import annotations

import json

from qualgent.agent.llm.client import Tool
from qualgent.drivers.base import Element, Hierarchy

PROMPT_VERSION = "1"

ACTIONS = ("tap", "type", "clear", "swipe", "scroll_to", "back", "key", "wait", "wait_for",
           "launch", "sms_code", "check")
DIRECTIONS = ("up", "down", "left", "right")
POOR_TREE = 3
"""Fewer labelled elements than this: the tree says too little, the screenshot goes along."""
_MAX_LABEL = 80

SYSTEM = """You are a mobile app test agent. You carry out ONE plain-English test step on an \
app's screen by choosing actions, and you say when the step is done.

You see the step, what was already done for it, and the screen as a numbered list of \
elements: `[n] kind "text" desc="..." hint="..." id=... [state]`. Refer to an element by its \
number n. Call the `act` tool every time:
- actions: what to do next, in order (may be empty). Each action has every field; unused \
fields are null (submit: false).
  tap: element n (or text: the words of something not listed, the agent scrolls to find it).
  type: text to type into element n (null element: the focused input); submit true presses \
enter afterwards.
  clear: empty element n (null: the focused input).
  swipe: direction is the way the FINGER moves (up shows what is further down); element n \
swipes on that element only.
  scroll_to: keep swiping (direction as for swipe, default up) until text is visible.
  back: the system back button. key: press the key named in text (enter, search, back, ...).
  wait: seconds to pause. wait_for: wait until text (or element n) is visible, at most seconds.
  launch: open the app (text "restart" to restart it). sms_code: read the code from the \
newest SMS and type it into element n (null: the code input); submit as for type.
  check: text is a claim the step asks to verify ("the cart is empty"); it is judged \
separately on the screen as it is when the check runs. Use it for every verification the \
step asks for; do not judge checks yourself.
- status: "continue" (carry these actions out and show me the screen again), "passed" (the \
step is complete once these actions are done) or "failed" (the step cannot be done on this \
app: say why in reason).
- reason: one short sentence on why.
- want_screenshot: true to see a screenshot with the next screen.

Do only what the step says; after an action that changes the screen, use "continue" to see \
the result before acting on elements of the next screen. Elements that are not listed are \
not on screen; scroll or navigate to find them."""

JUDGE_SYSTEM = """You are a senior mobile app tester. You are shown an app's screen as a \
numbered list of elements (and sometimes a screenshot) and one claim about it. Decide from \
what is on the screen whether the claim holds. Call the `verdict` tool: holds (true or false) \
and reason (one short sentence quoting what on the screen decided it)."""


def _nullable(kind: str) -> dict:
    return {"type": [kind, "null"]}


ACT = Tool(
    name="act",
    description="The next actions for the step, and whether the step is then done.",
    schema={
        "type": "object",
        "additionalProperties": False,
        "required": ["actions", "status", "reason", "want_screenshot"],
        "properties": {
            "actions": {"type": "array", "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["action", "element", "text", "direction", "seconds", "submit"],
                "properties": {
                    "action": {"type": "string", "enum": list(ACTIONS)},
                    "element": _nullable("integer"),
                    "text": _nullable("string"),
                    "direction": {"type": ["string", "null"], "enum": [*DIRECTIONS, None]},
                    "seconds": _nullable("number"),
                    "submit": {"type": "boolean"},
                },
            }},
            "status": {"type": "string", "enum": ["continue", "passed", "failed"]},
            "reason": {"type": "string"},
            "want_screenshot": {"type": "boolean"},
        },
    },
)

VERDICT = Tool(
    name="verdict",
    description="Whether the claim holds on the screen shown, and why.",
    schema={
        "type": "object",
        "additionalProperties": False,
        "required": ["holds", "reason"],
        "properties": {"holds": {"type": "boolean"}, "reason": {"type": "string"}},
    },
)


def _quote(value: str) -> str:
    value = " ".join(value.split())
    if len(value) > _MAX_LABEL:
        value = value[:_MAX_LABEL - 3] + "..."
    return json.dumps(value, ensure_ascii=False)


def _line(n: int, el: Element) -> str:
    parts = [f"[{n}]", str(el.kind)]
    if el.text:
        parts.append(_quote(el.text))
    if el.description and el.description != el.text:
        parts.append(f"desc={_quote(el.description)}")
    if el.hint and el.hint != el.text:
        parts.append(f"hint={_quote(el.hint)}")
    if el.id:
        parts.append(f"id={el.id}")
    if el.checked is not None:
        parts.append("on" if el.checked else "off")
    if el.focused:
        parts.append("focused")
    if el.scrollable:
        parts.append("scrollable")
    return " ".join(parts)


def _listed(el: Element) -> bool:
    return bool(el.text or el.description or el.hint or el.id or el.clickable or el.editable
                or el.scrollable or el.checked is not None)


def element_list(screen: Hierarchy) -> tuple[str, dict[int, Element]]:
    """The screen as numbered lines (1-based), and each number's element. Elements with
    nothing to say (no label, not interactive) are left out; they cannot be named anyway."""
    lines: list[str] = []
    numbered: dict[int, Element] = {}
    for el in screen.elements:
        if not _listed(el):
            continue
        n = len(numbered) + 1
        numbered[n] = el
        lines.append(_line(n, el))
    return "\n".join(lines) or "(no elements: the screen may be blank or still loading)", numbered


def poor(screen: Hierarchy) -> bool:
    """Too few labelled elements to go by the list alone (a game, a webview, a canvas)."""
    labelled = sum(1 for e in screen.elements if e.text or e.description or e.hint)
    return labelled < POOR_TREE


def screen_header(screen: Hierarchy) -> str:
    app = screen.package or "none (home screen)"
    return f"Screen (app in front: {app}; {screen.width}x{screen.height}):"


def act_prompt(step: str, screen_list: str, screen: Hierarchy, done: list[str],
               note: str | None) -> str:
    """The user turn of one round: the step, what was done for it, a note, the screen."""
    did = "\n".join(f"- {d}" for d in done) if done else "- nothing yet"
    parts = [f"Step: {step}", f"Done so far for this step:\n{did}"]
    if note:
        parts.append(f"Note: {note}")
    parts.append(f"{screen_header(screen)}\n{screen_list}")
    return "\n\n".join(parts)


def judge_prompt(claim: str, screen_list: str, screen: Hierarchy) -> str:
    return f"Claim: {claim}\n\n{screen_header(screen)}\n{screen_list}"
