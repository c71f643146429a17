"""Splitting a compound step into clauses, and the verbs that start an instruction.

A step is split at ";", sentence ends, ", then", " then ", " and " and "," - but only where
the words after the separator start an instruction (a known verb, an assertion with
"should", or the label of an element on screen), and never where the words around an "and"
appear together on screen ("Terms and Conditions"). Leading numbering ("3.", "Step 2:"), a
final period, fillers ("then", "please") and a subject ("the user taps") are dropped.
"""

from __future__ import annotations

import re
from functools import lru_cache

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
    "search", "back", "should", "must", "add", "find", "look", "dismiss", "accept", "allow",
    "deny", "decline", "grant",
})
ACTION_VERBS = VERBS - {"see", "should", "must", "expect", "observe", "verify", "check",
                         "assert", "ensure", "confirm", "validate", "make"}
_IRREGULAR = {"goes": "go", "does": "do", "sees": "see", "has": "have"}
_FILLERS = re.compile(
    r"^(?:(?:and|then|also|next|now|finally|first|firstly|secondly|lastly|afterwards|"
    r"after that|once there|please|pls|plz|kindly|just|simply|quickly|go\s+ahead\s+and|"
    r"(?:can|could|would|will)\s+you(?:\s+please)?|let's|let\s+us|try\s+to|"
    r"(?:make|be)\s+sure\s+(?:to|you)(?=\s+(?!see\b)[a-z])|remember\s+to|"
    r"don't\s+forget\s+to|do\s+not\s+forget\s+to|"
    r"(?:i|we|you)\s+(?:want|need|have|would\s+like|'d\s+like)\s+to(?!\s+see\b)|"
    r"(?:i|we|you)'d\s+like\s+to(?!\s+see\b))\b[,:]?\s*)+",
    re.I,
)
_SUBJECT = re.compile(r"^(?:i|we|you|they|the user|user|the tester|tester)\s+(?=\w)", re.I)
_NUMBERING = re.compile(
    r"^\s*(?:(?:step\s*#?\s*)?\d+\s*[.):\-\u2013]\s*|step\s*#?\s*\d+\s+|"
    r"step\s+(?:one|two|three|four|five|six|seven|eight|nine|ten)\s*[.:)\-]?\s+|"
    r"\(\d+\)\s*|#\d+\s*[.:)\-]?\s*|[a-h]\)\s+|[-*\u2022>]\s+)", re.I)

_SEPARATOR = re.compile(
    r"\s*,\s*(?:and\s+)?then\s+|\s+and\s+then\s+|\s+then\s+|\s*,\s*and\s+|\s+and\s+"
    r"|\s*,\s*|\s*;\s*|(?<=[a-z\x00)])[.!?]\s+",
    re.I,
)
_PREDICATE_END = re.compile(
    r"\s(?:is|are|be|stays?|remains?)\s+(?:now\s+|still\s+)?(?:visible|shown|displayed|present|"
    r"listed|on|off|enabled|disabled|checked|unchecked|selected|empty|gone|hidden)$", re.I)
# "On the welcome screen, press Get started", "In the Name field, type Alex": where, then what.
_LEADING_PLACE = re.compile(
    r"^(?P<pp>(?:on|in|from|at|inside|within|under|using|via|when|once|after|as\s+soon\s+as|"
    r"if)\s+[^,\x00]{1,60}?),\s*"
    r"(?P<rest>[A-Za-z].*)$", re.I | re.S)
_HARD_SEPARATOR = re.compile(r"^\s*;\s*$")
_MODAL_CLAUSE = re.compile(r"\b(?:should|must)\b", re.I)
_QUOTED_ASSERT = re.compile(
    r"^\x00\d+\x00\s+(?:is|are|appears?|shows?|displays?)\b", re.I)


def base_verb(word: str) -> str:
    """The verb a clause's first word stands for: "taps" -> "tap", "Clik" -> "click"; any
    other word, lower-cased."""
    w = word.lower()
    if w in VERBS:
        return w
    if w in _IRREGULAR:
        return _IRREGULAR[w]
    for suffix, repl in (("ies", "y"), ("es", ""), ("s", "")):
        if w.endswith(suffix) and w[: -len(suffix)] + repl in VERBS:
            return w[: -len(suffix)] + repl
    return misspelt_verb(w) or w


# Verbs a misspelling may stand for, and words that are one edit from a verb but words of
# their own ("tab" / "tap", "clock" / "click", "mode" / "move").
_SPELLED_VERBS = tuple(sorted(VERBS - {"go", "put", "set", "hit", "see", "long", "double",
                                       "back", "head", "make", "keep", "read", "pick", "push",
                                       "must", "move", "poll", "fill", "tick", "flip"}))
_NOT_VERBS = frozenset({
    "tab", "tabs", "cart", "card", "cards", "cap", "top", "tip", "sign", "send", "sent",
    "save", "text", "test", "tape", "step", "stop", "shop", "seen", "clock", "clip", "slip",
    "ship", "sort", "mode", "note", "hint", "past", "paste", "last", "list", "lists", "type",
    "time", "tile", "till", "until", "then", "than", "when", "there", "here", "where", "this",
    "that", "these", "those", "enters", "inputs", "open", "opened", "seat", "lead", "load",
    "loads", "wipe", "wine", "start", "starts", "stars", "state", "status", "store", "score",
    "share", "check", "chick", "cheek", "chuck", "clicks", "slick", "stick", "trick", "swap",
    "page", "pages", "view", "views", "item", "items", "menu", "name", "home", "email", "title",
    "total", "price", "order", "cancel", "close", "done", "error", "alert", "field", "fields",
    "input", "button", "result", "results", "should", "would", "could", "tapped", "entered",
    "clicked", "typed", "scrolled", "swiped", "waited", "verified", "checked", "pressed",
    "selected", "opens", "wait", "walk", "talk", "tank", "task", "tasks", "take", "tale",
})


@lru_cache(maxsize=4096)
def misspelt_verb(word: str) -> str | None:
    """The one verb `word` is a typo of (one edit; a swap of two letters for 3-letter words:
    "tpa" -> "tap"), or None."""
    w = word.lower()
    if len(w) < 3 or w in _NOT_VERBS or not w.isalpha():
        return None
    found = {v for v in _SPELLED_VERBS if one_edit(w, v, swaps_only=len(w) == 3 or len(v) == 3)}
    return found.pop() if len(found) == 1 else None


def one_edit(a: str, b: str, swaps_only: bool = False) -> bool:
    """True when `a` and `b` differ by two neighbours swapped, a letter added or dropped, or
    (in words of six letters or more) one letter changed; with `swaps_only` (short words),
    only a swap or a letter missing or doubled at the end."""
    if a == b:
        return False
    la, lb = len(a), len(b)
    if la == lb:
        diff = [i for i in range(la) if a[i] != b[i]]
        if len(diff) == 2 and diff[1] == diff[0] + 1:
            i = diff[0]
            return a[i] == b[i + 1] and a[i + 1] == b[i]
        return len(diff) == 1 and not swaps_only and la >= 6  # "white" is no "write"
    if abs(la - lb) != 1:
        return False
    short, long_ = (a, b) if la < lb else (b, a)
    if swaps_only:  # short words: only a letter missing or doubled at the end ("typ", "tapp")
        return long_.startswith(short) and (la < lb or long_[-1] == short[-1])
    i = 0
    while i < len(short) and short[i] == long_[i]:
        i += 1
    return short[i:] == long_[i + 1:]


def strip_lead(clause: str, screen: Hierarchy | None = None) -> str:
    """Drop fillers and a subject: "Then the user taps Sign in" -> "tap Sign in"; a misspelt
    verb is read as the verb ("Clik Sign in"), unless the word is on `screen`."""
    c = _FILLERS.sub("", clause.strip())
    c = _SUBJECT.sub("", c)
    c = _FILLERS.sub("", c)
    m = re.match(r"([A-Za-z][\w-]*)(.*)$", c, re.S)
    if m:
        word = m.group(1).lower()
        base = base_verb(word)
        if base != word and not (screen is not None and base == misspelt_verb(word)
                                 and index(screen).has_word(word)):
            c = base + m.group(2)
    return fix_words(c.strip(" ,"))


# Words of the rules' own grammar, so that "is visble" and "untill" still read as meant.
_GRAMMAR_WORDS = ("visible", "shown", "displayed", "display", "displays", "appears", "appear",
                  "present", "should", "until", "screen", "seconds", "disappears", "enabled",
                  "disabled", "checked", "unchecked", "button", "field", "times", "showing",
                  "contains", "invisible", "hidden", "minutes", "message", "loaded", "back")
_WORD_RE = re.compile(r"(?<![\w\x00])[A-Za-z]{4,}(?![\w\x00])")


@lru_cache(maxsize=4096)
def _grammar_word(w: str) -> str | None:
    """The grammar word `w` is a typo of: a letter dropped, added or swapped (no letter
    changed: "prevent" is no "present"); plurals are words of their own."""
    if not w.islower() or w in _GRAMMAR_WORDS or w in VERBS or w in _NOT_VERBS:
        return None
    found = {g for g in _GRAMMAR_WORDS
             if (len(g) >= 5 and len(w) != len(g) or sorted(w) == sorted(g))
             and w.rstrip("s") != g.rstrip("s") and one_edit(w, g)}
    return found.pop() if len(found) == 1 else None


def fix_words(clause: str) -> str:
    """Misspelt grammar words (written in lower case) made right: "Home is visble" -> "Home
    is visible"; capitalised words may be labels and are left alone."""
    return _WORD_RE.sub(lambda m: _grammar_word(m.group(0)) or m.group(0), clause)


# ----------------------------------------------------------------------------- splitting


def split_clauses(step: str, screen: Hierarchy | None = None) -> tuple[list[str], list[str]]:
    """The clauses of a step (quotes as placeholders) and the quoted texts they refer to."""
    text, quoted = protect_quotes(step)
    text = _NUMBERING.sub("", text.strip())
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"[.!?]+$", "", text).strip()
    text = _place_last(_FILLERS.sub("", text))
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
        if (verb in _TYPE_VERBS and re.search(r"\s(?:into|in|on|as)\s+\S", left, re.I)
                and _ELLIPTIC_TYPE.match(_next_piece(rest))):
            # "Enter 'a' in Email and 'b' in Password": the verb carries over
            clauses.append(prefix + left)
            prefix = verb + " "
            start = m.end()
    clauses.append(prefix + text[start:])
    return [c.strip(" ,") for c in clauses if c.strip(" ,")], quoted


_SIGN_IN = re.compile(r"^(?:log|sign)\s*(?:in|on)\s+(?:with|as|using)\s", re.I)
_TYPE_VERBS = frozenset({"type", "enter", "input", "write", "put", "insert"})


def _place_last(text: str) -> str:
    """A leading "where" phrase dropped, or, naming a field before typing, moved to the end:
    "In the Name field, type Alex" -> "type Alex into the Name field"."""
    m = _LEADING_PLACE.match(text)
    if not m or base_verb(m.group("rest").split()[0]) not in VERBS:
        return text
    rest, pp = m.group("rest"), m.group("pp")
    verb = base_verb(rest.split()[0])
    if (verb in _TYPE_VERBS and re.search(r"\b(?:field|input|box|area)$", pp, re.I)
            and not re.search(r"\s(?:into|in|on)\s", rest, re.I)):
        place = re.sub(r"^\w+\s+", "", pp)
        return f"{rest} into {place}"
    return rest
_ELLIPTIC_TYPE = re.compile(r"^\s*(?:\x00\d+\x00|[^\s\x00]+)\s+(?:into|in|on|as)\s+\S", re.I)


def _next_piece(rest: str) -> str:
    m = _SEPARATOR.search(rest)
    return rest[: m.start()] if m else rest


def _accept_split(left: str, sep: str, rest: str, screen: Hierarchy | None,
                  quoted: list[str]) -> bool:
    head = strip_lead(rest, screen)
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
    if _PREDICATE_END.search(left) and _PREDICATE_END.search(_next_piece(rest)):
        return True  # "Verify Home is shown and the Cart tab is visible": two checks
    first = base_verb(words[0])
    if first in VERBS or _SIGN_IN.match(head):
        # "Terms and Conditions is visible" would not get here: "conditions" is no verb.
        return True
    if _MODAL_CLAUSE.search(_next_piece(rest)) or _QUOTED_ASSERT.match(head):
        return True
    if screen is not None:
        piece = strip_lead(_next_piece(rest), screen)
        label = restore(piece, quoted)
        found = candidates(screen, Target.of(label, exact=True), "tap") if label else []
        if any(m.score >= 0.9 and (m.element.clickable or m.element.kind == ElementKind.BUTTON)
               for m in found):
            return True
    return False
