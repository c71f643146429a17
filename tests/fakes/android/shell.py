"""``SimShell``: the fake device's shell, answering what a real Android device's shell answers,
over a ``SimulatedDevice`` (and the device's ``FakeFs``).

A mini shell (quotes, ``;``, ``&&``, ``||``, ``$?``, ``>``/``2>&1``/``>/dev/null``) runs the
commands the ADB driver sends, with the real output formats: getprop, wm, settings, date,
input (``%s`` for spaces; non-ASCII text fails with InputShellCommand's NullPointerException
unless Appium Settings' UnicodeIME is the input method, which decodes IMAP modified UTF-7),
uiautomator dump (the simulator's hierarchy as uiautomator XML: Android widget classes, a
status-bar window and, while an input has the focus, the keyboard's window), screencap,
pm, cmd package resolve-activity, am, monkey, pidof, dumpsys, logcat, content query (SMS
inbox), screenrecord, pkill, ime, rm, cat, md5sum, echo, true/false, mkdir.

Knobs: ``idle_failures=N`` (the first N dumps print "ERROR: could not get idle state."),
``install_failure="INSTALL_FAILED_X: why"`` (pm install answers Failure [...]),
``hang_on="<command prefix>"`` (that command never answers), ``no_sms_provider=True``
(content query is refused), ``ime_blocked=True`` (``ime set`` says yes but the keyboard stays, as
on some vendor builds), ``dump_hints`` (the ``hint`` attribute of API 36 dumps; default:
Android 16 or later), ``system_windows`` (status bar and keyboard windows in dumps), ``props``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from qualgent.builds.inspect import InvalidBuild, inspect_build
from qualgent.drivers.base import AppCrashed, Hierarchy, InstallFailed
from qualgent.drivers.simulator import SimulatedDevice
from tests.fakes.android.fs import FakeFs
from tests.fakes.android.minishell import STATUS, Out, ShellOutputLike, parse
from tests.fakes.android.uiautomator_xml import LATIN_IME, LAUNCHER, dump_xml

HELPER = "io.appium.settings"
UNICODE_IME = f"{HELPER}/.UnicodeIME"
LAUNCHER_ACTIVITY = f"{LAUNCHER}/.NexusLauncherActivity"
DEFAULT_DUMP = "/sdcard/window_dump.xml"
_SDK = {"10": 29, "11": 30, "12": 31, "13": 33, "14": 34, "15": 35, "16": 36}
_NPE = (b"Exception occurred while executing 'text':\n"
        b"java.lang.NullPointerException: Attempt to get length of null array\n"
        b"\tat com.android.server.input.InputShellCommand.sendText(InputShellCommand.java:368)\n"
        b"\tat com.android.server.input.InputShellCommand.runText(InputShellCommand.java:352)\n")
_KEYS = {66: "enter", 84: "search", 3: "home", 67: "del"}
_KEY_NAMES = {"KEYCODE_ENTER": 66, "KEYCODE_SEARCH": 84, "KEYCODE_HOME": 3, "KEYCODE_DEL": 67,
              "KEYCODE_BACK": 4, "KEYCODE_MOVE_END": 123}
_SMS_DENIED = (b"Error while accessing provider:sms\n"
               b"java.lang.SecurityException: Permission Denial: opening provider "
               b"com.android.providers.telephony.SmsProvider from (null) (pid=4242, uid=2000) "
               b"requires android.permission.READ_SMS or android.permission.WRITE_SMS\n")


# --------------------------------------------------------------------- the device


class SimShell:
    """The shell of a fake device backed by `sim`, its files in `fs`."""

    def __init__(self, sim: SimulatedDevice, fs: FakeFs, *, idle_failures: int = 0,
                 install_failure: str | None = None, hang_on: str | None = None,
                 no_sms_provider: bool = False, ime_blocked: bool = False,
                 dump_hints: bool | None = None, system_windows: bool = True,
                 props: dict[str, str] | None = None) -> None:
        self.sim, self.fs = sim, fs
        self.idle_failures = idle_failures
        self.install_failure = install_failure
        self.hang_on = hang_on
        self.no_sms_provider = no_sms_provider
        self.ime_blocked = ime_blocked
        major = sim.profile.os_version.split(".")[0]
        self.dump_hints = (int(major) >= 16 if major.isdigit() else False) \
            if dump_hints is None else dump_hints
        self.system_windows = system_windows
        self.commands: list[str] = []  # every command line received, for assertions
        self.settings: dict[tuple[str, str], str] = {
            ("global", "window_animation_scale"): "1.0",
            ("global", "transition_animation_scale"): "1.0",
            ("global", "animator_duration_scale"): "1.0",
            ("secure", "default_input_method"): LATIN_IME,
        }
        self.enabled_imes = {LATIN_IME}
        self.helpers: set[str] = set()  # installed packages that are not simulator apps
        self.granted: set[tuple[str, str]] = set()
        self._ime_pending = ""  # UnicodeIME: modified UTF-7 typed so far, not yet decoded
        self._keyboard_hidden = False
        self._cleared: dict[str, float] = {}  # logcat buffer -> cleared at
        self._recordings: set[threading.Event] = set()
        self._lock = threading.Lock()
        p = sim.profile
        tablet = p.form_factor == "tablet"
        self.props = {
            "ro.product.model": p.name, "ro.product.manufacturer": "Google",
            "ro.product.name": re.sub(r"\W+", "_", p.name.lower()),
            "ro.build.version.release": p.os_version,
            "ro.build.version.sdk": str(_SDK.get(major, 34)),
            "gsm.sim.state": "READY" if p.sms_enabled else "ABSENT",
            "ro.kernel.qemu": "0", "sys.boot_completed": "1",
        }
        self.props.update(props or {})
        self.density = round(160 * min(p.width, p.height) / (768 if tablet else 360))

    # ----------------------------------------------------------------- running

    def run(self, cmd: str, stdin: bytes | None, out: ShellOutputLike) -> int:
        with self._lock:
            self.commands.append(cmd)
        try:
            commands = parse(cmd)
        except (ValueError, IndexError):
            out.stderr(f"/system/bin/sh: syntax error: {cmd[:60]!r}\n".encode())
            return 2
        status = 0
        for command in commands:
            if (command.op == "&&" and status != 0) or (command.op == "||" and status == 0):
                continue
            argv = [a.replace(STATUS, str(status)) for a in command.argv]
            o = Out(out, command.redirects)
            if self.hang_on and " ".join(argv).startswith(self.hang_on):
                out.closed.wait()
                return 255
            status = self._run_one(argv, o)
            for key, data in o.files.items():
                self.fs.write(o.targets[key], bytes(data))
        return status

    def _run_one(self, argv: list[str], o: Out) -> int:
        name, args = argv[0], argv[1:]
        handler: Callable[[list[str], Out], int] | None = getattr(
            self, "cmd_" + name.replace("-", "_"), None)
        if handler is None:
            o.err(f"/system/bin/sh: {name}: inaccessible or not found\n")
            return 127
        return handler(args, o)

    # ------------------------------------------------------------- basics

    def cmd_echo(self, args: list[str], o: Out) -> int:
        newline = not (args and args[0] == "-n")
        o.say(" ".join(args[1:] if not newline else args) + ("\n" if newline else ""))
        return 0

    def cmd_true(self, args: list[str], o: Out) -> int:
        return 0

    def cmd_false(self, args: list[str], o: Out) -> int:
        return 1

    def cmd_date(self, args: list[str], o: Out) -> int:
        if args == ["+%s"]:
            o.say(f"{int(time.time())}\n")
        elif args == ["+%s.%N"]:
            o.say(f"{time.time_ns() // 10**9}.{time.time_ns() % 10**9:09d}\n")
        else:
            o.say(time.strftime("%a %b %d %H:%M:%S %Z %Y\n"))
        return 0

    def cmd_getprop(self, args: list[str], o: Out) -> int:
        if args:
            o.say(self.props.get(args[0], "") + "\n")
        else:
            o.say("".join(f"[{k}]: [{v}]\n" for k, v in sorted(self.props.items())))
        return 0

    def cmd_wm(self, args: list[str], o: Out) -> int:
        p = self.sim.profile
        if args[:1] == ["size"]:
            o.say(f"Physical size: {p.width}x{p.height}\n")
        elif args[:1] == ["density"]:
            o.say(f"Physical density: {self.density}\n")
        else:
            o.err("Error: unknown command\n")
            return 1
        return 0

    def cmd_settings(self, args: list[str], o: Out) -> int:
        verb, ns, key = (args + ["", "", ""])[:3]
        if verb == "get":
            o.say(self.settings.get((ns, key), "null") + "\n")
        elif verb == "put" and len(args) >= 4:
            self.settings[(ns, key)] = args[3]
        elif verb == "delete":
            o.say(f"Deleted {int(self.settings.pop((ns, key), None) is not None)} rows\n")
        else:
            o.err("Invalid command\n")
            return 1
        return 0

    def cmd_rm(self, args: list[str], o: Out) -> int:
        force = any(a.startswith("-") and "f" in a for a in args)
        status = 0
        for path in (a for a in args if not a.startswith("-")):
            if not self.fs.remove(path) and not force:
                o.err(f"rm: {path}: No such file or directory\n")
                status = 1
        return status

    def cmd_cat(self, args: list[str], o: Out) -> int:
        status = 0
        for path in args:
            try:
                o.stdout(self.fs.read(path))
            except (FileNotFoundError, IsADirectoryError):
                o.err(f"cat: {path}: No such file or directory\n")
                status = 1
        return status

    def cmd_md5sum(self, args: list[str], o: Out) -> int:
        for path in args:
            try:
                o.say(f"{hashlib.md5(self.fs.read(path)).hexdigest()}  {path}\n")
            except (FileNotFoundError, IsADirectoryError):
                o.err(f"md5sum: {path}: No such file or directory\n")
                return 1
        return 0

    def cmd_mkdir(self, args: list[str], o: Out) -> int:
        for path in (a for a in args if not a.startswith("-")):
            self.fs.mkdir(path)
        return 0

    # ------------------------------------------------------------- the screen

    def _screen(self) -> Hierarchy:
        """What is on screen; after a crash the launcher, as on a phone."""
        try:
            return self.sim.hierarchy()
        except AppCrashed:
            self.sim.key("home")
            return self.sim.hierarchy()

    def _act(self, action: Callable[[], object]) -> None:
        try:
            action()
        except AppCrashed:  # the app is gone: the launcher takes the input
            self.sim.key("home")

    @property
    def keyboard_shown(self) -> bool:
        return self.sim.keyboard_shown and not self._keyboard_hidden

    def cmd_uiautomator(self, args: list[str], o: Out) -> int:
        if args[:1] != ["dump"]:
            o.err("Usage: uiautomator <subcommand> [options]\n")
            return 1
        path = next((a for a in args[1:] if not a.startswith("-")), DEFAULT_DUMP)
        with self._lock:
            failing = self.idle_failures > 0
            self.idle_failures -= failing
        if failing:
            o.err("ERROR: could not get idle state.\n")
            return 0
        self.fs.write(path, dump_xml(self._screen(), self.sim.profile.height,
                                     hints=self.dump_hints, system=self.system_windows,
                                     keyboard=self.keyboard_shown).encode("utf-8"))
        o.say(f"UI hierchary dumped to: {path}\n")
        return 0

    def cmd_screencap(self, args: list[str], o: Out) -> int:
        try:
            png = self.sim.screenshot()
        except AppCrashed:
            self.sim.key("home")
            png = self.sim.screenshot()
        files = [a for a in args if not a.startswith("-")]
        if files:
            self.fs.write(files[0], png)
        else:
            o.stdout(png)
        return 0

    def cmd_input(self, args: list[str], o: Out) -> int:
        verb, rest = (args[0] if args else ""), args[1:]
        if verb == "tap" and len(rest) == 2:
            self._keyboard_hidden = False
            self._act(lambda: self.sim.tap(int(float(rest[0])), int(float(rest[1]))))
        elif verb == "swipe" and len(rest) >= 4:
            x1, y1, x2, y2 = (int(float(v)) for v in rest[:4])
            ms = int(rest[4]) if len(rest) > 4 else 300
            self._act(lambda: self.sim.swipe(x1, y1, x2, y2, ms))
        elif verb == "text" and rest:
            return self._text(rest[0], o)
        elif verb == "keyevent" and rest:
            for code in rest:
                self._keyevent(_KEY_NAMES.get(code) or int(code))
        else:
            o.err(f"Error: Unknown command: {verb}\n")
            return 1
        return 0

    def _text(self, text: str, o: Out) -> int:
        if any(ord(c) > 0x7E or ord(c) < 0x20 for c in text):
            o.stderr(_NPE)
            return 255
        typed = _input_text_unescape(text)
        if self.settings.get(("secure", "default_input_method")) == UNICODE_IME:
            typed = self._unicode_ime(typed)
        if typed:
            self._act(lambda: self.sim.type_text(typed))
        return 0

    def _unicode_ime(self, chars: str) -> str:
        """Appium Settings' UnicodeIME: decode IMAP modified UTF-7 as it arrives."""
        out: list[str] = []
        for c in chars:
            if self._ime_pending:
                if c == "-":
                    encoded = self._ime_pending[1:]
                    self._ime_pending = ""
                    if not encoded:
                        out.append("&")
                    else:
                        raw = encoded.replace(",", "/") + "=" * (-len(encoded) % 4)
                        out.append(base64.b64decode(raw).decode("utf-16-be"))
                else:
                    self._ime_pending += c
            elif c == "&":
                self._ime_pending = "&"
            else:
                out.append(c)
        return "".join(out)

    def _keyevent(self, code: int) -> None:
        if code == 4:
            if self.keyboard_shown:
                self._keyboard_hidden = True
            else:
                self._act(self.sim.back)
        elif code in _KEYS:
            self._act(lambda: self.sim.key(_KEYS[code]))
        # others (MOVE_END, ...) change nothing the simulator shows

    def cmd_dumpsys(self, args: list[str], o: Out) -> int:
        what = args[0] if args else ""
        if what == "input_method":
            shown = "true" if self.keyboard_shown else "false"
            ime = self.settings.get(("secure", "default_input_method"))
            o.say(f"Current Input Method Manager state:\n  Input Methods:\n"
                  f"  mCurMethodId={ime}\n"
                  f"  mShowRequested={shown} mShowExplicitlyRequested=false "
                  f"mShowForced=false mInputShown={shown}\n")
        elif what == "window":
            pkg = self.sim.foreground
            focus = f"{pkg}/{pkg}.MainActivity" if pkg else LAUNCHER_ACTIVITY
            o.say(f"WINDOW MANAGER WINDOWS (dumpsys window windows)\n"
                  f"  mCurrentFocus=Window{{8c2a1f0 u0 {focus}}}\n"
                  f"  mFocusedApp=ActivityRecord{{5d1e2b7 u0 {focus} t42}}\n")
        else:
            o.say("")
        return 0

    # --------------------------------------------------------------- packages

    def _installed(self) -> list[str]:
        return [*self.sim.installed_packages, *sorted(self.helpers)]

    def cmd_pm(self, args: list[str], o: Out) -> int:
        verb, rest = (args[0] if args else ""), args[1:]
        plain = [a for a in rest if not a.startswith("-")]
        if verb == "install":
            return self._pm_install(plain[-1] if plain else "", o)
        if verb == "path":
            if plain and plain[0] in self._installed():
                o.say(f"package:/data/app/~~qg==/{plain[0]}-1/base.apk\n")
                return 0
            return 1
        if verb == "list" and plain[:1] == ["packages"]:
            o.say("".join(f"package:{p}\n" for p in [*self._installed(), LAUNCHER]))
            return 0
        if verb == "grant" and len(plain) == 2:
            if plain[0] not in self._installed():
                o.err(f"Exception occurred while executing 'grant':\n"
                      f"java.lang.IllegalArgumentException: Unknown package: {plain[0]}\n")
                return 255
            self.granted.add((plain[0], plain[1]))
            return 0
        if verb in ("uninstall", "clear") and plain:
            if plain[0] in self.sim.installed_packages:
                self.sim.stop(plain[0])
            o.say("Success\n")
            return 0
        o.err(f"Unknown command: {verb}\n")
        return 1

    def _pm_install(self, path: str, o: Out) -> int:
        try:
            data = self.fs.read(path)
        except (FileNotFoundError, IsADirectoryError, ValueError):
            o.err(f"Error: Can't open file: {path}\n")
            return 1
        if self.install_failure:
            o.say(f"Failure [{self.install_failure}]\n")
            return 1
        with tempfile.TemporaryDirectory() as tmp:
            apk = Path(tmp) / "base.apk"
            apk.write_bytes(data)
            try:
                with apk.open("rb") as f:
                    package = inspect_build(f, "apk").package_name
            except InvalidBuild:
                o.say("Failure [INSTALL_PARSE_FAILED_NOT_APK: Failed to parse "
                      f"{path}: Failed to read manifest]\n")
                return 1
            if package == HELPER:
                self.helpers.add(package)
                o.say("Success\n")
                return 0
            try:
                self.sim.install(apk)
            except InstallFailed as exc:
                o.say(f"Failure [INSTALL_FAILED_INVALID_APK: {exc}]\n")
                return 1
        o.say("Success\n")
        return 0

    def cmd_cmd(self, args: list[str], o: Out) -> int:
        if args[:2] != ["package", "resolve-activity"]:
            o.err("cmd: Can't find service\n")
            return 20
        rest = args[2:]
        if "android.intent.category.HOME" in rest:
            component = LAUNCHER_ACTIVITY
        else:
            package = next((a for a in reversed(rest) if not a.startswith("-")), "")
            if package not in self.sim.installed_packages:
                o.say("No activity found\n")
                return 0
            component = f"{package}/.MainActivity"
        o.say("priority=0 preferredOrder=0 match=0x108000 specificIndex=-1 isDefault=true\n"
              f"{component}\n")
        return 0

    def cmd_am(self, args: list[str], o: Out) -> int:
        verb, rest = (args[0] if args else ""), args[1:]
        if verb == "start":
            component = rest[rest.index("-n") + 1] if "-n" in rest else ""
            package = component.split("/")[0]
            if package not in self.sim.installed_packages:
                o.say(f"Starting: Intent {{ cmp={component} }}\nError type 3\n"
                      f"Error: Activity class {{{component}}} does not exist.\n")
                return 1
            self.sim.launch(package)
            o.say(f"Starting: Intent {{ cmp={component} }}\nStatus: ok\nLaunchState: COLD\n"
                  f"Activity: {component}\nTotalTime: 120\nWaitTime: 125\nComplete\n")
            return 0
        if verb == "force-stop" and rest:
            if rest[-1] in self.sim.installed_packages:
                self.sim.stop(rest[-1])
            return 0
        if verb == "broadcast":
            return self._broadcast(rest, o)
        o.err(f"Error: unknown command '{verb}'\n")
        return 1

    def _broadcast(self, args: list[str], o: Out) -> int:
        action = args[args.index("-a") + 1] if "-a" in args else ""
        o.say(f"Broadcasting: Intent {{ act={action} flg=0x400000 (has extras) }}\n")
        if (action == "io.appium.settings.sms.read" and HELPER in self.helpers
                and (HELPER, "android.permission.READ_SMS") in self.granted):
            limit = int(args[args.index("max") + 1]) if "max" in args else 100
            inbox = sorted(self.sim.read_sms(), key=lambda s: s.received_at, reverse=True)
            items = [{"id": str(i + 1), "address": s.sender, "person": None,
                      "date": str(int(s.received_at * 1000)), "read": "0", "status": "-1",
                      "type": "1", "subject": None, "body": s.body, "serviceCenter": None}
                     for i, s in enumerate(inbox[:limit])]
            data = json.dumps({"items": items, "total": len(items)}, ensure_ascii=False)
            o.say(f'Broadcast completed: result=-1, data="{data}"\n')
        else:
            o.say("Broadcast completed: result=0\n")
        return 0

    def cmd_monkey(self, args: list[str], o: Out) -> int:
        package = args[args.index("-p") + 1] if "-p" in args else ""
        if package not in self.sim.installed_packages:
            o.say("** No activities found to run, monkey aborted.\n")
            return 252
        self.sim.launch(package)
        o.say(f"  bash arg: -p\n  bash arg: {package}\nEvents injected: 1\n"
              f"## Network stats: elapsed time=14ms (0ms mobile, 0ms wifi, 14ms not connected)\n")
        return 0

    def cmd_pidof(self, args: list[str], o: Out) -> int:
        pids = [str(p) for a in args if (p := self.sim.pid(a)) is not None]
        if pids:
            o.say(" ".join(pids) + "\n")
        return 0 if pids else 1

    def cmd_ime(self, args: list[str], o: Out) -> int:
        verb, rest = (args[0] if args else ""), args[1:]
        ime = rest[-1] if rest else ""
        known = {LATIN_IME} | ({UNICODE_IME} if HELPER in self.helpers else set())
        if verb == "enable":
            if ime not in known:
                o.err(f"Unknown input method {ime} cannot be enabled for user #0\n")
                return 255
            self.enabled_imes.add(ime)
            o.say(f"Input method {ime}: now enabled for user #0\n")
        elif verb == "set":
            if ime not in self.enabled_imes:
                o.err(f"Unknown input method {ime} cannot be selected for user #0\n")
                return 255
            if not self.ime_blocked:
                self.settings[("secure", "default_input_method")] = ime
            self._ime_pending = ""
            o.say(f"Input method {ime} selected for user #0\n")
        elif verb == "list":
            o.say("".join(f"{i}\n" for i in sorted(self.enabled_imes)))
        else:
            o.err(f"Unknown command: {verb}\n")
            return 1
        return 0

    # ---------------------------------------------------------------- SMS, logs

    def cmd_content(self, args: list[str], o: Out) -> int:
        uri = args[args.index("--uri") + 1] if "--uri" in args else ""
        if args[:1] != ["query"] or uri != "content://sms/inbox":
            o.err(f"Error while accessing provider: unknown URI {uri}\n")
            return 1
        if self.no_sms_provider:
            o.stderr(_SMS_DENIED)
            return 1
        inbox = sorted(self.sim.read_sms(), key=lambda s: s.received_at, reverse=True)
        if not inbox:
            o.say("No result found.\n")
        for i, s in enumerate(inbox):
            o.say(f"Row: {i} address={s.sender}, body={s.body}, "
                  f"date={int(s.received_at * 1000)}\n")
        return 0

    def cmd_logcat(self, args: list[str], o: Out) -> int:
        buffers = {"main", "system", "crash"}
        since, pid, dump, clear = 0.0, None, False, False
        i = 0
        while i < len(args):
            a = args[i]
            if a == "-b":
                buffers = set(args[i + 1].split(","))
                i += 1
            elif a in ("-T", "-t"):
                since = float(args[i + 1].strip("'"))
                dump = dump or a == "-t"
                i += 1
            elif a.startswith("--pid"):
                value = a.split("=", 1)[1] if "=" in a else args[i + 1]
                i += "=" not in a
                pid = int(value)
            elif a == "-v":
                i += 1
            elif a in ("-c", "--clear"):
                clear = True
            elif a == "-d":
                dump = True
            i += 1
        if clear:
            for b in buffers:
                self._cleared[b] = time.time()
            return 0
        lines = [line for line in self.sim.log_lines(since)
                 if _buffer(line.buffer) in buffers
                 and line.time >= self._cleared.get(_buffer(line.buffer), 0.0)
                 and (pid is None or line.pid == pid)]
        current = None
        for line in lines:
            if _buffer(line.buffer) != current:
                current = _buffer(line.buffer)
                o.say(f"--------- beginning of {current}\n")
            o.say(line.threadtime() + "\n")
        if not dump:
            o.closed.wait()
        return 0

    # -------------------------------------------------------------- recording

    def cmd_screenrecord(self, args: list[str], o: Out) -> int:
        limit = float(args[args.index("--time-limit") + 1]) if "--time-limit" in args else 180
        path = next((a for a in reversed(args) if a.startswith("/")), "")
        if not path:
            o.err("Must specify output file (see --help).\n")
            return 2
        stop = threading.Event()
        with self._lock:
            self._recordings.add(stop)
        started = time.monotonic()
        try:
            deadline = started + limit
            while not stop.is_set() and not o.closed.is_set():
                if time.monotonic() >= deadline:
                    break
                stop.wait(0.05)
        finally:
            with self._lock:
                self._recordings.discard(stop)
        seconds = round(time.monotonic() - started, 2)
        body = json.dumps({"path": path, "seconds": seconds}).encode()
        self.fs.write(path, b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + body)
        return 0

    def cmd_pkill(self, args: list[str], o: Out) -> int:
        names = [a for a in args if not a.startswith("-")]
        if names != ["screenrecord"]:
            return 1
        with self._lock:
            running = list(self._recordings)
        for stop in running:
            stop.set()
        return 0 if running else 1


def _buffer(name: str) -> str:
    return name if name in ("crash", "system") else "main"


def _input_text_unescape(text: str) -> str:
    """What InputShellCommand.sendText types: "%s" becomes a space."""
    out: list[str] = []
    escape = False
    for c in text:
        if escape:
            escape = False
            if c == "s":
                out[-1] = " "
                continue
        out.append(c)
        if c == "%":
            escape = True
    return "".join(out)
