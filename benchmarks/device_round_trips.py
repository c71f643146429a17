"""Device round trips per step: what a Demo Shop case costs on real drivers over the fakes.

    python benchmarks/device_round_trips.py [--repeat 10] [--warmup 1] [--targets ...]
                                            [--floor-samples 30] [--calls]

The same case (sign in with the SMS code, search, open a product, add it to the cart, go back,
check out) runs through `qualgent.agent.run_steps`, with the worker's waits
(`AgentOptions.fitted(device.timing)`), on

  adb            AdbDevice over a fake device (tests.fakes.android: the device side of the ADB
                 transport, backed by a simulator) behind the REAL adb server of the adbutils
                 wheel
  appium-android AppiumDevice over FakeAppium (tests.fakes.webdriver) answering as UiAutomator2
  appium-ios     AppiumDevice over FakeAppium answering as XCUITest; its SMS code is read from
                 the simulator's inbox, as the worker reads an iPhone's from the SMS provider
  sim-android    the simulator itself (zero transport): the reference for adb and appium-android
  sim-ios        the same for appium-ios

Each repeat uses a fresh simulator (and fake device); the targets take turns within a repeat,
so machine noise hits them alike. Per step it counts the round trips the device saw, by kind
(the fake's own log: SimShell commands, FakeAppium requests; for the simulator, the protocol
calls the agent made): hierarchy reads (`uiautomator dump`, GET /source), screenshots
(`screencap -p`, GET /screenshot), input (`input ...`, W3C actions, element value/clear, back,
key presses) and other calls. Time is split additively:

  ours    the rest of the step: planning, matching, the executor, the driver's parsing
  wire    waiting on the device minus the device's own work: the adb server and both ends of
          the ADB transport (adbutils included), or HTTP and JSON
  device  the fake device's own work (the simulator, writing the dump XML or the page source,
          rendering the PNG), measured inside the fake (for the ADB fake without the time it
          blocks writing to the stream); a real device takes far longer (a uiautomator dump
          ~1-2 s), which is why the round-trip counts matter more than these times

"Waiting on the device" is the time inside the transport calls (the ADB driver's Transport,
the WebDriver client's request). Medians over the repeats; counts as "a-b" when repeats
differ. The FakeAppium here has Nagle's algorithm off on its connections, as Appium's own
(Node) HTTP server has; the last lines show one trivial round trip through each transport
(and FakeAppium as it ships). Prints figures and PASS/MISS for the target (a tap on a settled
screen costs at most two hierarchy reads and one screenshot); asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from _common import log, run_benchmark

from qualgent.agent import AgentOptions, StepResult, run_steps
from qualgent.builds.demo import write_demo_build
from qualgent.drivers.base import Device, Sms
from qualgent.drivers.simulator import SimulatedDevice, parse_simulator_spec

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # tests: the fake devices and the Demo Shop's steps
from tests.demo import PACKAGE, SEARCH_AND_CHECK_OUT, SIGN_IN  # noqa: E402

ANDROID = "Pixel 9:Android:16:sms"
IOS = "iPhone 14 Pro:iOS:16.0:sms"
STEPS = [*SIGN_IN, *SEARCH_AND_CHECK_OUT]
KINDS = ("read", "shot", "input", "other")
TARGET_READS, TARGET_SHOTS = 2, 1
TARGETS = {  # name: (label, the reference it is compared with)
    "sim-android": ("simulator, Android (reference)", None),
    "adb": ("ADB: AdbDevice, fake adbd, real adb server", "sim-android"),
    "appium-android": ("Appium UiAutomator2: AppiumDevice, FakeAppium", "sim-android"),
    "sim-ios": ("simulator, iOS (reference)", None),
    "appium-ios": ("Appium XCUITest: AppiumDevice, FakeAppium", "sim-ios"),
}
_INPUT_CALLS = {"tap", "type_text", "clear", "swipe", "back", "key"}


# --------------------------------------------------------------------------- the ledger

@dataclass
class Ledger:
    """What the device saw and how long we waited on it; filled from several threads."""

    trips: list[tuple[str, str]] = field(default_factory=list)  # (kind, what), in order
    wait: float = 0.0  # seconds inside transport calls (the device's work included)
    work: float = 0.0  # seconds of the device's own work
    lock: threading.Lock = field(default_factory=threading.Lock)

    def trip(self, kind: str, what: str, work: float | None = None) -> None:
        with self.lock:
            self.trips.append((kind, what))
            if work is not None:
                self.work += work

    def waited(self, seconds: float) -> None:
        with self.lock:
            self.wait += seconds

    def mark(self) -> tuple[int, float, float]:
        with self.lock:
            return len(self.trips), self.wait, self.work


def timed(fn: Callable[..., Any], done: Callable[[float], None]) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            done(time.perf_counter() - t0)
    return call


def adb_kind(cmd: str) -> str:
    if "uiautomator dump" in cmd:
        return "read"
    if cmd.startswith("screencap"):
        return "shot"
    if cmd.startswith("input "):
        return "input"
    return "other"


def appium_kind(method: str, rest: str, script: str | None) -> str:
    if (method, rest) == ("GET", "/source"):
        return "read"
    if (method, rest) == ("GET", "/screenshot"):
        return "shot"
    if rest in ("/actions", "/back") or rest.endswith(("/value", "/clear")):
        return "input"
    if script in ("mobile: pressKey", "mobile: pressButton"):
        return "input"
    return "other"


class SimulatorCalls:
    """The simulator as the agent's Device, recording each protocol call as a round trip
    (its time is the device's own work: there is no transport)."""

    def __init__(self, sim: SimulatedDevice, ledger: Ledger) -> None:
        self._sim, self._ledger = sim, ledger
        self.profile, self.timing = sim.profile, sim.timing

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._sim, name)
        if name.startswith("_") or not callable(attr):
            return attr
        kind = {"hierarchy": "read", "screenshot": "shot"}.get(
            name, "input" if name in _INPUT_CALLS else "other")

        def call(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return attr(*args, **kwargs)
            finally:
                spent = time.perf_counter() - t0
                self._ledger.trip(kind, name, spent)
                self._ledger.waited(spent)
        return call


class ProviderSms:
    """An iPhone's SMS as the worker reads them (worker.provider_sms): from the SMS provider,
    here the simulator's inbox; every other call goes to the device."""

    def __init__(self, device: Device, sim: SimulatedDevice) -> None:
        self._device, self._sim = device, sim
        self.profile = replace(device.profile, sms_enabled=True)

    def read_sms(self) -> list[Sms]:
        return self._sim.read_sms()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._device, name)


class _TimedOutput:
    """A fake adbd stream as a shell command sees it, keeping how long writes blocked."""

    def __init__(self, out: Any) -> None:
        self._out = out
        self.closed = out.closed
        self.writing = 0.0

    def _timed(self, write: Callable[[bytes], None], data: bytes) -> None:
        t0 = time.perf_counter()
        try:
            write(data)
        finally:
            self.writing += time.perf_counter() - t0

    def stdout(self, data: bytes) -> None:
        self._timed(self._out.stdout, data)

    def stderr(self, data: bytes) -> None:
        self._timed(self._out.stderr, data)

    def read_stdin(self, timeout: float | None = None) -> bytes:
        return self._out.read_stdin(timeout)


def _median_ms(fn: Callable[[], Any], n: int) -> float:
    fn()  # the connection and the code paths warm
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def _bare_adb_shell(port: int, serial: str, cmd: str) -> bytes:
    """One shell command through the adb server's smart socket, nothing else."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        for request in (f"host:transport:{serial}", f"shell:{cmd}"):
            data = request.encode()
            s.sendall(b"%04x" % len(data) + data)
            if s.recv(4) != b"OKAY":
                raise RuntimeError(f"the adb server refused {request}")
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)


# --------------------------------------------------------------------------- one run

@dataclass
class StepFigures:
    counts: dict[str, int]
    calls: list[str]
    wall: float
    ours: float
    wire: float
    device: float
    single_tap: bool


@dataclass
class RunFigures:
    status: str
    explanation: str | None
    steps: list[StepFigures]


def measure(device: Device, ledger: Ledger) -> RunFigures:
    """run_steps on `device`, cut into steps at each on_step call."""
    marks: list[tuple[float, tuple[int, float, float]]] = []
    results: list[StepResult] = []

    def on_step(result: StepResult, _progress: int) -> None:
        marks.append((time.perf_counter(), ledger.mark()))
        results.append(result)

    marks.append((time.perf_counter(), ledger.mark()))
    out = run_steps(device, PACKAGE, STEPS, on_step=on_step,
                    options=AgentOptions.fitted(device.timing))
    steps = []
    for i, result in enumerate(results):
        (t0, (n0, w0, k0)), (t1, (n1, w1, k1)) = marks[i], marks[i + 1]
        trips = ledger.trips[n0:n1]
        wait, work = w1 - w0, k1 - k0
        counts = {k: sum(1 for kind, _ in trips if kind == k) for k in KINDS}
        actions = [a.action for a in result.actions]
        steps.append(StepFigures(counts, [what for _, what in trips], t1 - t0, t1 - t0 - wait,
                                 max(0.0, wait - work), work, i > 0 and actions == ["tap"]))
    return RunFigures(str(out.status), out.explanation, steps)


class Rig:
    """Builds one target's device afresh for each repeat, and cleans up after."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.apk = tmp / "demo.apk"
        self.ipa = tmp / "demo.ipa"
        write_demo_build(self.apk, "android")
        write_demo_build(self.ipa, "ios")
        self.fleet: Any = None
        self._cleanups: list[Callable[[], None]] = []

    def run(self, target: str) -> RunFigures:
        try:
            return getattr(self, "_" + target.replace("-", "_"))()
        finally:
            while self._cleanups:
                try:
                    self._cleanups.pop()()
                except Exception as exc:  # noqa: BLE001 - report, keep cleaning
                    log(f"cleanup after {target}: {exc}")

    def _sim(self, spec: str, build: Path) -> RunFigures:
        sim = SimulatedDevice(parse_simulator_spec(spec), seed=7)
        sim.install(build)
        sim.begin_run(PACKAGE)
        ledger = Ledger()
        return measure(SimulatorCalls(sim, ledger), ledger)  # type: ignore[arg-type]

    def _sim_android(self) -> RunFigures:
        return self._sim(ANDROID, self.apk)

    def _sim_ios(self) -> RunFigures:
        return self._sim(IOS, self.ipa)

    def start_fleet(self) -> None:
        from tests.fakes.android import AdbFleet

        self.fleet = AdbFleet(home=self.tmp / "adb-home")
        # an adbutils client that cannot reach its server starts one on the environment's
        # port: let that be the fleet's, which is killed with it
        os.environ.update({k: self.fleet.env_overrides[k] for k in (
            "ANDROID_ADB_SERVER_PORT", "ANDROID_ADB_SERVER_HOST")})

    def close(self) -> None:
        if self.fleet is not None:
            fleet, self.fleet = self.fleet, None
            fleet.close()

    def _adb(self) -> RunFigures:
        from qualgent.drivers.android import AdbDevice

        if self.fleet is None:
            self.start_fleet()
        fleet = self.fleet
        sim = SimulatedDevice(parse_simulator_spec(ANDROID), seed=7)
        serial = fleet.add(sim)
        self._cleanups.append(lambda: fleet.remove(serial))
        device = AdbDevice(serial, fleet.client(), video=False)
        device.install(self.apk)
        device.begin_run(PACKAGE)
        self._cleanups.append(lambda: device.end_run(self.tmp))
        ledger = Ledger()
        shell = fleet[serial].handler
        shell_run = shell.run

        def run(cmd: str, stdin: bytes | None, out: Any) -> int:
            stream = _TimedOutput(out)
            t0 = time.perf_counter()
            try:
                return shell_run(cmd, stdin, stream)
            finally:
                ledger.trip(adb_kind(cmd), cmd, time.perf_counter() - t0 - stream.writing)

        shell.run = run
        transport = device._t  # the driver's only way to the device
        for name in ("shell_bytes", "push", "pull", "stream"):
            setattr(transport, name, timed(getattr(transport, name), ledger.waited))
        return measure(device, ledger)

    @staticmethod
    def _counting_appium(sim: SimulatedDevice, ledger: Ledger | None = None) -> Any:
        """A FakeAppium that logs and times each session command into `ledger`."""
        from tests.fakes.webdriver import FakeAppium

        class CountingAppium(FakeAppium):
            def session_call(self, sid: str, method: str, rest: str, body: dict) -> Any:
                t0 = time.perf_counter()
                try:
                    return super().session_call(sid, method, rest, body)
                finally:
                    if ledger is not None:
                        script = body.get("script") if isinstance(body, dict) else None
                        what = f"{method} {rest}" + (f" {script}" if script else "")
                        ledger.trip(appium_kind(method, rest, script), what,
                                    time.perf_counter() - t0)

        return CountingAppium(sim)

    def _appium(self, spec: str, build: Path) -> RunFigures:
        from qualgent.drivers.appium import AppiumDevice

        ledger = Ledger()
        profile = parse_simulator_spec(spec)
        sim = SimulatedDevice(profile, seed=7)
        fake = self._counting_appium(sim, ledger).__enter__()
        self._cleanups.append(lambda: fake.__exit__(None, None, None))
        ios = profile.platform == "iOS"
        caps = {"platformName": profile.platform, "appium:deviceName": profile.name,
                "appium:platformVersion": profile.os_version,
                "appium:automationName": "XCUITest" if ios else "UiAutomator2",
                "qualgent:sms": True}
        appium = AppiumDevice(fake.url, caps, call_timeout=20.0)
        self._cleanups.append(appium.close)
        appium.install(build)
        appium.begin_run(PACKAGE)
        self._cleanups.append(lambda: appium.end_run(self.tmp))
        appium.client.request = timed(appium.client.request, ledger.waited)
        device: Device = ProviderSms(appium, sim) if ios else appium  # type: ignore[assignment]
        return measure(device, ledger)

    def floor(self, n: int) -> dict[str, float]:
        """Median ms of one trivial round trip: the ADB driver's Transport against a bare
        socket through the same adb server; the WebDriver client against FakeAppium."""
        from qualgent.drivers.android.transport import Transport
        from qualgent.drivers.appium.client import WebDriverClient
        from tests.fakes.webdriver import FakeAppium

        if self.fleet is None:
            self.start_fleet()
        fleet = self.fleet
        serial = fleet.add(SimulatedDevice(parse_simulator_spec(ANDROID), seed=7))
        out: dict[str, float] = {}
        try:
            transport = Transport(fleet.client(), serial, 10.0)
            out["adb: Transport.shell('true')"] = _median_ms(lambda: transport.shell("true"), n)
            out["adb: bare socket, host:transport + shell:true"] = _median_ms(
                lambda: _bare_adb_shell(fleet.port, serial, "true"), n)
        finally:
            fleet.remove(serial)
        with FakeAppium(SimulatedDevice(parse_simulator_spec(ANDROID), seed=7)) as fake:
            client = WebDriverClient(fake.url, timeout=10.0)
            try:
                out["appium: GET /status"] = _median_ms(client.status, n)
            finally:
                client.close()
        return out

    def _appium_android(self) -> RunFigures:
        return self._appium(ANDROID, self.apk)

    def _appium_ios(self) -> RunFigures:
        return self._appium(IOS, self.ipa)


# --------------------------------------------------------------------------- report

def _count(values: list[int]) -> str:
    lo, hi = min(values), max(values)
    return str(lo) if lo == hi else f"{lo}-{hi}"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f}"


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[:n - 3] + "..."


def report_target(name: str, runs: list[RunFigures], show_calls: bool) -> None:
    label = TARGETS[name][0]
    print(f"{name}: {label}; median of {len(runs)} run(s)")
    failed = [r for r in runs if r.status not in ("passed", "completed")]
    if failed:
        print(f"  !! {len(failed)} run(s) did not pass: {failed[0].explanation}")
    print(f"   # {'step':<44} {'read':>4} {'shot':>4} {'inp':>4} {'oth':>4}   "
          f"{'wall ms':>8} {'ours':>8} {'wire':>8} {'device':>8}")
    n = min(len(r.steps) for r in runs)
    for i in range(n):
        per = [r.steps[i] for r in runs]
        counts = "".join(f" {_count([s.counts[k] for s in per]):>4}" for k in KINDS)
        times = "".join(_ms(statistics.median(getattr(s, a) for s in per)) + " "
                        for a in ("wall", "ours", "wire", "device"))
        tap = "*" if per[0].single_tap else " "
        print(f"  {i + 1:2d}{tap}{_short(STEPS[i], 44):<44}{counts}   {times}")
        if show_calls:
            for what in per[0].calls:
                print(f"        {_short(what, 96)}")
    totals = [sum(s.wall for s in r.steps) for r in runs]
    parts = {a: statistics.median(sum(getattr(s, a) for s in r.steps) for r in runs)
             for a in ("ours", "wire", "device")}
    counts = "".join(f" {_count([sum(s.counts[k] for s in r.steps) for r in runs]):>4}"
                     for k in KINDS)
    print(f"     {'per run':<44}{counts}   {_ms(statistics.median(totals))} "
          f"{_ms(parts['ours'])} {_ms(parts['wire'])} {_ms(parts['device'])}")
    print()


def summarize(results: dict[str, list[RunFigures]]) -> None:
    print("a tap on a settled screen (* above: a step whose only action is one tap, after the "
          "first step)")
    print(f"  {'target':<16} {'reads':>5} {'shots':>5}  {'tap step: wall':>14} {'ours':>8} "
          f"{'wire':>8} {'device':>8}  (target: at most {TARGET_READS} reads, {TARGET_SHOTS} "
          f"screenshot)")
    for name, runs in results.items():
        taps = [s for r in runs for s in r.steps if s.single_tap]
        if not taps:
            print(f"  {name:<16} no single-tap step ran")
            continue
        reads = max(s.counts["read"] for s in taps)
        shots = max(s.counts["shot"] for s in taps)
        verdict = "PASS" if reads <= TARGET_READS and shots <= TARGET_SHOTS else "MISS"
        if TARGETS[name][1] is None:
            verdict = "(reference: protocol calls)"
        med = {a: statistics.median(getattr(s, a) for s in taps)
               for a in ("wall", "ours", "wire", "device")}
        print(f"  {name:<16} {reads:>5} {shots:>5}  {_ms(med['wall']):>14} {_ms(med['ours'])} "
              f"{_ms(med['wire'])} {_ms(med['device'])}  {verdict}")
        over = sorted({STEPS[i] for r in runs for i, s in enumerate(r.steps)
                       if s.single_tap and (s.counts["read"] > TARGET_READS
                                            or s.counts["shot"] > TARGET_SHOTS)})
        for step in over:
            print(f"    over the target: {step}")
    print()
    print("per run, against the simulator of the same platform (medians; ms)")
    print(f"  {'target':<16} {'trips':>5} {'wall':>8} {'ours':>8} {'wire':>8} {'device':>8}  "
          f"{'wall/ref':>8} {'ours/ref':>8} {'trips/ref':>9}")
    for name, runs in results.items():
        ref = TARGETS[name][1]

        def total(rs: list[RunFigures], attr: str) -> float:
            return statistics.median(sum(getattr(s, attr) for s in r.steps) for r in rs)

        def trips(rs: list[RunFigures]) -> float:
            return statistics.median(sum(sum(s.counts.values()) for s in r.steps) for r in rs)

        row = (f"  {name:<16} {trips(runs):>5g} {_ms(total(runs, 'wall'))} "
               f"{_ms(total(runs, 'ours'))} {_ms(total(runs, 'wire'))} "
               f"{_ms(total(runs, 'device'))}")
        if ref in results:
            base = results[ref]
            row += (f"  {total(runs, 'wall') / total(base, 'wall'):7.2f}x "
                    f"{total(runs, 'ours') / total(base, 'ours'):7.2f}x "
                    f"{trips(runs) / trips(base):8.2f}x")
        print(row)


def ignore_stop_signals() -> None:
    """While cleaning up: a second Ctrl-C must not leave an adb server behind."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)


def main(tmp: Path) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeat", type=int, default=10, help="measured runs per target")
    p.add_argument("--warmup", type=int, default=1, help="unmeasured runs per target first")
    p.add_argument("--targets", default=",".join(TARGETS),
                   help=f"comma-separated, of {', '.join(TARGETS)}")
    p.add_argument("--floor-samples", type=int, default=30,
                   help="samples of one trivial round trip per transport (0: skip)")
    p.add_argument("--calls", action="store_true",
                   help="list each step's round trips (of the first measured run)")
    args = p.parse_args()
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    unknown = [t for t in targets if t not in TARGETS]
    if (unknown or not targets or args.repeat < 1 or args.warmup < 0
            or args.floor_samples < 0):
        p.error(f"--repeat at least 1, --warmup at least 0, --targets of {', '.join(TARGETS)}"
                + (f" (not {', '.join(unknown)})" if unknown else ""))

    rig = Rig(tmp)
    results: dict[str, list[RunFigures]] = {t: [] for t in targets}
    broken: dict[str, str] = {}
    floor: dict[str, float] = {}
    try:
        t0 = time.perf_counter()
        for i in range(args.warmup + args.repeat):
            measured = i >= args.warmup
            log(f"{'run' if measured else 'warm-up'} {i + 1 - args.warmup * measured} of "
                f"{args.repeat if measured else args.warmup}: {', '.join(targets)}")
            for target in targets:
                if target in broken:
                    continue
                try:
                    figures = rig.run(target)
                except Exception as exc:  # noqa: BLE001 - report it, measure the others
                    broken[target] = f"{type(exc).__name__}: {exc}"
                    log(f"{target} failed: {broken[target]}")
                    continue
                if measured:
                    results[target].append(figures)
        if args.floor_samples:
            log(f"one trivial round trip, {args.floor_samples} times each")
            floor = rig.floor(args.floor_samples)
        elapsed = time.perf_counter() - t0
    finally:
        ignore_stop_signals()
        rig.close()
    results = {t: runs for t, runs in results.items() if runs}

    print(f"case: Demo Shop, {len(STEPS)} steps through run_steps with the worker's waits "
          f"(AgentOptions.fitted); {args.repeat} measured run(s) per target after "
          f"{args.warmup} warm-up; {os.cpu_count()} CPU(s); {elapsed:.1f} s in all")
    print("round trips the device saw per step: read = hierarchy read, shot = screenshot, "
          "inp = input, oth = other; time: wall = ours + wire + device")
    print()
    for target, why in broken.items():
        print(f"{target}: FAILED, not measured ({why})")
    for target in results:
        report_target(target, results[target], args.calls)
    summarize(results)
    if floor:
        print()
        print(f"one trivial round trip (median of {args.floor_samples}; ms): the transport's "
              f"floor")
        for label, ms in floor.items():
            print(f"  {label:<58} {ms:8.2f}")


if __name__ == "__main__":
    sys.exit(run_benchmark(main, "qualgent-round-trips-"))
