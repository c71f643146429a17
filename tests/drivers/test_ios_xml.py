"""XCUITest page source -> Hierarchy, on a source shaped like WebDriverAgent's."""

from __future__ import annotations

import pytest

from qualgent.drivers.appium.ios_xml import SourceError, parse_source
from qualgent.drivers.base import Bounds, ElementKind


def node(kind: str, x: int, y: int, w: int, h: int, children: str = "", **attrs: str) -> str:
    extra = "".join(f' {k}="{v}"' for k, v in {"visible": "true", **attrs}.items())
    return (f'<XCUIElementType{kind} type="XCUIElementType{kind}" enabled="true"{extra} '
            f'x="{x}" y="{y}" width="{w}" height="{h}">{children}</XCUIElementType{kind}>')


SOURCE = ('<?xml version="1.0" encoding="UTF-8"?><AppiumAUT>' + node(
    "Application", 0, 0, 390, 844, name="Shop", label="Shop", children=node(
        "Window", 0, 0, 390, 844, children=(
            node("NavigationBar", 0, 47, 390, 44, name="Settings", children=(
                node("Button", 8, 47, 80, 44, name="Back", label="Back")
                + node("StaticText", 150, 55, 90, 22, name="Settings", label="Settings")
                + node("Button", 330, 47, 52, 44, name="Edit", label="Edit")))
            + node("TextField", 16, 100, 358, 44, name="email", label="Email address",
                   value="Email", placeholderValue="Email")
            + node("SecureTextField", 16, 150, 358, 44, name="password", label="",
                   value="••••", placeholderValue="Password")
            + node("Switch", 16, 200, 358, 44, name="dark_mode", label="Dark mode", value="1")
            + node("Image", 16, 250, 44, 44, name="logo", label="Shop logo")
            + node("Table", 0, 300, 390, 400, children=(
                node("Cell", 0, 300, 390, 60, name="Héadphones ✓", label="Héadphones ✓")
                + node("Cell", 0, 660, 390, 60, name="Partly shown", label="Partly shown")
                + node("Cell", 0, 900, 390, 60, name="Below", label="Below")))
            + node("StaticText", 16, 710, 200, 20, name="gone", label="Hidden", visible="false")
            + node("ActivityIndicator", 180, 720, 30, 30, name="In progress")
            + node("TabBar", 0, 761, 390, 83, children=(
                node("Button", 0, 761, 130, 83, name="Home", label="Home")
                + node("Button", 130, 761, 130, 83, name="Cart", label="Cart")))
            + node("Keyboard", 0, 500, 390, 300, children=node(
                "Key", 0, 500, 30, 40, name="q", label="q")))))
    + "</AppiumAUT>")


def test_a_webdriveragent_source_maps_to_our_elements_in_pixels() -> None:
    screen = parse_source(SOURCE, 3.0, package="com.example.shop")
    h = screen.hierarchy
    assert (h.width, h.height, h.package, screen.app_label) == (1170, 2532,
                                                                "com.example.shop", "Shop")
    got = [(e.kind, e.text, e.description, e.id, e.hint) for e in h.elements]
    assert got == [
        (ElementKind.BUTTON, "Back", None, None, None),
        (ElementKind.TEXT, "Settings", None, None, None),
        (ElementKind.BUTTON, "Edit", None, None, None),
        (ElementKind.INPUT, None, "Email address", "email", "Email"),  # value = placeholder
        (ElementKind.INPUT, "••••", None, "password", "Password"),
        (ElementKind.SWITCH, "Dark mode", None, "dark_mode", None),
        (ElementKind.IMAGE, None, "Shop logo", "logo", None),
        (ElementKind.LIST, None, None, None, None),
        (ElementKind.LIST_ITEM, "Héadphones ✓", None, None, None),
        (ElementKind.LIST_ITEM, "Partly shown", None, None, None),
        (ElementKind.PROGRESS, None, None, "In progress", None),  # a name without a label
        (ElementKind.TAB, "Home", None, None, None),
        (ElementKind.TAB, "Cart", None, None, None),
    ]
    by_text = {e.text: e for e in h.elements}
    assert by_text["Back"].bounds == Bounds(24, 141, 264, 273)
    assert by_text["Partly shown"].bounds.bottom == 2160  # cut at the window (720 pt)
    assert by_text["Dark mode"].checked is True
    assert by_text["Home"].clickable and by_text["Settings"].clickable is False
    assert all(e.editable for e in h.elements if e.kind == ElementKind.INPUT)
    assert next(e for e in h.elements if e.kind == ElementKind.LIST).scrollable
    assert screen.back_button == Bounds(24, 141, 264, 273)


def test_without_a_navigation_bar_there_is_no_back_button() -> None:
    src = node("Application", 0, 0, 390, 844, name="A", label="A",
               children=node("Button", 330, 47, 52, 44, name="Back", label="Back"))
    assert parse_source(src, 2.0).back_button is None


@pytest.mark.parametrize(("xml", "message"), [
    ("not xml at all", "not XML"),
    ("<hierarchy/>", "no XCUIElementTypeApplication"),
    ('<!DOCTYPE x [<!ENTITY a "aaaa">]><AppiumAUT/>', "DTD"),
    (node("Application", 0, 0, 0, 0), "no size"),
])
def test_a_bad_source_is_refused(xml: str, message: str) -> None:
    with pytest.raises(SourceError, match=message):
        parse_source(xml, 3.0)
