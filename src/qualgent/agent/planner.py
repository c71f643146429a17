"""Turning a plain-English step into intents, without a language model.

`RuleBasedPlanner.plan(step, screen)`:

1. Quoted spans ("...", '...', “...”, ‘...’, `...`) are set aside so nothing inside them is
   split or parsed; leading numbering ("3.", "Step 2:") and a final period are dropped.
2. The step is split into clauses at ";", sentence ends, ", then", " then ", " and " and "," -
   but only where the words after the separator start an instruction (a known verb, an
   assertion with "should", or the label of an element on screen), and never where the words
   around an "and" appear together on screen ("Terms and Conditions").
3. Each clause is matched against families of patterns in a fixed order: SMS code, launch,
   back, wait, scroll, keys, toggles, assertions, typing, clearing, tapping; a clause that fits
   none but is the label of something tappable on screen is a tap ("Add to cart").

The screen is consulted only to resolve ambiguities (where a typed value ends and its field
begins, whether "and" joins two instructions or belongs to a name); elements are found later,
by the executor, on the screen it observes when each intent runs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Protocol

from qualgent.agent import intents as I  # noqa: N812 - the intent vocabulary, short
from qualgent.agent.intents import Intent, NotUnderstood, Target
from qualgent.agent.matching import candidates, describe, index
from qualgent.agent.text import (
    ASSERT_KIND_WORDS,
    NUMBER,
    PLACEHOLDER_RE,
    UNIT,
    protect_quotes,
    restore,
    to_number,
    to_seconds,
    tokens,
    unquote,
)
from qualgent.drivers.base import Hierarchy


class Planner(Protocol):
    def plan(self, step: str, screen: Hierarchy) -> list[Intent]:
        """The intents of one step, given the screen as it is when the step starts.

        Raises NotUnderstood (a StepFailure) when the step cannot be turned into actions.
        """
        ...


# ----------------------------------------------------------------------------- vocabulary

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
_ACTION_VERBS = VERBS - {"see", "should", "must", "expect", "observe", "verify", "check",
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


def _strip_lead(clause: str) -> str:
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
    idx = _LazyIndex(screen) if screen is not None else None
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
        if _HARD_SEPARATOR.match(m.group(0)) or _accept_split(left, m.group(0), rest, idx,
                                                              quoted):
            clauses.append(prefix + left)
            prefix = ""
            start = m.end()
            continue
        verb = _strip_lead(prefix + left).split(" ", 1)[0].lower()
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


class _LazyIndex:
    """The screen's word index, built only if a split needs to look at the screen."""

    def __init__(self, screen: Hierarchy) -> None:
        self.screen = screen

    def contains_phrase(self, words: tuple[str, ...]) -> bool:
        return index(self.screen).contains_phrase(words)


def _next_piece(rest: str) -> str:
    m = _SEPARATOR.search(rest)
    return rest[: m.start()] if m else rest


def _accept_split(left: str, sep: str, rest: str, idx: _LazyIndex | None,
                  quoted: list[str]) -> bool:
    head = _strip_lead(rest)
    words = head.split()
    if not words:
        return False
    if "then" in sep.lower():
        return True  # ", then" and " then " always start another instruction
    if "and" in sep.lower() and idx is not None and "then" not in sep.lower():
        # "Terms and Conditions" on screen: the "and" belongs to a name.
        lw = tokens(restore(left, quoted))
        rw = tokens(restore(rest, quoted))
        if lw and rw and idx.contains_phrase((lw[-1], "and", rw[0])):
            return False
    first = words[0].lower()
    if first in VERBS:
        # "Terms and Conditions is visible" would not get here: "conditions" is no verb.
        return True
    if _MODAL_CLAUSE.search(_next_piece(rest)) or _QUOTED_ASSERT.match(head):
        return True
    if idx is not None:
        piece = _strip_lead(_next_piece(rest))
        label = restore(piece, quoted)
        if label and any(m.score >= 0.9 and (m.element.clickable or m.element.kind == "button")
                         for m in candidates(idx.screen, Target.of(label, exact=True), "tap")):
            return True
    return False


# ----------------------------------------------------------------------------- patterns

_NUM = NUMBER
_KEYS = {"enter": "enter", "return": "enter", "done": "enter", "go": "enter", "search": "search",
         "next": "tab", "tab": "tab", "home": "home", "back": "back", "delete": "backspace",
         "backspace": "backspace", "escape": "escape", "esc": "escape", "space": "space",
         "menu": "menu"}
_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6,
             "seventh": 7, "eighth": 8, "ninth": 9, "tenth": 10, "last": -1}
_ORDINAL_RE = re.compile(
    r"^(?:the\s+)?(?P<o>first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|last"
    r"|\d+(?:st|nd|rd|th))\s+(?P<rest>.+)$", re.I)
_TARGET_TAIL = re.compile(
    r"\s+(?:(?:on|in|at|from|of)\s+(?:the\s+)?(?:screen|page|list|top|bottom|menu|toolbar|"
    r"dialog|popup|header|footer|navigation bar|nav bar|tab bar|bottom bar|bottom navigation|"
    r"keyboard|form|app|results?)(?:\s+of\s+the\s+(?:screen|page))?|again|now|once more)$",
    re.I)
_APP_WORDS = re.compile(r"^(?:the\s+)?(?:[^\s]+\s+){0,3}?(?:app|application)$", re.I)
_VISIBLE = (r"(?:visible|shown|displayed|present|on\s+(?:the\s+)?screen|there|showing|"
            r"seen|in\s+view|available|rendered)")
_APPEAR = (r"(?:appears?|appeared|should\s+appear|will\s+appear|shows\s+up|should\s+show\s+up|"
           r"exists?|should\s+exist|is\s+showing|pops\s+up|comes\s+up)")
_NEG_AUX = r"(?:is|are|should|must|does|do|will|has|have|did|can|could)(?:\s+not|n't)|won't"
_STATE_WORDS = {"on": True, "enabled": True, "checked": True, "selected": True, "ticked": True,
                "toggled on": True, "active": True, "true": True, "off": False,
                "disabled": False, "unchecked": False, "unselected": False, "unticked": False,
                "toggled off": False, "inactive": False, "false": False}
_STATE = r"(?:toggled on|toggled off|on|off|enabled|disabled|checked|unchecked|selected|" \
         r"unselected|ticked|unticked|active|inactive)"
_WAIT_TAIL = re.compile(
    r"\s+(?:to\s+)?(?:(?:finish(?:es)?\s+)?load(?:s|ed|ing)?|appears?|show(?:s)?(?:\s+up)?|"
    r"be\s+(?:visible|shown|displayed|loaded|ready|present)|(?:is|are)\s+(?:visible|shown|"
    r"displayed|loaded|ready|present)|becomes?\s+visible|comes?\s+up|finish(?:es)?|complete)$",
    re.I)
_GONE_TAIL = re.compile(
    r"\s+(?:to\s+)?(?:disappears?|go(?:es)?\s+away|vanish(?:es)?|be\s+gone|is\s+gone|"
    r"be\s+hidden|is\s+hidden|close[sd]?|be\s+dismissed|is\s+dismissed)$", re.I)
_GENERIC_WAIT = frozenset({
    "result", "results", "search", "list", "page", "screen", "content", "contents", "data",
    "items", "item", "products", "app", "it", "everything", "ui", "view", "loading", "load",
    "feed", "response", "to", "finish", "complete", "something", "anything", "things", "stuff",
})


def _unq(text: str, quoted: list[str]) -> tuple[str, bool]:
    return unquote(text, quoted)


def _target(text: str, quoted: list[str], *, assertion: bool = False,
            ordinal_ok: bool = True, screen: Hierarchy | None = None) -> Target:
    """A target phrase cleaned of articles, tails ("on the screen") and (for assertions)
    "message"-like kind words; quoted when it was a single quoted span."""
    t = text.strip().rstrip(",")
    for _ in range(2):
        t = _TARGET_TAIL.sub("", t).strip()
    t = re.sub(r"^(?:on|at)\s+", "", t, flags=re.I)
    t = re.sub(r"^(?:the\s+)?(?:text|word|words|label|message|string|phrase|title|option|"
               r"item|button|tab|link|field)\s+(?=\x00)", "", t, flags=re.I)
    if assertion:
        t = re.sub(r"^(?:that\s+)?(?:a|an|the|some|any)\s+", "", t, flags=re.I)
        while True:
            m = re.match(r"^(.+?)\s+(\w+)$", t)
            if (m and m.group(2).lower() in ASSERT_KIND_WORDS
                    and re.search(r"[^\W\d]|\x00", m.group(1))
                    and m.group(1).lower() not in ("the", "a", "an")):
                t = m.group(1)
            else:
                break
        phrase, _ = _unq(t, quoted)
        return Target.of(phrase, exact=True)  # kind words are dealt with: match as written
    phrase, exact = _unq(t, quoted)
    if ordinal_ok and not exact:
        m = _ORDINAL_RE.match(phrase)
        if m:
            whole = Target.of(phrase)
            if screen is None or not any(c.score >= 0.9 for c in candidates(screen, whole)):
                o = m.group("o").lower()
                n = _ORDINALS.get(o) or int(re.match(r"\d+", o).group(0))
                return Target.of(m.group("rest"), ordinal=n)
    return Target.of(phrase, exact=exact)


def _seconds(n: str, unit: str | None) -> float:
    return to_seconds(n, unit)


class RuleBasedPlanner:
    """The default planner: ordinary English in many phrasings, deterministic, no model calls;
    about a millisecond per step on a 200-element screen (benchmarks/planner_decision.py)."""

    def plan(self, step: str, screen: Hierarchy) -> list[Intent]:
        clauses, quoted = split_clauses(step, screen)
        out: list[Intent] = []
        for raw in clauses:
            clause = _strip_lead(raw)
            if not clause:
                continue
            intents = None
            for parse in _PARSERS:
                intents = parse(clause, quoted, screen, out)
                if intents is not None:
                    break
            if intents is None:
                intents = _fallback_tap(clause, quoted, screen)
            if intents is None:
                shown = restore(raw, quoted)
                raise NotUnderstood(
                    f"Could not understand \"{shown}\": it is not a tap, type, scroll, wait, "
                    f"back, verify or SMS-code instruction, and nothing on screen is called "
                    f"that. The screen shows: {describe(screen)}."
                )
            src = restore(raw, quoted)
            out.extend(_with_clause(i, src) for i in intents)
        if not out:
            raise NotUnderstood(f"The step \"{step}\" has no instruction in it.")
        return out


def _with_clause(intent: Intent, clause: str) -> Intent:
    if intent.clause:
        return intent
    return Intent(intent.action, intent.target, intent.value, intent.seconds, intent.checked,
                  intent.submit, intent.count, clause)


Parser = Callable[[str, list[str], Hierarchy, list[Intent]], "list[Intent] | None"]


def _m(pattern: str, text: str) -> re.Match[str] | None:
    return re.match(pattern, text, re.I | re.S)


# --- SMS codes -----------------------------------------------------------------------------

_CODE_WORDS = (r"(?:(?:sms|otp|one[- ]time|verification|security|confirmation|login|sign[- ]in|"
               r"auth(?:entication)?|2fa|mfa|received|text|\d+[- ]digit|six[- ]digit|"
               r"four[- ]digit)\s+)*(?:code|otp|pin|passcode|password)")
_SMS_SOURCE = (r"(?:\s+(?:from|in|sent\s+(?:to\s+(?:me\s+|the\s+phone\s+)?)?(?:by|via|in|as)?|"
               r"received\s+(?:by|via|in|from|as)?|via|by|that\s+(?:was|is)\s+(?:sent|received)"
               r"(?:\s+(?:by|via|in|to|as))?|we\s+(?:got|received)\s+(?:by|via|in))\s*"
               r"(?:the\s+|an?\s+)?(?:latest\s+|new\s+|last\s+)?(?:sms|text(?:\s+message)?|"
               r"message|phone|inbox)(?:\s+message)?)")


def _parse_sms(c: str, quoted: list[str], screen: Hierarchy, prev: list[Intent]):  # noqa: ANN202
    m = _m(r"^(?:enter|type|input|fill\s+in|fill|put|paste|provide|insert|key\s+in|use|submit)"
           rf"\s+(?:in\s+)?(?:the\s+|an?\s+)?(?P<what>{_CODE_WORDS}{_SMS_SOURCE}?)"
           r"(?:\s+(?:into|in|on|to)\s+(?P<x>.+?))?(?P<submit>\s+and\s+submit)?$", c)
    if not m:
        return None
    what = m.group("what").lower()
    if not re.search(r"sms|text|message|otp|one[- ]time|verification|2fa|mfa|\bcode\b", what):
        return None  # "enter the password": a value the step does not give
    target = _target(m.group("x"), quoted) if m.group("x") else None
    return [Intent(I.SMS_CODE, target, submit=bool(m.group("submit")))]


# --- launch --------------------------------------------------------------------------------


def _parse_launch(c: str, quoted: list[str], screen: Hierarchy, prev: list[Intent]):  # noqa: ANN202
    m = _m(r"^(?P<v>launch|start|run|open|reopen|re-open|relaunch|re-launch|restart|bring\s+up|"
           r"go\s+to|switch\s+to|return\s+to)(?:\s+up)?(?:\s+(?P<x>.+?))?(?:\s+again)?$", c)
    if not m:
        return None
    verb = m.group("v").lower().replace("-", "")
    x = (m.group("x") or "").strip()
    restart = verb in ("restart", "relaunch")
    if not x:
        if verb in ("launch", "restart", "relaunch", "reopen", "start"):
            return [Intent(I.LAUNCH, value="restart" if restart else None)]
        return None
    phrase, exact = _unq(x, quoted)
    if exact or not _APP_WORDS.match(phrase):
        if verb in ("launch", "relaunch", "restart") and not exact:
            return [Intent(I.LAUNCH, value="restart" if restart else None)]
        return None
    # "Open the Crash app" where a "Crash app" button is on screen: a tap, not a launch.
    if verb not in ("launch", "relaunch", "restart") and re.sub(
            r"^the\s+", "", phrase, flags=re.I).lower() not in ("app", "application"):
        if any(mm.score >= 0.9 for mm in candidates(screen, Target.of(phrase), "tap")):
            return None
    return [Intent(I.LAUNCH, value="restart" if restart else None)]


# --- back ----------------------------------------------------------------------------------


def _parse_back(c: str, quoted: list[str], screen: Hierarchy, prev: list[Intent]):  # noqa: ANN202
    if _m(r"^(?:go|navigate|move|step|head)\s+back(?:\s+(?:to|one|a)\b.*)?$", c) or _m(
            r"^(?:back|go\s+to\s+(?:the\s+)?previous\s+(?:screen|page)|return|"
            r"return\s+to\s+(?:the\s+)?previous\s+(?:screen|page)|navigate\s+up)$", c):
        return [Intent(I.BACK)]
    m = _m(r"^(?P<v>press|tap|hit|click|push|use|touch)(?:\s+on)?(?:\s+the)?\s+(?P<sys>system\s+|"
           r"device\s+|hardware\s+|android\s+|phone's\s+)?back(?:\s+(?P<k>button|key|arrow|"
           r"icon))?(?:\s+(?:once|to\s+.+))?$", c)
    if not m:
        return None
    if not m.group("sys") and m.group("v").lower() in ("tap", "click", "touch"):
        # An in-app back arrow, when the screen has one, is what "tap the back button" means.
        for mm in candidates(screen, Target.of("back"), "tap"):
            if mm.score >= 0.9 and mm.element.clickable:
                return [Intent(I.TAP, Target.of("back", exact=True))]
        for mm in candidates(screen, Target.of("navigate up"), "tap"):
            if mm.score >= 0.9 and mm.element.clickable:
                return [Intent(I.TAP, Target.of("navigate up", exact=True))]
    return [Intent(I.BACK)]


# --- waits ---------------------------------------------------------------------------------


def _wait_target(x: str, quoted: list[str]) -> tuple[Target, bool]:
    """The thing waited for and whether to wait for it to appear (True) or go (False)."""
    x = x.strip()
    appear = True
    if _GONE_TAIL.search(x):
        x = _GONE_TAIL.sub("", x)
        appear = False
    else:
        for _ in range(2):
            x = _WAIT_TAIL.sub("", x).strip()
    target = _target(x, quoted, assertion=True)
    words = set(tokens(target.phrase))
    generic = not PLACEHOLDER_RE.search(x) and (not words or words <= _GENERIC_WAIT)
    if generic:
        target = Target(target.phrase or "content", False, None, None, True)
    return target, appear


def _parse_wait(c: str, quoted: list[str], screen: Hierarchy, prev: list[Intent]):  # noqa: ANN202
    if not _m(r"^(?:wait|pause|sleep|hold|idle|delay|poll|keep\s+waiting|give\s+it)\b", c):
        return None
    m = _m(rf"^(?:wait|pause|sleep|hold(?:\s+on)?|idle|delay|give\s+it)(?:\s+for)?"
           rf"(?:\s+(?:about|around|roughly|exactly|another|an\s+extra))?\s+(?P<n>{_NUM})\s*"
           rf"(?P<u>{UNIT})?(?:\s+(?:more|longer|again|or\s+so))?$", c)
    if m:
        unit = m.group("u")
        if not unit and not re.fullmatch(r"[\d.]+", m.group("n")):
            return None
        if unit and unit.lower().startswith("moment"):
            unit = "s"
        return [Intent(I.WAIT, seconds=_seconds(m.group("n"), unit))]
    if _m(r"^(?:wait|pause)(?:\s+(?:a\s+(?:bit|moment|little|while|second)|briefly|shortly))?$",
          c):
        return [Intent(I.WAIT, seconds=1.0)]
    m = _m(rf"^(?:wait|poll|keep\s+waiting)(?:\s+for)?\s+(?:(?:up\s*to|at\s+most|a\s+maximum\s+of|"
           rf"max(?:imum)?|no\s+more\s+than|until|within)\s+)?(?P<n>{_NUM})\s*(?P<u>{UNIT})\s+"
           r"(?:for|until|till|while|to\s+see)\s+(?P<x>.+)$", c)
    if m:
        target, appear = _wait_target(m.group("x"), quoted)
        return [Intent(I.WAIT_FOR, target, seconds=_seconds(m.group("n"), m.group("u")),
                       checked=appear)]
    m = _m(rf"^(?:wait|poll|keep\s+waiting)\s+(?:for|until|till|on)\s+(?P<x>.+?)"
           rf"(?:\s*,?\s*(?:for\s+)?(?:up\s*to|at\s+most|within|for|no\s+more\s+than|"
           rf"max(?:imum)?(?:\s+of)?|timeout(?:\s+of)?|in)\s+(?P<n>{_NUM})\s*(?P<u>{UNIT}))?$", c)
    if m:
        target, appear = _wait_target(m.group("x"), quoted)
        seconds = _seconds(m.group("n"), m.group("u")) if m.group("n") else None
        return [Intent(I.WAIT_FOR, target, seconds=seconds, checked=appear)]
    return None


# --- scrolling -----------------------------------------------------------------------------

_DIR = r"(?:up|down|left|right|upwards?|downwards?|back\s+up)"
_AREA = r"(?:\s+(?:the\s+)?(?:list|page|screen|view|results|content|feed|carousel))"
_FINGER = {"down": "up", "up": "down", "left": "right", "right": "left"}  # scroll -> finger
_EDGES = {"bottom": "up", "end": "up", "top": "down", "beginning": "down", "start": "down"}


def _direction(word: str | None, verb: str) -> str:
    """The finger's direction for a scroll or swipe phrased with `word`."""
    w = (word or "down").lower().replace("wards", "").replace("ward", "").replace("back ", "")
    if verb.startswith("swipe") or verb.startswith("fling") or verb.startswith("flick"):
        return w if word else "up"
    return _FINGER[w]


def _parse_scroll(c: str, quoted: list[str], screen: Hierarchy, prev: list[Intent]):  # noqa: ANN202
    m = _m(rf"^(?P<v>scroll|swipe|fling|flick|keep\s+scrolling|keep\s+swiping|page)"
           rf"(?:\s+(?P<d>{_DIR}))?{_AREA}?(?:\s+(?P<d2>{_DIR}))?\s+(?:until|till|untill|"
           r"to\s+find|looking\s+for|in\s+search\s+of|to\s+see|to\s+reveal|to\s+show)\s+"
           r"(?:(?:you|i)\s+(?:can\s+)?(?:see|find)\s+)?(?P<x>.+)$", c)
    if m:
        verb = m.group("v").lower().split()[-1]
        x = m.group("x")
        for _ in range(2):
            x = re.sub(rf"\s+(?:(?:is|are|becomes?|gets?)\s+{_VISIBLE}|{_APPEAR}|"
                       r"is\s+in\s+view|comes?\s+into\s+view|is\s+reached)$", "", x, flags=re.I)
        target = _target(x, quoted, assertion=True)
        return [Intent(I.SCROLL_TO, target, value=_direction(m.group("d") or m.group("d2"),
                                                             verb))]
    m = _m(rf"^(?P<v>scroll|swipe)(?:\s+(?P<d>{_DIR}))?{_AREA}?\s+(?:all\s+the\s+way\s+)?"
           r"(?:to|towards)\s+(?:the\s+)?(?P<x>.+)$", c)
    if m:
        x = re.sub(r"\s+of\s+the\s+(?:page|screen|list)$", "", m.group("x"), flags=re.I)
        if x.lower() in _EDGES:
            return [Intent(I.SCROLL_TO, None, value=_EDGES[x.lower()])]
        target = _target(x, quoted, assertion=True)
        verb = m.group("v").lower()
        return [Intent(I.SCROLL_TO, target, value=_direction(m.group("d"), verb))]
    m = _m(rf"^(?P<v>scroll|swipe|fling|flick)(?:\s+(?P<d>{_DIR}))?{_AREA}?(?:\s+(?P<d2>{_DIR}))?"
           r"(?:\s+(?:on|in|over|across)\s+(?:the\s+)?(?P<x>.+?))?"
           rf"(?:\s+(?P<n>{_NUM}|\d+)\s+times|\s+(?P<w>once|twice|thrice))?$", c)
    if m:
        verb = m.group("v").lower()
        count = 1
        if m.group("n"):
            count = int(to_number(m.group("n")))
        elif m.group("w"):
            count = {"once": 1, "twice": 2, "thrice": 3}[m.group("w").lower()]
        target = _target(m.group("x"), quoted) if m.group("x") else None
        return [Intent(I.SWIPE, target, value=_direction(m.group("d") or m.group("d2"), verb),
                       count=max(1, min(count, 20)))]
    return None


# --- keys and submitting ---------------------------------------------------------------------


def _typed_before(prev: list[Intent]) -> bool:
    return bool(prev) and prev[-1].action in (I.TYPE, I.SMS_CODE)


def _on_screen(screen: Hierarchy, phrase: str, min_score: float = 0.9) -> bool:
    return any(m.score >= min_score for m in candidates(screen, Target.of(phrase), "tap"))


def _parse_key(c: str, quoted: list[str], screen: Hierarchy, prev: list[Intent]):  # noqa: ANN202
    if _m(r"^(?:submit|search|send)(?:\s+(?:it|the\s+(?:form|search|query|text|input)|"
          r"the\s+keyboard))?$", c):
        word = c.split()[0].lower()
        if _typed_before(prev):
            return [Intent(I.KEY, value="enter")]
        if _on_screen(screen, word):
            return [Intent(I.TAP, Target.of(word))]
        return [Intent(I.KEY, value="search" if word == "search" else "enter")]
    m = _m(r"^(?:press|hit|tap|push|use|send|click)(?:\s+(?:on\s+)?the)?\s+(?P<k>enter|return|"
           r"search|done|go|next|tab|home|delete|backspace|escape|esc|space|menu)"
           r"(?:\s+(?P<s>key|button))?(?:\s+(?:on|of)\s+(?:the\s+)?(?:keyboard|device|phone))?$",
           c)
    if not m:
        return None
    k = m.group("k").lower()
    if k in ("enter", "return") or m.group("s") == "key" or re.search(r"keyboard|device|phone",
                                                                      c, re.I):
        return [Intent(I.KEY, value=_KEYS[k])]
    if _on_screen(screen, k):
        return None  # "press Search" with a Search button on screen: a tap
    if k == "home":
        return [Intent(I.KEY, value="home")]
    return [Intent(I.KEY, value=_KEYS[k])]


# --- toggles -------------------------------------------------------------------------------


def _parse_toggle(c: str, quoted: list[str], screen: Hierarchy, prev: list[Intent]):  # noqa: ANN202
    m = (_m(r"^(?:turn|switch|toggle|flip|set)\s+(?P<s>on|off)\s+(?P<x>.+)$", c)
         or _m(r"^(?:turn|switch|toggle|flip)\s+(?P<x>.+?)\s+(?P<s>on|off)$", c)
         or _m(rf"^(?:set|switch|toggle|turn)\s+(?P<x>.+?)\s+to\s+(?P<s>{_STATE}|true|false)$", c))
    if m:
        x = m.group("x")
        return [Intent(I.TAP, _target(x, quoted), checked=_STATE_WORDS[m.group("s").lower()])]
    m = _m(r"^(?P<v>enable|disable|activate|deactivate)\s+(?P<x>.+)$", c)
    if m:
        on = m.group("v").lower() in ("enable", "activate")
        return [Intent(I.TAP, _target(m.group("x"), quoted), checked=on)]
    m = _m(r"^(?:check|tick|mark)\s+(?P<x>.+?\s+(?:checkbox|check\s+box|box|option))$", c)
    if m:
        return [Intent(I.TAP, _target(m.group("x"), quoted), checked=True)]
    m = _m(r"^(?:uncheck|untick|unmark|deselect|unselect)\s+(?P<x>.+)$", c)
    if m:
        return [Intent(I.TAP, _target(m.group("x"), quoted), checked=False)]
    m = _m(r"^(?:toggle|flip)\s+(?P<x>.+)$", c)
    if m:
        return [Intent(I.TAP, _target(m.group("x"), quoted))]
    return None


# --- assertions ----------------------------------------------------------------------------

_ASSERT_VERB = re.compile(
    r"^(?:verify|check|assert|ensure|confirm|validate|make\s+sure|see|expect|observe|"
    r"test|double[- ]check)(?:\s+(?:that|if|whether|for|to\s+see\s+(?:if|that)))?\s+(?P<b>.+)$",
    re.I | re.S)


_BODY_TAIL = re.compile(
    r"\s+(?:in|on|within|inside|at|under)\s+(?:the\s+)?(?:list|results|search\s+results|page|"
    r"screen|cart|view|app|dialog|popup|top|bottom|header|toolbar)(?:\s+of\s+the\s+"
    r"(?:screen|page|list))?$", re.I)
_ATTRIBUTE_NOUNS = frozenset({
    "title", "name", "label", "text", "value", "price", "total", "subtotal", "header",
    "heading", "status", "message", "count", "badge", "quantity", "amount", "balance", "result",
    "greeting", "caption", "error", "email", "username",
})


def _assertion(x: str, quoted: list[str], negative: bool,
               state: str | None = None) -> list[Intent]:
    if state is not None:
        return [Intent(I.ASSERT_VISIBLE, _target(x, quoted), checked=_STATE_WORDS[state.lower()])]
    target = _target(x, quoted, assertion=True, ordinal_ok=False)
    return [Intent(I.ASSERT_NOT_VISIBLE if negative else I.ASSERT_VISIBLE, target)]


def _parse_assert(c: str, quoted: list[str], screen: Hierarchy, prev: list[Intent]):  # noqa: ANN202
    verbed = _ASSERT_VERB.match(c)
    if not verbed and c.split()[0].lower() in _ACTION_VERBS:
        return None  # "Tap the item that shows the price" is a tap
    body = verbed.group("b").strip() if verbed else c
    body = re.sub(r"^that\s+", "", body, flags=re.I)
    body = _BODY_TAIL.sub("", body)
    body = re.sub(r"\s+(?:is|are|should\s+be|must\s+be|will\s+be)$", " is visible", body,
                  flags=re.I)  # "X is in the list" -> "X is visible"

    m = _m(r"^(?:should|must|can|will|do|does|to)?\s*(?P<neg>not\s+|n't\s+|never\s+)?"
           r"(?:see|find|notice|view)\s+(?P<x>.+?)(?:\s+(?:anymore|any\s+more|on\s+(?:the\s+)?"
           r"screen))?$", body)
    if m and (verbed or re.match(r"(?:should|must|can|will|see)", body, re.I)):
        return _assertion(m.group("x"), quoted, bool(m.group("neg")))
    m = _m(r"^(?:do\s+not|don't|does\s+not|doesn't|cannot|can't|can\s+not|should\s+not|"
           r"shouldn't|must\s+not|mustn't)\s+see\s+(?P<x>.+?)(?:\s+anymore)?$", body)
    if m:
        return _assertion(m.group("x"), quoted, True)
    m = _m(rf"^(?P<x>.+?)\s+(?:is|are|should\s+be|must\s+be|will\s+be|becomes?|is\s+now|"
           rf"is\s+turned|is\s+switched|is\s+toggled|should\s+be\s+turned|stays?|remains?)\s+"
           rf"(?P<s>{_STATE})$", body)
    if m:
        return _assertion(m.group("x"), quoted, False, m.group("s"))
    m = _m(rf"^(?P<x>.+?)\s+(?:{_NEG_AUX})\s+(?:be\s+|been\s+)?(?:{_VISIBLE}|appear(?:ing)?|"
           r"show(?:n|ing)?(?:\s+up)?|exist|be\s+there|pop\s+up|come\s+up|displayed)"
           r"(?:\s+(?:anymore|any\s+more|on\s+(?:the\s+)?screen))?$", body)
    if m:
        return _assertion(m.group("x"), quoted, True)
    m = _m(rf"^(?:there\s+(?:is|are)\s+no|there's\s+no|no)\s+(?P<x>.+?)(?:\s+(?:is|are|"
           rf"should\s+be|must\s+be|will\s+be)\s+{_VISIBLE})?(?:\s+{_APPEAR})?"
           r"(?:\s+(?:anymore|any\s+more))?$", body)
    if m and (verbed or re.match(r"there", body, re.I) or re.search(
            rf"\s(?:is|are|be)\s+{_VISIBLE}$|\s{_APPEAR}$", body, re.I)):
        return _assertion(m.group("x"), quoted, True)
    m = _m(r"^(?P<x>.+?)\s+(?:(?:is|are|has|have|should\s+be|must\s+be|should\s+have|"
           r"has\s+been|have\s+been)\s+)?(?:gone|hidden|dismissed|absent|not\s+there|"
           rf"no\s+longer\s+(?:{_VISIBLE}|there)|disappears?|disappeared|vanishe[sd]|"
           r"should\s+disappear|closed|cleared\s+away)$", body)
    if m:
        return _assertion(m.group("x"), quoted, True)
    m = _m(rf"^(?P<x>.+?)\s+(?:is|are|should\s+be|must\s+be|will\s+be|becomes?|gets?|"
           rf"has\s+been|have\s+been)\s+(?:now\s+|still\s+|also\s+)?{_VISIBLE}"
           r"(?:\s+on\s+(?:the\s+)?screen)?$", body)
    if m:
        return _assertion(m.group("x"), quoted, False)
    m = _m(rf"^(?P<x>.+?)\s+{_APPEAR}(?:\s+on\s+(?:the\s+)?screen)?$", body)
    if m:
        return _assertion(m.group("x"), quoted, False)
    m = _m(r"^(?P<x>.+?)\s+(?P<neg>not\s+)?to\s+(?:be\s+)?(?:visible|shown|displayed|present|"
           r"appear|show(?:\s+up)?|be\s+on\s+(?:the\s+)?screen)$", body)
    if m and verbed:
        return _assertion(m.group("x"), quoted, bool(m.group("neg")))
    m = _m(r"^(?:(?:the|this|that)\s+)?(?:screen|page|app|display|view|it|ui|dialog|popup|"
           r"(?:search\s+)?results?|list)\s+(?P<neg>(?:does\s+not|doesn't|should\s+not|"
           r"shouldn't|must\s+not|no\s+longer)\s+)?(?:now\s+)?(?:shows?|displays?|contains?|has|"
           r"should\s+(?:show|display|contain|have|include|list)|includes?|lists?|reads?|"
           r"says?|will\s+show)\s+(?P<x>.+)$", body)
    if m:
        return _assertion(m.group("x"), quoted, bool(m.group("neg")))
    m = _m(r"^(?P<ctx>.+?)\s+(?P<neg>(?:does\s+not|doesn't|should\s+not|shouldn't|must\s+not|"
           r"no\s+longer)\s+)?(?P<v>shows?|displays?|reads?|says?|contains?|equals?|"
           r"should\s+(?:show|display|read|say|contain|equal|be)|is\s+equal\s+to|matches|"
           r"is|are|has|have)\s+(?P<x>.+)$", body)
    if m and (verbed or not re.match(r"(?:is|are|has|have)$", m.group("v"), re.I)):
        x = m.group("x")
        ctx_words = tokens(restore(m.group("ctx"), quoted))
        if (re.match(r"(?:is|are)$", m.group("v"), re.I) and not PLACEHOLDER_RE.search(x)
                and not re.search(r"\d", x)
                and not (ctx_words and ctx_words[-1] in _ATTRIBUTE_NOUNS)):
            # "the order is placed", "the cart is empty": the words together, not "placed";
            # but "the page title is Cart": the value
            return _assertion(f"{m.group('ctx')} {x}", quoted, False)
        return _assertion(x, quoted, bool(m.group("neg")))
    if verbed:
        return _assertion(body, quoted, False)
    return None


# --- typing --------------------------------------------------------------------------------

_INPUT_WORDS = frozenset({"field", "input", "box", "bar", "textbox", "textfield", "area",
                          "searchbar", "search"})


def _fieldlike(x: str, quoted: list[str], screen: Hierarchy) -> bool:
    phrase, exact = _unq(x, quoted)
    words = tokens(phrase)
    if not words:
        return False
    if not exact and words[-1] in _INPUT_WORDS:
        return True
    return any(m.score >= 0.8 for m in candidates(screen, Target.of(phrase, exact=exact), "type"))


def _type(value: str, target: str | None, quoted: list[str], submit: bool = False) -> list[Intent]:
    v, _ = _unq(value, quoted)
    t = _target(target, quoted) if target else None
    return [Intent(I.TYPE, t, value=v, submit=submit)]


def _parse_type(c: str, quoted: list[str], screen: Hierarchy, prev: list[Intent]):  # noqa: ANN202
    submit = False
    m = _m(r"^(?P<c>.+?)\s+and\s+(?:submit|press\s+enter|hit\s+enter|press\s+return|search)$",
           c)
    if m:
        c, submit = m.group("c"), True
    m = _m(rf"^(?:set|switch|change|turn)\s+(?P<x>.+?)\s+to\s+(?P<s>{_STATE}|true|false)$", c)
    if m:
        return None
    m = _m(r"^(?:fill(?:\s+in|\s+out)?|populate|complete|set|change|update|replace)\s+"
           r"(?P<x>.+?)\s+(?:with|to|as|by)\s+(?P<v>.+)$", c)
    if m:
        return _type(m.group("v"), m.group("x"), quoted, submit)
    m = _m(r"^(?:type|enter|input|write|key\s+in|fill\s+in|insert|paste|provide|put|"
           r"search\s+for|search)\s+(?P<rest>.+)$", c)
    if not m:
        return None
    rest = m.group("rest").strip()
    is_search = c.lower().startswith("search")
    m2 = _m(r"^(?P<a>.+?)\s+as\s+(?:the\s+|an?\s+|my\s+)?(?P<b>.+)$", rest)
    if m2 and not is_search:
        a, b = m2.group("a"), m2.group("b")
        a_field = _fieldlike(a, quoted, screen)
        b_field = _fieldlike(b, quoted, screen)
        if a_field and not b_field:
            return _type(b, a, quoted, submit)
        return _type(a, b, quoted, submit)
    preps = list(re.finditer(r"\s+(?:into|in\s+to|in|on|inside|within|to|for|under)\s+", rest,
                             re.I))
    for p in reversed(preps):
        value, x = rest[:p.start()], rest[p.end():]
        if not value.strip() or not x.strip():
            continue
        word = p.group(0).strip().lower()
        if word in ("into", "in to") or _fieldlike(x, quoted, screen):
            return _type(value, x, quoted, submit or is_search)
    if is_search:
        # "Search for wireless headphones": into the search input, then enter
        return [Intent(I.TYPE, _search_target(screen), value=_unq(rest, quoted)[0], submit=True)]
    return _type(rest, None, quoted, submit)


def _search_target(screen: Hierarchy) -> Target | None:
    if candidates(screen, Target.of("search field"), "type"):
        return Target.of("search field")
    return None


def _parse_clear(c: str, quoted: list[str], screen: Hierarchy, prev: list[Intent]):  # noqa: ANN202
    m = _m(r"^(?:clear|erase|empty|wipe|reset)(?:\s+(?:out|all))?(?:\s+(?:of\s+)?(?:the\s+)?"
           r"(?:text|contents?|value|input)(?:\s+(?:in|of|from))?)?(?:\s+(?P<x>.+?))?$", c) or _m(
        r"^(?:delete|remove)\s+(?:all\s+)?(?:the\s+)?(?:text|contents?|value)(?:\s+(?:in|of|from)"
        r")?(?:\s+(?P<x>.+?))?$", c)
    if not m:
        return None
    x = m.group("x")
    if x and x.lower().strip() in ("it", "field", "the field", "input", "the input", "text"):
        x = None
    return [Intent(I.CLEAR, _target(x, quoted) if x else None)]


# --- taps ----------------------------------------------------------------------------------

_TAP = (r"(?:tap|click|press|select|choose|pick|hit|touch|push|open|double[- ]?tap|"
        r"double[- ]?click|long[- ]?press|long[- ]?tap|go\s+to|navigate\s+to|switch\s+to|"
        r"head\s+to|move\s+to|visit|jump\s+to|return\s+to)")


def _parse_tap(c: str, quoted: list[str], screen: Hierarchy, prev: list[Intent]):  # noqa: ANN202
    m = _m(rf"^{_TAP}(?:\s+(?:on|at|onto|over))?\s+(?P<x>.+?)(?:\s+(?:once|button\s+once))?$", c)
    if not m:
        return None
    x = m.group("x")
    count = 1
    times = re.search(r"\s+(?:(?P<n>\d+|two|three|four|five)\s+times|(?P<w>twice|thrice))$", x,
                      re.I)
    if times and not _on_screen(screen, _unq(x, quoted)[0], 0.97):
        x = x[:times.start()]
        count = (int(to_number(times.group("n"))) if times.group("n")
                 else {"twice": 2, "thrice": 3}[times.group("w").lower()])
    x = re.sub(r"\s+to\s+(?:open|go|navigate|continue|proceed|submit|confirm)\b.*$", "", x,
               flags=re.I) if not _on_screen(screen, _unq(x, quoted)[0], 0.97) else x
    return [Intent(I.TAP, _target(x, quoted, screen=screen), count=count)]


def _fallback_tap(c: str, quoted: list[str], screen: Hierarchy) -> list[Intent] | None:
    """A clause that is just a label on screen ("Add to cart", "Sign in") is a tap on it."""
    phrase, exact = _unq(c, quoted)
    target = Target.of(phrase, exact=exact)
    if any(m.score >= 0.9 for m in candidates(screen, target, "tap")):
        return [Intent(I.TAP, target)]
    return None


_PARSERS: tuple[Parser, ...] = (
    _parse_sms, _parse_launch, _parse_back, _parse_wait, _parse_scroll, _parse_key,
    _parse_toggle, _parse_assert, _parse_type, _parse_clear, _parse_tap,
)
