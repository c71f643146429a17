"""XCUITest page source (Appium's GET /source on iOS) -> Hierarchy, in screenshot pixels.

XCUITest reports points; screenshots are in pixels (3x on most iPhones), and the agent taps
what it sees in the hierarchy, so every bound is multiplied by `scale` here and the driver
divides again when it taps. Only visible elements inside the window are kept, containers
(Other, Window, ...) are dropped and the keyboard's keys are left out (they are not the
app's). `name` is the accessibility identifier, or the label when the app set none; `value`
is an input's text, or its placeholder while it is empty.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from qualgent.drivers.base import Bounds, Element, ElementKind, Hierarchy

PREFIX = "XCUIElementType"
_KINDS: dict[str, ElementKind] = {
    "Button": ElementKind.BUTTON,
    "MenuItem": ElementKind.BUTTON,
    "Icon": ElementKind.BUTTON,  # a home-screen app icon
    "SegmentedControl": ElementKind.TAB,
    "StaticText": ElementKind.TEXT,
    "TextField": ElementKind.INPUT,
    "SecureTextField": ElementKind.INPUT,
    "TextView": ElementKind.INPUT,
    "SearchField": ElementKind.SEARCH,
    "Switch": ElementKind.SWITCH,
    "Toggle": ElementKind.SWITCH,
    "CheckBox": ElementKind.CHECKBOX,
    "Link": ElementKind.LINK,
    "Image": ElementKind.IMAGE,
    "Cell": ElementKind.LIST_ITEM,
    "Table": ElementKind.LIST,
    "CollectionView": ElementKind.LIST,
    "ScrollView": ElementKind.LIST,
    "ActivityIndicator": ElementKind.PROGRESS,
    "ProgressIndicator": ElementKind.PROGRESS,
}
_EDITABLE = {"TextField", "SecureTextField", "TextView", "SearchField"}
_TAPPABLE = {"Button", "MenuItem", "Icon", "Switch", "Toggle", "CheckBox", "Link", "Cell"}
_SKIPPED_SUBTREES = {"Keyboard"}  # the keyboard's keys are not the app's
_DOCTYPE = re.compile(r"<!(DOCTYPE|ENTITY)", re.I)


class SourceError(ValueError):
    """The page source is not XCUITest XML."""


@dataclass(frozen=True)
class IosScreen:
    """A parsed source: the hierarchy (pixels) and what the driver needs besides."""

    hierarchy: Hierarchy
    app_label: str | None  # the root application's label (its display name)
    back_button: Bounds | None  # a navigation bar's back button, in pixels


def parse_source(xml: str, scale: float, *, package: str | None = None) -> IosScreen:
    """Parse an XCUITest source; `scale` is screenshot pixels per point, `package` the
    foreground app as the caller knows it (XCUITest names apps by label, not bundle id)."""
    if _DOCTYPE.search(xml[:4096]):
        raise SourceError("the page source declares a DTD or entities; refusing it")
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise SourceError(f"the page source is not XML ({exc})") from exc
    app = root if _type(root) == "Application" else next(
        (n for n in root.iter() if _type(n) == "Application"), None)
    if app is None:
        raise SourceError("the page source has no XCUIElementTypeApplication")
    frame = _frame(app)
    if frame is None or frame[2] <= 0 or frame[3] <= 0:
        raise SourceError("the application element has no size")
    window = (frame[0], frame[1], frame[0] + frame[2], frame[1] + frame[3])
    width, height = round(frame[2] * scale), round(frame[3] * scale)

    elements: list[Element] = []
    back: list[Bounds] = []

    def walk(node: ET.Element, in_tab_bar: bool, in_nav_bar: bool) -> None:
        for child in node:
            kind = _type(child)
            if kind in _SKIPPED_SUBTREES or not _visible(child):
                continue
            el = _element(child, kind, in_tab_bar, window, scale)
            if el is not None:
                elements.append(el)
                if in_nav_bar and kind == "Button" and not back and _is_back(child):
                    back.append(el.bounds)
            walk(child, in_tab_bar or kind == "TabBar", in_nav_bar or kind == "NavigationBar")

    walk(app, False, False)
    label = app.get("label") or app.get("name") or None
    return IosScreen(Hierarchy(width=width, height=height, elements=tuple(elements),
                               package=package), label, back[0] if back else None)


def _type(node: ET.Element) -> str:
    t = node.get("type") or node.tag
    return t[len(PREFIX):] if t.startswith(PREFIX) else t


def _visible(node: ET.Element) -> bool:
    return node.get("visible", "true") == "true"


def _frame(node: ET.Element) -> tuple[float, float, float, float] | None:
    try:
        return tuple(float(node.get(a, "")) for a in ("x", "y", "width", "height"))  # type: ignore[return-value]
    except ValueError:
        return None


def _is_back(node: ET.Element) -> bool:
    """The navigation bar's back button: UIKit names it "Back" or the previous title, and it
    sits at the bar's left edge; a bar's right buttons (Edit, Done, +) are not it."""
    name = (node.get("name") or "").lower()
    frame = _frame(node)
    return name in ("back", "backbutton") or (frame is not None and frame[0] < 20)


def _element(node: ET.Element, kind: str, in_tab_bar: bool,
             window: tuple[float, float, float, float], scale: float) -> Element | None:
    mapped = _KINDS.get(kind)
    if mapped is None:
        return None
    frame = _frame(node)
    if frame is None:
        return None
    x, y, w, h = frame
    left, top = max(x, window[0]), max(y, window[1])
    right, bottom = min(x + w, window[2]), min(y + h, window[3])
    if right - left < 1 or bottom - top < 1:  # outside the window
        return None
    bounds = Bounds(round(left * scale), round(top * scale),
                    round(right * scale), round(bottom * scale))
    if mapped == ElementKind.BUTTON and in_tab_bar:
        mapped = ElementKind.TAB
    name = node.get("name") or None
    label = node.get("label") or None
    value = node.get("value") or None
    placeholder = node.get("placeholderValue") or None
    identifier = name if name and name != label else None
    enabled = node.get("enabled", "true") == "true"
    checked = None
    if mapped in (ElementKind.SWITCH, ElementKind.CHECKBOX):
        checked = value in ("1", "true")
        text, description = label, None
    elif kind in _EDITABLE:
        text = value if value and value != placeholder else None
        description = label
    elif mapped == ElementKind.IMAGE:
        text, description = None, label
    else:
        text = label or value
        description = None
    scrollable = mapped == ElementKind.LIST
    return Element(mapped, bounds, text=text, description=description, id=identifier,
                   hint=placeholder, clickable=enabled and (kind in _TAPPABLE or kind in _EDITABLE
                                                            or mapped == ElementKind.TAB),
                   editable=kind in _EDITABLE, checked=checked,
                   focused=node.get("hasFocus", node.get("focused", "false")) == "true",
                   scrollable=scrollable)
