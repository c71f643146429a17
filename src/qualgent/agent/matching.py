"""Finding the element a step names on a screen, and describing a screen in a few words.

Each element's text, description, hint and resource id are tokenized once per screen into an
inverted index; a target is scored only against the entries that share a word with it (or
with a near spelling of one of its words, found with difflib among the screen's words), so a
200-element screen costs well under a millisecond. Tiers, best first: exact (case, punctuation
and articles ignored) > same letters ignoring spaces > the element starts with the target >
the element contains all the target's words > the target contains all the element's words >
difflib ratio >= 0.8 (scaled so it never beats a containment). Kind words ("button", "bar")
and the action's purpose (tap: clickable, type: editable) rank ties and near ties.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import threading
from bisect import bisect_right
from collections import OrderedDict
from dataclasses import dataclass
from functools import lru_cache
from itertools import accumulate

from qualgent.agent.intents import Target
from qualgent.agent.text import TOKEN_RE, fold, id_tokens, tokens
from qualgent.drivers.base import (
    EDITABLE_KINDS,
    LIST_KINDS,
    TOGGLE_KINDS,
    Element,
    ElementKind,
    Hierarchy,
)

FIELDS = ("text", "description", "hint", "id")
# How much a match on each field is worth, by purpose.
_FIELD_WEIGHT = {
    "tap": {"text": 1.0, "description": 1.0, "hint": 0.95, "id": 0.9},
    "type": {"text": 0.9, "description": 1.0, "hint": 1.0, "id": 0.95},
    "see": {"text": 1.0, "description": 1.0, "hint": 0.9},
}
ACCEPT = {"tap": 0.62, "type": 0.62, "see": 0.78}  # "see": assertions, waits, scrolling to
_KIND_BONUS = 0.2
_OTHER_KIND_BAR = 0.9  # an element of another kind than the one named must match this well
_PURPOSE_BONUS = 0.05
GENERIC_ITEMS = frozenset({
    "result", "results", "item", "items", "product", "products", "entry", "entries", "row",
    "rows", "option", "options", "one", "search", "card", "cards", "element", "listing",
    "listings", "article", "articles", "post", "posts", "message", "messages", "note", "notes",
    "photo", "photos", "contact", "contacts", "order", "orders", "task", "tasks", "event",
    "events", "file", "files", "song", "songs", "video", "videos", "conversation", "chat",
    "chats", "thread", "threads", "record", "records", "place", "places", "story", "stories",
})


class _Text:
    """The words of one string, analysed once (cached: consecutive screens share texts)."""

    __slots__ = ("words", "norm", "compact", "wordset")

    def __init__(self, words: tuple[str, ...]) -> None:
        self.words = words
        self.norm = " ".join(words)
        self.compact = self.norm.replace(" ", "")
        self.wordset = frozenset(words)


@lru_cache(maxsize=16384)
def _analyse(raw: str, is_id: bool) -> _Text | None:
    words = id_tokens(raw) if is_id else tokens(raw)
    return _Text(words) if words else None


# An entry is one non-empty field of one element: (element index, field name, value, _Text).
_Entry = tuple[int, str, str, _Text]


@dataclass(frozen=True)
class Match:
    element: Element
    position: int  # index of the element in the hierarchy
    field: str  # which field matched: text | description | hint | id
    value: str  # that field's value
    score: float  # 0..1 how well the words match
    rank: float  # score with kind / purpose preferences

    def selector(self) -> dict:
        return {self.field: self.value, "kind": self.element.kind}


class ScreenIndex:
    """The fields of one hierarchy's elements, analysed lazily.

    Building it only collects the non-empty fields; a field is tokenized (and cached by its
    string) the first time a target could match it, i.e. when one of the target's words occurs
    in the field's lower-cased text. A new screen thus costs in proportion to what a step
    looks for, not to the number of elements.
    """

    def __init__(self, screen: Hierarchy) -> None:
        self.screen = screen
        self.raw: list[tuple[int, str, str]] = [
            (i, name, value)
            for i, el in enumerate(screen.elements)
            for name, value in (("text", el.text), ("description", el.description),
                                ("hint", el.hint), ("id", el.id))
            if value
        ]
        self._joined: str | None = None
        self._seps: list[int] = []
        self._entries: list[_Entry] | None = None
        self._vocab_list: list[str] | None = None
        self._close: dict[str, list[str]] = {}
        self._has: dict[str, bool] = {}

    @property
    def joined(self) -> str:
        """Every field, folded to lower case, separated by \\x1e (at offsets `_seps`)."""
        if self._joined is None:
            values = [r[2] for r in self.raw]
            self._joined = fold(_SEP.join(values))
            # the separator after field k sits at (length of fields 0..k) + k
            self._seps = [c + k for k, c in enumerate(accumulate(map(len, values)))]
        return self._joined

    @property
    def entries(self) -> list[_Entry]:
        """Every field, analysed (for failure messages and spelling suggestions)."""
        if self._entries is None:
            out = []
            for i, field, raw in self.raw:
                t = _analyse(raw, field == "id")
                if t is not None:
                    out.append((i, field, raw, t))
            self._entries = out
        return self._entries

    def entries_with(self, words: tuple[str, ...] | list[str], short: bool = False
                     ) -> list[_Entry]:
        """The fields that contain one of `words` (str.find over the joined text), tokenized.

        Words under three letters are skipped ("in" is in "input"), unless `short` is true:
        then only they are looked for, as whole words.
        """
        joined = self.joined
        seps = self._seps
        end = len(joined)
        hits: set[int] = set()
        if short:
            keys = [w for w in words if len(w) < 3]
            if keys:
                pattern = _key_pattern(tuple(sorted(set(keys))))
                for m in pattern.finditer(joined):
                    hits.add(bisect_right(seps, m.start()))
        else:
            for w in words:
                if len(w) < 3:
                    continue
                p = joined.find(w)
                while p >= 0:
                    k = bisect_right(seps, p)
                    hits.add(k)
                    p = joined.find(w, (seps[k] if k < len(seps) else end) + 1)
        out: list[_Entry] = []
        for k in sorted(hits):
            i, field, raw = self.raw[k]
            t = _analyse(raw, field == "id")
            if t is not None:
                out.append((i, field, raw, t))
        return out

    def has_word(self, word: str) -> bool:
        """True when `word` occurs on screen as a whole word."""
        hit = self._has.get(word)
        if hit is None:
            hit = re.search(rf"(?<![^\W_]){re.escape(word)}(?![^\W_])", self.joined) is not None
            self._has[word] = hit
        return hit

    def contains_phrase(self, words: tuple[str, ...]) -> bool:
        """True when some visible text contains these words in a row."""
        return " ".join(words) in self.joined

    def close_words(self, word: str) -> list[str]:
        """Screen words spelled like `word` (difflib ratio >= 0.8), best first.

        Only words that start with the same letter or end with the same two letters are
        compared (typos seldom touch both ends), and no numbers: "149" is not "14".
        """
        if word in self._close:
            return self._close[word]
        if self._vocab_list is None:
            vocab = set(TOKEN_RE.findall(self.joined))
            self._vocab_list = sorted(w for w in vocab
                                      if len(w) >= 3 and not any(c.isdigit() for c in w))
        n = len(word)
        # ratio = 2*matches/(len a + len b) >= 0.8 needs lengths within a factor of 1.5
        near = [v for v in self._vocab_list
                if (v[0] == word[0] or v[-2:] == word[-2:])
                and 2 * min(n, len(v)) >= 0.8 * (n + len(v))]
        found = difflib.get_close_matches(word, near, n=2, cutoff=0.8) if near else []
        if not found:  # two letters swapped ("Hoem"): below difflib's bar in short words
            found = [v for v in near if len(v) == n and _swapped(word, v)][:1]
        self._close[word] = found
        return found


_SEP = "\x1e"


def _swapped(a: str, b: str) -> bool:
    """True when `b` is `a` with two neighbouring letters swapped."""
    diff = [i for i in range(len(a)) if a[i] != b[i]]
    return (len(diff) == 2 and diff[1] == diff[0] + 1
            and a[diff[0]] == b[diff[1]] and a[diff[1]] == b[diff[0]])


def _in_order(words: tuple[str, ...], entry: tuple[str, ...]) -> bool:
    """True when `words` occur in `entry` in the same order (not necessarily together)."""
    it = iter(entry)
    return all(w in it for w in words)


@lru_cache(maxsize=1024)
def _key_pattern(words: tuple[str, ...]) -> re.Pattern[str]:
    """Any of `words`; words under three letters only as whole words ("in", not "input")."""
    parts = [re.escape(w) if len(w) >= 3 else rf"(?<![^\W_]){re.escape(w)}(?![^\W_])"
             for w in sorted(words, key=len, reverse=True)]
    return re.compile("|".join(parts))


_cache: OrderedDict[int, ScreenIndex] = OrderedDict()
_cache_lock = threading.Lock()


def index(screen: Hierarchy) -> ScreenIndex:
    """The index of a screen, cached for the few screens in use (one per device thread)."""
    key = id(screen)
    with _cache_lock:
        hit = _cache.get(key)
        if hit is not None and hit.screen is screen:
            _cache.move_to_end(key)
            return hit
    built = ScreenIndex(screen)
    with _cache_lock:
        _cache[key] = built
        while len(_cache) > 16:
            _cache.popitem(last=False)
    return built


def _tier(entry: _Text, words: tuple[str, ...], wordset: frozenset[str], norm: str,
          compact: str, matcher: difflib.SequenceMatcher | None) -> float:
    if entry.norm == norm:
        return 1.0
    if entry.compact == compact:
        return 0.97
    n, m = len(words), len(entry.words)
    if entry.norm.startswith(norm + " "):
        return 0.9 + 0.05 * n / m
    if wordset <= entry.wordset:
        return 0.8 + 0.1 * n / m
    if entry.wordset <= wordset and 2 * m >= n:
        return 0.7 + 0.1 * m / n
    score = 0.0
    for w in wordset:  # "Product 149" is not "Product 14": numbers must match exactly
        if w not in entry.wordset and any(c.isdigit() for c in w):
            return 0.0
    common = len(wordset & entry.wordset)
    if common:
        jaccard = common / len(wordset | entry.wordset)
        if jaccard >= 0.5:
            score = 0.5 + 0.2 * jaccard
    if matcher is not None:
        matcher.set_seq1(entry.norm)
        if matcher.real_quick_ratio() >= 0.8 and matcher.quick_ratio() >= 0.8:
            ratio = matcher.ratio()
            if ratio >= 0.8:
                score = max(score, 0.85 * ratio)
    return score


def _variants(target: Target, idx: ScreenIndex, fuzzy: bool = True
              ) -> list[tuple[tuple[str, ...], float]]:
    core = target.words
    full = tokens(target.phrase)
    out = [(core, 1.0)]
    if full != core and full:
        out.append((full, 1.0))
    if not fuzzy:
        return out
    fixed = []
    changed = False
    for w in core:
        if len(w) < 3 or any(c.isdigit() for c in w) or idx.has_word(w):
            fixed.append(w)
            continue
        near = idx.close_words(w)
        if near:
            fixed.append(near[0])
            changed = True
        else:
            fixed.append(w)
    if changed:
        out.append((tuple(fixed), 0.95))
    return out


def _kind_ok(el: Element, kinds: frozenset[ElementKind] | None) -> bool:
    if not kinds:
        return False
    if el.kind in kinds:
        return True
    return bool(kinds & EDITABLE_KINDS) and el.editable


def candidates(screen: Hierarchy, target: Target, purpose: str = "tap",
               fuzzy: bool = True) -> list[Match]:
    """Every element that matches `target` well enough for `purpose`, best first.

    purpose: "tap" (prefers clickable), "type" (only editable), "see" (visible text only,
    stricter: for assertions, waits and scrolling until something shows). `fuzzy=False`
    turns off the correction of misspelt words (for "X is not visible": be literal).
    """
    idx = index(screen)
    best: dict[int, Match] = {}
    variants = _variants(target, idx, fuzzy)
    accept = ACCEPT[purpose]
    for short in (False, True):
        if short and (any(m.score >= accept for m in best.values())
                      or not any(len(w) < 3 for words, _ in variants for w in words)):
            break  # short words ("in", "to") are looked at only when nothing else matched
        _score_variants(idx, target, purpose, variants, short, best)
    found = [m for m in best.values() if m.score >= accept]
    found.sort(key=lambda m: (-m.rank, m.position))
    return found


def _score_variants(idx: ScreenIndex, target: Target, purpose: str,
                    variants: list[tuple[tuple[str, ...], float]], short: bool,
                    best: dict[int, Match]) -> None:
    screen = idx.screen
    weights = _FIELD_WEIGHT[purpose]
    for words, factor in variants:
        if not words:
            continue
        wordset = frozenset(words)
        norm = " ".join(words)
        compact = norm.replace(" ", "")
        matcher = difflib.SequenceMatcher(None, autojunk=False)
        matcher.set_seq2(norm)
        for position, field, raw, text in idx.entries_with(words, short):
            if text.wordset.isdisjoint(wordset) or (short and position in best):
                continue
            if factor < 1.0 and len(words) > 1 and not _in_order(words, text.words):
                continue  # respelt words out of order: "Note deleted" is no "Delete note"
            weight = weights.get(field)
            if weight is None:
                continue
            el = screen.elements[position]
            if purpose == "type" and not (el.editable or el.kind in EDITABLE_KINDS):
                continue
            score = _tier(text, words, wordset, norm, compact, matcher) * weight * factor
            if score <= 0:
                continue
            rank = score
            if _kind_ok(el, target.kinds):
                rank += _KIND_BONUS
            elif target.kinds and score < _OTHER_KIND_BAR:
                continue  # "the Cart tab" is not the "Add to cart" button
            if purpose == "tap" and (el.clickable or el.editable or el.kind in TOGGLE_KINDS):
                rank += _PURPOSE_BONUS
            old = best.get(position)
            if old is None or rank > old.rank:
                best[position] = Match(el, position, field, raw, score, rank)


def find(screen: Hierarchy, target: Target, purpose: str = "tap",
         fuzzy: bool = True) -> Match | None:
    """The element `target` names on `screen`, or None."""
    if target.ordinal is not None:
        return _nth(screen, target, purpose)
    found = candidates(screen, target, purpose, fuzzy)
    if found:
        return found[0]
    if purpose == "type":
        return _input_by_label(screen, target)
    return None


def closest(screen: Hierarchy, target: Target) -> Match | None:
    """The best match below the acceptance bar, to say what almost matched in a failure."""
    idx = index(screen)
    best = None
    for words, _ in _variants(target, idx):
        wordset = frozenset(words)
        norm = " ".join(words)
        matcher = difflib.SequenceMatcher(None, autojunk=False)
        matcher.set_seq2(norm)
        for position, field, raw, text in idx.entries:
            if field == "id":
                continue
            sc = _tier(text, words, wordset, norm, norm.replace(" ", ""), matcher)
            if sc > 0.4 and (best is None or sc > best.score):
                best = Match(screen.elements[position], position, field, raw, sc, sc)
    return best


def _position(el: Element) -> tuple[int, int]:
    return el.bounds.top, el.bounds.left


def _nth(screen: Hierarchy, target: Target, purpose: str) -> Match | None:
    words = target.words
    k = target.ordinal or 1
    if not words or set(words) <= GENERIC_ITEMS:
        pool = [(_position(e), i) for i, e in enumerate(screen.elements) if e.kind in LIST_KINDS]
        if not pool or k > len(pool):
            return None
        pool.sort()
        _, i = pool[k - 1] if k > 0 else pool[k]
        e = screen.elements[i]
        return Match(e, i, *_label(e), 1.0, 1.0)
    ms = candidates(screen, Target(target.phrase, target.exact, target.kinds), purpose)
    ms.sort(key=lambda m: _position(m.element))
    if not ms or k > len(ms):
        return None
    return ms[k - 1] if k > 0 else ms[k]


def _label(el: Element) -> tuple[str, str]:
    for name in FIELDS:
        value = getattr(el, name)
        if value:
            return name, value
    return "kind", el.kind


def _input_by_label(screen: Hierarchy, target: Target) -> Match | None:
    """An input without hint or id of its own, named by the label beside or above it."""
    labels = candidates(screen, target, "see")
    inputs = [(i, e) for i, e in enumerate(screen.elements)
              if e.editable or e.kind in EDITABLE_KINDS]
    for label in labels:
        lb = label.element.bounds
        best = None
        for i, e in inputs:
            b = e.bounds
            if b.top < lb.top - 8:
                continue
            same_row = b.top < lb.bottom and b.left >= lb.right - 8
            dy = 0 if same_row else b.top - lb.bottom
            dist = dy + abs(b.left - lb.left) * 0.25
            if dy <= 3 * max(lb.bottom - lb.top, 40) and (best is None or dist < best[0]):
                best = (dist, i, e)
        if best is not None:
            _, i, e = best
            return Match(e, i, label.field, label.value, label.score, label.score)
    return None


def editable_elements(screen: Hierarchy) -> list[tuple[int, Element]]:
    return [(i, e) for i, e in enumerate(screen.elements)
            if e.editable or e.kind in EDITABLE_KINDS]


def selector_of(el: Element) -> dict:
    name, value = _label(el)
    if name == "kind":
        return {"kind": el.kind}
    return {name: value, "kind": el.kind}


# ----------------------------------------------------------------------------- screens


def fingerprint(screen: Hierarchy) -> str:
    """A short hash of what the screen shows, the same for the same content on any run.

    What the test typed into inputs is left out: a fresh OTP code must not make the same
    screen look different to a cached replay."""
    parts = sorted(
        (e.kind, "" if e.editable else e.text or "", e.description or "", e.id or "",
         e.hint or "")
        for e in screen.elements
    )
    h = hashlib.blake2b(digest_size=8)
    h.update((screen.package or "").encode())
    for p in parts:
        h.update("\x1f".join(p).encode())
        h.update(b"\x1e")
    return h.hexdigest()


_UNLABELLED_KINDS = LIST_KINDS | {ElementKind.TEXT}  # described by their text alone


def describe(screen: Hierarchy, limit: int = 15) -> str:
    """The screen's visible texts, briefly: '"Sign in" (button), "Email" (input), ...'."""
    seen: set[str] = set()
    items: list[str] = []
    total = 0
    for el in screen.elements:
        label = el.text or el.description or el.hint
        if not label:
            continue
        label = " ".join(label.split())
        if len(label) > 40:
            label = label[:37] + "..."
        item = f'"{label}"'
        if el.kind not in _UNLABELLED_KINDS:
            item += f" ({el.kind})"
        if item in seen:
            continue
        seen.add(item)
        total += 1
        if len(items) < limit:
            items.append(item)
    if not items:
        return "nothing readable (no text on screen)"
    more = f" and {total - limit} more" if total > limit else ""
    return ", ".join(items) + more
