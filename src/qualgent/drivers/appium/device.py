"""``AppiumDevice``: an iOS (XCUITest) or Android (UiAutomator2) device behind an Appium server.

The Device protocol over W3C WebDriver: the page source mapped to our element tree (XCUITest
points scaled to screenshot pixels; UiAutomator2 already in pixels), W3C touch actions for taps
and swipes, typing into the focused element, ``mobile:`` commands for apps and keys, the
server's device log and screen recording for a run's capture.

The session is created lazily (the constructor makes no network call), recreated once when
the server says it is gone (newCommandTimeout), and deleted in ``end_run``. Calls are
serialised by a lock, so the worker's ping may come from another thread.
"""

from __future__ import annotations

import dataclasses
import logging
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from qualgent.builds.inspect import InvalidBuild, inspect_build
from qualgent.drivers.appium.capabilities import OURS, normalize_capabilities
from qualgent.drivers.appium.client import (
    InvalidSessionId,
    NoSuchElement,
    SessionNotCreated,
    UnsupportedCommand,
    WebDriverClient,
    WebDriverError,
)
from qualgent.drivers.appium.ios_xml import SourceError, parse_source
from qualgent.drivers.base import (
    AppCrashed,
    DeviceFailure,
    DeviceLost,
    DeviceProfile,
    DeviceTiming,
    Hierarchy,
    InstalledApp,
    InstallFailed,
    RunCapture,
    Sms,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

RUNNING_IN_FOREGROUND = 4  # mobile: queryAppState; 3 background, 1 not running, 0 not installed
ANDROID_KEYCODES = {"enter": 66, "search": 84, "back": 4, "home": 3, "backspace": 67, "del": 67}
_EDGE_POINTS = 2  # where an iOS edge swipe (back) starts
_TAP_HOLD_MS = 80
_RECORDING_LIMIT_S = 1800
_CRASH_MARKERS = ("FATAL EXCEPTION", "Terminating app due to uncaught exception",
                  "AndroidRuntime", "ReportCrash", "crashed", "SIGABRT", "SIGSEGV")


def _png_size(png: bytes) -> tuple[int, int] | None:
    if len(png) >= 24 and png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR":
        w, h = struct.unpack(">II", png[16:24])
        return w, h
    return None


class AppiumDevice:
    """A device driven through the Appium server at `url` with these capabilities."""

    def __init__(self, url: str, capabilities: dict, *, call_timeout: float = 60.0,
                 install_timeout: float = 600.0) -> None:
        caps = normalize_capabilities(capabilities)
        self.url = url
        self.ios = caps["platformName"].lower() == "ios"
        self._ours = {k[len(OURS):]: v for k, v in caps.items() if k.startswith(OURS)}
        self.capabilities = {k: v for k, v in caps.items() if not k.startswith(OURS)}
        self.call_timeout = call_timeout
        self.install_timeout = install_timeout
        name = str(caps.get("appium:deviceName") or ("iPhone" if self.ios else "Android device"))
        serial = str(caps.get("appium:udid") or f"appium:{url.rstrip('/')}#{name}")
        self.profile = DeviceProfile(
            name=name, platform="iOS" if self.ios else "Android",
            os_version=str(caps.get("appium:platformVersion") or ""),
            form_factor="tablet" if self.ios and "ipad" in name.lower() else "phone",
            sms_enabled=bool(self._ours.get("sms", False)), serial=serial)
        self.timing = DeviceTiming(poll_interval=0.5, find_timeout=4.0, assert_timeout=4.0)
        self.client = WebDriverClient(url, timeout=call_timeout)
        self._lock = threading.RLock()
        self._scale = 1.0  # screenshot pixels per WebDriver coordinate unit (iOS points)
        self._window: tuple[int, int] = (0, 0)  # in WebDriver units
        self._package: str | None = None  # the run's app
        self._running = False  # launched by us and not stopped since
        self._labels: dict[str, str] = {}  # package -> display name (XCUITest names apps so)
        self._recording = False
        self._log_entries: list[dict] = []
        self._logs_on = False
        self._sms_seen: set[tuple] | None = None

    def __repr__(self) -> str:
        return f"AppiumDevice({self.url!r}, {self.profile.name!r}, {self.profile.platform})"

    # ------------------------------------------------------------------ sessions

    def _ensure_session(self) -> None:
        if self.client.session_id is not None:
            return
        try:
            granted = self.client.new_session(self.capabilities, timeout=self.install_timeout)
        except (SessionNotCreated, WebDriverError) as exc:
            raise DeviceLost(f"Appium at {self.url} could not start a session for "
                             f"{self.profile.name}: {exc.message or exc}") from exc
        self._measure(granted)

    def _measure(self, granted: dict) -> None:
        """The screen in WebDriver units and in screenshot pixels: their ratio is the scale."""
        rect = self.client.window_rect()
        w, h = int(rect["width"]), int(rect["height"])
        size = _png_size(self.client.screenshot())
        px_w, px_h = size if size else (w, h)
        self._window = (w, h)
        self._scale = px_w / w if w else 1.0
        tablet = self.profile.form_factor == "tablet"
        if self.ios:
            tablet = min(w, h) >= 600  # points
        else:
            density = self._density(granted)
            if density:
                tablet = min(px_w, px_h) / (density / 160) >= 600
        self.profile = dataclasses.replace(self.profile, width=px_w, height=px_h,
                                           form_factor="tablet" if tablet else "phone")

    def _density(self, granted: dict) -> int | None:
        value = granted.get("deviceScreenDensity") or granted.get("appium:deviceScreenDensity")
        if isinstance(value, int) and value > 0:
            return value
        try:
            info = self.client.execute("mobile: deviceInfo")
        except WebDriverError:
            return None
        density = info.get("displayDensity") if isinstance(info, dict) else None
        try:
            return int(density) if density else None
        except (TypeError, ValueError):
            return None

    def _do(self, fn: Callable[[], T]) -> T:
        """Run `fn` on a session, recreating it once if the server says it expired."""
        with self._lock:
            self._ensure_session()
            try:
                return fn()
            except InvalidSessionId:
                log.info("%s: the Appium session expired; starting a new one", self)
                self.client.session_id = None
                self._recording = False  # a recording dies with its session
                self._ensure_session()
                return fn()

    # ------------------------------------------------------------------ health, runs

    def ping(self) -> None:
        """GET /status, without the lock: it may come from another thread during a run."""
        self.client.status(timeout=min(self.call_timeout, 10.0))

    def begin_run(self, package: str) -> None:
        self._package = package
        self._log_entries = []
        self._sms_seen = None

        def start() -> None:
            self._logs_on = self._drain_logs(keep=False)
            try:
                self.client.start_recording_screen(
                    {"timeLimit": _RECORDING_LIMIT_S, "forceRestart": True})
                self._recording = True
            except WebDriverError as exc:
                self._recording = False
                log.info("%s: no screen recording for this run (%s)", self, exc)
            if not self.ios:
                try:
                    self._sms_seen = {_sms_key(m) for m in self._list_sms()}
                except NotImplementedError as exc:
                    log.info("%s: no SMS through this Appium (%s)", self, exc)

        self._do(start)

    def end_run(self, out_dir: Path) -> RunCapture:
        out_dir = Path(out_dir)
        capture = RunCapture()
        with self._lock:
            if self.client.session_id is None:
                return capture
            try:
                if self._recording:
                    try:
                        video = self.client.stop_recording_screen(timeout=self.install_timeout)
                        if video:
                            path = out_dir / "screen-1.mp4"
                            path.write_bytes(video)
                            capture.videos.append(path)
                    except WebDriverError as exc:
                        log.warning("%s: the screen recording is lost (%s)", self, exc)
                    self._recording = False
                if self._logs_on:
                    self._drain_logs(keep=True)
                if self._log_entries:
                    path = out_dir / "device.log"
                    path.write_text("".join(_log_line(e) for e in self._log_entries),
                                    encoding="utf-8")
                    capture.log = path
            finally:
                self._log_entries = []
                self._running = False
                try:
                    self.client.delete_session()
                except WebDriverError as exc:
                    log.info("%s: deleting the session failed (%s)", self, exc)
        return capture

    @property
    def _log_type(self) -> str:
        return "syslog" if self.ios else "logcat"

    def _drain_logs(self, keep: bool) -> bool:
        """Read the server's log buffer (Appium clears it on read); False if it has none."""
        try:
            entries = self.client.logs(self._log_type)
        except WebDriverError as exc:
            if not keep:
                log.info("%s: no %s from this Appium (%s)", self, self._log_type, exc)
            return False
        if keep:
            self._log_entries.extend(entries)
        return True

    # ------------------------------------------------------------------ apps

    def install(self, build: Path) -> InstalledApp:
        build = Path(build)
        suffix = build.suffix.lower()
        want = ".ipa" if self.ios else ".apk"
        if suffix != want:
            raise InstallFailed(f"{build.name} cannot be installed on {self.profile.name} "
                                f"({self.profile.platform} installs {want} builds)")
        try:
            with build.open("rb") as f:
                info = inspect_build(f, suffix[1:])
        except (OSError, InvalidBuild) as exc:
            raise InstallFailed(f"{build.name}: {exc}") from exc
        args = ({"app": str(build.resolve())} if self.ios else
                {"appPath": str(build.resolve()), "grantPermissions": True, "replace": True})
        try:
            self._do(lambda: self.client.execute("mobile: installApp", args,
                                                 timeout=self.install_timeout))
        except WebDriverError as exc:
            raise InstallFailed(f"Installing {build.name} ({info.package_name}) on "
                                f"{self.profile.name} failed: {exc.message or exc}") from exc
        if info.label:
            self._labels[info.package_name] = info.label
        return InstalledApp(package=info.package_name, label=info.label,
                            extra={"kind": suffix[1:], "version_name": info.version_name,
                                   "version_code": info.version_code})

    def _app_args(self, package: str) -> dict:
        return {"bundleId": package} if self.ios else {"appId": package}

    def launch(self, package: str) -> None:
        try:
            self._do(lambda: self.client.execute("mobile: activateApp", self._app_args(package)))
        except WebDriverError as exc:
            raise DeviceFailure(f"Could not launch {package} on {self.profile.name}: "
                                f"{exc.message or exc}") from exc
        self._package, self._running = package, True

    def stop(self, package: str) -> None:
        if package == self._package:
            self._running = False
        self._do(lambda: self.client.execute("mobile: terminateApp", self._app_args(package)))

    def _app_state(self, package: str) -> int | None:
        value = self.client.execute("mobile: queryAppState", self._app_args(package))
        return value if isinstance(value, int) else None

    # ------------------------------------------------------------------ observe

    def hierarchy(self) -> Hierarchy:
        return self._do(self._read_hierarchy)

    def _read_hierarchy(self) -> Hierarchy:
        xml = self.client.source()
        try:
            if self.ios:
                screen = parse_source(xml, self._scale)
                ours = (self._package is not None
                        and screen.app_label == self._labels.get(self._package))
                h = self._with_package(screen.hierarchy, ours)
                if h.package is not None and screen.app_label:  # now known: no more queries
                    self._labels[h.package] = screen.app_label
                return h
            hierarchy = _parse_android(xml, self.profile.width, self.profile.height)
        except SourceError as exc:
            raise DeviceFailure(f"{self.profile.name}: unreadable page source ({exc})") from exc
        return self._with_package(hierarchy, hierarchy.package == self._package)

    def _with_package(self, h: Hierarchy, ours: bool) -> Hierarchy:
        """The hierarchy naming the app in front; raises AppCrashed when our app, launched and
        not stopped, is no longer running."""
        package = self._package
        if package is None or ours:
            return dataclasses.replace(h, package=package) if ours else h
        state = self._app_state(package) if self._running else None
        if state == RUNNING_IN_FOREGROUND:  # e.g. a label we did not know
            return dataclasses.replace(h, package=package)
        if self._running and state is not None and state < 2:
            raise AppCrashed(self._crash_message(package, state))
        return h if not self.ios else dataclasses.replace(h, package=None)

    def _crash_message(self, package: str, state: int) -> str:
        what = {0: "is no longer installed", 1: "is no longer running"}.get(state, "stopped")
        msg = f"{package} {what} on {self.profile.name}"
        if self._logs_on:
            self._drain_logs(keep=True)
        lines = [str(e.get("message", "")) for e in self._log_entries]
        hits = [ln.strip() for ln in lines if any(m in ln for m in _CRASH_MARKERS)]
        cause = _crash_cause(hits)
        return f"{msg}: {cause}" if cause else msg

    def screenshot(self) -> bytes:
        png = self._do(self.client.screenshot)
        if _png_size(png) is None:
            raise DeviceFailure(f"{self.profile.name}: the screenshot is not a PNG")
        return png

    def read_sms(self) -> list[Sms]:
        if self.ios:
            raise NotImplementedError(
                "an iPhone has no SMS inbox that Appium can read; assign the device a phone "
                "number at an SMS provider (qualgent admin set-device-number) so its codes "
                "arrive there")
        messages = self._do(self._list_sms)
        seen = self._sms_seen or set()
        fresh = [m for m in messages if _sms_key(m) not in seen]
        out = [Sms(sender=str(m.get("address") or ""), body=str(m.get("body") or ""),
                   received_at=_ms(m.get("date")) / 1000) for m in fresh]
        return sorted(out, key=lambda s: s.received_at)

    def _list_sms(self) -> list[dict]:
        try:
            value = self.client.execute("mobile: listSms", {"max": 100})
        except UnsupportedCommand as exc:
            raise NotImplementedError(f"this Appium cannot list SMS ({exc})") from exc
        items = value.get("items") if isinstance(value, dict) else value
        return [m for m in items if isinstance(m, dict)] if isinstance(items, list) else []

    # ------------------------------------------------------------------ act

    def _to_device(self, x: float, y: float) -> tuple[int, int]:
        """Screenshot pixels -> WebDriver units, inside the window."""
        w, h = self._window
        px, py = round(x / self._scale), round(y / self._scale)
        return (min(max(px, 0), max(w - 1, 0)), min(max(py, 0), max(h - 1, 0)))

    def _touch(self, moves: list[dict]) -> None:
        self.client.perform_actions([{
            "type": "pointer", "id": "finger1", "parameters": {"pointerType": "touch"},
            "actions": moves}])

    def tap(self, x: int, y: int) -> None:
        def go() -> None:
            dx, dy = self._to_device(x, y)
            self._touch([{"type": "pointerMove", "duration": 0, "x": dx, "y": dy,
                          "origin": "viewport"},
                         {"type": "pointerDown", "button": 0},
                         {"type": "pause", "duration": _TAP_HOLD_MS},
                         {"type": "pointerUp", "button": 0}])
        self._do(go)

    def swipe(self, x1: int, y1: int, x2: int, y2: int, duration_ms: int = 300) -> None:
        self._do(lambda: self._swipe_units(*self._to_device(x1, y1), *self._to_device(x2, y2),
                                           duration_ms))

    def _swipe_units(self, x1: int, y1: int, x2: int, y2: int, duration_ms: int) -> None:
        self._touch([{"type": "pointerMove", "duration": 0, "x": x1, "y": y1,
                      "origin": "viewport"},
                     {"type": "pointerDown", "button": 0},
                     {"type": "pause", "duration": 50},
                     {"type": "pointerMove", "duration": max(0, int(duration_ms)), "x": x2,
                      "y": y2, "origin": "viewport"},
                     {"type": "pointerUp", "button": 0}])

    def _focused(self) -> str | None:
        try:
            return self.client.active_element()
        except NoSuchElement:
            log.warning("%s: no focused element to type into", self)
            return None

    def type_text(self, text: str) -> None:
        def go() -> None:
            eid = self._focused()
            if eid is None:
                return
            if self.ios:  # XCUITest types "\n" as the return key
                self.client.element_value(eid, text)
                return
            for i, part in enumerate(text.split("\n")):
                if i:
                    self.client.execute("mobile: pressKey", {"keycode": ANDROID_KEYCODES["enter"]})
                if part:
                    self.client.element_value(eid, part)
        self._do(go)

    def clear(self) -> None:
        def go() -> None:
            eid = self._focused()
            if eid is not None:
                self.client.element_clear(eid)
        self._do(go)

    def key(self, name: str) -> None:
        name = name.lower()
        if name not in ANDROID_KEYCODES:
            raise ValueError(f"unknown key {name!r}; expected one of "
                             f"{', '.join(sorted(ANDROID_KEYCODES))}")
        if name == "back":
            return self.back()
        if not self.ios:
            return self._do(lambda: self.client.execute(
                "mobile: pressKey", {"keycode": ANDROID_KEYCODES[name]}))
        if name == "home":
            return self._do(lambda: self.client.execute("mobile: pressButton", {"name": "home"}))
        typed = "\n" if name in ("enter", "search") else "\b"

        def go() -> None:
            eid = self._focused()
            if eid is not None:
                self.client.element_value(eid, typed)
        return self._do(go)

    def back(self) -> None:
        if not self.ios:
            return self._do(self.client.back)

        def go() -> None:  # iOS has no back button: the nav bar's, or the edge swipe
            button = parse_source(self.client.source(), self._scale).back_button
            if button is not None:
                x, y = self._to_device(*button.center)
                self._touch([{"type": "pointerMove", "duration": 0, "x": x, "y": y,
                              "origin": "viewport"}, {"type": "pointerDown", "button": 0},
                             {"type": "pause", "duration": _TAP_HOLD_MS},
                             {"type": "pointerUp", "button": 0}])
                return
            w, h = self._window
            self._swipe_units(_EDGE_POINTS, h // 2, int(w * 0.7), h // 2, 300)
        try:
            self._do(go)
        except SourceError as exc:
            raise DeviceFailure(f"{self.profile.name}: unreadable page source ({exc})") from exc

    def close(self) -> None:
        """Delete the session (if any) and close the connection pool."""
        with self._lock:
            try:
                self.client.delete_session()
            except DeviceFailure:
                pass
            self.client.close()


def _parse_android(xml: str, width: int, height: int) -> Hierarchy:
    """Appium UiAutomator2 source -> Hierarchy, by the ADB driver's parser (one parser for
    both); coordinates are pixels already."""
    from qualgent.drivers.android.xml import DumpError, parse_dump  # noqa: PLC0415

    try:
        return parse_dump(xml, width=width, height=height)
    except DumpError as exc:
        raise SourceError(str(exc)) from exc


def _sms_key(m: dict) -> tuple:
    return (m.get("_id"), m.get("address"), m.get("body"), m.get("date"))


def _ms(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return time.time() * 1000


def _log_line(entry: dict) -> str:
    message = str(entry.get("message", "")).rstrip("\n")
    return message + "\n"


def _crash_cause(hits: list[str]) -> str | None:
    """The most telling crash line: an exception's, else the last crash-looking line."""
    for line in hits:
        for marker in ("Terminating app due to uncaught exception",):
            if marker in line:
                return line[line.index(marker):]
    for i, line in enumerate(hits):  # Android: the line after "Process: <pkg>, PID: n"
        if "Process:" in line and i + 1 < len(hits):
            after = hits[i + 1]
            return after.split("AndroidRuntime: ", 1)[-1]
    return hits[-1] if hits else None


__all__ = ["AppiumDevice"]
