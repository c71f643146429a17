"""What `uiautomator dump` writes for a simulator screen: one window root per window (the
status bar, the keyboard while an input has the focus, the app), nodes with the Android widget
classes of their kinds, list items nested in their list and tabs in a tab strip."""

from __future__ import annotations

import time
from xml.sax.saxutils import quoteattr

from qualgent.drivers.base import Element, ElementKind, Hierarchy

LATIN_IME = "com.google.android.inputmethod.latin/com.android.inputmethod.latin.LatinIME"
LAUNCHER = "com.google.android.apps.nexuslauncher"
SYSTEM_UI = "com.android.systemui"
_CLASSES = {
    ElementKind.BUTTON: "android.widget.Button", ElementKind.TEXT: "android.widget.TextView",
    ElementKind.LINK: "android.widget.TextView", ElementKind.INPUT: "android.widget.EditText",
    ElementKind.SEARCH: "androidx.appcompat.widget.SearchView$SearchAutoComplete",
    ElementKind.SWITCH: "android.widget.Switch", ElementKind.CHECKBOX: "android.widget.CheckBox",
    ElementKind.TAB: "androidx.appcompat.app.ActionBar$Tab",
    ElementKind.IMAGE: "android.widget.ImageView",
    ElementKind.LIST: "androidx.recyclerview.widget.RecyclerView",
    ElementKind.LIST_ITEM: "android.view.ViewGroup", ElementKind.ROW: "android.widget.LinearLayout",
    ElementKind.PROGRESS: "android.widget.ProgressBar",
}


def dump_xml(screen: Hierarchy, height: int, *, hints: bool, system: bool,
             keyboard: bool) -> str:
    """`screen` as `uiautomator dump` writes it: one window root per window, nodes with the
    Android classes of their kinds (list items nested in their list, tabs in a tab strip)."""
    package = screen.package or LAUNCHER
    w, h = screen.width, screen.height
    out = ["<?xml version='1.0' encoding='UTF-8' standalone='yes' ?><hierarchy rotation=\"0\">"]
    if system:
        out.append(_node("android.widget.FrameLayout", SYSTEM_UI, (0, 0, w, 63), hints,
                         children=[_node("android.widget.TextView", SYSTEM_UI, (42, 12, 150, 52),
                                         hints, text=time.strftime("%H:%M:%S"),
                                         rid=f"{SYSTEM_UI}:id/clock")]))
    body: list[str] = []
    elements = list(screen.elements)
    i = 0
    tabs = [e for e in elements if e.kind == ElementKind.TAB]
    while i < len(elements):
        el = elements[i]
        if el.kind == ElementKind.LIST:
            items = []
            j = i + 1
            while j < len(elements) and elements[j].kind == ElementKind.LIST_ITEM \
                    and _inside(elements[j], el):
                items.append(_element(elements[j], package, hints))
                j += 1
            body.append(_element(el, package, hints, children=items))
            i = j
            continue
        if el.kind == ElementKind.TAB:
            if el is tabs[0]:
                strip = (0, min(t.bounds.top for t in tabs), w, max(t.bounds.bottom for t in tabs))
                body.append(_node("android.widget.HorizontalScrollView", package, strip, hints,
                                  rid=f"{package}:id/tabs",
                                  children=[_element(t, package, hints) for t in tabs]))
            i += 1
            continue
        body.append(_element(el, package, hints))
        i += 1
    if system and keyboard:  # the keyboard's window lies above the app's: listed first
        ime = LATIN_IME.split("/")[0]
        out.append(_node("android.widget.FrameLayout", ime, (0, height - 700, w, height), hints,
                         children=[_node("android.widget.Button", ime,
                                         (0, height - 120, w // 4, height), hints,
                                         desc="Delete", clickable=True)]))
    out.append(_node("android.widget.FrameLayout", package, (0, 0, w, h), hints, children=body))
    out.append("</hierarchy>")
    return "".join(out)


def _inside(item: Element, lst: Element) -> bool:
    a, b = item.bounds, lst.bounds
    return a.top >= b.top and a.bottom <= b.bottom


def _element(el: Element, package: str, hints: bool, children: list[str] | None = None) -> str:
    cls = _CLASSES[ElementKind(el.kind)]
    box = (el.bounds.left, el.bounds.top, el.bounds.right, el.bounds.bottom)
    rid = f"{package}:id/{el.id}" if el.id and package != LAUNCHER else ""
    common = {"rid": rid, "desc": el.description or "", "clickable": el.clickable,
              "focused": el.focused}
    if el.kind in (ElementKind.INPUT, ElementKind.SEARCH):
        value = el.text or ""
        password = bool(value) and set(value) == {"\u2022"}
        return _node(cls, package, box, hints, text=value or el.hint or "",
                     hint=el.hint or "", password=password, focusable=True, **common)
    if el.kind in (ElementKind.SWITCH, ElementKind.CHECKBOX):
        return _node(cls, package, box, hints, text=el.text or "", checkable=True,
                     checked=bool(el.checked), **common)
    if el.kind in (ElementKind.LIST_ITEM, ElementKind.TAB):
        label = _node("android.widget.TextView", package, box, hints, text=el.text or "")
        return _node(cls, package, box, hints, children=[label], **common)
    if el.kind == ElementKind.LIST:
        return _node(cls, package, box, hints, scrollable=el.scrollable, children=children,
                     **common)
    if package == LAUNCHER:
        cls = "android.widget.TextView"
    return _node(cls, package, box, hints, text=el.text or "", **common)


def _node(cls: str, package: str, box: tuple[int, int, int, int], hints: bool, *,
          text: str = "", rid: str = "", desc: str = "", hint: str = "",
          clickable: bool = False, focused: bool = False, focusable: bool = False,
          checkable: bool = False, checked: bool = False, scrollable: bool = False,
          password: bool = False, children: list[str] | None = None) -> str:
    def flag(v: bool) -> str:
        return "true" if v else "false"

    attrs = [("index", "0"), ("text", text), ("resource-id", rid), ("class", cls),
             ("package", package), ("content-desc", desc), ("checkable", flag(checkable)),
             ("checked", flag(checked)), ("clickable", flag(clickable)), ("enabled", "true"),
             ("focusable", flag(focusable or clickable)), ("focused", flag(focused)),
             ("scrollable", flag(scrollable)), ("long-clickable", "false"),
             ("password", flag(password)), ("selected", "false"),
             ("bounds", "[{},{}][{},{}]".format(*box))]
    if hints:
        attrs += [("drawing-order", "1"), ("hint", hint), ("display-id", "0")]
    head = "<node " + " ".join(f"{k}={quoteattr(v)}" for k, v in attrs)
    if not children:
        return head + " />"
    return head + ">" + "".join(children) + "</node>"
