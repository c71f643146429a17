"""Words on screen and in steps: tokens, resource-id words, kind words ("the Sign in button")."""

from __future__ import annotations

import re
from functools import lru_cache

from qualgent.drivers.base import EDITABLE_KINDS, LIST_KINDS, TOGGLE_KINDS, ElementKind

# A token is a word or number; "demo@example.com", "59.99", "x200" and "don't" stay whole.
# Currency signs are tokens of their own, so "59.99" is found in "$59.99".
TOKEN_RE = re.compile(r"[$€£¥]|[^\W_]+(?:[.,'@+#&][^\W_]+)*[%+#]?")
_CAMEL_RE = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_ID_SEP_RE = re.compile(r"[_\-.]+")

ARTICLES = frozenset({"the", "a", "an"})

# Trailing words naming what kind of element a target is ("the Sign in button").
_BUTTON = frozenset({ElementKind.BUTTON})
KIND_WORDS: dict[str, frozenset[ElementKind]] = {
    "button": _BUTTON,
    "btn": _BUTTON,
    "field": EDITABLE_KINDS,
    "input": EDITABLE_KINDS,
    "textbox": EDITABLE_KINDS,
    "textfield": EDITABLE_KINDS,
    "box": EDITABLE_KINDS | {ElementKind.CHECKBOX},
    "bar": EDITABLE_KINDS,
    "area": frozenset({ElementKind.INPUT}),
    "tab": frozenset({ElementKind.TAB}),
    "link": frozenset({ElementKind.LINK}),
    "icon": frozenset({ElementKind.IMAGE, ElementKind.BUTTON}),
    "image": frozenset({ElementKind.IMAGE}),
    "switch": TOGGLE_KINDS,
    "toggle": TOGGLE_KINDS,
    "checkbox": TOGGLE_KINDS,
    "option": frozenset(),
    "item": LIST_KINDS,
    "row": LIST_KINDS,
    "entry": LIST_KINDS,
    "menu": frozenset(),
    "label": frozenset({ElementKind.TEXT}),
}
# Two-word kinds, checked before the one-word ones.
KIND_PHRASES: dict[tuple[str, ...], frozenset[ElementKind]] = {
    ("text", "field"): EDITABLE_KINDS,
    ("text", "box"): EDITABLE_KINDS,
    ("input", "field"): EDITABLE_KINDS,
    ("search", "field"): EDITABLE_KINDS,
    ("check", "box"): TOGGLE_KINDS,
    ("menu", "item"): frozenset(),
    ("list", "item"): LIST_KINDS,
}
# Suffixes and prefixes of resource ids that name the widget type, not the target.
ID_NOISE = frozenset({
    "btn", "button", "input", "field", "tab", "et", "txt", "text", "edit", "view", "label",
    "lbl", "icon", "iv", "tv", "img", "image", "switch", "sw", "cb", "checkbox", "link", "id",
})



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


def split_kind(words: tuple[str, ...]
               ) -> tuple[tuple[str, ...], frozenset[ElementKind] | None]:
    """Strip a trailing kind word: ("sign", "in", "button") -> (("sign", "in"), {"button"})."""
    if len(words) >= 3 and tuple(words[-2:]) in KIND_PHRASES:
        return words[:-2], KIND_PHRASES[tuple(words[-2:])]
    if len(words) >= 2 and words[-1] in KIND_WORDS:
        return words[:-1], KIND_WORDS[words[-1]]
    return words, None


def fmt_seconds(seconds: float) -> str:
    return f"{seconds:.3f}".rstrip("0").rstrip(".")
