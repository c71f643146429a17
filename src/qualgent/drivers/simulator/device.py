"""``SimulatedDevice``: a phone or tablet in memory that runs apps described by an app model.

It implements the ``Device`` protocol of ``qualgent.drivers.base`` the way a phone behaves:

* ``hierarchy()`` lists only what is on screen (list items scrolled out of a list's viewport
  are not listed); ``package`` is None on the home screen (the launcher, whose icons can be
  tapped to open an app).
* ``tap(x, y)`` acts on the topmost clickable or editable element under the point: an input
  takes the focus, a switch toggles its state value, a button, link, tab or list item runs
  its actions. Tapping anything else drops the focus.
* ``type_text`` appends to the focused input (a ``"\\n"`` presses enter), ``clear`` empties
  it, ``key("enter")`` (or ``"search"``) runs the focused input's ``on_submit`` actions, or
  moves the focus to the next input when it has none; ``key("backspace")`` deletes a
  character; ``key("home")`` goes to the launcher, the app staying alive behind it.
* ``swipe`` scrolls the list under its start point (or the screen's only list) by the
  vertical distance: swiping up shows what is below. Horizontal swipes do nothing.
* ``back()`` returns to the previous screen, or on the first screen closes the app.
* An action ``crash`` kills the app: every call that looks at or acts on it raises
  ``AppCrashed`` until ``launch`` starts it again (cold, from its start screen).
* ``launch`` of a running app brings it to the front as it was; after ``stop``, a crash or
  leaving it with back, it starts afresh. ``install`` replaces an installed app and resets it.
* ``read_sms`` returns the texts apps sent to this device (only if its profile has SMS) and
  those ``receive_sms`` delivered (as an emulator console's ``sms send`` does), since
  ``begin_run``.
* The device keeps a log as logcat would show it (``log_lines``; the last 5000 lines): app
  starts, screens shown, crashes (on the ``crash`` buffer, quoting the crash text) and force
  stops. ``end_run`` writes the lines since ``begin_run`` to ``device.log`` in logcat's
  ``threadtime`` format. Each launch gets a new process id (``pid``).

Scenario knobs for tests: ``fail_install=True`` makes every install fail, ``disconnect()``
makes every later call raise ``DeviceLost``, ``seed`` makes random codes reproducible.
Calls are serialised by a lock, so a device may be shared between threads.
"""

from __future__ import annotations

import copy
import itertools
import random
import re
import threading
import time
import zipfile
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from qualgent.builds._archive import ArchiveError, EntryTooLarge, find_entry, open_zip, read_entry
from qualgent.builds.inspect import InvalidBuild, inspect_build
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
from qualgent.drivers.simulator.layout import (
    Metrics,
    Node,
    ScreenState,
    layout_launcher,
    layout_screen,
)
from qualgent.drivers.simulator.model import (
    Action,
    AppModel,
    ModelError,
    evaluate,
    load_model,
    render_template,
)
from qualgent.drivers.simulator.render import render_png

APK_MODEL_ENTRY = "assets/qualgent-app.json"
IPA_MODEL_ENTRY = re.compile(r"Payload/[^/]+\.app/qualgent-app\.json")
_MAX_MODEL_BYTES = 8 * 1024 * 1024
_MAX_ACTIONS_PER_EVENT = 200  # a model whose actions loop crashes the app instead of hanging
KEYS = ("enter", "search", "back", "home", "backspace", "del")
MAX_LOG_LINES = 5000
SYSTEM_PID = 1542  # system_server: ActivityManager and ActivityTaskManager log from it
_FIRST_APP_PID = 12000
_APP_UID = "u0a100"


@dataclass(frozen=True)
class LogLine:
    """One line of the device log, as logcat reports it."""

    time: float  # seconds since the epoch
    pid: int
    tid: int
    level: str  # "V" | "D" | "I" | "W" | "E" | "F"
    tag: str
    message: str
    buffer: str = "main"  # "main" | "crash"

    def threadtime(self) -> str:
        """The line in ``logcat -v threadtime`` format (local time, like the device's)."""
        stamp = time.strftime("%m-%d %H:%M:%S", time.localtime(self.time))
        millis = int(self.time * 1000) % 1000
        return (f"{stamp}.{millis:03d} {self.pid:5d} {self.tid:5d} {self.level} "
                f"{self.tag:<8}: {self.message}")


@dataclass
class _Entry:
    """One screen on an app's back stack."""

    screen: str
    item: Mapping[str, Any] | None
    inputs: dict[str, str]
    focus: str | None = None
    message: tuple[int | None, str] | None = None
    scroll: dict[str, int] = field(default_factory=dict)
    filters: dict[str, str] = field(default_factory=dict)


@dataclass
class _App:
    model: AppModel
    label: str
    state: dict[str, Any]
    stack: list[_Entry] = field(default_factory=list)
    crashed: str | None = None
    budget: int = _MAX_ACTIONS_PER_EVENT
    pid: int = 0


@dataclass
class _Chain:
    """The context an action list runs in."""

    item: Mapping[str, Any] | None
    anchor: int | None  # where `show` puts its message: after this flow element
    pass_item: bool  # `go` opens its screen with `item` (in a list's on_item_tap)


@dataclass
class _Installed:
    model: AppModel
    label: str


def _read_model(f: BinaryIO, kind: str, name: str, package: str) -> bytes:
    """The app model a simulator build carries, inflated within ``_MAX_MODEL_BYTES`` whatever
    the zip's headers declare; InstallFailed when it is missing, too large or unreadable."""
    try:
        with open_zip(f) as zf:
            if kind == "apk":
                entry: str | zipfile.ZipInfo | None = find_entry(zf, APK_MODEL_ENTRY)
                where = APK_MODEL_ENTRY
            else:
                entry = next((n for n in zf.namelist() if IPA_MODEL_ENTRY.fullmatch(n)), None)
                where = "Payload/<Name>.app/qualgent-app.json"
            if entry is None:
                raise InstallFailed(
                    f"{name} ({package}) has no simulator app model ({where}): "
                    f"the simulator runs only builds made for it, such as the demo build "
                    f"of qualgent.builds.demo; a real app needs a real device or emulator")
            return bytes(read_entry(zf, entry, _MAX_MODEL_BYTES))
    except EntryTooLarge as exc:
        raise InstallFailed(f"{name}: its simulator app model is larger than "
                            f"{_MAX_MODEL_BYTES // (1024 * 1024)} MB") from exc
    except ArchiveError as exc:
        raise InstallFailed(f"{name}: {exc}") from exc


def _locked(method: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(self: SimulatedDevice, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            if self._lost:
                raise DeviceLost(f"{self.profile.name} ({self.profile.serial or 'simulator'}) "
                                 f"is no longer connected")
            return method(self, *args, **kwargs)

    wrapper.__name__ = method.__name__
    wrapper.__doc__ = method.__doc__
    return wrapper


class SimulatedDevice:
    """A simulated device with the given profile (screen size, platform, SMS, form factor)."""

    timing = DeviceTiming()  # the simulator answers at once: the defaults fit

    def __init__(self, profile: DeviceProfile, *, fail_install: bool = False,
                 seed: int | None = None) -> None:
        self.profile = profile
        self.fail_install = fail_install
        self._rng = random.Random(seed) if seed is not None else random.SystemRandom()
        self._lock = threading.RLock()
        self._lost = False
        self._installed: dict[str, _Installed] = {}
        self._running: dict[str, _App] = {}
        self._foreground: str | None = None
        self._sms: list[Sms] = []
        self._sms_mark = 0  # read_sms returns the messages from this index on
        self._log: deque[tuple[int, LogLine]] = deque(maxlen=MAX_LOG_LINES)
        self._log_seq = itertools.count()
        self._log_mark = 0  # end_run writes the lines from this sequence number on
        self._pids = itertools.count(_FIRST_APP_PID)
        self._metrics = Metrics.for_screen(profile.width, profile.height,
                                           profile.form_factor == "tablet")

    # ------------------------------------------------------------------ scenario knobs

    def disconnect(self) -> None:
        """From now on every call raises DeviceLost, as when a real device drops off USB."""
        with self._lock:
            self._lost = True

    @property
    def installed_packages(self) -> list[str]:
        with self._lock:
            return list(self._installed)

    def receive_sms(self, sender: str, body: str) -> None:
        """An inbound SMS, as an emulator console's ``sms send`` delivers it; recorded whatever
        the profile's SMS flag says (the console reaches any emulator)."""
        with self._lock:
            self._sms.append(Sms(sender=sender, body=body, received_at=time.time()))

    # ------------------------------------------------- what a real device's shell reads

    def log_lines(self, since: float = 0.0) -> list[LogLine]:
        """The log lines written at or after `since` (epoch seconds), oldest first."""
        with self._lock:
            return [line for _, line in self._log if line.time >= since]

    def clear_log(self, buffer: str | None = None) -> None:
        """Forget the log lines of `buffer` ("main", "crash"; None: all), as ``logcat -c``."""
        with self._lock:
            kept = [(seq, line) for seq, line in self._log
                    if buffer is not None and line.buffer != buffer]
            self._log.clear()
            self._log.extend(kept)

    def pid(self, package: str) -> int | None:
        """The app's process id while it runs; None when it is stopped or crashed."""
        with self._lock:
            app = self._running.get(package)
            return app.pid if app is not None and app.crashed is None else None

    @property
    def foreground(self) -> str | None:
        """The package on screen; None on the launcher (also after the app crashed)."""
        with self._lock:
            app = self._app()
            return app.model.package if app is not None and app.crashed is None else None

    @property
    def keyboard_shown(self) -> bool:
        """True while an input of the app on screen has the focus."""
        return self.focused_input_text() is not None

    def focused_input_text(self) -> str | None:
        """The text of the focused input, None when no input has the focus."""
        with self._lock:
            app = self._app()
            if app is None or app.crashed is not None or app.stack[-1].focus is None:
                return None
            entry = app.stack[-1]
            return entry.inputs.get(entry.focus, "")

    # ------------------------------------------------------------------- runs

    @_locked
    def ping(self) -> None:
        """Answers at once; raises DeviceLost after ``disconnect()``."""

    @_locked
    def begin_run(self, package: str) -> None:
        """Starts the run's windows: read_sms and end_run's log see only what follows."""
        self._sms_mark = len(self._sms)
        self._log_mark = next(self._log_seq)

    @_locked
    def end_run(self, out_dir: Path) -> RunCapture:
        """Writes the log lines since ``begin_run`` to ``out_dir/device.log``; no video."""
        log = Path(out_dir) / "device.log"
        lines = [line.threadtime() for seq, line in self._log if seq >= self._log_mark]
        log.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
        return RunCapture(log=log, videos=[])

    # -------------------------------------------------------------------- apps

    @_locked
    def install(self, build: Path) -> InstalledApp:
        """Install an .apk (Android) or .ipa (iOS) that carries an app model."""
        build = Path(build)
        name = build.name
        if self.fail_install:
            raise InstallFailed(f"Installing {name} on {self.profile.name} failed "
                                f"(simulated failure)")
        suffix = build.suffix.lower()
        if suffix == ".aab":
            raise InstallFailed(f"{name} is an Android App Bundle; devices install APKs "
                                f"(build one from the bundle with bundletool)")
        kinds = {".apk": ("apk", "Android"), ".ipa": ("ipa", "iOS")}
        if suffix not in kinds:
            raise InstallFailed(f"{name} is not an installable build (expected .apk or .ipa)")
        kind, platform = kinds[suffix]
        if platform.lower() != self.profile.platform.lower():
            raise InstallFailed(f"{name} is an {platform} build; {self.profile.name} runs "
                                f"{self.profile.platform}")
        if not build.is_file():
            raise InstallFailed(f"{build} does not exist")
        with build.open("rb") as f:
            try:
                info = inspect_build(f, kind)
            except InvalidBuild as exc:
                raise InstallFailed(f"{name}: {exc}") from exc
            raw = _read_model(f, kind, name, info.package_name)
        try:
            model = load_model(raw)
        except ModelError as exc:
            raise InstallFailed(f"{name} has an invalid simulator app model: {exc}") from exc
        if model.package != info.package_name:
            raise InstallFailed(f"{name}: its app model describes {model.package} but the "
                                f"build is {info.package_name}")
        self._kill(model.package)
        label = info.label or model.label
        self._installed[model.package] = _Installed(model, label)
        return InstalledApp(package=model.package, label=label,
                            extra={"kind": kind, "version_name": info.version_name,
                                   "version_code": info.version_code, "simulated": True})

    @_locked
    def install_model(self, model: AppModel | Mapping[str, Any]) -> InstalledApp:
        """Install an app straight from its model (no build file); raises ModelError."""
        if not isinstance(model, AppModel):
            model = load_model(model)
        self._kill(model.package)
        self._installed[model.package] = _Installed(model, model.label)
        return InstalledApp(package=model.package, label=model.label, extra={"simulated": True})

    @_locked
    def launch(self, package: str) -> None:
        if package not in self._installed:
            raise DeviceFailure(f"{package} is not installed on {self.profile.name}")
        app = self._running.get(package)
        if app is not None and app.crashed is None:
            self._foreground = package
            return
        installed = self._installed[package]
        app = _App(model=installed.model, label=installed.label,
                   state=copy.deepcopy(dict(installed.model.state)), pid=next(self._pids))
        self._running[package] = app
        self._foreground = package
        app.budget = _MAX_ACTIONS_PER_EVENT
        self._system_log(f"Start proc {app.pid}:{package}/{_APP_UID} for activity "
                         f"{{{package}/.MainActivity}}")
        self._go(app, installed.model.start, None, reset=True)

    @_locked
    def stop(self, package: str) -> None:
        self._system_log(f"Force stopping {package}")
        self._kill(package)

    def _kill(self, package: str) -> None:
        self._running.pop(package, None)
        if self._foreground == package:
            self._foreground = None

    # ------------------------------------------------------------------ observe

    @_locked
    def hierarchy(self) -> Hierarchy:
        nodes = self._nodes()
        return Hierarchy(width=self.profile.width, height=self.profile.height,
                         elements=tuple(n.element for n in nodes), package=self._foreground)

    @_locked
    def screenshot(self) -> bytes:
        nodes = self._nodes()
        app = self._app()
        dark = False
        if app is not None and app.model.dark_mode:
            dark = bool(app.state.get(app.model.dark_mode))
        return render_png(nodes, self._metrics, dark=dark, launcher=app is None)

    @_locked
    def read_sms(self) -> list[Sms]:
        """The messages received since ``begin_run`` (all of them before the first run)."""
        return self._sms[self._sms_mark:]

    # --------------------------------------------------------------------- act

    @_locked
    def tap(self, x: int, y: int) -> None:
        nodes = self._nodes()
        hit = next((n for n in reversed(nodes) if _contains(n, x, y)
                    and (n.element.clickable or n.element.editable)), None)
        app = self._app()
        if app is None:
            if hit is not None and hit.package:
                self.launch(hit.package)
            return
        entry = app.stack[-1]
        if hit is None or hit.spec is None:
            entry.focus = None
            return
        spec = hit.spec
        if hit.role == "input":
            entry.focus = spec.id or spec.key
            return
        entry.focus = None
        app.budget = _MAX_ACTIONS_PER_EVENT
        if hit.role == "item":
            self._start(app, spec.on_item_tap, _Chain(hit.item, spec.flow_index, True))
            return
        if spec.bind is not None:
            app.state[spec.bind] = not app.state.get(spec.bind)
        self._start(app, spec.on_tap, _Chain(entry.item, spec.flow_index, False))

    @_locked
    def type_text(self, text: str) -> None:
        for i, part in enumerate(text.split("\n")):
            if i:
                self._enter()
            entry = self._focused_entry()
            if entry is not None and part:
                entry.inputs[entry.focus] = entry.inputs.get(entry.focus, "") + part

    @_locked
    def clear(self) -> None:
        entry = self._focused_entry()
        if entry is not None:
            entry.inputs[entry.focus] = ""

    @_locked
    def swipe(self, x1: int, y1: int, x2: int, y2: int, duration_ms: int = 300) -> None:
        nodes = self._nodes()  # raises AppCrashed
        app = self._app()
        if app is None:
            return
        lists = [n for n in nodes if n.role == "list"]
        target = next((n for n in reversed(lists) if _contains(n, x1, y1)), None)
        if target is None and len(lists) == 1:
            target = lists[0]
        dy = y1 - y2
        if target is None or abs(dy) < abs(x2 - x1) or target.list_key is None:
            return
        entry = app.stack[-1]
        b = target.element.bounds
        most = max(0, target.content_height - (b.bottom - b.top))
        offset = entry.scroll.get(target.list_key, 0) + dy
        entry.scroll[target.list_key] = max(0, min(most, offset))

    @_locked
    def back(self) -> None:
        app = self._app()
        self._nodes()  # raises AppCrashed
        if app is not None:
            self._pop(app)

    @_locked
    def key(self, name: str) -> None:
        name = name.lower()
        if name not in KEYS:
            raise ValueError(f"unknown key {name!r}; expected one of {', '.join(KEYS)}")
        if name == "home":
            self._foreground = None
        elif name == "back":
            self.back()
        elif name in ("enter", "search"):
            self._enter()
        else:
            entry = self._focused_entry()
            if entry is not None:
                entry.inputs[entry.focus] = entry.inputs.get(entry.focus, "")[:-1]

    # ---------------------------------------------------------------- internals

    def _write_log(self, line: LogLine) -> None:
        self._log.append((next(self._log_seq), line))

    def _system_log(self, message: str, tag: str = "ActivityManager") -> None:
        self._write_log(LogLine(time.time(), SYSTEM_PID, SYSTEM_PID, "I", tag, message))

    def _displayed(self, app: _App) -> None:
        self._system_log(f"Displayed {app.model.package}/.{app.stack[-1].screen}: +120ms",
                         tag="ActivityTaskManager")

    def _crash(self, app: _App, reason: str) -> None:
        """The app dies: the crash buffer gets the FATAL EXCEPTION block quoting `reason`."""
        app.crashed = reason
        package, now = app.model.package, time.time()
        block = ["FATAL EXCEPTION: main", f"Process: {package}, PID: {app.pid}",
                 *reason.splitlines(), f"\tat {package}.MainActivity.onClick(MainActivity.java:42)"]
        for message in block:
            self._write_log(LogLine(now, app.pid, app.pid, "E", "AndroidRuntime", message,
                                    buffer="crash"))
        self._system_log(f"Process {package} (pid {app.pid}) has died: fg  TOP")

    def _app(self) -> _App | None:
        return self._running.get(self._foreground) if self._foreground else None

    def _nodes(self) -> list[Node]:
        app = self._app()
        if app is None:
            apps = [(pkg, inst.label) for pkg, inst in self._installed.items()]
            return layout_launcher(apps, self._metrics, self.profile.form_factor == "tablet")
        if app.crashed is not None:
            raise AppCrashed(f"{app.label} ({app.model.package}) crashed: {app.crashed}")
        entry = app.stack[-1]
        view = ScreenState(screen=app.model.screens[entry.screen],
                           ctx=self._ctx(app, entry, entry.item), inputs=entry.inputs,
                           focus=entry.focus, message=entry.message, scroll=entry.scroll,
                           filters=entry.filters)
        return layout_screen(view, self._metrics)

    def _focused_entry(self) -> _Entry | None:
        self._nodes()  # raises AppCrashed
        app = self._app()
        if app is None or app.stack[-1].focus is None:
            return None
        return app.stack[-1]

    def _enter(self) -> None:
        entry = self._focused_entry()
        app = self._app()
        if entry is None or app is None:
            return
        screen = app.model.screens[entry.screen]
        inputs = [s for s in screen.walk() if s.editable]
        spec = next(s for s in inputs if (s.id or s.key) == entry.focus)
        if spec.on_submit:
            app.budget = _MAX_ACTIONS_PER_EVENT
            self._start(app, spec.on_submit, _Chain(entry.item, spec.flow_index, False))
        else:  # like an IME "next" action
            later = inputs[inputs.index(spec) + 1:]
            entry.focus = (later[0].id or later[0].key) if later else None

    @staticmethod
    def _ctx(app: _App, entry: _Entry, item: Mapping[str, Any] | None) -> dict[str, Any]:
        return {"input": entry.inputs, "state": app.state, "item": item or {},
                "data": app.model.data}

    def _new_entry(self, app: _App, screen_id: str, item: Mapping[str, Any] | None) -> _Entry:
        screen = app.model.screens[screen_id]
        inputs = {(s.id or s.key): s.value for s in screen.walk() if s.editable}
        return _Entry(screen=screen_id, item=item, inputs=inputs)

    def _go(self, app: _App, target: str, item: Mapping[str, Any] | None, reset: bool) -> None:
        if not reset:
            for i, entry in enumerate(app.stack):
                if entry.screen == target and entry.item == item:  # like FLAG_ACTIVITY_CLEAR_TOP
                    del app.stack[i + 1:]
                    entry.message = entry.focus = None
                    self._displayed(app)
                    return
        entry = self._new_entry(app, target, item)
        app.stack = [entry] if reset else [*app.stack, entry]
        self._displayed(app)
        self._run(app, app.model.screens[target].on_enter, _Chain(item, None, False))

    def _pop(self, app: _App) -> None:
        if len(app.stack) > 1:
            app.stack.pop()
            app.stack[-1].message = app.stack[-1].focus = None
            self._displayed(app)
        else:  # back on the first screen closes the app
            self._kill(app.model.package)

    def _start(self, app: _App, actions: tuple[Action, ...], chain: _Chain) -> None:
        if actions:
            app.stack[-1].message = None
            self._run(app, actions, chain)

    def _run(self, app: _App, actions: tuple[Action, ...], chain: _Chain) -> None:
        for action in actions:
            if app.crashed is not None or self._running.get(app.model.package) is not app:
                return
            app.budget -= 1
            if app.budget < 0:
                self._crash(app, f"its actions looped (more than {_MAX_ACTIONS_PER_EVENT} in "
                                 f"one event)")
                return
            entry = app.stack[-1]
            ctx = self._ctx(app, entry, chain.item)
            verb, arg = action.verb, action.arg
            if verb == "go":
                self._go(app, arg, chain.item if chain.pass_item else None,
                         action.opts.get("reset", False))
                chain.anchor = None
            elif verb == "back":
                self._pop(app)
                chain.anchor = None
            elif verb == "show":
                entry.message = (chain.anchor, render_template(arg, ctx))
            elif verb == "set":
                for name, value in arg.items():
                    app.state[name] = (render_template(value, ctx) if isinstance(value, str)
                                       else copy.deepcopy(value))
            elif verb == "add":
                if chain.item is not None:
                    current = app.state.get(arg)
                    items = list(current) if isinstance(current, list) else []
                    app.state[arg] = [*items, dict(chain.item)]
            elif verb == "random_code":
                digits = action.opts.get("digits", 6)
                app.state[arg] = "".join(str(self._rng.randrange(10)) for _ in range(digits))
            elif verb == "sms":
                if self.profile.sms_enabled:
                    self._sms.append(Sms(sender=action.opts.get("sender", app.label),
                                         body=render_template(arg, ctx),
                                         received_at=time.time()))
            elif verb == "crash":
                self._crash(app, render_template(arg, ctx) or "crashed")
                return
            elif verb == "if":
                branch = "then" if evaluate(arg, ctx) else "else"
                self._run(app, action.opts[branch], chain)


def _contains(node: Node, x: int, y: int) -> bool:
    b = node.element.bounds
    return b.left <= x < b.right and b.top <= y < b.bottom
