"""``AdbFleet``: the REAL adb server (the binary in the adbutils wheel) on a free port, with
fake devices ``adb connect``-ed to it.

The server runs in the foreground (``adb -P <port> nodaemon server``) as our own child, with
HOME in a temporary directory (it writes ``~/.android/adbkey`` there), so closing the fleet
(``kill-server``, then the child) leaves nothing running. Tests talk to it through
``fleet.client()`` (adbutils pinned to the port) or run ``adb`` with ``env=fleet.env``.
Beware: an adbutils client that cannot connect runs ``adb start-server`` itself, on the port
of the process's environment (5037 by default), so the fleet never asks adbutils before its
server answers, and the ``adb_fleet`` fixture points the environment at the fleet's port.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import adbutils

from tests.fakes.android.adbd import FakeAdbd, ShellHandler
from tests.fakes.android.console import TOKEN_FILE, FakeConsole
from tests.fakes.android.fs import FakeFs

if TYPE_CHECKING:
    from qualgent.drivers.simulator import SimulatedDevice

HOST = "127.0.0.1"
_CLEARED_ENV = ("ANDROID_SERIAL", "ANDROID_ADB_SERVER_ADDRESS", "ANDROID_USER_HOME",
                "ANDROID_SDK_HOME", "ANDROID_VENDOR_KEYS", "ADB_VENDOR_KEYS", "ADB_TRACE",
                "ADB_SERVER_SOCKET")


class FleetError(RuntimeError):
    """The adb server or a fake device did not come up as expected."""


@dataclass
class FakeDevice:
    """One fake device of the fleet: its transport, file system and (maybe) console."""

    serial: str
    adbd: FakeAdbd
    sim: SimulatedDevice | None = None
    console: FakeConsole | None = None

    @property
    def fs(self) -> FakeFs:
        return self.adbd.fs

    @property
    def handler(self) -> ShellHandler:
        return self.adbd.handler


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_") or "device"


class AdbFleet:
    """The real adb server on a free port, and the fake devices connected to it."""

    def __init__(self, home: Path | None = None, *, adb: str | None = None,
                 timeout: float = 20.0) -> None:
        self._own_home = home is None
        self.home = Path(tempfile.mkdtemp(prefix="fake-adb-")) if home is None else Path(home)
        self.home.mkdir(parents=True, exist_ok=True)
        self.adb = adb or adbutils.adb_path()
        self.timeout = timeout
        self.devices: dict[str, FakeDevice] = {}
        self.console_token = secrets.token_urlsafe(12)
        (self.home / TOKEN_FILE).write_text(self.console_token + "\n")
        self.port = free_port()
        self.env_overrides = {
            "HOME": str(self.home), "ANDROID_ADB_SERVER_PORT": str(self.port),
            "ANDROID_ADB_SERVER_HOST": HOST, "ADB_MDNS": "0", "ADB_MDNS_OPENSCREEN": "0",
            "ADB_LIBUSB": "0"}
        self.env = {k: v for k, v in os.environ.items() if k not in _CLEARED_ENV}
        self.env.update(self.env_overrides)
        self._log = (self.home / "adb-server.log").open("wb")
        self._server: subprocess.Popen[bytes] | None = subprocess.Popen(
            [self.adb, "-P", str(self.port), "nodaemon", "server"], env=self.env,
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            start_new_session=True)
        self.server_pid = self._server.pid
        try:
            self._wait_for_server()
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------- clients

    def client(self, socket_timeout: float = 10.0) -> adbutils.AdbClient:
        """An adbutils client pinned to this fleet's server."""
        return adbutils.AdbClient(host=HOST, port=self.port, socket_timeout=socket_timeout)

    def run_adb(self, *args: str, timeout: float = 20.0,
                input: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
        """The ``adb`` CLI against this fleet's server (stdin empty unless `input`)."""
        return subprocess.run([self.adb, "-P", str(self.port), *args], env=self.env,
                              input=input if input is not None else b"",
                              capture_output=True, timeout=timeout, check=False)

    # ------------------------------------------------------------- devices

    def add(self, sim: SimulatedDevice | None = None, *, handler: ShellHandler | None = None,
            fs: FakeFs | None = None, serial_props: dict[str, str] | None = None,
            console: bool = False, **knobs: Any) -> str:
        """Start a fake device, ``adb connect`` it and wait until the server lists it as
        "device"; its serial ("127.0.0.1:<port>").

        The shell is ``SimShell(sim, fs, **knobs)`` (tests.fakes.android.shell), or `handler`.
        `serial_props` (announced in CNXN, shown by ``adb devices -l``) default to the
        shell's own ``props`` where it has them (SimShell: what ``getprop`` says), else to
        the simulator's profile (``ro.product.model`` is its name).
        `console=True` adds an emulator console on the port below the device's (the
        emulator's own layout: console 5554, adb 5555).
        """
        if handler is None:
            if sim is None:
                raise TypeError("add() needs a SimulatedDevice or a handler")
            from tests.fakes.android.shell import SimShell

            def factory(shared: FakeFs) -> ShellHandler:
                return SimShell(sim, shared, **knobs)
        else:
            if knobs:
                raise TypeError(f"knobs {sorted(knobs)} are for SimShell, not a handler")

            def factory(shared: FakeFs) -> ShellHandler:
                return handler

        props = serial_props if serial_props is not None else self._props(sim)
        adbd, fake_console = self._start(lambda port: FakeAdbd(factory, props, fs=fs,
                                                               port=port), sim, console)
        shell_props = getattr(adbd.handler, "props", None)
        if serial_props is None and isinstance(shell_props, Mapping):
            adbd.serial_props.update({k: str(v) for k, v in shell_props.items()
                                      if k in adbd.serial_props})
        device = FakeDevice(adbd.address, adbd, sim, fake_console)
        self.devices[device.serial] = device
        try:
            self._connect(device.serial)
        except BaseException:
            self.remove(device.serial)
            raise
        return device.serial

    def __getitem__(self, serial: str) -> FakeDevice:
        return self.devices[serial]

    def drop(self, serial: str, *, unplug: bool = False) -> None:
        """The device is lost: its connections close and it refuses new ones (its console
        too). The server notices on its own and lists it "offline" while it retries to
        connect (every 3 s, for minutes, as for any ``adb connect`` device); `unplug=True`
        also makes the server forget it (``adb disconnect``), as when a USB device goes."""
        device = self.devices[serial]
        device.adbd.drop()
        if device.console is not None:
            device.console.close()
        if unplug:
            self.client().disconnect(serial)

    def freeze(self, serial: str) -> None:
        """The device hangs: connected, but it answers nothing until ``thaw``."""
        self.devices[serial].adbd.freeze()

    def thaw(self, serial: str) -> None:
        self.devices[serial].adbd.thaw()

    def remove(self, serial: str) -> None:
        """Disconnect the device from the server and stop it."""
        device = self.devices.pop(serial)
        try:
            self.client().disconnect(serial)
        except (adbutils.AdbError, OSError):
            pass
        device.adbd.close()
        if device.console is not None:
            device.console.close()

    def wait_for_state(self, serial: str, states: set[str | None],
                       timeout: float | None = None) -> str | None:
        """Wait until the server reports `serial` in one of `states` (None: not listed);
        the state. FleetError on timeout."""
        deadline = time.monotonic() + (timeout or self.timeout)
        state: str | None = "?"
        while time.monotonic() < deadline:
            state = self.state(serial)
            if state in states:
                return state
            time.sleep(0.05)
        raise FleetError(f"{serial} stayed {state!r}, expected one of {states}")

    def state(self, serial: str) -> str | None:
        """The state the server lists `serial` in ("device", "offline", ...), None if absent."""
        for info in self.client().list():
            if info.serial == serial:
                return info.state
        return None

    # ------------------------------------------------------------- closing

    def close(self) -> None:
        """Stop every fake device and the server; nothing is left running."""
        for serial in list(self.devices):
            device = self.devices.pop(serial)
            device.adbd.close()
            if device.console is not None:
                device.console.close()
        server, self._server = self._server, None
        if server is not None:
            try:
                self.run_adb("kill-server", timeout=10)
            except subprocess.TimeoutExpired:
                pass
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait(timeout=10)
        if not self._log.closed:
            self._log.close()
        if self._own_home:
            shutil.rmtree(self.home, ignore_errors=True)

    @property
    def server_running(self) -> bool:
        """Whether anything still answers on the server's port."""
        try:
            with socket.create_connection((HOST, self.port), timeout=1):
                return True
        except OSError:
            return False

    def __enter__(self) -> AdbFleet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------- internals

    def _wait_for_server(self) -> None:
        """Wait until the server answers ``host:version``, asked over a plain socket: an
        adbutils client that cannot connect runs ``adb start-server`` on the default port."""
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self._server is None or self._server.poll() is not None:
                raise FleetError(f"the adb server exited: {self._read_log()}")
            try:
                with socket.create_connection((HOST, self.port), timeout=2) as sock:
                    sock.sendall(b"000chost:version")
                    if sock.recv(4) == b"OKAY":
                        return
            except OSError:
                pass
            time.sleep(0.05)
        raise FleetError(f"the adb server did not answer on port {self.port}: "
                         f"{self._read_log()}")

    def _read_log(self) -> str:
        self._log.flush()
        return (self.home / "adb-server.log").read_text(errors="replace")[-2000:]

    def _connect(self, serial: str) -> None:
        reply = self.client().connect(serial, timeout=self.timeout)
        if "connected" not in reply or "failed" in reply or "cannot" in reply:
            raise FleetError(f"adb connect {serial}: {reply}")
        self.wait_for_state(serial, {"device"})

    def _start(self, make_adbd: Callable[[int], FakeAdbd], sim: SimulatedDevice | None,
               console: bool) -> tuple[FakeAdbd, FakeConsole | None]:
        if not console:
            return make_adbd(0), None
        if sim is None:
            raise TypeError("an emulator console needs a SimulatedDevice")
        for _ in range(50):  # an even console port with the next one free for adbd
            try:
                fake_console = FakeConsole(sim, token_file=self.home / TOKEN_FILE,
                                           port=2 * secrets.randbelow(10000) + 30000)
            except OSError:
                continue
            try:
                return make_adbd(fake_console.port + 1), fake_console
            except OSError:
                fake_console.close()
        raise FleetError("no free pair of ports for an emulator")

    @staticmethod
    def _props(sim: SimulatedDevice | None) -> dict[str, str]:
        name = sim.profile.name if sim is not None else "Fake Phone"
        return {"ro.product.name": _slug(name), "ro.product.model": name,
                "ro.product.device": _slug(name)}
