"""A scripted model behind the fake model servers (tests.fakes.llm): it reads each request as a
model would (the step or claim, what was done for the step, any note, the numbered element
list) and answers with element numbers, so the model planners run end to end with no model.

    model = ScriptedModel()                # the Demo Shop's steps (DEMO_STEPS)
    fake.respond(model)
    ...
    model.seen                             # every request, as parsed (`Seen`)

`act` requests follow the step's `StepScript`: actions naming elements by kind and words, and
a goal (a regex over the element list). On first sight the model acts and says "continue"
while the goal is not on the screen (a step without a goal, or whose goal is already there,
is "passed" at once); shown the screen again, it says "passed": the step's actions are done
(its reason says whether the goal showed: a tap that only brings up an error is still done).
`verdict` requests: a claim holds when its quoted words, its price or the `evidence` words it
names are on the screen. A step or claim without a script raises (the fake answers 400 and
keeps it in `.errors`), unless `improvise=True`: then the model does what the step's words
suggest, the way a model would guess (benchmarks/model_usage.py runs the corpus like that).
Tests that need a model of their own pass `on_act` / `on_verdict`, functions of a `Seen`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from tests.fakes.llm import message_texts, tool_name

# ----------------------------------------------------------------------------- reading a request

KEY = "sk-test-3b9c0f1e7d"  # the API key tests give the client and the fake
MODEL = "fake-model-1"  # the model name the fake serves
_LINE = re.compile(r'^\[(\d+)\] (\w+)(?: ("(?:[^"\\]|\\.)*"))?(.*)$')
_INTERACTIVE = ("button", "link", "tab", "list_item", "input", "switch", "checkbox")


@dataclass(frozen=True)
class Listed:
    """One line of the element list: its number, kind and words (text, hint, desc, id)."""

    number: int
    kind: str
    labels: tuple[str, ...]
    line: str


def listed(prompt: str) -> list[Listed]:
    out = []
    for line in prompt.splitlines():
        m = _LINE.match(line.strip())
        if not m:
            continue
        labels = [json.loads(m[3])] if m[3] else []
        labels += [json.loads(f'"{v}"') for v in
                   re.findall(r'(?:hint|desc)="((?:[^"\\]|\\.)*)"', m[4])]
        labels += re.findall(r"id=(\S+)", m[4])
        out.append(Listed(int(m[1]), m[2], tuple(labels), line.strip()))
    return out


@dataclass
class Seen:
    """What one request showed the model: the tool asked for, the step (or claim), what was
    done for it, a note, the screen's elements (`listing`: their lines), whether a screenshot
    came along, and what the planner said was wrong with the model's last answer (`retry`)."""

    tool: str
    step: str
    done: list[str]
    note: str
    elements: list[Listed] = field(default_factory=list)
    listing: str = ""
    has_image: bool = False
    retry: str = ""

    @property
    def lines(self) -> dict[int, str]:
        return {e.number: e.line for e in self.elements}

    def element(self, words: str | None, kind: str | None = None) -> int:
        """The number of the element with these words (any of its text, hint, desc or id;
        case aside), of `kind` when given (words None: the first of that kind); interactive
        kinds first. LookupError when there is none."""
        found = [e for e in self.elements
                 if (kind is None or e.kind == kind)
                 and (words is None or words.lower() in (x.lower() for x in e.labels))]
        found.sort(key=lambda e: e.kind not in _INTERACTIVE)
        if found:
            return found[0].number
        raise LookupError(f"no {kind or 'element'} {words!r} on the screen:\n{self.listing}")

    def shows(self, words: str) -> bool:
        return words.lower() in self.listing.lower()


def seen(request: dict) -> Seen:
    texts = [t for r, t in message_texts(request) if r == "user"]
    first, last = texts[0], texts[-1]  # the round's prompt, and a correction if any
    head = re.match(r"(?:Step|Claim): (.*)", first)
    done = re.search(r"Done so far for this step:\n((?:- .*\n?)*)", first)
    note = re.search(r"Note: (.*)", last)
    done_lines = [d[2:] for d in (done.group(1).splitlines() if done else [])]
    elements = listed(first)
    return Seen(tool_name(request) or "", head.group(1) if head else "",
                [d for d in done_lines if d != "nothing yet"], note.group(1) if note else "",
                elements, "\n".join(e.line for e in elements), has_image(request),
                last if len(texts) > 1 else "")


def has_image(request: dict) -> bool:
    return any(isinstance(m.get("content"), list)
               and any(b.get("type") in ("image", "image_url") for b in m["content"])
               for m in request.get("messages") or [])


def images(request: dict) -> int:
    """How many images the request carries."""
    return sum(1 for m in request.get("messages") or [] if isinstance(m.get("content"), list)
               for b in m["content"] if b.get("type") in ("image", "image_url"))


# ----------------------------------------------------------------------------- answering


def act(action: str, element: int | None = None, text: str | None = None,
        direction: str | None = None, seconds: float | None = None,
        submit: bool = False) -> dict:
    return {"action": action, "element": element, "text": text, "direction": direction,
            "seconds": seconds, "submit": submit}


def answer(*actions: dict, status: str = "passed", reason: str = "done",
           want_screenshot: bool = False) -> dict:
    return {"actions": list(actions), "status": status, "reason": reason,
            "want_screenshot": want_screenshot}


@dataclass(frozen=True)
class Act:
    """One action of a step's script; `element` is (kind, words) (words None: the first of
    that kind)."""

    action: str
    element: tuple[str, str | None] | None = None
    text: str | None = None
    submit: bool = False


@dataclass(frozen=True)
class StepScript:
    acts: list[Act] = field(default_factory=list)
    goal: str | None = None  # a regex over the element list; None: done once acted


_HOME = r'"Home" id=title'
_PASSWORD = StepScript([Act("type", ("input", "Password"), "hunter2")])  # a dump hides it

DEMO_STEPS: dict[str, StepScript] = {
    "Open the app": StepScript([Act("launch")]),  # a model launches it even if it shows
    'Enter "demo@example.com" into Email': StepScript(
        [Act("type", ("input", "Email"), "demo@example.com")], r'input "demo@example\.com"'),
    'Enter "hunter2" into Password': _PASSWORD,
    "Type hunter2 in the password field": _PASSWORD,
    "Tap Sign in": StepScript([Act("tap", ("button", "Sign in"))], r"Verify your phone"),
    "Enter the code from the SMS and tap Verify": StepScript(
        [Act("sms_code", ("input", "Code")), Act("tap", ("button", "Verify"))], _HOME),
    "Type wireless headphones into the search field and submit": StepScript(
        [Act("type", ("input", "Search products"), "wireless headphones", submit=True)],
        r'input "wireless headphones"'),
    "Tap the first result": StepScript([Act("tap", ("list_item", None))], r"id=price"),
    "Check the price shows $59.99": StepScript([Act("check", text="the price shows $59.99")]),
    "Tap Add to cart": StepScript([Act("tap", ("button", "Add to cart"))], r"Added to cart"),
    "Go back": StepScript([Act("back")], _HOME),
    "Open the Cart tab": StepScript([Act("tap", ("tab", "Cart"))], r'"Cart" id=title'),
    "Tap Checkout": StepScript([Act("tap", ("button", "Checkout"))], r"Order confirmed"),
    'Verify that "Order confirmed" is shown': StepScript(
        [Act("check", text='"Order confirmed" is shown')]),
}
"""The Demo Shop steps of tests.demo (both sign-in phrasings), as a model would do them."""

Handler = Callable[[Seen], dict]


class ScriptedModel:
    """The fake server's script: `act` requests go to `on_act` (default: the step's script
    in `steps`), `verdict` ones to `on_verdict` (default: judged from the screen); every
    request is kept as parsed (`seen`)."""

    def __init__(self, on_act: Handler | None = None, on_verdict: Handler | None = None, *,
                 steps: Mapping[str, StepScript] = DEMO_STEPS,
                 evidence: Mapping[str, str] | None = None, improvise: bool = False) -> None:
        self.on_act = on_act or self.scripted
        self.on_verdict = on_verdict or self.judged
        self.steps = steps
        self.evidence = dict(evidence or {})  # a word of the claim -> words that prove it
        self.improvise = improvise
        self.seen: list[Seen] = []

    def __call__(self, request: dict) -> dict:
        s = seen(request)
        self.seen.append(s)
        return self.on_verdict(s) if s.tool == "verdict" else self.on_act(s)

    def scripted(self, s: Seen) -> dict:
        script = self.steps.get(s.step)
        if script is None:
            if self.improvise:
                return improvised(s)
            raise LookupError(f"the scripted model has no script for {s.step!r}")
        on_screen = script.goal is not None and re.search(script.goal, s.listing) is not None
        if not s.done:
            if on_screen:
                return answer(reason="The goal is already on the screen.")
            try:
                actions = [_action(a, s) for a in script.acts]
            except LookupError:
                if self.improvise:
                    return improvised(s)
                raise
            return answer(*actions, status="passed" if script.goal is None else "continue",
                          reason=f"Doing: {s.step}")
        if on_screen or script.goal is None:
            return answer(reason="The goal is on the screen.")
        return answer(reason=f"Done as asked, though the goal of '{s.step}' is not on the "
                             f"screen.")

    def judged(self, s: Seen) -> dict:
        """The claim's quoted words or price, else the evidence of a word it names."""
        m = re.search(r'"(.+?)"|(\$[\d.]+)', s.step)
        words = (m.group(1) or m.group(2)) if m else next(
            (v for k, v in self.evidence.items() if k in s.step.lower()), None)
        if words is None:
            if not self.improvise:
                raise LookupError(f"the scripted model cannot judge {s.step!r}")
            words = _salient(s.step)
        holds = bool(words) and s.shows(words)
        return {"holds": holds, "reason": f"{words!r} is {'' if holds else 'not '}on the screen"}


def _action(a: Act, s: Seen) -> dict:
    return act(a.action, s.element(a.element[1], a.element[0]) if a.element else None,
               a.text, submit=a.submit)


# ----------------------------------------------------------------------------- improvising

_FILLER = frozenset("a an the on in into to of for and then that this it is are be should "
                    "field button tab screen app page please now i my me".split())
_CHECK = re.compile(r"^(?:\d+[.)]\s*)?(?:check|verify|assert|ensure|confirm|expect|make sure|"
                    r"see)\b|\b(?:is|are) (?:shown|visible|displayed|listed)\b|\bshould\b", re.I)


def _words(text: str) -> list[str]:
    return [w for w in re.findall(r"[a-z0-9$@.'?-]+", text.lower()) if w not in _FILLER]


def _salient(claim: str) -> str:
    """The longest quoted run of words, else the claim's last few content words."""
    words = [w.strip(".?") for w in _words(re.sub(r"^\W*\w+\s+(that\s+)?", "", claim))]
    return " ".join(words[-2:])


def _best(s: Seen, step: str, kinds: tuple[str, ...] | None = None) -> int | None:
    """The element sharing the most words with the step (interactive ones first)."""
    wanted = set(_words(step))
    best, score = None, 0
    for e in s.elements:
        if kinds is not None and e.kind not in kinds:
            continue
        have = set(_words(" ".join(e.labels)))
        n = len(wanted & have) * 2 + (e.kind in _INTERACTIVE)
        if wanted & have and n > score:
            best, score = e.number, n
    return best


def improvised(s: Seen) -> dict:
    """A guess from the step's words: a check, a launch, back, typing, the SMS code, a swipe,
    or a tap on the element the step names most; acts once, then looks and says passed."""
    step = s.step
    if s.done:
        return answer(reason="The step's actions are done.")
    if _CHECK.search(step):
        return answer(act("check", text=re.sub(r"^(?:\d+[.)]\s*)", "", step)))
    low = step.lower()
    if re.search(r"\b(open|launch|start)\b.*\bapp", low):
        return answer(act("launch"), status="continue", reason="Opening the app.")
    if re.search(r"\b(go|navigate|press) back\b|^back\b", low):
        return answer(act("back"), status="continue", reason="Going back.")
    if re.search(r"\b(sms|otp|code)\b", low) and not re.search(r"\btap\b.*\bverify\b", low):
        field_ = _best(s, "code", ("input",))
        return answer(act("sms_code", field_), status="continue", reason="Entering the code.")
    typed = re.search(r'\b(?:type|enter|fill in|input|write|put)\s+(?:in\s+)?"?([^"]+?)"?\s+'
                      r"(?:in|into|as|for)\s+(.+)$", step, re.I)
    if typed:
        into = _best(s, typed.group(2), ("input",))
        return answer(act("type", into, typed.group(1)), status="continue",
                      reason=f"Typing into {typed.group(2)}.")
    if re.search(r"\b(swipe|scroll)\b", low):
        way = next((d for d in ("up", "down", "left", "right") if d in low.split()), "up")
        return answer(act("swipe", direction=way), status="continue", reason="Swiping.")
    target = _best(s, step)
    if target is None:
        return answer(status="failed", reason=f"Nothing on the screen matches {step!r}.")
    return answer(act("tap", target), status="continue", reason="Tapping what the step names.")
