"""Android UI dumps -> element trees: uiautomator dump XML (old and API 36 attribute sets, several
windows) and Appium UiAutomator2 page source (the class name as the tag)."""

from __future__ import annotations

import pytest

from qualgent.drivers.android.xml import DumpError, parse_bounds, parse_dump, strip_id
from qualgent.drivers.base import Bounds, Element, ElementKind

APP = "com.example.shop"


def node(cls: str, bounds: str, *, text: str = "", rid: str = "", desc: str = "",
         package: str = APP, children: str = "", **flags: str) -> str:
    attrs = {"index": "0", "text": text, "resource-id": rid, "class": cls, "package": package,
             "content-desc": desc, "checkable": "false", "checked": "false",
             "clickable": "false", "enabled": "true", "focusable": "false", "focused": "false",
             "scrollable": "false", "long-clickable": "false", "password": "false",
             "selected": "false", "bounds": bounds}
    attrs.update({k.replace("_", "-"): v for k, v in flags.items()})
    head = "<node " + " ".join(f'{k}="{v}"' for k, v in attrs.items())
    return f"{head}>{children}</node>" if children else head + " />"


def dump(*windows: str, rotation: str = "0") -> str:
    return ("<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>"
            f'<hierarchy rotation="{rotation}">{"".join(windows)}</hierarchy>')


SIGN_IN = dump(
    node("android.widget.FrameLayout", "[0,0][1080,63]", package="com.android.systemui",
         children=node("android.widget.TextView", "[40,10][150,50]", text="12:30",
                       package="com.android.systemui")),
    node("android.widget.FrameLayout", "[0,0][1080,2400]", children="".join([
        node("android.widget.TextView", "[48,72][1032,240]", text="Sign in",
             rid=f"{APP}:id/title"),
        node("android.widget.EditText", "[48,258][1032,426]", text="Email", hint="Email",
             rid=f"{APP}:id/email", clickable="true", focusable="true"),
        node("android.widget.EditText", "[48,462][1032,630]", text="\u2022\u2022\u2022",
             hint="Password", rid=f"{APP}:id/password", clickable="true", focused="true",
             password="true"),
        node("android.widget.Button", "[48,666][1032,822]", text="Sign in",
             rid=f"{APP}:id/sign_in", clickable="true"),
        node("android.widget.TextView", "[48,858][1032,978]", text="Forgot password?",
             rid=f"{APP}:id/forgot_password", clickable="true"),
        node("android.widget.Switch", "[48,1000][1032,1100]", text="Remember me",
             checkable="true", checked="true", clickable="true"),
    ])),
    node("android.widget.FrameLayout", "[0,1700][1080,2400]",
         package="com.google.android.inputmethod.latin",
         children=node("android.widget.Button", "[0,2280][270,2400]", desc="Delete",
                       clickable="true", package="com.google.android.inputmethod.latin")),
)


def test_kinds_ids_and_states_come_from_the_widget_classes() -> None:
    screen = parse_dump(SIGN_IN, width=1080, height=2400)
    assert screen.package == APP and (screen.width, screen.height) == (1080, 2400)
    assert screen.elements == (
        Element(ElementKind.TEXT, Bounds(48, 72, 1032, 240), text="Sign in", id="title"),
        Element(ElementKind.INPUT, Bounds(48, 258, 1032, 426), id="email", hint="Email",
                clickable=True, editable=True),
        Element(ElementKind.INPUT, Bounds(48, 462, 1032, 630), text="\u2022\u2022\u2022",
                id="password", hint="Password", clickable=True, editable=True, focused=True),
        Element(ElementKind.BUTTON, Bounds(48, 666, 1032, 822), text="Sign in", id="sign_in",
                clickable=True),
        Element(ElementKind.LINK, Bounds(48, 858, 1032, 978), text="Forgot password?",
                id="forgot_password", clickable=True),
        Element(ElementKind.SWITCH, Bounds(48, 1000, 1032, 1100), text="Remember me",
                clickable=True, checked=True),
    )


def test_the_status_bar_and_the_keyboard_are_not_part_of_the_screen() -> None:
    texts = [e.text or e.description for e in parse_dump(SIGN_IN).elements]
    assert "12:30" not in texts and "Delete" not in texts


def test_an_older_dump_without_hints_reports_an_empty_fields_hint_as_its_text() -> None:
    xml = dump(node("android.widget.FrameLayout", "[0,0][1080,2400]", children=node(
        "android.widget.EditText", "[48,258][1032,426]", text="Email", clickable="true")))
    (field,) = parse_dump(xml).elements
    assert (field.text, field.hint, field.editable) == ("Email", None, True)


def test_list_rows_and_tabs_carry_their_childrens_text() -> None:
    row = node("android.view.ViewGroup", "[48,400][1032,560]", desc="$59.99",
               clickable="true", children=node("android.widget.TextView",
                                               "[60,410][900,550]", text="Headphones"))
    tab = node("androidx.appcompat.app.ActionBar$Tab", "[0,2240][360,2400]",
               rid=f"{APP}:id/tab_home", clickable="true",
               children=node("android.widget.TextView", "[0,2240][360,2400]", text="Home"))
    nav = node("com.google.android.material.bottomnavigation.BottomNavigationView",
               "[360,2240][1080,2400]", children=node(
                   "android.widget.FrameLayout", "[360,2240][720,2400]", desc="Cart",
                   clickable="true"))
    xml = dump(node("android.widget.FrameLayout", "[0,0][1080,2400]", children="".join([
        node("androidx.recyclerview.widget.RecyclerView", "[48,400][1032,2200]",
             rid=f"{APP}:id/products", scrollable="true", children=row),
        node("android.widget.HorizontalScrollView", "[0,2240][1080,2400]", children=tab),
        nav])))
    kinds = [(e.kind, e.text, e.description, e.id) for e in parse_dump(xml).elements]
    assert kinds == [
        (ElementKind.LIST, None, None, "products"),
        (ElementKind.LIST_ITEM, "Headphones", "$59.99", None),
        (ElementKind.TAB, "Home", None, "tab_home"),
        (ElementKind.TAB, None, "Cart", None),
    ]
    assert parse_dump(xml).elements[0].scrollable


def test_a_clickable_container_of_texts_is_one_button_and_layout_is_left_out() -> None:
    button = node("android.view.View", "[100,100][500,200]", clickable="true",
                  children=node("android.view.View", "[120,110][480,190]", text="Continue"))
    xml = dump(node("android.widget.FrameLayout", "[0,0][1080,2400]", children=node(
        "android.widget.LinearLayout", "[0,0][1080,2400]", children=button + node(
            "android.widget.ImageView", "[0,300][100,400]"))))
    assert parse_dump(xml).elements == (
        Element(ElementKind.BUTTON, Bounds(100, 100, 500, 200), text="Continue",
                clickable=True),)


def test_the_launcher_is_the_home_screen() -> None:
    launcher = "com.google.android.apps.nexuslauncher"
    xml = dump(node("android.widget.FrameLayout", "[0,0][1080,2400]", package=launcher,
                    children=node("android.widget.TextView", "[0,100][270,400]",
                                  text="Demo Shop", desc="Demo Shop", clickable="true",
                                  package=launcher)))
    screen = parse_dump(xml, home_package=launcher)
    assert screen.package is None
    assert [(e.kind, e.text) for e in screen.elements] == [(ElementKind.BUTTON, "Demo Shop")]
    assert parse_dump(xml).package == launcher  # not known as the launcher: just an app


def test_a_landscape_dump_swaps_the_screen_size() -> None:
    xml = dump(node("android.widget.FrameLayout", "[0,0][2400,1080]"), rotation="1")
    screen = parse_dump(xml, width=1080, height=2400)
    assert (screen.width, screen.height) == (2400, 1080)


def test_appium_uiautomator2_source_uses_class_names_as_tags() -> None:
    xml = ('<?xml version="1.0" encoding="UTF-8"?><hierarchy index="0" class="hierarchy" '
           'rotation="0" width="1080" height="2400">'
           f'<android.widget.FrameLayout index="0" package="{APP}" class="android.widget.'
           'FrameLayout" text="" bounds="[0,0][1080,2400]" displayed="true">'
           f'<android.widget.EditText index="0" package="{APP}" class="android.widget.EditText"'
           f' text="Search products" hint="Search products" resource-id="{APP}:id/search" '
           'clickable="true" focused="false" bounds="[48,300][800,450]" displayed="true"/>'
           f'<android.widget.Button index="1" package="{APP}" class="android.widget.Button" '
           'text="Hidden" clickable="true" bounds="[0,0][10,10]" displayed="false"/>'
           '</android.widget.FrameLayout></hierarchy>')
    screen = parse_dump(xml)
    assert screen.elements == (
        Element(ElementKind.INPUT, Bounds(48, 300, 800, 450), id="search",
                hint="Search products", clickable=True, editable=True),)


@pytest.mark.parametrize("text", ["ERROR: could not get idle state.", "<hierarchy",
                                  "<html><body/></html>", ""])
def test_what_is_not_a_dump_is_refused(text: str) -> None:
    with pytest.raises(DumpError):
        parse_dump(text)


def test_bounds_and_ids() -> None:
    assert parse_bounds("[0,63][1080,2400]") == Bounds(0, 63, 1080, 2400)
    assert parse_bounds("[10,10][10,50]") is None and parse_bounds("junk") is None
    assert strip_id("com.app:id/sign_in") == "sign_in"
    assert strip_id("android:id/list") == "list" and strip_id("") is None


def test_a_search_views_inner_field_is_a_search_input() -> None:
    """A platform SearchView's text field is a nested class: SearchView$SearchAutoComplete."""
    screen = parse_dump(dump(node(
        "android.widget.FrameLayout", "[0,0][1080,2400]", children=node(
            "android.widget.SearchView$SearchAutoComplete", "[48,72][1032,200]",
            hint="Search products", rid=f"{APP}:id/search_src_text", clickable="true",
            focusable="true"))), width=1080, height=2400)
    (field,) = screen.elements
    assert field.editable and field.kind in (ElementKind.SEARCH, ElementKind.INPUT)
    assert field.hint == "Search products"
