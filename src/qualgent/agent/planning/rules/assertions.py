"""Rules for clauses that check something: "verify X is shown", "X should not be visible",
"the cart shows 3 items", "Dark mode is on", "there is no error".

A clause with an assertion verb ("verify", "make sure", "check that") is always an assertion;
without one, only the shapes above are, so "Tap the item that shows the price" stays a tap.
"""

from __future__ import annotations

import re

from qualgent.agent.intents import Action, Intent, Target
from qualgent.agent.planning.rules.clauses import ACTION_VERBS
from qualgent.agent.planning.rules.phrases import (
    APPEAR,
    NEG_AUX,
    PLACEHOLDER_RE,
    STATE,
    STATE_WORDS,
    VISIBLE,
    match,
    restore,
    target_of,
)
from qualgent.agent.text import tokens
from qualgent.drivers.base import EDITABLE_KINDS, LIST_KINDS, Hierarchy

_ASSERT_VERB = re.compile(
    r"^(?:verify|check|assert|ensure|confirm|validate|make\s+sure|see|expect|observe|"
    r"test|double[- ]check)(?:\s+(?:that|if|whether|for|to\s+see\s+(?:if|that)))?\s+(?P<b>.+)$",
    re.I | re.S)


_BODY_TAIL = re.compile(
    r"\s+(?:in|on|within|inside|at|under)\s+(?:the\s+)?(?:list|results|search\s+results|page|"
    r"screen|cart|view|app|dialog|popup|top|bottom|header|toolbar)(?:\s+of\s+the\s+"
    r"(?:screen|page|list))?$", re.I)
_SAYS = re.compile(r"\s(?:says?|reads?|shows?|displays?|mentions?|asks?|states?|contains?)\s",
                   re.I)
# "No notes found", "No products match your search": a message that starts with "No".
_NO_TEXT = re.compile(
    r"^no\s+(?:\S+\s+){0,3}?(?:found|match(?:es|ed|ing)?|yet|available|left|here|to\s+show|"
    r"selected|saved|added|results?\s+found)\b(?!\s+(?:is|are)\s+not\b)", re.I)
_ATTRIBUTE_NOUNS = frozenset({
    "title", "name", "label", "text", "value", "price", "total", "subtotal", "header",
    "heading", "status", "message", "count", "badge", "quantity", "amount", "balance", "result",
    "greeting", "caption", "error", "email", "username", "place", "date", "time", "location",
    "version", "city", "address", "phone", "author", "weather", "subject", "state",
    "description", "temperature", "score", "rating", "size", "color", "colour", "level",
})


def _assertion(x: str, quoted: list[str], negative: bool,
               state: str | None = None) -> list[Intent]:
    if state is not None:
        return [Intent(Action.ASSERT_VISIBLE, target_of(x, quoted),
                       checked=STATE_WORDS[state.lower()])]
    target = target_of(x, quoted, assertion=True, ordinal_ok=False)
    return [Intent(Action.ASSERT_NOT_VISIBLE if negative else Action.ASSERT_VISIBLE, target)]


def parse_assert(c: str, quoted: list[str], screen: Hierarchy,
                 prev: list[Intent]) -> list[Intent] | None:
    intents = _parse_assert(c, quoted, screen)
    if intents and len(intents) == 1:
        return _errors_on(screen, intents[0]) or _list_on(screen, intents[0]) or intents
    return intents


_LIST_WORDS = frozenset({"list", "lists", "results", "result", "items", "products", "notes",
                         "entries", "feed", "search", "product", "note", "item", "rows"})


def _list_on(screen: Hierarchy, intent: Intent) -> list[Intent] | None:
    """A check that "the product list is shown" made of the first item of the list on screen;
    None when the check names something else or the screen lists nothing."""
    t = intent.target
    words = tokens(t.phrase) if t is not None else ()
    words = tuple(w for w in words if w not in ("of", "all", "my", "your", "our"))
    if (intent.action != Action.ASSERT_VISIBLE or intent.checked is not None or not words
            or not set(words) <= _LIST_WORDS or not {"list", "results", "feed"} & set(words)):
        return None
    items = [e for e in screen.elements if e.kind in LIST_KINDS and (e.text or e.description)]
    if not items:
        return None
    first = min(items, key=lambda e: (e.bounds.top, e.bounds.left))
    return [Intent(Action.ASSERT_VISIBLE, Target.of(first.text or first.description or "",
                                                    exact=True))]


# "An error", "the error message", "a warning": any message that reads as one.
_ERROR_ROLE = frozenset({"error", "errors", "warning", "warnings", "problem", "validation",
                         "failure"})
_ERROR_TEXT = re.compile(
    r"\b(?:invalid|incorrect|errors?|failed|failure|wrong|required|denied|unable|cannot|can't|"
    r"couldn't|could\s+not|not\s+allowed|not\s+valid|try\s+again|too\s+(?:short|long)|"
    r"must\s+(?:be|contain|have|match)|please\s+(?:enter|fill|provide|choose|select))\b", re.I)


def _errors_on(screen: Hierarchy, intent: Intent) -> list[Intent] | None:
    """A check of "an error" made of the messages on screen that read as errors ("Invalid
    email or password", "Title is required"): shown, one of them; not shown, none of them.
    None when the check names something else."""
    t = intent.target
    if (t is None or intent.checked is not None or t.exact is False
            or not tokens(t.phrase) or not set(tokens(t.phrase)) <= _ERROR_ROLE):
        return None
    texts = list(dict.fromkeys(
        e.text for e in screen.elements
        if e.text and not e.editable and e.kind not in EDITABLE_KINDS
        and _ERROR_TEXT.search(e.text)))
    if not texts:
        return None
    if intent.action == Action.ASSERT_VISIBLE:
        return [Intent(Action.ASSERT_VISIBLE, Target.of(texts[0], exact=True))]
    return [intent, *(Intent(Action.ASSERT_NOT_VISIBLE, Target.of(x, exact=True))
                      for x in texts)]


def _parse_assert(c: str, quoted: list[str], screen: Hierarchy) -> list[Intent] | None:
    verbed = _ASSERT_VERB.match(c)
    if not verbed and c.split()[0].lower() in ACTION_VERBS:
        return None  # "Tap the item that shows the price" is a tap
    body = verbed.group("b").strip() if verbed else c
    body = re.sub(r"^that\s+", "", body, flags=re.I)
    body = _BODY_TAIL.sub("", body)
    body = re.sub(r"\s+(?:is|are|should\s+be|must\s+be|will\s+be)$", " is visible", body,
                  flags=re.I)  # "X is in the list" -> "X is visible"

    m = match(r"^(?:should|must|can|will|do|does|to)?\s*(?P<neg>not\s+|n't\s+|never\s+)?"
              r"(?:see|find|notice|view)\s+(?P<x>.+?)(?:\s+(?:anymore|any\s+more|on\s+(?:the\s+)?"
              r"screen))?$", body)
    if m and (verbed or re.match(r"(?:should|must|can|will|see)", body, re.I)):
        return _assertion(m.group("x"), quoted, bool(m.group("neg")))
    m = match(r"^(?:do\s+not|don't|does\s+not|doesn't|cannot|can't|can\s+not|should\s+not|"
              r"shouldn't|must\s+not|mustn't)\s+see\s+(?P<x>.+?)(?:\s+anymore)?$", body)
    if m:
        return _assertion(m.group("x"), quoted, True)
    body = re.sub(r"\s(is|are|be)\s+of$", r" \1 off", body, flags=re.I)  # "is of": a typo
    m = match(rf"^(?P<x>.+?)\s+(?:is|are|should\s+be|must\s+be|will\s+be|becomes?|is\s+now|"
              rf"is\s+turned|is\s+switched|is\s+toggled|should\s+be\s+turned|stays?|remains?)\s+"
              rf"(?P<s>{STATE})$", body)
    if m and not _SAYS.search(m.group("x")):
        return _assertion(m.group("x"), quoted, False, m.group("s"))
    m = match(rf"^(?P<x>.+?)\s+(?:{NEG_AUX})\s+(?:be\s+|been\s+)?(?:{VISIBLE}|appear(?:ing)?|"
              r"show(?:n|ing)?(?:\s+up)?|exist|be\s+there|pop\s+up|come\s+up|displayed)"
              r"(?:\s+(?:anymore|any\s+more|on\s+(?:the\s+)?screen))?$", body)
    if m:
        return _assertion(m.group("x"), quoted, True)
    if _NO_TEXT.match(body):
        # "No products match your search is shown": the words of a message, not a negation
        x = re.sub(rf"\s+(?:(?:is|are|should\s+be|must\s+be)\s+{VISIBLE}|{APPEAR})$", "",
                   body, flags=re.I)
        return _assertion(x, quoted, False)
    m = match(rf"^(?:there\s+(?:is|are)\s+no|there's\s+no|no)\s+(?P<x>.+?)(?:\s+(?:is|are|"
              rf"should\s+be|must\s+be|will\s+be)\s+{VISIBLE})?(?:\s+{APPEAR})?"
              r"(?:\s+(?:anymore|any\s+more))?$", body)
    if m and (verbed or re.match(r"there", body, re.I) or re.search(
            rf"\s(?:is|are|be)\s+{VISIBLE}$|\s{APPEAR}$", body, re.I)):
        return _assertion(m.group("x"), quoted, True)
    m = match(r"^(?P<x>.+?)\s+(?:(?:is|are|has|have|should\s+be|must\s+be|should\s+have|"
              r"has\s+been|have\s+been)\s+)?(?:gone|hidden|dismissed|absent|not\s+there|"
              rf"no\s+longer\s+(?:{VISIBLE}|there)|disappears?|disappeared|vanishe[sd]|"
              r"should\s+disappear|closed|cleared\s+away)$", body)
    if m:
        return _assertion(m.group("x"), quoted, True)
    m = match(rf"^(?P<x>.+?)\s+(?:is|are|should\s+be|must\s+be|will\s+be|becomes?|gets?|"
              rf"has\s+been|have\s+been)\s+(?:now\s+|still\s+|also\s+)?{VISIBLE}"
              r"(?:\s+on\s+(?:the\s+)?screen)?$", body)
    if m:
        return _assertion(m.group("x"), quoted, False)
    m = match(rf"^(?P<x>.+?)\s+{APPEAR}(?:\s+on\s+(?:the\s+)?screen)?$", body)
    if m:
        return _assertion(m.group("x"), quoted, False)
    m = match(r"^(?P<x>.+?)\s+(?P<neg>not\s+)?to\s+(?:be\s+)?(?:visible|shown|displayed|present|"
              r"appear|show(?:\s+up)?|be\s+on\s+(?:the\s+)?screen)$", body)
    if m and verbed:
        return _assertion(m.group("x"), quoted, bool(m.group("neg")))
    m = match(r"^(?:(?:the|this|that)\s+)?(?:screen|page|app|display|view|it|ui|dialog|popup|"
              r"(?:search\s+)?results?|list)\s+(?P<neg>(?:does\s+not|doesn't|should\s+not|"
              r"shouldn't|must\s+not|no\s+longer)\s+)?(?:now\s+)?(?:shows?|displays?|contains?|has|"
              r"should\s+(?:show|display|contain|have|include|list)|includes?|lists?|reads?|"
              r"says?|will\s+show)\s+(?P<x>.+)$", body)
    if m:
        return _assertion(m.group("x"), quoted, bool(m.group("neg")))
    m = match(r"^(?P<x>.+?)\s+(?:visible|shown|displayed|showing|on\s+(?:the\s+)?screen)$", body)
    if m and not verbed:
        return _assertion(m.group("x"), quoted, False)  # "notes list shown": a label's check
    m = match(r"^(?P<ctx>.+?)\s+(?P<neg>(?:does\s+not|doesn't|should\s+not|shouldn't|must\s+not|"
              r"no\s+longer)\s+)?(?P<v>shows?|displays?|reads?|says?|contains?|equals?|"
              r"mentions?|asks?|includes?|lists?|costs?|should\s+cost|is\s+priced\s+at|"
              r"should\s+(?:show|display|read|say|contain|equal|be)|is\s+equal\s+to|matches|"
              r"is|are|has|have)\s+(?P<x>.+)$", body)
    if m and (verbed or not re.match(r"(?:is|are|has|have)$", m.group("v"), re.I)):
        x = m.group("x")
        ctx = re.sub(r"\s+(?:shown|displayed|listed|here|there|on\s+(?:the\s+)?screen)$", "",
                     m.group("ctx"), flags=re.I)
        ctx_words = tokens(restore(ctx, quoted))
        if (re.match(r"(?:is|are)$", m.group("v"), re.I) and not PLACEHOLDER_RE.search(x)
                and not re.search(r"\d", x)
                and not (ctx_words and ctx_words[-1] in _ATTRIBUTE_NOUNS)):
            # "the order is placed", "the cart is empty": the words together, not "placed";
            # but "the page title is Cart": the value
            return _assertion(f"{ctx} {x}", quoted, False)
        return _assertion(x, quoted, bool(m.group("neg")))
    if verbed:
        return _assertion(body, quoted, False)
    return None


