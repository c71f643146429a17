"""``AdbDevice``: a real Android phone or emulator behind an ADB server, as a ``Device``.

Every call is a shell command (or a sync transfer) with a deadline; a device that stops
answering or goes away raises DeviceLost. The UI is read with `uiautomator dump` (retried
while the screen is not idle) in one round trip that also asks `pidof` the app, so a crash is
noticed on every read: the app's process is gone and logcat's crash buffer holds its
FATAL EXCEPTION, whose exception line the AppCrashed quotes. After each action the driver
waits for the screen to settle (two equal reads, bounded) and keeps the last read for the
agent's next look. Text goes through `input text` when it is printable ASCII, otherwise
through Appium Settings' UnicodeIME (the helper APK), and is confirmed by re-reading the
focused field.
"""

from __future__ import annotations

import logging
import re
import shlex
import time
from pathlib import Path

import adbutils

from qualgent.builds.inspect import InvalidBuild, inspect_build
from qualgent.drivers.android import text as typing_
from qualgent.drivers.android.capture import ScreenRecorder, app_log_lines
from qualgent.drivers.android.crash import crash_line
from qualgent.drivers.android.sms import (
    CONTENT_QUERY,
    SmsUnreadable,
    parse_content_rows,
    parse_settings_broadcast,
)
from qualgent.drivers.android.transport import Transport
from qualgent.drivers.android.xml import SYSTEM_UI, DumpError, parse_dump
from qualgent.drivers.base import (
    AppCrashed,
    DeviceFailure,
    DeviceLost,
    DeviceProfile,
    DeviceTiming,
    Element,
    Hierarchy,
    InstalledApp,
    InstallFailed,
    RunCapture,
    Sms,
)

log = logging.getLogger(__name__)

HELPER_PACKAGE = "io.appium.settings"
UNICODE_IME = f"{HELPER_PACKAGE}/.UnicodeIME"
SMS_RECEIVER = f"{HELPER_PACKAGE}/.receivers.SmsReader"
DUMP_PATH = "/data/local/tmp/qualgent-ui.xml"
APK_DIR = "/data/local/tmp"
ANIMATION_SCALES = ("window_animation_scale", "transition_animation_scale",
                    "animator_duration_scale")
KEYCODES = {"enter": 66, "search": 84, "home": 3, "backspace": 67, "del": 67}
KEYCODE_BACK, KEYCODE_MOVE_END, KEYCODE_DEL = 4, 123, 67
_SEP = "@@qualgent@@"
_DUMP_TRIES = 3
_FAILURE_RE = re.compile(r"Failure \[(?P<code>[A-Z0-9_]+)(?::\s*(?P<reason>.*?))?\]", re.S)
_SIZE_RE = re.compile(r"(Physical|Override) size: (\d+)x(\d+)")
_DENSITY_RE = re.compile(r"(Physical|Override) density: (\d+)")
_COMPONENT_RE = re.compile(r"^([\w.]+)/([\w.$]+)$", re.M)


class AdbDevice:
    """A device the ADB server lists as `serial`; its profile is read in the constructor
    (raises DeviceLost when it does not answer)."""

    timing = DeviceTiming(poll_interval=0.5, find_timeout=4.0, assert_timeout=4.0)

    def __init__(self, serial: str, client: adbutils.AdbClient, *,
                 helper_apk: Path | None = None, video: bool = True,
                 video_segment_seconds: int = 180, call_timeout: float = 20.0,
                 settle_timeout: float = 2.0) -> None:
        self.serial = serial
        self.helper_apk = Path(helper_apk) if helper_apk else None
        self.video = video
        self.video_segment_seconds = video_segment_seconds
        self.call_timeout = call_timeout
        self.settle_timeout = settle_timeout
        self._t = Transport(client, serial, call_timeout)
        self._package: str | None = None  # the app of the run
        self._labels: dict[str, str] = {}
        self._alive = False  # the run's app was launched and has not exited
        self._crashed: str | None = None  # why, until the next launch
        self._pids: set[int] = set()
        self._since = 0.0  # device clock (seconds) at begin_run
        self._scales: dict[str, str] = {}
        self._recorder: ScreenRecorder | None = None
        self._fresh: tuple[float, Hierarchy] | None = None  # the settled read after an action
        self.profile, self.home_package, self._ime = self._read_profile()

    def __repr__(self) -> str:
        return f"AdbDevice({self.serial!r}, {self.profile.name!r})"

    # ------------------------------------------------------------------ profile, health

    def _read_profile(self) -> tuple[DeviceProfile, str | None, str]:
        props = ("ro.product.model", "ro.build.version.release", "gsm.sim.state",
                 "ro.kernel.qemu")
        cmd = "; ".join([*(f"getprop {p}; echo {_SEP}" for p in props), "wm size",
                         f"echo {_SEP}", "wm density", f"echo {_SEP}",
                         "cmd package resolve-activity --brief -a android.intent.action.MAIN"
                         " -c android.intent.category.HOME", f"echo {_SEP}",
                         "settings get secure default_input_method"])
        parts = [p.strip() for p in self._t.shell(cmd).split(_SEP)]
        if len(parts) < 8:
            raise DeviceLost(f"{self.serial} answered its profile query unreadably")
        model, release, sim_state, qemu, size, density, home, ime = parts[:8]
        width, height = _last_match(_SIZE_RE, size, (1080, 2400))
        dpi = _last_match(_DENSITY_RE, density, (420,))[0]
        smallest_dp = min(width, height) * 160 / max(dpi, 1)
        emulator = self.serial.startswith("emulator-") or qemu == "1"
        sms = emulator or "READY" in sim_state.upper().split(",")
        home_match = _COMPONENT_RE.findall(home)
        profile = DeviceProfile(
            name=model or self.serial, platform="Android", os_version=release or "unknown",
            form_factor="tablet" if smallest_dp >= 600 else "phone", sms_enabled=sms,
            serial=self.serial, width=width, height=height)
        return profile, (home_match[-1][0] if home_match else None), ime.split("/")[0]

    def ping(self) -> None:
        echo = self._t.shell("echo qualgent", timeout=min(5.0, self.call_timeout))
        if echo.strip() != "qualgent":
            raise DeviceLost(f"{self.serial} did not echo")

    # ----------------------------------------------------------------------- runs

    def begin_run(self, package: str) -> None:
        self._package = package
        self._alive, self._crashed, self._pids = False, None, set()
        out = self._t.shell("date +%s.%N; " + "; ".join(
            f"settings get global {name}" for name in ANIMATION_SCALES))
        lines = out.split("\n")
        self._since = _seconds(lines[0])
        self._scales = dict(zip(ANIMATION_SCALES, (v.strip() for v in lines[1:4]),
                                strict=False))
        self._t.shell("; ".join(f"settings put global {name} 0" for name in ANIMATION_SCALES)
                      + "; logcat -b crash -c")
        if self.video:
            self._recorder = ScreenRecorder(self._t, self.video_segment_seconds)
            self._recorder.start()

    def end_run(self, out_dir: Path) -> RunCapture:
        out_dir = Path(out_dir)
        capture = RunCapture()
        recorder, self._recorder = self._recorder, None
        if recorder is not None:
            try:
                capture.videos = recorder.stop(out_dir)
            except OSError as exc:
                log.warning("no video for the run on %s: %s", self.serial, exc)
        if self._package is not None:
            try:
                capture.log = self._write_log(out_dir, self._package)
            except (OSError, DeviceFailure) as exc:
                if isinstance(exc, DeviceLost):
                    raise
                log.warning("no device log for the run on %s: %s", self.serial, exc)
        restore = [f"settings delete global {name}" if value in ("", "null")
                   else f"settings put global {name} {shlex.quote(value)}"
                   for name, value in self._scales.items()]
        if restore:
            self._t.shell("; ".join(restore))
        self._scales = {}
        return capture

    def _write_log(self, out_dir: Path, package: str) -> Path:
        """The app's log lines since begin_run, as device.log in `out_dir`."""
        logcat = self._t.shell(f"logcat -d -v threadtime -T {self._since:.3f}",
                               timeout=max(self.call_timeout, 30.0))
        path = out_dir / "device.log"
        lines = app_log_lines(logcat, self._pids, package)
        path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
        return path

    # ----------------------------------------------------------------------- apps

    def install(self, build: Path) -> InstalledApp:
        build = Path(build)
        if build.suffix.lower() != ".apk":
            raise InstallFailed(f"{build.name} is not an APK; an Android device installs .apk "
                                f"builds (an .aab is converted with bundletool first)")
        try:
            with build.open("rb") as f:
                info = inspect_build(f, "apk")
        except (OSError, InvalidBuild) as exc:
            raise InstallFailed(f"{build.name}: {exc}") from exc
        self._pm_install(build, info.package_name)
        label = info.label or info.package_name
        self._labels[info.package_name] = label
        return InstalledApp(package=info.package_name, label=label,
                            extra={"kind": "apk", "version_name": info.version_name,
                                   "version_code": info.version_code})

    def _pm_install(self, build: Path, package: str) -> None:
        remote = f"{APK_DIR}/qualgent-{package}.apk"
        self._t.push(build, remote)
        out = self._t.shell(f"pm install -r -t -g {remote}; rm -f {remote}",
                            timeout=max(self.call_timeout, 120.0))
        if "Success" in out:
            return
        m = _FAILURE_RE.search(out)
        if m is not None:
            reason = f": {m.group('reason').strip()}" if m.group("reason") else ""
            raise InstallFailed(f"Installing {build.name} ({package}) on {self.profile.name} "
                                f"failed with {m.group('code')}{reason}")
        detail = out.strip().splitlines()[-1] if out.strip() else "no answer"
        raise InstallFailed(f"Installing {build.name} ({package}) on {self.profile.name} "
                            f"failed: {detail}")

    def launch(self, package: str) -> None:
        out = self._t.shell(f"logcat -b crash -c; cmd package resolve-activity --brief "
                            f"{shlex.quote(package)}")
        components = [m for m in _COMPONENT_RE.findall(out) if m[0] == package]
        started = False
        if components:
            pkg, activity = components[-1]
            res = self._t.shell(f"am start -W -n {pkg}/{activity}",
                                timeout=max(self.call_timeout, 30.0))
            started = "Error" not in res and "Exception" not in res
        if not started:
            res = self._t.shell(f"monkey -p {shlex.quote(package)} -c "
                                f"android.intent.category.LAUNCHER 1")
            if "No activities found" in res or "Events injected: 1" not in res:
                raise DeviceFailure(f"{package} could not be started on {self.profile.name}: "
                                    f"{res.strip().splitlines()[-1] if res.strip() else ''}")
        if package == self._package:
            self._alive, self._crashed = True, None
        self._acted()

    def stop(self, package: str) -> None:
        self._t.shell(f"am force-stop {shlex.quote(package)}")
        if package == self._package:
            self._alive, self._crashed = False, None
        self._fresh = None

    # -------------------------------------------------------------------- observe

    def hierarchy(self) -> Hierarchy:
        if self._crashed:
            raise AppCrashed(self._crashed)
        if self._fresh is not None:
            at, screen = self._fresh
            self._fresh = None
            if time.monotonic() - at < self.timing.poll_interval * 2:
                return screen
        return self._read()

    def _read(self) -> Hierarchy:
        """One UI dump (and the app's pid), retried while the screen is not idle."""
        pidof = f"pidof {shlex.quote(self._package)}" if self._package else "true"
        cmd = (f"rm -f {DUMP_PATH}; uiautomator dump {DUMP_PATH} 2>&1; echo {_SEP}; {pidof};"
               f" echo {_SEP}; cat {DUMP_PATH}")
        problem = ""
        for attempt in range(_DUMP_TRIES):
            if attempt:
                time.sleep(0.25)
            out = self._t.shell(cmd)
            parts = out.split(_SEP + "\n")
            if len(parts) != 3:
                problem = out.strip()[:200]
                continue
            status, pids, xml = parts
            self._check_alive(pids)
            if "ERROR" in status or "<hierarchy" not in xml:
                problem = status.strip() or "an empty dump"
                continue
            try:
                return parse_dump(xml, width=self.profile.width, height=self.profile.height,
                                  home_package=self.home_package,
                                  ignore_packages=(SYSTEM_UI, self._ime, HELPER_PACKAGE))
            except DumpError as exc:
                problem = str(exc)
        raise DeviceFailure(f"{self.profile.name} could not dump its screen after "
                            f"{_DUMP_TRIES} tries: {problem}")

    def _check_alive(self, pids: str) -> None:
        found = [int(p) for p in pids.split() if p.isdigit()]
        self._pids.update(found)
        if found or not self._alive or self._package is None:
            return
        self._alive = False
        line = crash_line(self._t.shell("logcat -b crash -d"), self._package)
        if line is not None:
            label = self._labels.get(self._package, self._package)
            self._crashed = f"{label} ({self._package}) crashed: {line}"
            raise AppCrashed(self._crashed)

    def screenshot(self) -> bytes:
        if self._crashed:
            raise AppCrashed(self._crashed)
        png = self._t.shell_bytes("screencap -p")
        if not png.startswith(b"\x89PNG\r\n\x1a\n"):
            raise DeviceFailure(f"{self.profile.name} returned no PNG screenshot: "
                                f"{png[:120].decode('utf-8', 'replace').strip()!r}")
        return png

    # ------------------------------------------------------------------------ act

    def _input(self, cmd: str) -> str:
        if self._crashed:
            raise AppCrashed(self._crashed)
        self._fresh = None
        return self._t.shell(cmd)

    def _acted(self) -> Hierarchy | None:
        """Wait until two reads in a row are equal (bounded); keep the last for the agent."""
        deadline = time.monotonic() + self.settle_timeout
        last = self._read()
        while time.monotonic() < deadline:
            now = self._read()
            if now == last:
                break
            last = now
        self._fresh = (time.monotonic(), last)
        return last

    def tap(self, x: int, y: int) -> None:
        self._input(f"input tap {int(x)} {int(y)}")
        self._acted()

    def swipe(self, x1: int, y1: int, x2: int, y2: int, duration_ms: int = 300) -> None:
        self._input(f"input swipe {int(x1)} {int(y1)} {int(x2)} {int(y2)} {int(duration_ms)}")
        self._acted()

    def key(self, name: str) -> None:
        name = name.lower()
        if name == "back":
            self.back()
            return
        if name not in KEYCODES:
            raise ValueError(f"unknown key {name!r}; expected one of back, "
                             f"{', '.join(KEYCODES)}")
        self._input(f"input keyevent {KEYCODES[name]}")
        self._acted()

    def back(self) -> None:
        """BACK; with the keyboard open the first BACK only closes it, so send two."""
        shown = "mInputShown=true" in self._input("dumpsys input_method")
        self._input(f"input keyevent {KEYCODE_BACK}" +
                    (f" && input keyevent {KEYCODE_BACK}" if shown else ""))
        self._acted()

    def clear(self) -> None:
        field = _focused_input(self.hierarchy())
        count = len(field.text or "") + 4 if field is not None else 32
        dels = " ".join([str(KEYCODE_DEL)] * count)
        self._input(f"input keyevent {KEYCODE_MOVE_END} && input keyevent {dels}")
        self._acted()

    def type_text(self, text: str) -> None:
        if not text:
            return
        if typing_.shell_typable(text):
            out = self._input(typing_.input_text_command(text))
        else:
            out = self._type_with_ime(text)
        if "Exception" in out:
            raise DeviceFailure(f"{self.profile.name} refused to type {text!r}: "
                                f"{_first_line_with(out, 'Exception')}")
        self._confirm_typed(text, self._acted())

    def _type_with_ime(self, text: str) -> str:
        self._ensure_helper("type text other than ASCII")
        previous = self._t.shell("settings get secure default_input_method").strip()
        switched = self._t.shell(f"ime enable {UNICODE_IME}; ime set {UNICODE_IME}")
        if "selected" not in switched:
            raise DeviceFailure(f"{self.profile.name} would not switch to the {HELPER_PACKAGE} "
                                f"keyboard: {switched.strip()[-200:]}")
        try:
            encoded = "\n".join(typing_.to_modified_utf7(line) for line in text.split("\n"))
            return self._input(typing_.input_text_command(encoded))
        finally:
            if previous and previous != "null" and previous != UNICODE_IME:
                self._t.shell(f"ime set {shlex.quote(previous)}")

    def _confirm_typed(self, text: str, screen: Hierarchy | None) -> None:
        last = text.split("\n")[-1]
        if "\n" in text or not last or screen is None:
            return  # ENTER may have moved the focus or left the screen
        field = _focused_input(screen)
        if field is None:
            raise DeviceFailure(f"Typed {text!r} on {self.profile.name}, but no input has "
                                f"the focus")
        value = field.text or ""
        if value.endswith(last):
            return
        if value and set(value) <= {"\u2022", "*"} and len(value) >= len(last):
            return  # a password field shows dots
        raise DeviceFailure(f"Typed {text!r} on {self.profile.name}, but the field shows "
                            f"{value!r}")

    # ----------------------------------------------------------------------- SMS

    def read_sms(self) -> list[Sms]:
        out = self._t.shell(CONTENT_QUERY)
        try:
            messages = parse_content_rows(out)
        except SmsUnreadable as exc:
            log.info("content query of the SMS inbox refused on %s (%s); asking %s",
                     self.serial, exc, HELPER_PACKAGE)
            messages = self._sms_from_helper()
        return [m for m in messages if m.received_at >= self._since]

    def _sms_from_helper(self) -> list[Sms]:
        self._ensure_helper("read SMS")
        out = self._t.shell(f"pm grant {HELPER_PACKAGE} android.permission.READ_SMS; "
                            f"am broadcast -n {SMS_RECEIVER} -a io.appium.settings.sms.read "
                            f"--es max 10")
        try:
            return parse_settings_broadcast(out)
        except SmsUnreadable as exc:
            raise DeviceFailure(f"{self.profile.name} cannot read its SMS inbox: {exc}") from exc

    def _ensure_helper(self, purpose: str) -> None:
        if "package:" in self._t.shell(f"pm path {HELPER_PACKAGE}"):
            return
        if self.helper_apk is None or not self.helper_apk.is_file():
            raise DeviceFailure(f"To {purpose} on {self.profile.name} the Appium Settings "
                                f"helper app is needed; set QUALGENT_ANDROID_HELPER_APK")
        self._pm_install(self.helper_apk, HELPER_PACKAGE)


def _seconds(text: str) -> float:
    """Epoch seconds from `date +%s.%N` (a toybox without %N prints it as is)."""
    whole, _, frac = text.strip().partition(".")
    if not whole.isdigit():
        return 0.0
    return float(f"{whole}.{frac}") if frac.isdigit() else float(whole)


def _focused_input(screen: Hierarchy) -> Element | None:
    return next((e for e in screen.elements if e.editable and e.focused), None)


def _last_match(pattern: re.Pattern[str], text: str, default: tuple[int, ...]
                ) -> tuple[int, ...]:
    """The Override value if present (it is what apps see), else Physical, else default."""
    found = pattern.findall(text)
    if not found:
        return default
    kind = {k: v for k, *v in found}
    values = kind.get("Override") or kind.get("Physical")
    return tuple(int(v) for v in values)


def _first_line_with(text: str, word: str) -> str:
    return next((line.strip() for line in text.splitlines() if word in line), text.strip())
