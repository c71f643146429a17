"""Splitting a compound step into clauses, and the verbs that start an instruction.

A step is split at ";", sentence ends, ", then", " then ", " and " and "," - but only where
the words after the separator start an instruction (a known verb, an assertion with
"should", or the label of an element on screen), and never where the words around an "and"
appear together on screen ("Terms and Conditions"). Leading numbering ("3.", "Step 2:"), a
final period, fillers ("then", "please") and a subject ("the user taps") are dropped.
"""

from __future__ import annotations

import re

from qualgent.agent.intents import Target
from qualgent.agent.matching import candidates, index
from qualgent.agent.planning.rules.phrases import protect_quotes, restore
from qualgent.agent.text import tokens
from qualgent.drivers.base import ElementKind, Hierarchy

# ------------------------------------------------------------------------------ verbs

VERBS = frozenset({
    "tap", "click", "press", "select", "choose", "pick", "hit", "touch", "push", "open",
    "launch", "start", "restart", "relaunch", "reopen", "type", "enter", "input", "fill",
    "write", "insert", "paste", "provide", "put", "clear", "erase", "empty", "wipe", "scroll",
    "swipe", "fling", "go", "navigate", "return", "head", "move", "visit", "wait", "pause",
    "sleep", "verify", "check", "assert", "ensure", "confirm", "validate", "make", "expect",
    "see", "observe", "submit", "toggle", "turn", "switch", "flip", "enable", "disable",
    "activate", "deactivate", "uncheck", "untick", "tick", "deselect", "unselect", "set",
    "change", "update", "double-tap", "long-press", "double", "long", "keep", "poll", "read",
    "search", "back", "should", "must",
})
ACTION_VERBS = VERBS - {"see", "should", "must", "expect", "observe", "verify", "check",
                         "assert", "ensure", "confirm", "validate", "make"}
_IRREGULAR = {"goes": "go", "does": "do", "sees": "see", "has": "have"}
_FILLERS = re.compile(
    r"^(?:(?:and|then|also|next|now|finally|first|firstly|secondly|lastly|afterwards|"
    r"after that|once there|please|just|simply|quickly)\b[,:]?\s*)+",
    re.I,
)
_SUBJECT = re.compile(r"^(?:i|we|you|they|the user|user|the tester|tester)\s+(?=\w)", re.I)
_NUMBERING = re.compile(r"^\s*(?:(?:step\s*)?\d+\s*[.):\-]\s*|step\s*\d+\s+|[-*\u2022]\s+)",
                        re.I)

_SEPARATOR = re.compile(
    r"\s*,\s*(?:and\s+)?then\s+|\s+and\s+then\s+|\s+then\s+|\s*,\s*and\s+|\s+and\s+"
    r"|\s*,\s*|\s*;\s*|(?<=[a-z\x00)])[.!?]\s+",
    re.I,
)
_HARD_SEPARATOR = re.compile(r"^\s*;\s*$")
_MODAL_CLAUSE = re.compile(r"\b(?:should|must)\b", re.I)
_QUOTED_ASSERT = re.compile(
    r"^\x00\d+\x00\s+(?:is|are|appears?|shows?|displays?)\b", re.I)


def _base_verb(word: str) -> str:
    w = word.lower()
    if w in VERBS:
        return w
    if w in _IRREGULAR:
        return _IRREGULAR[w]
    for suffix, repl in (("ies", "y"), ("es", ""), ("s", "")):
        if w.endswith(suffix) and w[: -len(suffix)] + repl in VERBS:
            return w[: -len(suffix)] + repl
    return w


def strip_lead(clause: str) -> str:
    """Drop fillers and a subject: "Then the user taps Sign in" -> "tap Sign in"."""
    c = _FILLERS.sub("", clause.strip())
    c = _SUBJECT.sub("", c)
    c = _FILLERS.sub("", c)
    m = re.match(r"([A-Za-z][\w-]*)(.*)$", c, re.S)
    if m:
        base = _base_verb(m.group(1))
        if base != m.group(1).lower():
            c = base + m.group(2)
    return c.strip(" ,")


# ----------------------------------------------------------------------------- splitting


def split_clauses(step: str, screen: Hierarchy | None = None) -> tuple[list[str], list[str]]:
    """The clauses of a step (quotes as placeholders) and the quoted texts they refer to."""
    text, quoted = protect_quotes(step)
    text = _NUMBERING.sub("", text.strip())
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"[.!]+$", "", text).strip()
    clauses: list[str] = []
    start = 0
    prefix = ""
    for m in _SEPARATOR.finditer(text):
        if m.start() < start:
            continue
        left = text[start:m.start()]
        rest = text[m.end():]
        if not left.strip() or not rest.strip():
            continue
        if _HARD_SEPARATOR.match(m.group(0)) or _accept_split(left, m.group(0), rest, screen,
                                                              quoted):
            clauses.append(prefix + left)
            prefix = ""
            start = m.end()
            continue
        verb = strip_lead(prefix + left).split(" ", 1)[0].lower()
        if (verb in _TYPE_VERBS and re.search(r"\s(?:into|in|on)\s+\S", left, re.I)
                and _ELLIPTIC_TYPE.match(_next_piece(rest))):
            # "Enter 'a' in Email and 'b' in Password": the verb carries over
            clauses.append(prefix + left)
            prefix = verb + " "
            start = m.end()
    clauses.append(prefix + text[start:])
    return [c.strip(" ,") for c in clauses if c.strip(" ,")], quoted


_TYPE_VERBS = frozenset({"type", "enter", "input", "write", "put", "insert"})
_ELLIPTIC_TYPE = re.compile(r"^\s*(?:\x00\d+\x00|[^\s\x00]+)\s+(?:into|in|on)\s+\S", re.I)


def _next_piece(rest: str) -> str:
    m = _SEPARATOR.search(rest)
    return rest[: m.start()] if m else rest


def _accept_split(left: str, sep: str, rest: str, screen: Hierarchy | None,
                  quoted: list[str]) -> bool:
    head = strip_lead(rest)
    words = head.split()
    if not words:
        return False
    if "then" in sep.lower():
        return True  # ", then" and " then " always start another instruction
    if "and" in sep.lower() and screen is not None and "then" not in sep.lower():
        # "Terms and Conditions" on screen: the "and" belongs to a name.
        lw = tokens(restore(left, quoted))
        rw = tokens(restore(rest, quoted))
        if lw and rw and index(screen).contains_phrase((lw[-1], "and", rw[0])):
            return False
    first = words[0].lower()
    if first in VERBS:
        # "Terms and Conditions is visible" would not get here: "conditions" is no verb.
        return True
    if _MODAL_CLAUSE.search(_next_piece(rest)) or _QUOTED_ASSERT.match(head):
        return True
    if screen is not None:
        piece = strip_lead(_next_piece(rest))
        label = restore(piece, quoted)
        found = candidates(screen, Target.of(label, exact=True), "tap") if label else []
        if any(m.score >= 0.9 and (m.element.clickable or m.element.kind == ElementKind.BUTTON)
               for m in found):
            return True
    return False
