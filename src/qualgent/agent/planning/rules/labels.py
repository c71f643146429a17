"""Label-style clauses: "Title: Settings", "Status - Saved", 'Expected: "Order confirmed"',
"Result -> 3 items", "Email: demo@example.com", "Tap: Sign in".

People write steps as forms and checklists as often as sentences. A short label, then a
colon, an arrow or a spaced dash, then the rest: the label says what the rest is. It is
rewritten into the sentence the other rules read:
- an expectation word ("Expected", "Result", "Check", "Then") or any other noun: a check that
  the rest is shown ("verify Settings");
- a verb ("Tap: Sign in"): the verb and the rest; a typing verb with its field ("Enter email:
  x"): typing the rest into that field;
- the name of an input on screen ("Email: demo@example.com"): typing the rest into it;
- a state ("Dark theme: off"): a check of the switch;
- after "Note", "Step", "Action" and the like, an instruction ("Note: tap Sign in first"):
  the instruction.
"""

from __future__ import annotations

import re

from qualgent.agent.intents import Target
from qualgent.agent.matching import find
from qualgent.agent.planning.rules.clauses import ACTION_VERBS, VERBS, base_verb
from qualgent.agent.planning.rules.phrases import PLACEHOLDER_RE, STATE, restore
from qualgent.drivers.base import Hierarchy

_LABELLED = re.compile(
    r"^(?P<label>[^\W\d_][\w'\u2019/ -]{0,40}?)\s*"
    r"(?::\s+|:(?=\s*\x00)|\s*(?:->|=>|\u2192|\u21d2|==?)\s*|\s+[-\u2013\u2014]+\s+)"
    r"(?P<rest>\S.*)$", re.S)
_EXPECT_LABEL = re.compile(
    r"^(?:(?:the\s+)?expected(?:\s+(?:result|results|outcome|behaviou?r|text|value|output))?|"
    r"expectation|results?|outcome|output|then|and\s+then|assert(?:ion)?|check(?:point)?|"
    r"verif(?:y|ication)|validat(?:e|ion)|confirm|ensure|expect|should\s+(?:see|show)|"
    r"must\s+(?:see|show)|(?:i\s+)?see|pass(?:es)?\s+if|acceptance(?:\s+criteria)?)$", re.I)
_NOTE_LABEL = re.compile(r"^(?:note|nb|tip|hint|action|actions|step|todo|to\s+do|do|"
                         r"instruction|next|finally|first|now|then)$", re.I)
_ROLE_LABEL = re.compile(r"^(?:(?:error|success|warning|info|status|validation|toast|alert|"
                         r"banner|snackbar|dialog|popup)\s*)+(?:message|text)?$|^(?:message|"
                         r"notification|toast|banner|alert|snackbar)$", re.I)
_TYPE_VERBS = frozenset({"type", "enter", "input", "write", "fill", "put", "insert", "paste",
                         "provide"})


def relabel(clause: str, quoted: list[str], screen: Hierarchy) -> str:
    """The clause as a sentence when it is written "label: rest", else the clause itself."""
    m = _LABELLED.match(clause)
    if not m:
        return clause
    label = " ".join(m.group("label").split())
    rest = m.group("rest").strip()
    words = label.split()
    if len(words) > 4 or not rest.strip(" .,;:"):
        return clause
    if _EXPECT_LABEL.match(label):
        return f"verify {rest}"
    first = base_verb(words[0])
    if first in _TYPE_VERBS and len(words) > 1:
        field = re.sub(r"^(?:in|into|the|your|my)\s+", "", " ".join(words[1:]), flags=re.I)
        return f"enter {rest} into {field}"
    if first in VERBS:
        return f"{first} {rest}" if len(words) == 1 else clause
    if re.fullmatch(STATE, rest.strip(" ."), re.I):
        return f"verify {label} is {rest.strip(' .')}"  # "Dark theme: off"
    if find(screen, Target.of(restore(label, quoted)), "type") is not None:
        return f"enter {rest} into {label}"
    head = re.match(r"([A-Za-z][\w-]*)", rest)
    if (_NOTE_LABEL.match(label) and head and base_verb(head.group(1)) in ACTION_VERBS
            and not PLACEHOLDER_RE.match(rest)):
        return rest  # "Note: tap Sign in first"
    if _ROLE_LABEL.match(label) and not PLACEHOLDER_RE.search(rest):
        # "Error: Title is required": the message word for word, not "the title is ..."
        quoted.append(restore(rest, quoted))
        return f"verify \x00{len(quoted) - 1}\x00"
    return f"verify {rest}"
