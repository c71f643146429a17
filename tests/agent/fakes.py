"""A small fake device for the agent's tests: the Device protocol over a dict of screens.

Each screen is a list of `Node`s laid out top to bottom (100 px tall, 20 px apart) in a
viewport from y=100 to y=2200; `fixed` nodes (tabs) sit in a bar at the bottom and do not
scroll. A swipe scrolls the screen when its content is taller than the viewport. Taps hit the
topmost element under the point; inputs take focus, switches flip, `on_tap` goes to a screen
(a str) or runs a callback. Every call the agent makes is appended to `log`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from qualgent.drivers.base import (
    AppCrashed,
    Bounds,
    DeviceLost,
    DeviceProfile,
    Element,
    Hierarchy,
    InstalledApp,
    Sms,
)

PACKAGE = "com.example.shop"
TOP, BOTTOM, ROW, GAP = 100, 2200, 100, 20
CLICKABLE = {"button", "link", "tab", "list_item", "switch", "checkbox", "image"}
EDITABLE = {"input", "search"}

Action = str | Callable[["FakeDevice"], None] | None


@dataclass
class Node:
    kind: str
    text: str | None = None
    id: str | None = None
    hint: str | None = None
    description: str | None = None
    on_tap: Action = None
    on_submit: Action = None
    checked: bool | None = None
    fixed: bool = False
    clickable: bool | None = None
    visible: Callable[[FakeDevice], bool] | None = None
    value: str = ""


def tabs(*names: str) -> list[Node]:
    return [Node("tab", n, id=f"tab_{n.lower()}", on_tap=n.lower(), fixed=True) for n in names]


@dataclass
class FakeDevice:
    screens: dict[str, list[Node]]
    start: str
    package: str = PACKAGE
    sms_enabled: bool = True
    profile: DeviceProfile = field(init=False)
    log: list[tuple] = field(default_factory=list)
    sms: list[Sms] = field(default_factory=list)
    running: bool = False
    foreground: bool = False
    stack: list[str] = field(default_factory=list)
    offsets: dict[str, int] = field(default_factory=dict)
    focus: tuple[str, int] | None = None
    message: str | None = None
    crashed: str | None = None
    lost: bool = False
    polls: int = 0
    fail_screenshot: bool = False

    def __post_init__(self) -> None:
        self.profile = DeviceProfile("Fake Phone", "Android", "14", sms_enabled=self.sms_enabled)

    # ---------------------------------------------------------------- scenario helpers

    @property
    def screen(self) -> str:
        return self.stack[-1]

    def go(self, name: str) -> None:
        self.stack.append(name)
        self.message = None
        self.focus = None

    def show(self, text: str) -> None:
        self.message = text

    def crash(self, why: str = "NullPointerException") -> None:
        self.crashed = why

    def text_sms(self, body: str, sender: str = "Shop") -> None:
        self.sms.append(Sms(sender, body, time.time()))

    def value(self, node_id: str) -> str:
        for nodes in self.screens.values():
            for n in nodes:
                if n.id == node_id:
                    return n.value
        raise KeyError(node_id)

    def calls(self, name: str) -> list[tuple]:
        return [c for c in self.log if c[0] == name]

    # ---------------------------------------------------------------- layout

    def _check(self) -> None:
        if self.lost:
            raise DeviceLost("Fake Phone is no longer connected")
        if self.crashed is not None and self.foreground:
            raise AppCrashed(f"{self.package} crashed: {self.crashed}")

    def _placed(self) -> list[tuple[Node, Element]]:
        if not self.foreground:
            return [(Node("image", self.package), Element(
                "image", Bounds(100, 100, 300, 300), text="Shop", clickable=True))]
        nodes = [n for n in self.screens[self.screen] if n.visible is None or n.visible(self)]
        flow = [n for n in nodes if not n.fixed]
        fixed = [n for n in nodes if n.fixed]
        if self.message:
            flow.append(Node("text", self.message))
        content = len(flow) * (ROW + GAP)
        scrollable = content > BOTTOM - TOP
        offset = self.offsets.get(self.screen, 0)
        out: list[tuple[Node, Element]] = []
        if scrollable:
            out.append((Node("list"), Element("list", Bounds(0, TOP, 1080, BOTTOM), id="content",
                                              scrollable=True)))
        y = TOP - offset
        for n in flow:
            b = Bounds(40, y, 1040, y + ROW)
            y += ROW + GAP
            if b.top < TOP or b.bottom > BOTTOM:
                continue
            out.append((n, self._element(n, b)))
        width = 1080 // max(1, len(fixed))
        for i, n in enumerate(fixed):
            out.append((n, self._element(n, Bounds(i * width, 2250, (i + 1) * width, 2350))))
        return out

    def _element(self, n: Node, b: Bounds) -> Element:
        editable = n.kind in EDITABLE
        focused = self.focus == (self.screen, id(n)) if editable else False
        text = n.text
        if editable:
            text = n.value or None
        clickable = n.clickable if n.clickable is not None else (
            n.kind in CLICKABLE or n.on_tap is not None or editable)
        return Element(n.kind, b, text=text, description=n.description, id=n.id, hint=n.hint,
                       clickable=clickable, editable=editable, checked=n.checked,
                       focused=focused)

    def _max_offset(self) -> int:
        nodes = [n for n in self.screens[self.screen] if not n.fixed
                 and (n.visible is None or n.visible(self))]
        content = (len(nodes) + (1 if self.message else 0)) * (ROW + GAP)
        return max(0, content - (BOTTOM - TOP))

    def _run(self, action: Action) -> None:
        if action is None:
            return
        if isinstance(action, str):
            self.go(action)
        else:
            action(self)

    # ---------------------------------------------------------------- the Device protocol

    def install(self, build: Path) -> InstalledApp:
        return InstalledApp(self.package)

    def launch(self, package: str) -> None:
        self._check()
        self.log.append(("launch", package))
        if not self.running:
            self.running = True
            self.stack = [self.start]
        self.foreground = True

    def stop(self, package: str) -> None:
        self.log.append(("stop", package))
        self.running = self.foreground = False
        self.crashed = None
        self.stack = []

    def hierarchy(self) -> Hierarchy:
        self._check()
        self.polls += 1
        return Hierarchy(1080, 2400, tuple(e for _, e in self._placed()),
                         self.package if self.foreground else None)

    def screenshot(self) -> bytes:
        if self.lost or self.fail_screenshot:
            raise DeviceLost("no screenshot")
        name = self.screen if self.foreground and self.stack else "launcher"
        return b"\x89PNG\r\n\x1a\n" + name.encode()

    def tap(self, x: int, y: int) -> None:
        self._check()
        self.log.append(("tap", x, y))
        for n, e in reversed(self._placed()):
            b = e.bounds
            if b.left <= x < b.right and b.top <= y < b.bottom and (e.clickable or e.editable):
                if not self.foreground:
                    self.launch(self.package)
                    return
                if e.editable:
                    self.focus = (self.screen, id(n))
                    return
                self.focus = None
                if n.checked is not None:
                    n.checked = not n.checked
                self.message = None
                self._run(n.on_tap)
                return

    def _focused(self) -> Node | None:
        if self.focus is None:
            return None
        screen, nid = self.focus
        return next((n for n in self.screens[screen] if id(n) == nid), None)

    def type_text(self, text: str) -> None:
        self._check()
        self.log.append(("type", text))
        n = self._focused()
        if n is not None:
            n.value += text

    def clear(self) -> None:
        self._check()
        self.log.append(("clear",))
        n = self._focused()
        if n is not None:
            n.value = ""

    def swipe(self, x1: int, y1: int, x2: int, y2: int, duration_ms: int = 300) -> None:
        self._check()
        self.log.append(("swipe", x1, y1, x2, y2))
        if self.foreground and abs(y1 - y2) > abs(x1 - x2):
            offset = self.offsets.get(self.screen, 0) + (y1 - y2)
            self.offsets[self.screen] = max(0, min(self._max_offset(), offset))

    def back(self) -> None:
        self._check()
        self.log.append(("back",))
        if len(self.stack) > 1:
            self.stack.pop()
            self.message = None
            self.focus = None
        else:
            self.running = self.foreground = False

    def key(self, name: str) -> None:
        self._check()
        self.log.append(("key", name))
        if name not in ("enter", "search", "back", "home", "backspace"):
            raise ValueError(f"unknown key {name!r}")
        if name == "enter":
            n = self._focused()
            if n is not None:
                self._run(n.on_submit)
        elif name == "home":
            self.foreground = False
        elif name == "back":
            self.back()

    def read_sms(self) -> list[Sms]:
        self._check()
        return list(self.sms)


# --------------------------------------------------------------------------- a small shop


PRODUCTS = [f"Product {i:02d}" for i in range(1, 30)] + ["Zen Garden Kit"]


def shop(**kw) -> FakeDevice:  # noqa: ANN003
    """A sign-in -> code -> home (search + 30 products) -> product -> cart shop."""

    def sign_in(d: FakeDevice) -> None:
        if d.value("email") == "demo@example.com" and d.value("password") == "hunter2":
            d.go("verify")
            d.text_sms("Your Shop code is 482913")
        else:
            d.show("Invalid email or password")

    def verify(d: FakeDevice) -> None:
        if d.value("code") == "482913":
            d.stack = ["home"]
            d.focus = None
        else:
            d.show("Incorrect code")

    def add(d: FakeDevice) -> None:
        d.show("Added to cart")

    def checkout(d: FakeDevice) -> None:
        d.show("Order confirmed")

    def search(d: FakeDevice) -> None:
        d.go("results")

    screens = {
        "sign_in": [
            Node("text", "Sign in"),
            Node("input", id="email", hint="Email"),
            Node("input", id="password", hint="Password", on_submit=sign_in),
            Node("button", "Sign in", id="sign_in", on_tap=sign_in),
            Node("link", "Terms and Conditions", on_tap="terms"),
        ],
        "terms": [Node("text", "Terms and Conditions"), Node("text", "Be nice.")],
        "verify": [
            Node("text", "Enter the 6-digit code we texted you"),
            Node("input", id="code", hint="Code", on_submit=verify),
            Node("button", "Verify", id="verify", on_tap=verify),
        ],
        "home": [
            Node("input", id="search", hint="Search products", on_submit=search),
            Node("button", "Search", description="Search", id="search_button", on_tap=search),
            *[Node("list_item", p, description="$59.99" if i == 0 else "$10.00",
                   on_tap="product") for i, p in enumerate(PRODUCTS)],
            *tabs("Home", "Cart", "Profile"),
        ],
        "results": [Node("text", "Results"), Node("list_item", "Product 01", on_tap="product"),
                    *tabs("Home", "Cart", "Profile")],
        "product": [
            Node("image", description="Product 01", clickable=False),
            Node("text", "$59.99", id="price"),
            Node("button", "Add to cart", id="add_to_cart", on_tap=add),
        ],
        "cart": [Node("text", "Your cart"), Node("button", "Checkout", on_tap=checkout),
                 *tabs("Home", "Cart", "Profile")],
        "profile": [
            Node("text", "Signed in as demo@example.com"),
            Node("switch", "Dark mode", id="dark_mode", checked=False),
            Node("button", "Sign out", on_tap="sign_in"),
            Node("button", "Crash app", on_tap=lambda d: d.crash("Crash app was tapped")),
            *tabs("Home", "Cart", "Profile"),
        ],
    }
    kw.setdefault("start", "sign_in")
    return FakeDevice(screens, **kw)


def fast_options(**kw):  # noqa: ANN003, ANN201
    """Grace periods short enough for tests (the fake device answers at once)."""
    from qualgent.agent import AgentOptions

    base = dict(poll_interval=0.01, find_timeout=0.03, assert_timeout=0.03, sms_timeout=0.1,
                launch_timeout=0.1, default_wait_timeout=0.2)
    base.update(kw)
    return AgentOptions(**base)
