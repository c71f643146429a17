"""Place a screen's elements on the device: what is visible where, for hierarchy, tap and paint.

Auto-layout, in density-independent units (dp; 1 dp = min(width, height) / 360 pixels on a
phone, / 768 on a tablet): a 24 dp status bar, the screen's title, then the elements top to
bottom with 16 dp side margins and 12 dp gaps; a ``row`` splits its line evenly between its
children; lists share the height left over, and only their items inside the list's viewport
are placed (scrolled by the list's offset, clipped to the viewport); the tab bar is a 64 dp
strip at the bottom. An element with an explicit ``box`` ([left, top, right, bottom] in
percent of the screen) is placed there instead, on top of the flow. Anything outside the
screen is not placed at all, so it is neither listed nor tappable.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from qualgent.drivers.base import Bounds, Element, ElementKind
from qualgent.drivers.simulator.model import (
    CLICKABLE_KINDS,
    ElementSpec,
    Screen,
    evaluate,
    render_template,
    resolve,
)

PAGE_SCROLL_KEY = "#page"  # a scrolling screen's offset, among its lists' in ScreenState.scroll
STATUS_BAR_DP = 24
TITLE_DP = 56
TAB_BAR_DP = 64
ITEM_DP = 64
MARGIN_DP = 16
GAP_DP = 12
TEXT_FONT_DP = 16
TITLE_FONT_DP = 22
LINE_DP = 22
_HEIGHT_DP = {ElementKind.INPUT: 56, ElementKind.SEARCH: 56, ElementKind.BUTTON: 52,
              ElementKind.LINK: 40, ElementKind.SWITCH: 52, ElementKind.CHECKBOX: 52,
              ElementKind.IMAGE: 120}
_CHAR_EM = 0.55  # a generous average glyph width, in ems, for wrapping


@dataclass(frozen=True)
class Metrics:
    width: int
    height: int
    scale: float  # pixels per dp

    @classmethod
    def for_screen(cls, width: int, height: int, tablet: bool) -> Metrics:
        return cls(width, height, min(width, height) / (768 if tablet else 360))

    def dp(self, value: float) -> int:
        return round(value * self.scale)


@dataclass
class Node:
    """A placed element: what the hierarchy lists, plus what painting and tapping need."""

    element: Element
    role: str  # title, text, message, image, button, link, tab, input, switch, checkbox,
    #            list, item, app (a launcher icon)
    spec: ElementSpec | None = None
    font: int = 0  # pixels
    lines: tuple[str, ...] = ()  # wrapped text for text-like roles
    item: Mapping[str, Any] | None = None  # a list item's data
    selected: bool = False  # the tab of the current screen
    list_key: str | None = None  # for lists and their items
    content_height: int = 0  # a list's: all its items, in pixels
    package: str | None = None  # a launcher icon's app
    full: Bounds | None = None  # a list item's bounds before clipping to the list


@dataclass
class ScreenState:
    """What layout reads of one screen on the back stack (owned by the device)."""

    screen: Screen
    ctx: Mapping[str, Any]  # template context: input, state, item, data
    inputs: Mapping[str, str]
    focus: str | None
    message: tuple[int | None, str] | None  # (flow index it follows or None: the end, text)
    scroll: MutableMapping[str, int] = field(default_factory=dict)
    filters: MutableMapping[str, str] = field(default_factory=dict)


def wrap(text: str, width_px: int, font_px: int) -> tuple[str, ...]:
    per_line = max(1, int(width_px / (font_px * _CHAR_EM)))
    lines: list[str] = []
    for para in text.split("\n"):
        lines.extend(textwrap.wrap(para, per_line) or [""])
    return tuple(lines)


def layout_screen(view: ScreenState, m: Metrics) -> list[Node]:
    screen, ctx = view.screen, view.ctx
    nodes: list[Node] = []
    margin, gap = m.dp(MARGIN_DP), m.dp(GAP_DP)
    inner = m.width - 2 * margin
    y = m.dp(STATUS_BAR_DP)
    bottom = m.height - (m.dp(TAB_BAR_DP) if screen.tabs else 0)

    if screen.title is not None:
        title = render_template(screen.title, ctx)
        font = m.dp(TITLE_FONT_DP)
        h = max(m.dp(TITLE_DP), len(wrap(title, inner, font)) * m.dp(LINE_DP + 8))
        nodes.append(Node(Element(ElementKind.TEXT, Bounds(margin, y, m.width - margin, y + h),
                                  text=title, id="title"), "title", font=font,
                          lines=wrap(title, inner, font)))
        y += h

    visible = [s for s in screen.elements if s.visible is None or evaluate(s.visible, ctx)]
    flow = [s for s in visible if s.box is None]
    # Lines of the flow: (kind of line, specs on it, fixed height or None for a list)
    lines: list[tuple[str, Any, int | None]] = []
    for spec in flow:
        if spec.kind == ElementKind.LIST:
            lines.append(("list", spec, None))
        elif spec.kind == ElementKind.ROW:
            kids = [c for c in spec.children if c.visible is None or evaluate(c.visible, ctx)]
            if kids:
                cells = _cells(kids, inner, gap)
                lines.append(("row", list(zip(kids, cells, strict=True)),
                              max(_height(c, ctx, w, m) for c, (_, w) in zip(kids, cells,
                                                                             strict=True))))
        else:
            lines.append(("one", spec, _height(spec, ctx, inner, m)))
        if view.message and view.message[0] == spec.flow_index:
            lines.append(("message", view.message[1], _text_height(view.message[1], inner, m)))
    if view.message and not any(kind == "message" for kind, _, _ in lines):
        lines.append(("message", view.message[1], _text_height(view.message[1], inner, m)))

    n_lists = sum(1 for kind, _, _ in lines if kind == "list")
    fixed = sum(h for _, _, h in lines if h is not None) + gap * len(lines)
    list_h = max(m.dp(ITEM_DP), (bottom - y - fixed) // n_lists) if n_lists else 0

    top = y  # a scrolling page shows its elements between here and `bottom`
    if screen.scroll:
        nodes.append(_page(view, Bounds(0, top, m.width, bottom), fixed + gap // 2))
        y -= view.scroll[PAGE_SCROLL_KEY]
    y += gap // 2
    for kind, what, h in lines:
        if y >= bottom:
            break
        if h is not None and y + h <= top:  # scrolled above a page's top (no lists there)
            y += h + gap
            continue
        if kind == "list":
            nodes.extend(_place_list(what, view, Bounds(margin, y, m.width - margin,
                                                        min(bottom, y + list_h)), m))
            y += list_h + gap
            continue
        if kind == "message":
            font = m.dp(TEXT_FONT_DP)
            box = Bounds(margin, max(top, y), m.width - margin, min(bottom, y + h))
            nodes.append(Node(Element(ElementKind.TEXT, box, text=what, id="message"), "message",
                              font=font, lines=wrap(what, inner, font)))
        elif kind == "row":
            for child, (left, width) in what:
                nodes.append(_node(child, view, Bounds(margin + left, max(top, y),
                                                       margin + left + width,
                                                       min(bottom, y + h)), m))
        else:
            nodes.append(_node(what, view, Bounds(margin, max(top, y), m.width - margin,
                                                  min(bottom, y + h)), m))
        y += h + gap

    for spec in visible:
        if spec.box is not None:
            left, top, right, bot = spec.box
            box = Bounds(round(left * m.width / 100), round(top * m.height / 100),
                         round(right * m.width / 100), round(bot * m.height / 100))
            if spec.kind == ElementKind.LIST:
                nodes.extend(_place_list(spec, view, box, m))
            else:
                nodes.append(_node(spec, view, box, m))

    tabs = [t for t in screen.tabs if t.visible is None or evaluate(t.visible, ctx)]
    if tabs:
        width = m.width // len(tabs)
        for i, tab in enumerate(tabs):
            right = m.width if i == len(tabs) - 1 else (i + 1) * width
            node = _node(tab, view, Bounds(i * width, bottom, right, m.height), m)
            node.selected = any(a.verb == "go" and a.arg == screen.id for a in tab.on_tap)
            nodes.append(node)
    return nodes


def _page(view: ScreenState, box: Bounds, content: int) -> Node:
    """A scrolling screen's page (a ScrollView: kind list), placed first so that its elements
    lie on top of it; clamps the page's offset to its content."""
    viewport = box.bottom - box.top
    most = max(0, content - viewport)
    view.scroll[PAGE_SCROLL_KEY] = max(0, min(view.scroll.get(PAGE_SCROLL_KEY, 0), most))
    return Node(Element(ElementKind.LIST, box, id="page", scrollable=most > 0), "list",
                list_key=PAGE_SCROLL_KEY, content_height=content)


def layout_launcher(apps: list[tuple[str, str]], m: Metrics, tablet: bool) -> list[Node]:
    """The home screen: one icon per installed app (package, label), in a grid."""
    cols = 6 if tablet else 4
    cell = m.width // cols
    top = m.dp(STATUS_BAR_DP) + m.dp(24)
    nodes = []
    font = m.dp(13)
    for i, (package, label) in enumerate(apps):
        row, col = divmod(i, cols)
        y = top + row * (cell + m.dp(24))
        box = Bounds(col * cell, y, (col + 1) * cell, y + cell + m.dp(20))
        if box.bottom > m.height:
            break
        nodes.append(Node(Element(ElementKind.BUTTON, box, text=label, description=label,
                                  id=package, clickable=True), "app", font=font,
                          lines=wrap(label, cell, font)[:2], package=package))
    return nodes


def list_items(spec: ElementSpec, ctx: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """A list's items: its static items, then those of its source."""
    items = list(spec.items)
    if spec.source:
        rows = resolve(spec.source, ctx)
        if isinstance(rows, list):
            items.extend(r if isinstance(r, Mapping) else {"text": r} for r in rows)
    return items


def _item_ctx(ctx: Mapping[str, Any], item: Mapping[str, Any], index: int) -> dict[str, Any]:
    return {**ctx, "item": {**item, "index": index, "number": index + 1}}


def _place_list(spec: ElementSpec, view: ScreenState, box: Bounds, m: Metrics) -> list[Node]:
    ctx = view.ctx
    query = render_template(spec.filter, ctx).strip().casefold() if spec.filter else ""
    shown: list[tuple[Mapping[str, Any], str, dict[str, Any]]] = []
    for index, item in enumerate(list_items(spec, ctx)):
        ictx = _item_ctx(ctx, item, index)
        text = render_template(spec.item_text, ictx)
        if query in text.casefold():
            shown.append((item, text, ictx))
    item_h = m.dp(ITEM_DP)
    content = len(shown) * item_h
    viewport = box.bottom - box.top
    if view.filters.get(spec.key, "") != query:  # a new search starts at the top
        view.filters[spec.key] = query
        view.scroll[spec.key] = 0
    offset = max(0, min(view.scroll.get(spec.key, 0), content - viewport))
    view.scroll[spec.key] = offset
    font = m.dp(TEXT_FONT_DP)
    nodes = [Node(Element(ElementKind.LIST, box, id=spec.id, scrollable=content > viewport),
                  "list", spec=spec, list_key=spec.key, content_height=content)]
    if not shown and spec.empty_text is not None:
        text = render_template(spec.empty_text, ctx)
        nodes.append(Node(Element(ElementKind.TEXT, Bounds(box.left, box.top, box.right,
                                                           min(box.bottom, box.top + item_h)),
                                  text=text), "text", font=font, lines=(text,)))
    first = offset // item_h
    for i in range(first, len(shown)):
        top = box.top + i * item_h - offset
        if top >= box.bottom:
            break
        item, text, ictx = shown[i]
        bounds = Bounds(box.left, max(box.top, top), box.right, min(box.bottom, top + item_h))
        if bounds.bottom - bounds.top < 2:
            continue
        desc = render_template(spec.item_description, ictx) if spec.item_description else None
        item_id = render_template(spec.item_id, ictx) if spec.item_id else None
        nodes.append(Node(Element(ElementKind.LIST_ITEM, bounds, text=text,
                                  description=desc or None, id=item_id or None, clickable=True),
                          "item", spec=spec,
                          font=font, lines=(text,), item=item, list_key=spec.key,
                          full=Bounds(box.left, top, box.right, top + item_h)))
    return nodes


def _node(spec: ElementSpec, view: ScreenState, box: Bounds, m: Metrics) -> Node:
    ctx = view.ctx
    text = render_template(spec.text, ctx) if spec.text is not None else None
    desc = render_template(spec.description, ctx) if spec.description is not None else None
    font = m.dp(TEXT_FONT_DP)
    lines = wrap(text, box.right - box.left, font) if text else ()
    if spec.editable:
        value = view.inputs.get(spec.id or spec.key, "")
        shown = "\u2022" * len(value) if spec.secret else value
        hint = render_template(spec.hint, ctx) if spec.hint is not None else None
        focused = view.focus == (spec.id or spec.key)
        el = Element(spec.kind, box, text=shown or None, description=desc, id=spec.id,
                     hint=hint, clickable=True, editable=True, focused=focused)
        return Node(el, "input", spec=spec, font=font, lines=(shown,) if shown else ())
    checked = None
    if spec.bind is not None:
        checked = bool(view.ctx["state"].get(spec.bind))
    clickable = spec.kind in CLICKABLE_KINDS or spec.bind is not None or bool(spec.on_tap)
    el = Element(spec.kind, box, text=text, description=desc, id=spec.id, clickable=clickable,
                 checked=checked)
    return Node(el, spec.kind, spec=spec, font=font, lines=lines)


def _cells(kids: list[ElementSpec], inner: int, gap: int) -> list[tuple[int, int]]:
    """(left offset, width) of each element of a row, by weight."""
    total = sum(k.weight for k in kids)
    free = inner - gap * (len(kids) - 1)
    cells, left = [], 0
    for k in kids:
        width = round(free * k.weight / total)
        cells.append((left, width))
        left += width + gap
    return cells


def _text_height(text: str, width: int, m: Metrics) -> int:
    return len(wrap(text, width, m.dp(TEXT_FONT_DP))) * m.dp(LINE_DP) + m.dp(12)


def _height(spec: ElementSpec, ctx: Mapping[str, Any], width: int, m: Metrics) -> int:
    if spec.kind == ElementKind.TEXT:
        text = render_template(spec.text or "", ctx)
        return _text_height(text, width, m)
    return m.dp(_HEIGHT_DP.get(spec.kind, 52))
