"""Rules for clauses that do something: SMS codes, launch, back, waits, scrolling, keys,
toggles, typing, clearing and taps.

Each rule takes a clause (fillers and subject stripped, quoted spans as placeholders), the
quoted texts, the screen as the step starts and the intents planned so far for the step, and
returns the clause's intents, or None when the clause is not of its kind. The screen only
settles ambiguities ("press Search" with a Search button on screen is a tap).
"""

from __future__ import annotations

import re

from qualgent.agent.intents import Action, Intent, Target
from qualgent.agent.matching import candidates
from qualgent.agent.planning.rules.phrases import (
    APPEAR,
    NUMBER,
    PLACEHOLDER_RE,
    STATE,
    STATE_WORDS,
    UNIT,
    VISIBLE,
    match,
    on_screen,
    target_of,
    to_number,
    to_seconds,
    unquote,
)
from qualgent.agent.text import tokens
from qualgent.drivers.base import EDITABLE_KINDS, ElementKind, Hierarchy

# --- SMS codes -----------------------------------------------------------------------------

_CODE_WORDS = (r"(?:(?:newest|latest|new|last|most\s+recent|fresh|current|sms|otp|one[- ]time|"
               r"verification|security|confirmation|login|sign[- ]in|"
               r"auth(?:entication)?|2fa|mfa|received|text|\d+[- ]digit|six[- ]digit|"
               r"four[- ]digit)\s+)*(?:code|otp|pin|passcode|password)")
_SMS_SOURCE = (r"(?:\s+(?:from|in|sent\s+(?:to\s+(?:me\s+|the\s+phone\s+)?)?(?:by|via|in|as)?|"
               r"received\s+(?:by|via|in|from|as)?|via|by|that\s+(?:was|is)\s+(?:sent|received)"
               r"(?:\s+(?:by|via|in|to|as))?|we\s+(?:got|received)\s+(?:by|via|in))\s*"
               r"(?:the\s+|an?\s+)?(?:latest\s+|new\s+|last\s+)?(?:sms|text(?:\s+message)?|"
               r"message|phone|inbox)(?:\s+message)?)")


def parse_sms(c: str, quoted: list[str], screen: Hierarchy,
              prev: list[Intent]) -> list[Intent] | None:
    m = match(r"^(?:enter|type|input|fill\s+in|fill|put|paste|provide|insert|key\s+in|use|submit)"
              rf"\s+(?:in\s+)?(?:the\s+|an?\s+)?(?P<what>{_CODE_WORDS}{_SMS_SOURCE}?)"
              r"(?:\s+(?:into|in|on|to)\s+(?P<x>.+?))?(?P<submit>\s+and\s+submit)?$", c)
    if not m:
        return None
    what = m.group("what").lower()
    if not re.search(r"sms|text|message|otp|one[- ]time|verification|2fa|mfa|\bcode\b", what):
        return None  # "enter the password": a value the step does not give
    target = target_of(m.group("x"), quoted) if m.group("x") else None
    return [Intent(Action.SMS_CODE, target, submit=bool(m.group("submit")))]


# --- launch --------------------------------------------------------------------------------

_APP_WORDS = re.compile(r"^(?:the\s+)?(?:[^\s]+\s+){0,3}?(?:app|application)$", re.I)


def parse_launch(c: str, quoted: list[str], screen: Hierarchy,
                 prev: list[Intent]) -> list[Intent] | None:
    m = match(r"^(?P<v>launch|start|run|open|reopen|re-open|relaunch|re-launch|restart|bring\s+up|"
              r"go\s+to|switch\s+to|return\s+to|get\s+into|go\s+into|get\s+in\s+to)(?:\s+up)?"
              r"(?:\s+(?P<x>.+?))?(?:\s+again)?$", c)
    if not m:
        return None
    verb = m.group("v").lower().replace("-", "")
    x = (m.group("x") or "").strip()
    restart = verb in ("restart", "relaunch")
    if not x:
        if verb in ("launch", "restart", "relaunch", "reopen", "start"):
            return [Intent(Action.LAUNCH, value="restart" if restart else None)]
        return None
    phrase, exact = unquote(x, quoted)
    if exact or not _APP_WORDS.match(phrase):
        if verb in ("launch", "relaunch", "restart") and not exact:
            return [Intent(Action.LAUNCH, value="restart" if restart else None)]
        return None
    # "Open the Crash app" where a "Crash app" button is on screen: a tap, not a launch.
    if verb not in ("launch", "relaunch", "restart") and re.sub(
            r"^the\s+", "", phrase, flags=re.I).lower() not in ("app", "application"):
        if on_screen(screen, phrase):
            return None
    return [Intent(Action.LAUNCH, value="restart" if restart else None)]


# --- back ----------------------------------------------------------------------------------


def parse_back(c: str, quoted: list[str], screen: Hierarchy,
               prev: list[Intent]) -> list[Intent] | None:
    if match(r"^(?:go|navigate|move|step|head)\s+back(?:\s+(?:to|one|a)\b.*)?$", c) or match(
            r"^(?:back|go\s+to\s+(?:the\s+)?previous\s+(?:screen|page)|return|"
            r"return\s+to\s+(?:the\s+)?previous\s+(?:screen|page)|navigate\s+up)$", c):
        return [Intent(Action.BACK)]
    m = match(r"^(?P<v>press|tap|hit|click|push|use|touch)(?:\s+on)?(?:\s+the)?\s+"
              r"(?P<sys>system\s+|device\s+|hardware\s+|android\s+|phone's\s+)?back(?:\s+(?P<k>button|key|arrow|"
              r"icon))?(?:\s+(?:once|to\s+.+))?$", c)
    if not m:
        return None
    if not m.group("sys") and m.group("v").lower() in ("tap", "click", "touch"):
        # An in-app back arrow, when the screen has one, is what "tap the back button" means.
        for mm in candidates(screen, Target.of("back"), "tap"):
            if mm.score >= 0.9 and mm.element.clickable:
                return [Intent(Action.TAP, Target.of("back", exact=True))]
        for mm in candidates(screen, Target.of("navigate up"), "tap"):
            if mm.score >= 0.9 and mm.element.clickable:
                return [Intent(Action.TAP, Target.of("navigate up", exact=True))]
    return [Intent(Action.BACK)]


# --- waits ---------------------------------------------------------------------------------

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
    target = target_of(x, quoted, assertion=True)
    words = set(tokens(target.phrase))
    generic = not PLACEHOLDER_RE.search(x) and (not words or words <= _GENERIC_WAIT)
    if generic:
        target = Target(target.phrase or "content", False, None, None, True)
    return target, appear


def parse_wait(c: str, quoted: list[str], screen: Hierarchy,
               prev: list[Intent]) -> list[Intent] | None:
    if not match(r"^(?:wait|pause|sleep|hold|idle|delay|poll|keep\s+waiting|give\s+it)\b", c):
        return None
    m = match(rf"^(?:wait|pause|sleep|hold(?:\s+on)?|idle|delay|give\s+it)(?:\s+for)?"
              rf"(?:\s+(?:about|around|roughly|exactly|another|an\s+extra))?\s+(?P<n>{NUMBER})\s*"
              rf"(?P<u>{UNIT})?(?:\s+(?:more|longer|again|or\s+so))?$", c)
    if m:
        unit = m.group("u")
        if not unit and not re.fullmatch(r"[\d.]+", m.group("n")):
            return None
        if unit and unit.lower().startswith("moment"):
            unit = "s"
        return [Intent(Action.WAIT, seconds=to_seconds(m.group("n"), unit))]
    if match(r"^(?:wait|pause)(?:\s+(?:a\s+(?:bit|moment|little|while|second)|briefly|shortly))?$",
             c):
        return [Intent(Action.WAIT, seconds=1.0)]
    m = match(rf"^(?:wait|poll|keep\s+waiting)(?:\s+for)?\s+(?:(?:up\s*to|at\s+most|"
              rf"a\s+maximum\s+of|max(?:imum)?|no\s+more\s+than|until|within)\s+)?(?P<n>{NUMBER})\s*(?P<u>{UNIT})\s+"
              r"(?:for|until|till|while|to\s+see)\s+(?P<x>.+)$", c)
    if m:
        target, appear = _wait_target(m.group("x"), quoted)
        return [Intent(Action.WAIT_FOR, target, seconds=to_seconds(m.group("n"), m.group("u")),
                       checked=appear)]
    m = match(rf"^(?:wait|poll|keep\s+waiting)\s+(?:for|until|till|on)\s+(?P<x>.+?)"
              rf"(?:\s*,?\s*(?:for\s+)?(?:up\s*to|at\s+most|within|for|no\s+more\s+than|"
              rf"max(?:imum)?(?:\s+of)?|timeout(?:\s+of)?|in)\s+(?P<n>{NUMBER})\s*"
              rf"(?P<u>{UNIT}))?$", c)
    if m:
        target, appear = _wait_target(m.group("x"), quoted)
        seconds = to_seconds(m.group("n"), m.group("u")) if m.group("n") else None
        return [Intent(Action.WAIT_FOR, target, seconds=seconds, checked=appear)]
    return None


# --- scrolling -----------------------------------------------------------------------------

_DIR = r"(?:up|down|left|right|upwards?|downwards?|back\s+up|back\s+down)"
_FINGER = {"down": "up", "up": "down", "left": "right", "right": "left"}  # scroll -> finger
_EDGES = {"bottom": "up", "end": "up", "top": "down", "beginning": "down", "start": "down"}
# Verbs that move content, and those that say how the finger moves ("swipe up": finger up).
_SCROLL_VERB = (r"(?:keep\s+|continue\s+)?(?:scroll(?:ing)?|swip(?:e|ing)|fling(?:ing)?|"
                r"flick(?:ing)?|page|(?:move|drag|slide|run)\s+(?:your|a|one|the)\s+finger)")
# A vague or exact count: "a few times", "a couple of times", "twice", "a bit", "some more".
_COUNT = (rf"(?:(?:a\s+(?:few|couple(?:\s+of)?|bunch\s+of|number\s+of|lot\s+of)|several|some|"
          rf"many|multiple|{NUMBER}|\d+)\s+(?:more\s+)?times|once(?:\s+more)?|twice|thrice|"
          r"a\s+(?:little\s+)?bit(?:\s+more)?|a\s+little(?:\s+more)?|a\s+tad|slightly|"
          r"some\s+more|some|more|further|again|repeatedly|slowly|gently|quickly|a\s+lot|"
          r"all\s+the\s+way)")
_AREA = (r"(?:(?:through|on|in|over|across|along|within|inside)\s+)?(?:the\s+|this\s+|that\s+)?"
         r"(?:[\w-]+\s+)?(?:list|page|screen|view|results|content|feed|carousel|form|menu|"
         r"items|products|notes|grid|gallery)")
_FINGER_WAY = r"with\s+(?:your|a|one|the|two)\s+fingers?"
_MANNER = rf"(?:\s*,?\s+(?:{_DIR}|{_AREA}|{_FINGER_WAY}|{_COUNT}))*"
_UNTIL = (r"(?:until|till|untill|til|to\s+find|looking\s+for|in\s+search\s+of|to\s+see|"
          r"to\s+reveal|to\s+show|to\s+reach|to\s+get\s+to|so\s+that|so)")
_VAGUE = {"few": 3, "couple": 2, "bunch": 5, "number": 5, "lot": 5, "several": 5, "some": 3,
          "many": 5, "multiple": 3, "repeatedly": 5}


def _direction(word: str | None, verb: str) -> str:
    """The finger's direction for a scroll or swipe phrased with `word`: a swipe (or a finger
    moved) goes the way it says, a scroll moves the content, so the finger goes the other way.
    """
    w = (word or "down").lower().replace("wards", "").replace("ward", "").replace("back ", "")
    if re.search(r"swip|fling|flick|finger", verb, re.I):
        return w if word else "up"
    return _FINGER[w]


def _manner(text: str) -> tuple[str | None, int]:
    """The direction word and the count a scroll's manner phrase gives (1 when none)."""
    d = re.search(rf"\b{_DIR}\b", text, re.I)
    count = 1
    m = re.search(rf"\b(?P<n>{NUMBER}|\d+)\s+(?:more\s+)?times\b", text, re.I)
    if m and not re.match(r"a\s+(?:few|couple)", m.group("n"), re.I):
        count = int(to_number(m.group("n")))
    elif re.search(r"\btwice\b", text, re.I):
        count = 2
    elif re.search(r"\bthrice\b", text, re.I):
        count = 3
    else:
        v = re.search(r"\b(few|couple|bunch|number|lot|several|some|many|multiple|repeatedly)"
                      r"\b(?!\s+more\b(?!\s+times))", text, re.I)
        if v and re.search(r"times|repeatedly|a\s+lot", text, re.I):
            count = _VAGUE[v.group(1).lower()]
    return (d.group(0) if d else None), max(1, min(count, 20))


def _until_target(x: str) -> str:
    for _ in range(2):
        x = re.sub(rf"\s+(?:(?:is|are|becomes?|gets?)\s+{VISIBLE}|{APPEAR}|shows?|"
                   r"is\s+in\s+view|comes?\s+into\s+view|is\s+reached|(?:is|are)\s+listed|"
                   r"can\s+be\s+seen|on\s+(?:the\s+)?screen)$", "", x, flags=re.I)
    return x


def _edge(x: str) -> str | None:
    e = re.sub(r"^(?:the\s+)?(?:very\s+)?", "", x, flags=re.I)
    e = re.sub(r"\s+of\s+(?:the\s+)?(?:[\w-]+\s+)?(?:page|screen|list|form|feed|results|"
               r"content)$", "", e, flags=re.I).lower()
    return _EDGES.get(e)


def parse_scroll(c: str, quoted: list[str], screen: Hierarchy,
                 prev: list[Intent]) -> list[Intent] | None:
    m = match(rf"^(?P<v>{_SCROLL_VERB})(?P<how>{_MANNER})\s*,?\s+{_UNTIL}\s+"
              r"(?:(?:you|i|we)\s+(?:can\s+)?(?:see|find|reach|get\s+to|hit|spot)\s+)?"
              r"(?P<x>.+)$", c)
    if m:
        word, _ = _manner(m.group("how"))
        finger = _direction(word, m.group("v"))
        x = _until_target(m.group("x"))
        edge = _edge(x)
        if edge is not None:
            return [Intent(Action.SCROLL_TO, None, value=edge)]
        return [Intent(Action.SCROLL_TO, target_of(x, quoted, assertion=True), value=finger)]
    m = match(rf"^(?P<v>{_SCROLL_VERB})(?P<how>{_MANNER})\s+(?:all\s+the\s+way\s+)?"
              r"(?:to|towards)\s+(?P<x>.+)$", c)
    if m:
        x = m.group("x")
        edge = _edge(x)
        if edge is not None:
            return [Intent(Action.SCROLL_TO, None, value=edge)]
        word, _ = _manner(m.group("how"))
        target = target_of(re.sub(r"^the\s+", "", x, flags=re.I), quoted, assertion=True)
        return [Intent(Action.SCROLL_TO, target, value=_direction(word, m.group("v")))]
    m = match(rf"^(?P<v>{_SCROLL_VERB})(?P<how>{_MANNER})"
              r"(?:\s+(?:on|in|over|across)\s+(?:the\s+)?(?P<x>.+?))?(?P<how2>{_MANNER})$"
              .replace("{_MANNER}", _MANNER), c)
    if m:
        how = f"{m.group('how')} {m.group('how2') or ''}"
        word, count = _manner(how)
        if re.search(r"all\s+the\s+way", c, re.I):
            finger = _direction(word, m.group("v"))
            return [Intent(Action.SCROLL_TO, None, value=finger)]
        target = target_of(m.group("x"), quoted) if m.group("x") else None
        return [Intent(Action.SWIPE, target, value=_direction(word, m.group("v")), count=count)]
    return None


# --- keys and submitting -------------------------------------------------------------------

_KEYS = {"enter": "enter", "return": "enter", "done": "enter", "go": "enter", "search": "search",
         "next": "tab", "tab": "tab", "home": "home", "back": "back", "delete": "backspace",
         "backspace": "backspace", "escape": "escape", "esc": "escape", "space": "space",
         "menu": "menu"}


def _typed_before(prev: list[Intent]) -> bool:
    return bool(prev) and prev[-1].action in (Action.TYPE, Action.SMS_CODE)


def parse_key(c: str, quoted: list[str], screen: Hierarchy,
              prev: list[Intent]) -> list[Intent] | None:
    if match(r"^(?:submit|search|send)(?:\s+(?:it|the\s+(?:form|search|query|text|input)|"
             r"the\s+keyboard))?$", c):
        word = c.split()[0].lower()
        if _typed_before(prev):
            return [Intent(Action.KEY, value="enter")]
        if on_screen(screen, word):
            return [Intent(Action.TAP, Target.of(word))]
        return [Intent(Action.KEY, value="search" if word == "search" else "enter")]
    m = match(r"^(?:press|hit|tap|push|use|send|click)(?:\s+(?:on\s+)?the)?\s+(?P<k>enter|return|"
              r"search|done|go|next|tab|home|delete|backspace|escape|esc|space|menu)"
              r"(?:\s+(?P<s>key|button))?(?:\s+(?:on|of)\s+(?:the\s+)?(?:keyboard|device|phone))?$",
              c)
    if not m:
        return None
    k = m.group("k").lower()
    if k in ("enter", "return") or m.group("s") == "key" or re.search(r"keyboard|device|phone",
                                                                      c, re.I):
        return [Intent(Action.KEY, value=_KEYS[k])]
    if on_screen(screen, k):
        return None  # "press Search" with a Search button on screen: a tap
    return [Intent(Action.KEY, value=_KEYS[k])]


# --- toggles -------------------------------------------------------------------------------


def parse_toggle(c: str, quoted: list[str], screen: Hierarchy,
                 prev: list[Intent]) -> list[Intent] | None:
    c = re.sub(r"\s+(?:again|once\s+more|back)$", "", c, flags=re.I)
    c = re.sub(r"^(?P<v>turn|switch|toggle|flip|tap|click|press)\s+(?P<x>.+?)\s+(?:in\s+order\s+)?"
               r"to\s+(?:turn|switch|toggle)\s+(?:[\w-]+\s+){0,3}?(?P<s>on|off)$",
               r"\g<v> \g<x> \g<s>", c, flags=re.I)
    m = (match(r"^(?:turn|switch|toggle|flip|set)\s+(?P<s>on|off)\s+(?P<x>.+)$", c)
         or match(r"^(?:turn|switch|toggle|flip)\s+(?P<x>.+?)\s+(?P<s>on|off)$", c)
         or match(rf"^(?:set|switch|toggle|turn)\s+(?P<x>.+?)\s+to\s+"
                  rf"(?P<s>{STATE}|true|false)$", c))
    if m:
        x, first = _elsewhere(m.group("x"), quoted, screen)
        return [*first, Intent(Action.TAP, target_of(x, quoted),
                               checked=STATE_WORDS[m.group("s").lower()])]
    m = match(r"^(?P<v>enable|disable|activate|deactivate)\s+(?P<x>.+)$", c)
    if m:
        on = m.group("v").lower() in ("enable", "activate")
        x, first = _elsewhere(m.group("x"), quoted, screen)
        return [*first, Intent(Action.TAP, target_of(x, quoted), checked=on)]
    m = match(r"^(?:check|tick|mark)\s+(?P<x>.+?\s+(?:checkbox|check\s+box|box|option))$", c)
    if m:
        return [Intent(Action.TAP, target_of(m.group("x"), quoted), checked=True)]
    m = match(r"^tick\s+(?P<x>.+)$", c)
    if m:  # "tick" only ever means a box ("check" may be a check of text)
        return [Intent(Action.TAP, target_of(m.group("x"), quoted), checked=True)]
    m = match(r"^check\s+(?P<x>.+)$", c)
    if m and _tick_in_form(m.group("x"), quoted, screen):
        return [Intent(Action.TAP, target_of(m.group("x"), quoted), checked=True)]
    m = match(r"^(?:uncheck|untick|unmark|deselect|unselect)\s+(?P<x>.+)$", c)
    if m:
        return [Intent(Action.TAP, target_of(m.group("x"), quoted), checked=False)]
    m = match(r"^(?:toggle|flip)\s+(?P<x>.+)$", c)
    if m:
        return [Intent(Action.TAP, target_of(m.group("x"), quoted))]
    return None


def _tick_in_form(x: str, quoted: list[str], screen: Hierarchy) -> bool:
    """"Check Share with my team" on a long form: a box to tick further down, not a check of
    text, when it names nothing on screen (a check of text not shown could only fail) and the
    screen is a form that scrolls."""
    phrase, _ = unquote(x, quoted)
    if re.search(r"\b(?:is|are|was|has|have|shows?|says?|reads?|contains?|that|if|whether|for|"
                 r"no|not)\b", phrase, re.I):
        return False
    if candidates(screen, Target.of(phrase), "see") or on_screen(screen, phrase, 0.8):
        return False
    inputs = sum(1 for e in screen.elements if e.editable or e.kind in EDITABLE_KINDS)
    return inputs >= 2 and any(e.scrollable for e in screen.elements)


# --- typing --------------------------------------------------------------------------------

_INPUT_WORDS = frozenset({"field", "input", "box", "bar", "textbox", "textfield", "area",
                          "searchbar", "search"})


def _fieldlike(x: str, quoted: list[str], screen: Hierarchy) -> bool:
    phrase, exact = unquote(x, quoted)
    words = tokens(phrase)
    if not words:
        return False
    if not exact and words[-1] in _INPUT_WORDS:
        return True
    return any(m.score >= 0.8 for m in candidates(screen, Target.of(phrase, exact=exact), "type"))


def _type(value: str, target: str | None, quoted: list[str], submit: bool = False) -> list[Intent]:
    v, _ = unquote(value, quoted)
    t = target_of(target, quoted) if target else None
    return [Intent(Action.TYPE, t, value=v, submit=submit)]


def parse_type(c: str, quoted: list[str], screen: Hierarchy,
               prev: list[Intent]) -> list[Intent] | None:
    submit = False
    m = match(r"^(?P<c>.+?)\s+and\s+(?:submit|press\s+enter|hit\s+enter|press\s+return|search)$",
              c)
    if m:
        c, submit = m.group("c"), True
    m = match(rf"^(?:set|switch|change|turn)\s+(?P<x>.+?)\s+to\s+(?P<s>{STATE}|true|false)$", c)
    if m:
        return None
    m = match(r"^(?:fill(?:\s+in|\s+out)?|populate|complete|set|change|update|replace)\s+"
              r"(?P<x>.+?)\s+(?:with|to|as|by)\s+(?P<v>.+)$", c)
    if m:
        return _type(m.group("v"), m.group("x"), quoted, submit)
    m = match(r"^(?:type|enter|input|write|key\s+in|fill\s+in|insert|paste|provide|put|"
              r"search\s+for|search)\s+(?P<rest>.+)$", c)
    if not m:
        return None
    rest = m.group("rest").strip()
    if re.match(r"^in\s+\S+$|^in\s+(?!the\b|to\b)\S+(?:\s+\S+)?$", rest, re.I) and not \
            _fieldlike(rest[3:], quoted, screen):
        rest = rest[3:]  # "type in speaker": the words typed in
    is_search = c.lower().startswith("search")
    scoped = match(r"^(?!for\b)(?P<scope>(?:[\w-]+\s+){0,3}?[\w-]+)\s+for\s+(?P<q>.+)$", rest)
    if is_search and scoped and not c.lower().startswith("search for"):
        # "Search notes for owl", "search the shop for lamps": only the query is typed
        target = _search_target(screen)
        return [Intent(Action.TYPE, target, value=unquote(scoped.group("q"), quoted)[0],
                       submit=True)]
    m2 = match(r"^(?P<a>.+?)\s+as\s+(?:the\s+|an?\s+|my\s+)?(?P<b>.+)$", rest)
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
        return [Intent(Action.TYPE, _search_target(screen), value=unquote(rest, quoted)[0],
                       submit=True)]
    return _type(rest, None, quoted, submit)


def _search_target(screen: Hierarchy) -> Target | None:
    if candidates(screen, Target.of("search field"), "type"):
        return Target.of("search field")
    return None


def parse_clear(c: str, quoted: list[str], screen: Hierarchy,
                prev: list[Intent]) -> list[Intent] | None:
    m = match(r"^(?:clear|erase|empty|wipe|reset)(?:\s+(?:out|all))?(?:\s+(?:of\s+)?(?:the\s+)?"
              r"(?:text|contents?|value|input)(?:\s+(?:in|of|from))?)?(?:\s+(?P<x>.+?))?$",
              c) or match(
        r"^(?:delete|remove)\s+(?:all\s+)?(?:the\s+)?(?:text|contents?|value)(?:\s+(?:in|of|from)"
        r")?(?:\s+(?P<x>.+?))?$", c)
    if not m:
        return None
    x = m.group("x")
    if x and x.lower().strip() in ("it", "field", "the field", "input", "the input", "text"):
        x = None
    return [Intent(Action.CLEAR, target_of(x, quoted) if x else None)]


# --- taps ----------------------------------------------------------------------------------

_TAP = (r"(?:tap|click|press|select|choose|pick|hit|touch|push|open|double[- ]?tap|"
        r"double[- ]?click|long[- ]?press|long[- ]?tap|go\s+to|navigate\s+to|switch\s+to|"
        r"head\s+to|move\s+to|visit|jump\s+to|return\s+to)")


def parse_find(c: str, quoted: list[str], screen: Hierarchy,
               prev: list[Intent]) -> list[Intent] | None:
    """"Look for a coffee grinder", "Find Dark theme": searched for when the screen has a
    search field, else scrolled to. "Look at the first product": opened."""
    m = match(r"^(?:look\s+at|have\s+a\s+look\s+at|view|check\s+out|inspect)\s+(?P<x>.+)$", c)
    if m:
        return parse_tap(f"tap {m.group('x')}", quoted, screen, prev)
    m = match(r"^(?:look\s+for|look\s+up|find|locate|search\s+up|hunt\s+for)\s+(?P<x>.+)$", c)
    if not m:
        return None
    x = m.group("x")
    target = _search_target(screen)
    if target is not None and not on_screen(screen, unquote(x, quoted)[0]):
        value = re.sub(r"^(?:an?|the|some)\s+", "", unquote(x, quoted)[0], flags=re.I)
        return [Intent(Action.TYPE, target, value=value, submit=True)]
    return [Intent(Action.SCROLL_TO, target_of(x, quoted, assertion=True), value="up")]


def _elsewhere(x: str, quoted: list[str], screen: Hierarchy) -> tuple[str, list[Intent]]:
    """"Dark mode in the Profile tab", "Dark theme in Settings": the tab to open first, when
    what is named is not on this screen."""
    m = re.match(r"^(?P<x>.+?)\s+(?:in|on|under|from)\s+(?:the\s+)?(?P<y>[A-Z][\w-]*"
                 r"(?:\s+[A-Z][\w-]*)?)(?:\s+(?P<k>tab|screen|page|section|menu))?$", x)
    if not m or on_screen(screen, unquote(x, quoted)[0], 0.97):
        return x, []
    if on_screen(screen, unquote(m.group("x"), quoted)[0]):
        return m.group("x"), []  # already there
    return m.group("x"), [Intent(Action.TAP, Target.of(f"{m.group('y')} tab"))]


def parse_tap(c: str, quoted: list[str], screen: Hierarchy,
              prev: list[Intent]) -> list[Intent] | None:
    m = match(rf"^{_TAP}(?:\s+(?:on|at|onto|over))?\s+(?P<x>.+?)(?:\s+(?:once|button\s+once))?$", c)
    if not m:
        return None
    x = m.group("x")
    count = 1
    times = re.search(r"\s+(?:(?P<n>\d+|two|three|four|five)\s+times|(?P<w>twice|thrice))$", x,
                      re.I)
    if times and not on_screen(screen, unquote(x, quoted)[0], 0.97):
        x = x[:times.start()]
        count = (int(to_number(times.group("n"))) if times.group("n")
                 else {"twice": 2, "thrice": 3}[times.group("w").lower()])
    x = re.sub(r"\s+(?:in\s+order\s+)?to\s+(?:open|go|navigate|continue|proceed|submit|confirm|"
               r"place|complete|finish|save|send|start|log|sign|get|see|view|add|buy|pay|check|"
               r"create|delete|remove|close|dismiss|accept|allow|reach|show|reveal|return|"
               r"apply|select|choose|pick|edit|change|make|begin)\b.*$", "", x,
               flags=re.I) if not on_screen(screen, unquote(x, quoted)[0], 0.97) else x
    target = target_of(x, quoted, screen=screen)
    if (_NAVIGATE.match(c) and target.kinds is None and not target.exact
            and target.ordinal is None and not on_screen(screen, target.phrase)):
        # "Open the cart" where only an "Add to cart" button shows: a place, not that button
        target = Target(target.phrase, False, frozenset({ElementKind.TAB}), None)
    return [Intent(Action.TAP, target, count=count)]


_NAVIGATE = re.compile(r"^(?:open|go\s+to|navigate\s+to|switch\s+to|head\s+to|return\s+to|"
                       r"visit|jump\s+to)\s", re.I)
_ADD_TO = re.compile(
    r"^add\s+(?:it|this|that|them|one|the\s+(?:item|product|[\w-]+(?:\s+[\w-]+){0,3}?))\s+"
    r"to\s+(?:the\s+|my\s+|your\s+)?(?P<o>cart|basket|bag|wishlist|favou?rites|order)$", re.I)


def parse_add(c: str, quoted: list[str], screen: Hierarchy,
              prev: list[Intent]) -> list[Intent] | None:
    """"Add it to the cart": the "Add to cart" button."""
    m = _ADD_TO.match(c)
    if not m:
        return None
    return [Intent(Action.TAP, Target.of(f"Add to {m.group('o')}"))]


# --- dialogs and prompts -------------------------------------------------------------------

_YES = ("Allow", "While using the app", "Only this time", "Allow all the time", "OK", "Accept",
        "Yes", "Continue", "Confirm", "Grant", "Agree", "I agree", "Got it")
_NO = ("Don't allow", "Deny", "Decline", "No", "Not now", "No thanks", "Reject", "Cancel",
       "Dismiss")
_CLOSE = ("OK", "Close", "Dismiss", "Got it", "Done", "Cancel", "Not now", "No thanks")
_PERMISSION_SUBJECT = (r"(?:the\s+app\s+(?:to\s+)?(?:use\s+|access\s+)?)?(?:your\s+|my\s+)?"
                       r"(?:location|notifications?|camera|microphone|contacts|photos|media|"
                       r"storage|bluetooth|tracking|calendar|files)"
                       r"(?:\s+(?:access|permissions?|prompt|request|dialog|popup))?")
_DIALOG_WORDS = (rf"(?:{_PERMISSION_SUBJECT}|"
                 r"(?:the\s+|this\s+|that\s+|it|them|all)?\s*(?:[\w-]+\s+){0,3}?"
                 r"(?:permissions?|prompt|dialog|request|popup|pop-up|alert|message|notice|"
                 r"banner|access|it|them|terms|modal|sheet|warning|deletion|change|changes|"
                 r"action|one)?)")


def parse_dialog(c: str, quoted: list[str], screen: Hierarchy,
                 prev: list[Intent]) -> list[Intent] | None:
    """"Accept the permission", "Deny the location prompt", "Dismiss the alert", "allow
    them", "Confirm the deletion", "confirm with Delete": the dialog button that says so."""
    m = match(r"^(?:confirm|accept|answer|respond)\s+(?:with|by\s+(?:tapping|pressing|"
              r"clicking|choosing|selecting))\s+(?P<x>.+)$", c)
    if m:
        return [Intent(Action.TAP, target_of(m.group("x"), quoted))]
    m = match(rf"^(?P<v>accept|allow|grant|approve|agree\s+to|ok|deny|decline|reject|refuse|"
              rf"block|dismiss|close|acknowledge|confirm)\s*(?P<x>{_DIALOG_WORDS})$", c)
    if not m:
        return None
    v, x = m.group("v").lower(), m.group("x").strip()
    if v == "confirm":
        # "Confirm the deletion": the button named like it ("Delete"); else it is a check
        stem = tokens(x)[-1][:5] if tokens(x) else ""
        for e in screen.elements:
            if (stem and e.clickable and e.text and e.kind == ElementKind.BUTTON
                    and tokens(e.text) and tokens(e.text)[0].startswith(stem)):
                return [Intent(Action.TAP, Target.of(e.text, exact=True))]
        names = _YES
        if not x or x.lower() in ("it", "this", "that"):
            pass
        else:
            return None
    elif v in ("deny", "decline", "reject", "refuse", "block"):
        names = _NO
    elif v in ("dismiss", "close", "acknowledge"):
        if x and not re.search(r"alert|dialog|popup|pop-up|message|notice|banner|prompt|modal|"
                               r"sheet|warning|it|this|that", x, re.I):
            return None  # "Close the Settings": not a dialog
        names = _CLOSE
    else:
        names = _YES
    for name in names:
        for mm in candidates(screen, Target.of(name, exact=True), "tap"):
            if mm.score >= 0.97 and (mm.element.clickable
                                     or mm.element.kind == ElementKind.BUTTON):
                return [Intent(Action.TAP, Target.of(mm.value, exact=True))]
    if v in ("dismiss", "close", "acknowledge") and not x:
        return None
    return [Intent(Action.TAP, Target.of(names[0], exact=True))]


def fallback_tap(c: str, quoted: list[str], screen: Hierarchy) -> list[Intent] | None:
    """A clause that is just a label on screen ("Add to cart", "Sign in") is a tap on it."""
    phrase, exact = unquote(c, quoted)
    target = Target.of(phrase, exact=exact)
    if any(m.score >= 0.9 for m in candidates(screen, target, "tap")):
        return [Intent(Action.TAP, target)]
    return None


