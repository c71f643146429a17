"""The phrase-level vocabulary of the rules: quoted spans, numbers, target phrases, and the
words that say something is visible, appears, or is switched on or off.

Quoted spans ("...", '...', “...”, ‘...’, `...`) are replaced by placeholders before a step
is split or parsed, so nothing inside them is taken for an instruction; `restore` and
`unquote` bring the text back. A target phrase ("the Sign in button on the screen", "the
2nd result") becomes a `Target`: tails and articles dropped, kind words kept as preferences,
ordinals read.
"""

from __future__ import annotations

import re

from qualgent.agent.intents import Target
from qualgent.agent.matching import GENERIC_ITEMS, candidates
from qualgent.drivers.base import Hierarchy

# ----------------------------------------------------------------------------- quotes

_QUOTE_RE = re.compile(
    r'"(?P<d>[^"]*)"'
    r"|\u201c(?P<c>[^\u201d]*)\u201d"
    r"|\u2018(?P<s>[^\u2019]*)\u2019"
    r"|(?<![\w'])'(?P<q>[^']*?)'(?![\w])"
    r"|`(?P<b>[^`]*)`"
)
PLACEHOLDER_RE = re.compile(r"\x00(\d+)\x00")


def protect_quotes(text: str) -> tuple[str, list[str]]:
    """Replace quoted spans by placeholders so that splitting and patterns leave them whole."""
    quoted: list[str] = []

    def keep(m: re.Match[str]) -> str:
        quoted.append(next(v for v in m.groups() if v is not None))
        return f"\x00{len(quoted) - 1}\x00"

    return _QUOTE_RE.sub(keep, text), quoted


def restore(text: str, quoted: list[str]) -> str:
    return PLACEHOLDER_RE.sub(lambda m: quoted[int(m.group(1))], text)


def unquote(text: str, quoted: list[str]) -> tuple[str, bool]:
    """The literal value of a phrase; True when it was entirely one quoted span."""
    text = text.strip()
    m = PLACEHOLDER_RE.fullmatch(text)
    if m:
        return quoted[int(m.group(1))], True
    return restore(text, quoted), False


# ----------------------------------------------------------------------------- numbers

_NUMBER_WORDS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "fifteen": 15, "twenty": 20,
    "thirty": 30, "forty": 40, "forty-five": 45, "fifty": 50, "sixty": 60, "ninety": 90,
    "a": 1, "an": 1, "a couple of": 2, "a couple": 2, "a few": 3, "several": 5, "half a": 0.5,
}
NUMBER = (
    r"(?:\d+(?:\.\d+)?|\.\d+|a couple(?: of)?|a few|several|half an?|forty-five|"
    + "|".join(sorted((k for k in _NUMBER_WORDS if " " not in k), key=len, reverse=True))
    + ")"
)
UNIT = r"(?:milliseconds?|millisecs?|ms|seconds?|secs?|s|minutes?|mins?|m|moments?)"


def to_number(word: str) -> float:
    word = word.strip().lower()
    if word in _NUMBER_WORDS:
        return float(_NUMBER_WORDS[word])
    if word.startswith("half"):
        return 0.5
    return float(word)


def to_seconds(number: str, unit: str | None) -> float:
    n = to_number(number)
    unit = (unit or "s").lower()
    if unit.startswith("milli") or unit == "ms":
        return n / 1000.0
    if unit.startswith("min") or unit == "m":
        return n * 60.0
    return n


# Words that only say "some text on screen" in an assertion ("the error message").
ASSERT_KIND_WORDS = frozenset({
    "message", "text", "label", "title", "banner", "toast", "popup", "dialog", "notification",
    "heading", "header", "screen", "page", "prompt", "alert", "button", "link", "tab", "icon",
    "field", "option", "snackbar", "item", "row", "entry", "product", "card", "switch",
    "toggle", "checkbox", "box", "bar", "section", "modal", "sheet", "view",
})



def match(pattern: str, text: str) -> re.Match[str] | None:
    """A rule's pattern against a whole clause, ignoring case."""
    return re.match(pattern, text, re.I | re.S)


# ---------------------------------------------------------------------- visible, on, off

VISIBLE = (r"(?:visible|shown|displayed|present|on\s+(?:the\s+)?screen|there|showing|"
            r"seen|in\s+view|available|rendered|listed|included|on\s+display|on\s+the\s+page)")
APPEAR = (r"(?:appears?|appeared|should\s+appear|will\s+appear|shows\s+up|should\s+show\s+up|"
           r"exists?|should\s+exist|is\s+showing|pops\s+up|comes\s+up)")
NEG_AUX = r"(?:is|are|should|must|does|do|will|has|have|did|can|could)(?:\s+not|n't)|won't"
STATE_WORDS = {"on": True, "enabled": True, "checked": True, "selected": True, "ticked": True,
                "toggled on": True, "active": True, "true": True, "off": False,
                "disabled": False, "unchecked": False, "unselected": False, "unticked": False,
                "toggled off": False, "inactive": False, "false": False}
STATE = r"(?:toggled on|toggled off|on|off|enabled|disabled|checked|unchecked|selected|" \
         r"unselected|ticked|unticked|active|inactive)"

# ----------------------------------------------------------------------------- targets

_ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6,
             "seventh": 7, "eighth": 8, "ninth": 9, "tenth": 10, "last": -1}
_ORDINAL_RE = re.compile(
    r"^(?:the\s+)?(?P<o>first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|last"
    r"|\d+(?:st|nd|rd|th))\s+(?P<rest>.+)$", re.I)
_TARGET_TAIL = re.compile(
    r"\s+(?:(?:on|in|at|from|of|near|using|via|through|with)\s+(?:the\s+)?(?:very\s+)?"
    r"(?:screen|page|list|top|bottom|menu|toolbar|dialog|popup|header|footer|navigation bar|"
    r"nav bar|tab bar|bottom bar|bottom navigation(?: bar)?|navigation|bottom tabs?|tabs|"
    r"keyboard|form|app|results?|top right|bar|"
    r"top left|bottom right|bottom left|right|left|corner|end)"
    r"(?:\s+(?:at|of|on|in)\s+(?:the\s+)?(?:[\w-]+\s+){0,2}?(?:screen|page|list|note|form|"
    r"dialog|card|view|app|bottom|top|details?|product|item|sheet))*"
    r"|again|now|once more|(?:in\s+order\s+)?to\s+(?:log|sign)\s+(?:in|out|up)|"
    r"(?:in\s+order\s+)?to\s+(?:turn|switch)\s+(?:[\w-]+\s+){0,3}?(?:on|off)|"
    r"to\s+(?:continue|proceed|confirm|submit|finish|log\s+in|check\s+out|save|start|go\s+on))$",
    re.I)


# A role noun in front of what a check names: 'the error "Wrong password"', "the message
# Saved", "the title: Settings", "a toast saying Added to cart". Only after an article (or
# before a quote or colon), so a text that starts with the word ("Message sent") stays whole.
_ROLE = (r"(?:error|message|title|subtitle|banner|label|toast|heading|header|text|status|"
         r"notification|alert|snackbar|prompt|caption|warning|greeting|badge|tooltip|hint|"
         r"popup|pop-up|dialog|confirmation)")
_ROLE_ADJ = (r"(?:error|success|confirmation|warning|info|information|status|validation|page|"
             r"screen|app|dialog|toast|popup|alert|welcome|inline|red|green|top|bottom|empty|"
             r"new|main|section|form)")
_ROLE_LEAD = re.compile(
    rf"^(?:(?:the|a|an|this|that)\s+(?:{_ROLE_ADJ}\s+)?{_ROLE}(?:\s+(?:text|message))?"
    rf"(?=\s+(?!(?:in|on|at|of|for|from|to|is|are|should|must|will|be|and|or|with(?!\s+"
    rf"(?:the\s+)?(?:text|message|words?)\b))\b)\S)"
    rf"|(?:the\s+|a\s+|an\s+)?(?:{_ROLE_ADJ}\s+)?{_ROLE}(?:\s+(?:text|message))?"
    rf"(?=\s*:?\s*\x00|\s*:\s))"
    rf"(?:\s*:|\s+(?:that\s+(?:says|reads|shows|states)|which\s+(?:says|reads)|saying|"
    rf"reading|stating|showing|with\s+(?:the\s+)?(?:text|message|words?))\b)?\s*",
    re.I)
# "the button Sign in", "the tab Cart": the kind word moves to the end ("Sign in button"),
# where it steers the match; "the text Sign in": the words alone.
_KIND_LEAD = re.compile(
    r"^(?:the\s+)?(?P<k>button|tab|link|icon|switch|toggle|checkbox|option|item|entry|row|"
    r"menu\s+item|text|word|words|label|title|phrase)\s+(?!(?:in|on|at|of|for|from|to|bar|"
    r"field|box|input|area|button|tab|link|icon)\b)(?P<rest>[^\x00]+)$", re.I)
_KIND_MOVES = frozenset({"button", "tab", "link", "icon", "switch", "toggle", "checkbox",
                         "option", "item", "entry", "row"})


def _strip_role(t: str) -> str:
    """'the error "Wrong password"' -> '"Wrong password"'; "the error message" stays."""
    m = _ROLE_LEAD.match(t)
    if not m:
        return t
    rest = t[m.end():]
    words = re.findall(r"[^\W_]+|\x00", rest)
    if not words or all(w.lower() in ASSERT_KIND_WORDS for w in words):
        return t
    return rest


_NAMED = re.compile(r"^(?:the\s+|a\s+|an\s+)?(?P<k>[\w-]+\s+)?(?:labell?ed|called|named|titled|"
                    r"marked|that\s+says|saying|reading)\s+(?P<x>.+)$", re.I)


def _role_kind_last(t: str) -> str:
    n = _NAMED.match(t)
    if n:  # "the switch labelled Dark theme" -> "Dark theme switch"
        k = (n.group("k") or "").strip().lower()
        return f"{n.group('x')} {k}" if k in _KIND_MOVES else n.group("x")
    m = _KIND_LEAD.match(t)
    if not m or not re.search(r"[^\W\d_]|\d", m.group("rest")):
        return t
    kind = " ".join(m.group("k").lower().split())
    if kind in _KIND_MOVES or kind == "menu item":
        return f"{m.group('rest')} {kind}"
    return m.group("rest")


def target_of(text: str, quoted: list[str], *, assertion: bool = False,
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
        n = _NAMED.match(t)
        t = n.group("x") if n else _strip_role(t)
        t = re.sub(r"^(?:that\s+)?(?:a|an|the|some|any)\s+", "", t, flags=re.I)
        while True:
            m = re.match(r"^(.+?)\s+(\w+)$", t)
            if (m and m.group(2).lower() in ASSERT_KIND_WORDS
                    and re.search(r"[^\W\d]|\x00", m.group(1))
                    and m.group(1).lower() not in ("the", "a", "an")):
                t = m.group(1)
            else:
                break
        phrase, _ = unquote(t, quoted)
        return Target.of(phrase, exact=True)  # kind words are dealt with: match as written
    t = _role_kind_last(t)
    phrase, exact = unquote(t, quoted)
    if screen is not None and not exact and not on_screen(screen, phrase):
        m = re.match(r"^(?:the\s+)?(?P<x>.+?)\s+(?P<n>[a-z]+)$", phrase)
        if (m and m.group("n") in GENERIC_ITEMS and not _ORDINAL_RE.match(phrase)
                and on_screen(screen, m.group("x"))):
            return Target.of(m.group("x"))
    if ordinal_ok and not exact:
        m = _ORDINAL_RE.match(phrase)
        if m:
            if screen is None or not on_screen(screen, phrase):
                o = m.group("o").lower()
                n = _ORDINALS.get(o) or int(re.match(r"\d+", o).group(0))
                return Target.of(m.group("rest"), ordinal=n)
    return Target.of(phrase, exact=exact)


def on_screen(screen: Hierarchy, phrase: str, min_score: float = 0.9) -> bool:
    """True when something tappable on screen is called `phrase` (score at least min_score)."""
    return any(m.score >= min_score for m in candidates(screen, Target.of(phrase), "tap"))
