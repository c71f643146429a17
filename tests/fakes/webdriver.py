"""A fake Appium server: real W3C WebDriver over HTTP on loopback, backed by a SimulatedDevice.

The Appium driver is tested against this at the wire. iOS sessions answer like XCUITest: the
page source is XCUITest XML in points (the simulator's pixels divided by `scale`, 3 for an
iPhone), screenshots stay in pixels, touch actions arrive in points. Android sessions answer
like UiAutomator2: class names as tags, uiautomator-dump attributes plus hint/displayed, all
in pixels.

Knobs: `recording=False` (no screen recording API), `logs=False` (no device log),
`nav_bar=True` (iOS: a navigation bar with a Back button that goes back), `drop()`
(the server stops answering: listening socket and open connections closed), `hang()` (it
accepts requests and never answers), `expire_sessions()` (every session becomes invalid, as
after Appium's newCommandTimeout). A simulator built with `fail_install=True` makes installApp
fail, and `sim.disconnect()` makes the server drop the connection like `drop()`.
`calls` records every request as "METHOD /path" (session ids replaced by "{id}").
"""

from __future__ import annotations

import base64
import json
import re
import socket
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from qualgent.drivers.appium import AppiumDevice
from qualgent.drivers.base import (
    AppCrashed,
    DeviceFailure,
    DeviceLost,
    Element,
    ElementKind,
    Hierarchy,
)
from qualgent.drivers.simulator import SimulatedDevice, parse_simulator_spec

ELEMENT_KEY = "element-6066-11e4-a52f-4f735466cecf"
FOCUSED_ID = "focused-input"
FAKE_MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"
NAV_BACK = (0, 0, 60, 24)  # x, y, width, height in points: over the status bar
ANDROID_KEYS = {66: "enter", 84: "search", 4: "back", 3: "home", 67: "backspace"}
IOS_TYPES = {
    ElementKind.BUTTON: "Button", ElementKind.TEXT: "StaticText",
    ElementKind.INPUT: "TextField", ElementKind.SEARCH: "SearchField",
    ElementKind.SWITCH: "Switch", ElementKind.CHECKBOX: "CheckBox", ElementKind.LINK: "Link",
    ElementKind.TAB: "Button", ElementKind.IMAGE: "Image", ElementKind.LIST: "Table",
    ElementKind.LIST_ITEM: "Cell", ElementKind.ROW: "Other",
    ElementKind.PROGRESS: "ActivityIndicator",
}
ANDROID_CLASSES = {
    ElementKind.BUTTON: "android.widget.Button", ElementKind.TEXT: "android.widget.TextView",
    ElementKind.INPUT: "android.widget.EditText", ElementKind.SEARCH: "android.widget.EditText",
    ElementKind.SWITCH: "android.widget.Switch", ElementKind.CHECKBOX: "android.widget.CheckBox",
    ElementKind.LINK: "android.widget.TextView", ElementKind.TAB: "android.widget.TextView",
    ElementKind.IMAGE: "android.widget.ImageView",
    ElementKind.LIST: "androidx.recyclerview.widget.RecyclerView",
    ElementKind.LIST_ITEM: "android.widget.LinearLayout", ElementKind.ROW: "android.view.View",
    ElementKind.PROGRESS: "android.widget.ProgressBar",
}


class _Reply(Exception):
    """Answer the request with this W3C error."""

    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


class FakeAppium:
    """An Appium server for one simulated device; use as a context manager."""

    def __init__(self, sim: SimulatedDevice, *, scale: int | None = None,
                 recording: bool = True, logs: bool = True, nav_bar: bool = False) -> None:
        self.sim = sim
        self.ios = sim.profile.platform.lower() == "ios"
        self.scale = scale if scale is not None else (3 if self.ios else 1)
        self.recording_supported = recording
        self.logs_supported = logs
        self.nav_bar = nav_bar  # iOS: a navigation bar whose Back button goes back
        self.calls: list[str] = []
        self.sessions: dict[str, dict] = {}
        self.installed_from: list[str] = []  # the paths installApp was given
        self._labels: dict[str, str] = {}
        self._events: list[tuple[float, str]] = []  # (time, log line) the server logged
        self._log_cursor: dict[str, int] = {}  # session -> events already read
        self._recording: dict[str, float] = {}  # session -> start time
        self._crash_logged: set[str] = set()
        self._pids: dict[str, int] = {}
        self._next_pid = 4000
        self._lock = threading.RLock()
        self._hang = threading.Event()
        self._closed = threading.Event()
        self._conns: set[socket.socket] = set()
        fake = self

        class Handler(_Handler):
            server_fake = fake

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True,
                                        name="fake-appium")

    def __enter__(self) -> FakeAppium:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ knobs

    def drop(self) -> None:
        """Stop answering: close the listening socket and every open connection."""
        if self._closed.is_set():
            return
        self._closed.set()
        self.server.shutdown()
        self.server.server_close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def hang(self) -> None:
        """Accept requests and never answer them (until close)."""
        self._hang.set()

    def expire_sessions(self) -> None:
        with self._lock:
            self.sessions.clear()

    def close(self) -> None:
        self._hang.clear()
        self.drop()

    # ------------------------------------------------------------------ logs

    def _log(self, level: str, tag: str, message: str, pid: int = 0) -> None:
        now = time.time()
        t = time.localtime(now)
        if self.ios:
            stamp = time.strftime("%b %d %H:%M:%S", t)
            lvl = {"E": "Error", "W": "Warning"}.get(level, "Notice")
            line = f"{stamp} {self.sim.profile.name} {tag}[{pid}] <{lvl}>: {message}"
        else:
            stamp = time.strftime("%m-%d %H:%M:%S", t) + f".{int(now * 1000) % 1000:03d}"
            line = f"{stamp} {pid:5d} {pid:5d} {level} {tag}: {message}"
        with self._lock:
            self._events.append((now, line))

    def _launched(self, package: str) -> None:
        self._next_pid += 1
        self._pids[package] = self._next_pid
        self._crash_logged.discard(package)
        self._log("I", "SpringBoard" if self.ios else "ActivityManager",
                  f"Start proc {self._next_pid}:{package}")

    def _crashed(self, package: str, why: str) -> None:
        if package in self._crash_logged:
            return
        self._crash_logged.add(package)
        pid = self._pids.get(package, 0)
        if self.ios:
            name = self._labels.get(package, package)
            self._log("E", name, f"*** Terminating app due to uncaught exception "
                                 f"'NSInternalInconsistencyException', reason: '{why}'", pid)
            self._log("I", "ReportCrash", f"Formulating report for corpse[{pid}] {name}")
        else:
            for msg in ("FATAL EXCEPTION: main", f"Process: {package}, PID: {pid}", why,
                        f"\tat {package}.MainActivity.onClick(MainActivity.java:42)"):
                self._log("E", "AndroidRuntime", msg, pid)

    # ------------------------------------------------------------------ the device

    def _foreground(self) -> tuple[Hierarchy, str | None]:
        """The simulator's screen, and the package that crashed just now if one did: like a
        phone, the fake then shows the home screen (and logs the crash once)."""
        try:
            return self.sim.hierarchy(), None
        except AppCrashed as exc:
            m = re.search(r"\(([^()]+)\) crashed: (.*)$", str(exc))
            package, why = (m.group(1), m.group(2)) if m else ("app", str(exc))
            self._crashed(package, why)
            self.sim.key("home")
            return self.sim.hierarchy(), package

    def app_state(self, package: str) -> int:
        if package not in self.sim.installed_packages:
            return 0
        screen, crashed = self._foreground()
        if crashed == package or package in self._crash_logged:
            return 1
        if screen.package == package:
            return 4
        pid = getattr(self.sim, "pid", None)  # the simulator's pid() (when it has one)
        if pid is not None and pid(package) is not None:
            return 3
        return 1

    def source(self) -> str:
        screen, _ = self._foreground()
        return self._ios_source(screen) if self.ios else self._android_source(screen)

    def _pt(self, v: int) -> int:
        return round(v / self.scale)

    def _frame(self, el: Element) -> dict[str, str]:
        b = el.bounds
        x, y = self._pt(b.left), self._pt(b.top)
        return {"x": str(x), "y": str(y), "width": str(self._pt(b.right) - x),
                "height": str(self._pt(b.bottom) - y)}

    def _ios_source(self, screen: Hierarchy) -> str:
        w, h = self._pt(self.sim.profile.width), self._pt(self.sim.profile.height)
        package = screen.package
        label = self._labels.get(package, package) if package else " "
        root = ET.Element("AppiumAUT")
        app = ET.SubElement(root, "XCUIElementTypeApplication", {
            "type": "XCUIElementTypeApplication", "name": "SpringBoard" if not package else label,
            "label": label, "enabled": "true", "visible": "true", "accessible": "false",
            "x": "0", "y": "0", "width": str(w), "height": str(h), "index": "0"})
        window = _sub(app, "Window", {"x": "0", "y": "0", "width": str(w), "height": str(h)})
        main = _sub(window, "Other", {"x": "0", "y": "0", "width": str(w), "height": str(h)})
        _sub(main, "StaticText", {"name": "offscreen", "label": "Hidden helper",
                                  "visible": "false", "x": "0", "y": str(h + 10),
                                  "width": "100", "height": "20"})
        if self.nav_bar and package:
            bar = _sub(window, "NavigationBar", {"name": "nav", "x": "0", "y": "0",
                                                 "width": str(w), "height": str(NAV_BACK[3])})
            _sub(bar, "Button", {"name": "Back", "label": "Back", "x": "0", "y": "0",
                                 "width": str(NAV_BACK[2]), "height": str(NAV_BACK[3])})
        tab_bar = None
        table: tuple[ET.Element, Element] | None = None
        focused = False
        for el in screen.elements:
            parent = main
            if el.kind == ElementKind.TAB:
                if tab_bar is None:
                    tab_bar = _sub(window, "TabBar", {"x": "0", "y": str(h - 83),
                                                      "width": str(w), "height": "83"})
                parent = tab_bar
            elif table is not None and _inside(el, table[1]):
                parent = table[0]
            kind = IOS_TYPES[el.kind]
            if not screen.package:
                kind = "Icon"
            attrs = self._frame(el)
            text = el.text or ""
            if el.editable:
                kind = "SecureTextField" if text and set(text) == {"\u2022"} else kind
                attrs.update(name=el.id or el.hint or "", label=el.description or "",
                             value=text or el.hint or "", placeholderValue=el.hint or "")
                focused = focused or el.focused
            elif el.kind in (ElementKind.SWITCH, ElementKind.CHECKBOX):
                attrs.update(name=el.id or text, label=text,
                             value="1" if el.checked else "0")
            else:
                shown = text or el.description or ""
                attrs.update(name=el.id or shown, label=shown)
            node = _sub(parent, kind, attrs)
            if el.kind == ElementKind.LIST:
                table = (node, el)
        if focused:  # the keyboard, whose keys are not the app's elements
            kb = _sub(app, "Keyboard", {"x": "0", "y": str(h - 300), "width": str(w),
                                        "height": "300"})
            for key in ("q", "w", "e", "return"):
                _sub(kb, "Key", {"name": key, "label": key, "x": "0", "y": str(h - 250),
                                 "width": "30", "height": "40"})
        return '<?xml version="1.0" encoding="UTF-8"?>' + ET.tostring(root, encoding="unicode")

    def _android_source(self, screen: Hierarchy) -> str:
        """UiAutomator2's source: list rows are clickable layouts holding a TextView inside
        the RecyclerView, tabs sit in a BottomNavigationView, like a real app's views."""
        w, h = self.sim.profile.width, self.sim.profile.height
        package = screen.package or "com.android.launcher3"
        root = ET.Element("hierarchy", {"index": "0", "class": "hierarchy", "rotation": "0",
                                        "width": str(w), "height": str(h)})
        frame = _node(root, "android.widget.FrameLayout", package, f"[0,0][{w},{h}]")
        nav = None
        lst: tuple[ET.Element, Element] | None = None
        for el in screen.elements:
            b = el.bounds
            box = f"[{b.left},{b.top}][{b.right},{b.bottom}]"
            parent = frame
            if el.kind == ElementKind.TAB:
                if nav is None:
                    nav = _node(frame, "com.google.android.material.bottomnavigation."
                                "BottomNavigationView", package, f"[0,{b.top}][{w},{h}]")
                parent = nav
            elif lst is not None and _inside(el, lst[1]):
                parent = lst[0]
            attrs = {"content-desc": el.description or "",
                     "resource-id": f"{package}:id/{el.id}" if el.id else "",
                     "clickable": _b(el.clickable), "focused": _b(el.focused)}
            if el.kind in (ElementKind.LIST_ITEM, ElementKind.TAB):  # a row holding its text
                row = _node(parent, "android.widget.LinearLayout", package, box,
                            **attrs, focusable="true")
                _node(row, "android.widget.TextView", package, box, text=el.text or "")
                continue
            cls = ANDROID_CLASSES[el.kind]
            text = el.text or ""
            if el.editable:
                text = text or el.hint or ""  # an empty field reports its hint as its text
                attrs.update(hint=el.hint or "", focusable="true",
                             password=_b(bool(el.text) and set(el.text) == {"\u2022"}))
            if el.checked is not None:
                attrs.update(checkable="true", checked=_b(el.checked))
            node = _node(parent, cls, package, box, text=text, scrollable=_b(el.scrollable),
                         **attrs)
            if el.kind == ElementKind.LIST:
                lst = (node, el)
        _node(frame, "android.widget.TextView", package, "[0,0][200,50]", text="Hidden helper",
              displayed="false")
        return ("<?xml version='1.0' encoding='UTF-8' standalone='yes' ?>"
                + ET.tostring(root, encoding="unicode"))

    def focused_input(self) -> bool:
        screen, _ = self._foreground()
        return bool(any(e.editable and e.focused for e in screen.elements))

    # ------------------------------------------------------------------ gestures

    def perform(self, actions: list[dict]) -> None:
        """W3C pointer actions: a press released where it began is a tap, else a swipe (an
        iOS swipe from the left edge is the back gesture)."""
        for source in actions:
            if source.get("type") != "pointer":
                continue
            pos, start = (0.0, 0.0), None
            for a in source.get("actions", []):
                t = a.get("type")
                if t == "pointerMove":
                    pos = (float(a["x"]), float(a["y"]))
                elif t == "pointerDown":
                    start = pos
                elif t == "pointerUp" and start is not None:
                    self._gesture(start, pos)
                    start = None

    def _gesture(self, start: tuple[float, float], end: tuple[float, float]) -> None:
        s = self.scale
        (x1, y1), (x2, y2) = start, end
        if abs(x2 - x1) < 10 and abs(y2 - y1) < 10:
            if self.nav_bar and self.ios and x1 < NAV_BACK[2] and y1 < NAV_BACK[3]:
                self.sim.back()
                return
            self.sim.tap(round(x1 * s), round(y1 * s))
        elif self.ios and x1 <= 20 and x2 - x1 > 100 and abs(y2 - y1) < 50:
            self.sim.back()
        else:
            self.sim.swipe(round(x1 * s), round(y1 * s), round(x2 * s), round(y2 * s), 300)

    def type_text(self, text: str) -> None:
        for part in re.split("(\x08)", text):
            if part == "\x08":
                self.sim.key("backspace")
            elif part:
                self.sim.type_text(part)

    # ------------------------------------------------------------------ mobile: commands

    def mobile(self, name: str, args: dict) -> Any:
        app_key = "bundleId" if self.ios else "appId"
        if name == "installApp":
            path = args.get("app" if self.ios else "appPath")
            if not isinstance(path, str):
                raise _Reply(400, "invalid argument", f"installApp needs "
                             f"{'app' if self.ios else 'appPath'}")
            self.installed_from.append(path)
            try:
                installed = self.sim.install(Path(path))
            except DeviceLost:
                raise
            except DeviceFailure as exc:
                raise _Reply(500, "unknown error", f"Could not install app: {exc}") from exc
            if installed.label:
                self._labels[installed.package] = installed.label
            return None
        if name in ("activateApp", "terminateApp", "queryAppState"):
            package = args.get(app_key)
            if not isinstance(package, str):
                raise _Reply(400, "invalid argument", f"'{app_key}' is required")
            if name == "queryAppState":
                return self.app_state(package)
            if name == "terminateApp":
                running = self.app_state(package) >= 2
                self.sim.stop(package)
                self._log("I", "ActivityManager", f"Force stopping {package}")
                return running
            if package not in self.sim.installed_packages:
                raise _Reply(500, "unknown error", f"App with id '{package}' is not installed")
            fresh = self.app_state(package) < 2
            self.sim.launch(package)
            if fresh:
                self._launched(package)
            return None
        if name == "pressButton" and self.ios:
            if str(args.get("name", "")).lower() == "home":
                self.sim.key("home")
            return None
        if name == "pressKey" and not self.ios:
            key = ANDROID_KEYS.get(int(args.get("keycode", -1)))
            if key is not None:
                self.sim.key(key)
            return None
        if name == "listSms" and not self.ios:
            items = [{"_id": str(i), "address": m.sender, "body": m.body,
                      "date": str(int(m.received_at * 1000)), "read": "0", "type": "1"}
                     for i, m in enumerate(self.sim.read_sms())]
            return {"items": list(reversed(items)), "total": len(items)}
        if name == "deviceInfo" and not self.ios:
            return {"displayDensity": 420, "platformVersion": self.sim.profile.os_version}
        raise _Reply(404, "unknown method", f"Unsupported execute method 'mobile: {name}'")

    # ------------------------------------------------------------------ routing

    def new_session(self, body: dict) -> dict:
        caps = (body.get("capabilities") or {}).get("alwaysMatch") or {}
        platform = str(caps.get("platformName", "")).lower()
        if platform != self.sim.profile.platform.lower():
            raise _Reply(500, "session not created",
                         f"platformName {caps.get('platformName')!r} does not match this "
                         f"device ({self.sim.profile.platform})")
        sid = uuid.uuid4().hex
        with self._lock:
            self.sessions[sid] = caps
            self._log_cursor[sid] = len(self._events)
        return {"sessionId": sid, "capabilities": {**caps, "platformName": platform}}

    def session_call(self, sid: str, method: str, rest: str, body: dict) -> Any:
        with self._lock:
            if sid not in self.sessions:
                raise _Reply(404, "invalid session id",
                             "A session is either terminated or not started")
        self._foreground()  # an app that crashed since the last call is gone by now
        if method == "DELETE" and rest == "":
            with self._lock:
                self.sessions.pop(sid, None)
                self._recording.pop(sid, None)
            return None
        route = _ROUTES.get((method, re.sub(r"^/element/[^/]+/", "/element/{e}/", rest)))
        if route is None:
            raise _Reply(404, "unknown command",
                         f"The requested resource could not be found: {method} {rest}")
        return route(self, sid, body)


def _sub(parent: ET.Element, kind: str, attrs: dict[str, str]) -> ET.Element:
    full = f"XCUIElementType{kind}"
    base = {"type": full, "enabled": "true", "visible": "true", "accessible": "true"}
    return ET.SubElement(parent, full, {**base, **attrs})


def _inside(el: Element, outer: Element) -> bool:
    a, b = el.bounds, outer.bounds
    return a.left >= b.left and a.top >= b.top and a.right <= b.right and a.bottom <= b.bottom


def _b(v: bool) -> str:
    return "true" if v else "false"


def _node(parent: ET.Element, cls: str, package: str, bounds: str, **attrs: str) -> ET.Element:
    base = {"index": str(len(parent)), "package": package, "class": cls, "text": "",
            "resource-id": "", "content-desc": "", "checkable": "false", "checked": "false",
            "clickable": "false", "enabled": "true", "focusable": "false", "focused": "false",
            "long-clickable": "false", "password": "false", "scrollable": "false",
            "selected": "false", "bounds": bounds, "displayed": "true", "hint": ""}
    return ET.SubElement(parent, cls, {**base, **attrs})


# ---------------------------------------------------------------------- session routes

def _source(f: FakeAppium, sid: str, body: dict) -> Any:
    return f.source()


def _screenshot(f: FakeAppium, sid: str, body: dict) -> Any:
    return base64.b64encode(f.sim.screenshot()).decode()


def _rect(f: FakeAppium, sid: str, body: dict) -> Any:
    p = f.sim.profile
    return {"x": 0, "y": 0, "width": f._pt(p.width), "height": f._pt(p.height)}


def _actions(f: FakeAppium, sid: str, body: dict) -> Any:
    f.perform(body.get("actions") or [])


def _execute(f: FakeAppium, sid: str, body: dict) -> Any:
    script = str(body.get("script", ""))
    if not script.startswith("mobile:"):
        raise _Reply(404, "unknown command", "only mobile: commands are supported")
    args = (body.get("args") or [{}])[0] or {}
    return f.mobile(script.split(":", 1)[1].strip(), args)


def _active(f: FakeAppium, sid: str, body: dict) -> Any:
    if not f.focused_input():
        raise _Reply(404, "no such element", "No element is focused")
    return {ELEMENT_KEY: FOCUSED_ID}


def _value(f: FakeAppium, sid: str, body: dict) -> Any:
    text = body.get("text")
    if not isinstance(text, str):
        text = "".join(body.get("value") or [])
    f.type_text(text)


def _clear(f: FakeAppium, sid: str, body: dict) -> Any:
    f.sim.clear()


def _back(f: FakeAppium, sid: str, body: dict) -> Any:
    if f.ios:
        raise _Reply(404, "unknown command", "back is not supported here")
    f.sim.back()


def _logs(f: FakeAppium, sid: str, body: dict) -> Any:
    want = "syslog" if f.ios else "logcat"
    if not f.logs_supported or body.get("type") != want:
        raise _Reply(500, "unknown error", f"Unsupported log type '{body.get('type')}'")
    f._foreground()  # a crash since the last read is logged by now
    with f._lock:
        start = f._log_cursor.get(sid, 0)
        f._log_cursor[sid] = len(f._events)
        return [{"timestamp": int(t * 1000), "level": "ALL", "message": line}
                for t, line in f._events[start:]]


def _start_recording(f: FakeAppium, sid: str, body: dict) -> Any:
    if not f.recording_supported:
        raise _Reply(404, "unknown command", "Screen recording is not supported")
    with f._lock:
        f._recording[sid] = time.time()


def _stop_recording(f: FakeAppium, sid: str, body: dict) -> Any:
    if not f.recording_supported:
        raise _Reply(404, "unknown command", "Screen recording is not supported")
    with f._lock:
        started = f._recording.pop(sid, None)
    if started is None:
        return ""
    return base64.b64encode(FAKE_MP4 + f"session {sid}".encode()).decode()


_ROUTES: dict[tuple[str, str], Callable[[FakeAppium, str, dict], Any]] = {
    ("GET", "/source"): _source,
    ("GET", "/screenshot"): _screenshot,
    ("GET", "/window/rect"): _rect,
    ("POST", "/actions"): _actions,
    ("DELETE", "/actions"): lambda f, sid, body: None,
    ("POST", "/execute/sync"): _execute,
    ("GET", "/element/active"): _active,
    ("POST", "/element/{e}/value"): _value,
    ("POST", "/element/{e}/clear"): _clear,
    ("POST", "/back"): _back,
    ("POST", "/se/log"): _logs,
    ("POST", "/appium/start_recording_screen"): _start_recording,
    ("POST", "/appium/stop_recording_screen"): _stop_recording,
}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_fake: FakeAppium

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def setup(self) -> None:
        # Nagle off, as on Appium's own (Node) server: http.server writes the headers and the
        # body apart, and with Nagle on each answer waits ~40 ms for a delayed ACK.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().setup()
        with self.server_fake._lock:
            self.server_fake._conns.add(self.connection)

    def finish(self) -> None:
        with self.server_fake._lock:
            self.server_fake._conns.discard(self.connection)
        try:
            super().finish()
        except OSError:
            pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        fake = self.server_fake
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if fake._hang.is_set():
            fake._closed.wait()
            self.close_connection = True
            return
        path = self.path.split("?", 1)[0].rstrip("/")
        m = re.fullmatch(r"/session/([^/]+)(/.*)?", path)
        fake.calls.append(f"{method} " + (f"/session/{{id}}{m.group(2) or ''}" if m else path))
        try:
            try:
                body = json.loads(raw) if raw else {}
            except ValueError as exc:
                raise _Reply(400, "invalid argument", f"bad JSON: {exc}") from exc
            if method == "GET" and path == "/status":
                value = {"ready": True, "message": "fake Appium is ready",
                         "build": {"version": "2.0.0-fake"}}
            elif method == "POST" and path == "/session":
                value = fake.new_session(body)
            elif m:
                value = fake.session_call(m.group(1), method, m.group(2) or "", body)
            else:
                raise _Reply(404, "unknown command", f"{method} {path}")
            self._send(200, {"value": value})
        except _Reply as r:
            self._send(r.status, {"value": {"error": r.error, "message": r.message,
                                            "stacktrace": ""}})
        except DeviceLost:  # the phone went away: the connection dies with it
            self.close_connection = True

    def _send(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@contextmanager
def appium_device(spec: str, *, seed: int = 7, fail_install: bool = False,
                  call_timeout: float = 10.0, capabilities: dict | None = None,
                  **knobs: Any) -> Iterator[tuple[FakeAppium, AppiumDevice, SimulatedDevice]]:
    """A simulator (`parse_simulator_spec(spec)`) behind a FakeAppium, and the real
    AppiumDevice talking to it; the device is closed and the server stopped afterwards."""
    profile = parse_simulator_spec(spec)
    sim = SimulatedDevice(profile, seed=seed, fail_install=fail_install)
    caps = {"platformName": profile.platform, "appium:deviceName": profile.name,
            "appium:platformVersion": profile.os_version,
            "appium:automationName": "XCUITest" if profile.platform == "iOS" else "UiAutomator2",
            **(capabilities or {})}
    with FakeAppium(sim, **knobs) as fake:
        device = AppiumDevice(fake.url, caps, call_timeout=call_timeout)
        try:
            yield fake, device, sim
        finally:
            if not fake._closed.is_set():
                device.close()
