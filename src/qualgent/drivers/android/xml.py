"""Android UI dumps -> ``Hierarchy``: `uiautomator dump` XML and Appium UiAutomator2 page source.

Both list accessibility nodes with the same attributes (`uiautomator dump` as ``<node
class=...>``, Appium with the class name as the tag, adding ``hint``/``displayed``). Widget
classes map to the element kinds the simulator reports; containers the agent cannot act on
are left out, and a clickable container that only holds plain text (a list row, a tab, a
Compose or React Native button) becomes one element carrying its children's text. Nodes of
other packages (status bar, keyboard, a system dialog over the app) are dropped so that the
screen's fingerprint does not change with the clock. Pure: no device access.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass

from qualgent.drivers.base import Bounds, Element, ElementKind, Hierarchy

SYSTEM_UI = "com.android.systemui"
_BOUNDS_RE = re.compile(r"\[(-?\d+),(-?\d+)\]\[(-?\d+),(-?\d+)\]")
_EDIT = ("EditText", "AutoCompleteTextView", "MultiAutoCompleteTextView", "SearchAutoComplete",
         "TextInputEditText")
_SWITCH = ("Switch", "SwitchCompat", "SwitchMaterial", "MaterialSwitch", "ToggleButton")
_CHECK = ("CheckBox", "RadioButton", "CheckedTextView", "MaterialCheckBox")
_BUTTON = ("Button", "ImageButton", "FloatingActionButton", "MaterialButton")
_LIST = ("RecyclerView", "ListView", "GridView", "ScrollView", "NestedScrollView",
         "AbsListView", "ViewPager", "ViewPager2")
_TAB_PARENT = ("TabLayout", "TabWidget", "BottomNavigationView", "BottomNavigationMenuView",
               "NavigationBarMenuView", "NavigationBarView")
_TEXT = ("TextView", "MaterialTextView", "AppCompatTextView")
_IMAGE = ("ImageView", "AppCompatImageView", "ShapeableImageView")


class DumpError(ValueError):
    """The text is not a UI dump (an error message, a truncated file)."""


@dataclass
class _Node:
    cls: str  # the simple class name: "EditText", "ActionBar$Tab"
    attrs: dict[str, str]
    bounds: Bounds | None
    children: list[_Node]

    def flag(self, name: str) -> bool:
        return self.attrs.get(name) == "true"

    def get(self, name: str) -> str | None:
        value = self.attrs.get(name)
        return value if value else None


def parse_bounds(text: str | None) -> Bounds | None:
    """'[l,t][r,b]' -> Bounds; None when missing, malformed or empty."""
    m = _BOUNDS_RE.fullmatch((text or "").strip())
    if m is None:
        return None
    left, top, right, bottom = (int(v) for v in m.groups())
    if right <= left or bottom <= top:
        return None
    return Bounds(left, top, right, bottom)


def strip_id(resource_id: str | None) -> str | None:
    """'com.app:id/sign_in' -> 'sign_in' (the name a test and the simulator use)."""
    if not resource_id:
        return None
    return resource_id.rsplit(":id/", 1)[-1] or None


def parse_dump(xml: str | bytes, *, width: int | None = None, height: int | None = None,
               home_package: str | None = None,
               ignore_packages: Iterable[str] = (SYSTEM_UI,)) -> Hierarchy:
    """The elements of a UI dump, in document order.

    `package` of the result is the app whose window the dump shows (the first window root not
    in `ignore_packages`), None when that is `home_package` (the launcher). Nodes of any other
    package are dropped. `width`/`height` default to the extent of the window roots.
    Raises DumpError when `xml` is not a UI dump.
    """
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise DumpError(f"not a UI dump: {exc}") from exc
    if root.tag != "hierarchy":
        raise DumpError(f"not a UI dump: the root element is <{root.tag}>, not <hierarchy>")
    windows = [_read(child) for child in root]
    if root.get("rotation") in ("1", "3") and width and height:
        width, height = height, width
    ignored = set(ignore_packages)
    foreground = next((w.get("package") for w in windows
                       if w.get("package") and w.get("package") not in ignored), None)
    if width is None or height is None:
        boxes = [w.bounds for w in windows if w.bounds is not None]
        width = width or max((b.right for b in boxes), default=0)
        height = height or max((b.bottom for b in boxes), default=0)
    out: list[Element] = []
    on_home = foreground is not None and foreground == home_package
    for window in windows:
        if window.get("package") == foreground:
            _walk(window, None, out, on_home)
    return Hierarchy(width=width, height=height, elements=tuple(out),
                     package=None if on_home else foreground)


def _read(el: ET.Element) -> _Node:
    attrs = dict(el.attrib)
    cls = attrs.get("class") or el.tag
    simple = cls.rsplit(".", 1)[-1]
    return _Node(simple, attrs, parse_bounds(attrs.get("bounds")),
                 [_read(child) for child in el])


def _is(node: _Node, names: tuple[str, ...]) -> bool:
    """A nested class counts by its own name: SearchView$SearchAutoComplete is a
    SearchAutoComplete."""
    return node.cls in names or node.cls.rpartition("$")[2] in names


def _texts(node: _Node) -> list[str]:
    """The texts of a node and its descendants, in order."""
    found = [node.get("text")] if node.get("text") else []
    for child in node.children:
        found.extend(_texts(child))
    return found


def _plain(node: _Node) -> bool:
    """Only text, images and layout below: nothing to act on separately."""
    for child in node.children:
        if child.flag("clickable") or child.flag("checkable") or child.flag("scrollable"):
            return False
        if _is(child, _EDIT) or not _plain(child):
            return False
    return True


def _walk(node: _Node, parent: _Node | None, out: list[Element], on_home: bool) -> None:
    if node.attrs.get("displayed") == "false" or node.bounds is None:
        for child in node.children:
            _walk(child, node, out, on_home)
        return
    el, absorbed = _element(node, parent, on_home)
    if el is not None:
        out.append(el)
    if not absorbed:
        for child in node.children:
            _walk(child, node, out, on_home)


def _element(node: _Node, parent: _Node | None, on_home: bool
             ) -> tuple[Element | None, bool]:
    """The element a node stands for (or None) and whether its children are part of it."""
    b = node.bounds
    assert b is not None
    text, desc = node.get("text"), node.get("content-desc")
    rid, hint = strip_id(node.get("resource-id")), node.get("hint")
    clickable = node.flag("clickable")
    common = {"description": desc, "id": rid, "focused": node.flag("focused")}

    if _is(node, _EDIT) or node.cls.endswith("EditText"):
        if text is not None and text == hint:  # an empty field reports its hint as text
            text = None
        search = "Search" in node.cls or (rid or "").endswith("search_src_text")
        kind = ElementKind.SEARCH if search else ElementKind.INPUT
        return Element(kind, b, text=text, hint=hint, clickable=True, editable=True,
                       **common), False
    if _is(node, _SWITCH) or _is(node, _CHECK):
        kind = ElementKind.SWITCH if _is(node, _SWITCH) else ElementKind.CHECKBOX
        return Element(kind, b, text=text or _joined(node), clickable=True,
                       checked=node.flag("checked"), **common), True
    if _is(node, _LIST) or node.flag("scrollable"):
        return Element(ElementKind.LIST, b, id=rid, description=desc,
                       scrollable=node.flag("scrollable")), False
    if node.cls == "ProgressBar" or node.cls.endswith("ProgressIndicator"):
        return Element(ElementKind.PROGRESS, b, description=desc, id=rid), True
    tab = node.cls.endswith("$Tab") or (
        parent is not None and clickable and any(p in parent.cls for p in _TAB_PARENT))
    if tab:
        return Element(ElementKind.TAB, b, text=text or _joined(node), clickable=True,
                       **common), _plain(node)
    if _is(node, _BUTTON):
        return Element(ElementKind.BUTTON, b, text=text or _joined(node), clickable=True,
                       **common), _plain(node)
    if _is(node, _IMAGE):
        if not (desc or clickable or text):
            return None, True
        kind = ElementKind.BUTTON if clickable else ElementKind.IMAGE
        return Element(kind, b, text=text, clickable=clickable, **common), True
    container = bool(node.children)
    if clickable and container and _plain(node):
        in_list = parent is not None and (_is(parent, _LIST) or parent.flag("scrollable"))
        kind = ElementKind.LIST_ITEM if in_list else ElementKind.BUTTON
        return Element(kind, b, text=text or _joined(node), clickable=True, **common), True
    if text is None and desc is None:
        return None, False  # layout, or a clickable container whose parts are listed
    if clickable:
        kind = ElementKind.BUTTON if (on_home or not _is(node, _TEXT)) else ElementKind.LINK
        return Element(kind, b, text=text, clickable=True, **common), not container
    return Element(ElementKind.TEXT, b, text=text, **common), False


def _joined(node: _Node) -> str | None:
    texts = _texts(node)
    return " ".join(texts) if texts else None
