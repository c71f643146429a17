"""Text helpers shared by the planner and the matcher: tokens, quotes, numbers, kind words."""

from __future__ import annotations

import re
from functools import lru_cache

# A token is a word or number; "demo@example.com", "59.99", "x200" and "don't" stay whole.
# Currency signs are tokens of their own, so "59.99" is found in "$59.99".
TOKEN_RE = re.compile(r"[$€£¥]|[^\W_]+(?:[.,'@+#&][^\W_]+)*[%+#]?")
_CAMEL_RE = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_ID_SEP_RE = re.compile(r"[_\-.]+")

ARTICLES = frozenset({"the", "a", "an"})

# Trailing words naming what kind of element a target is ("the Sign in button").
KIND_WORDS: dict[str, frozenset[str]] = {
    "button": frozenset({"button"}),
    "btn": frozenset({"button"}),
    "field": frozenset({"input", "search"}),
    "input": frozenset({"input", "search"}),
    "textbox": frozenset({"input", "search"}),
    "textfield": frozenset({"input", "search"}),
    "box": frozenset({"input", "search", "checkbox"}),
    "bar": frozenset({"search", "input"}),
    "area": frozenset({"input"}),
    "tab": frozenset({"tab"}),
    "link": frozenset({"link"}),
    "icon": frozenset({"image", "button"}),
    "image": frozenset({"image"}),
    "switch": frozenset({"switch", "checkbox"}),
    "toggle": frozenset({"switch", "checkbox"}),
    "checkbox": frozenset({"checkbox", "switch"}),
    "option": frozenset(),
    "item": frozenset({"list_item", "row"}),
    "row": frozenset({"list_item", "row"}),
    "entry": frozenset({"list_item", "row"}),
    "menu": frozenset(),
    "label": frozenset({"text"}),
}
# Two-word kinds, checked before the one-word ones.
KIND_PHRASES: dict[tuple[str, ...], frozenset[str]] = {
    ("text", "field"): KIND_WORDS["field"],
    ("text", "box"): KIND_WORDS["field"],
    ("input", "field"): KIND_WORDS["field"],
    ("search", "field"): frozenset({"search", "input"}),
    ("check", "box"): KIND_WORDS["checkbox"],
    ("menu", "item"): frozenset(),
    ("list", "item"): KIND_WORDS["item"],
}
# Words that only say "some text on screen" in an assertion ("the error message").
ASSERT_KIND_WORDS = frozenset({
    "message", "text", "label", "title", "banner", "toast", "popup", "dialog", "notification",
    "heading", "header", "screen", "page", "prompt", "alert", "button", "link", "tab", "icon",
    "field", "option", "snackbar", "item", "row", "entry", "product", "card", "switch",
    "toggle", "checkbox", "box", "bar", "section", "modal", "sheet", "view",
})
# Suffixes and prefixes of resource ids that name the widget type, not the target.
ID_NOISE = frozenset({
    "btn", "button", "input", "field", "tab", "et", "txt", "text", "edit", "view", "label",
    "lbl", "icon", "iv", "tv", "img", "image", "switch", "sw", "cb", "checkbox", "link", "id",
})

EDITABLE_KINDS = frozenset({"input", "search"})
TOGGLE_KINDS = frozenset({"switch", "checkbox"})
LIST_KINDS = frozenset({"list_item", "row"})


_FOLD = str.maketrans({"\u2019": "'", "\u2018": "'", "\u201c": '"', "\u201d": '"',
                       "\u2013": "-", "\u2014": "-", "\u00a0": " "})


def fold(text: str) -> str:
    """Lower case with typographic quotes and dashes made plain."""
    if text.isascii():
        return text.lower()
    return text.translate(_FOLD).lower()


@lru_cache(maxsize=16384)
def tokens(text: str) -> tuple[str, ...]:
    """Words of a visible text, lower case, articles dropped (cached: screens repeat)."""
    if text.isascii() and text.replace(" ", "").isalnum():
        words = text.lower().split()  # the common case, ten times faster than the regex
    else:
        words = TOKEN_RE.findall(fold(text))
    if ARTICLES.isdisjoint(words):
        return tuple(words)
    return tuple([t for t in words if t not in ARTICLES])


@lru_cache(maxsize=8192)
def id_tokens(resource_id: str) -> tuple[str, ...]:
    """Words of a resource id: "com.shop:id/searchInput_et" -> ("search",)."""
    tail = resource_id.rsplit("/", 1)[-1].rsplit(":", 1)[-1]
    if tail.islower() and tail.replace("_", "").isalnum():  # snake_case: the common case
        words = tuple(w for w in tail.split("_") if w and w not in ARTICLES)
        core = tuple(w for w in words if w not in ID_NOISE)
        return core or words
    words = tokens(_ID_SEP_RE.sub(" ", _CAMEL_RE.sub(" ", tail)))
    core = tuple(w for w in words if w not in ID_NOISE)
    return core or words


def split_kind(words: tuple[str, ...]) -> tuple[tuple[str, ...], frozenset[str] | None]:
    """Strip a trailing kind word: ("sign", "in", "button") -> (("sign", "in"), {"button"})."""
    if len(words) >= 3 and tuple(words[-2:]) in KIND_PHRASES:
        return words[:-2], KIND_PHRASES[tuple(words[-2:])]
    if len(words) >= 2 and words[-1] in KIND_WORDS:
        return words[:-1], KIND_WORDS[words[-1]]
    return words, None


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


def fmt_seconds(seconds: float) -> str:
    return f"{seconds:.3f}".rstrip("0").rstrip(".")
