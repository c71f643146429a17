"""The fake device's transport, driven by the REAL adbutils client through the REAL adb server
(and the ``adb`` CLI), with a toy shell of its own: the services, flow control, concurrency,
cancelling, a lost or hung device, the emulator console, and cleaning up."""

from __future__ import annotations

import hashlib
import os
import shlex
import socket
import stat
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import adbutils
import pytest

from qualgent.drivers.simulator import SIMULATED_FLEET, SimulatedDevice
from tests.fakes.android import (
    FEATURES,
    TOKEN_FILE,
    AdbFleet,
    CapturedOutput,
    FakeFs,
    ShellOutput,
    free_port,
)
from tests.fakes.android.fixtures import adb_fleet  # noqa: F401 (the fixture)

PATTERN = bytes(range(256))
WAIT = 20.0  # the longest any call here may take before the test calls it a hang


class ToyShell:
    """A small ShellHandler: `;` and `$?`, echo, cat (a file, or stdin), write, exit, fail,
    yes (N bytes of a pattern), block (until the stream is closed)."""

    def __init__(self, fs: FakeFs, props: dict[str, str] | None = None) -> None:
        self.fs = fs
        self.props = props or {}  # like SimShell's getprop answers
        self.blocking = threading.Event()  # a `block` command is running
        self.unblocked = threading.Event()  # ... and it saw its stream close

    def run(self, cmd: str, stdin: bytes | None, out: ShellOutput) -> int:
        code = 0
        for part in cmd.split(";"):
            code = self._one(shlex.split(part.replace("$?", str(code))), out)
        return code

    def _one(self, words: list[str], out: ShellOutput) -> int:
        match words:
            case []:
                return 0
            case ["echo", *rest]:
                out.stdout((" ".join(rest) + "\n").encode())
            case ["cat"]:
                out.stdout(out.read_stdin(timeout=WAIT))
            case ["cat", path]:
                try:
                    out.stdout(self.fs.read(path))
                except OSError:
                    out.stderr(f"cat: {path}: No such file or directory\n".encode())
                    return 1
            case ["write", path, text]:
                self.fs.write(path, text.encode())
            case ["exit", code]:
                return int(code)
            case ["fail", *rest]:
                out.stderr((" ".join(rest) + "\n").encode())
                return 2
            case ["yes", size]:
                data = PATTERN * (int(size) // len(PATTERN) + 1)
                for i in range(0, int(size), 10_000):
                    out.stdout(data[i:min(i + 10_000, int(size))])
            case ["block"]:
                out.stdout(b"started\n")
                self.blocking.set()
                if out.closed.wait(WAIT):
                    self.unblocked.set()
            case _:
                out.stderr(f"/system/bin/sh: {words[0]}: inaccessible or not found\n".encode())
                return 127
        return 0


@pytest.fixture
def fleet(adb_fleet: AdbFleet) -> AdbFleet:  # noqa: F811
    return adb_fleet


@pytest.fixture
def toy(fleet: AdbFleet) -> tuple[adbutils.AdbDevice, ToyShell, FakeFs]:
    fs = FakeFs()
    shell = ToyShell(fs)
    serial = fleet.add(handler=shell, fs=fs, serial_props={
        "ro.product.name": "toy", "ro.product.model": "Toy Phone", "ro.product.device": "toy1"})
    return fleet.client().device(serial), shell, fs


def finishes(call: Callable[[], Any], timeout: float = WAIT) -> Any:
    """Run `call` in a thread; its result or its exception, and fail if it hangs."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = call()
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), f"{call} did not return within {timeout} s"
    return box.get("error", box.get("result"))


# ---------------------------------------------------------------- shell


def test_listed_with_its_properties_and_features(fleet: AdbFleet, toy: Any) -> None:
    device, _, _ = toy
    assert [(d.serial, d.state) for d in fleet.client().list()] == [(device.serial, "device")]
    assert set(device.get_features().split(",")) == set(FEATURES)
    listing = fleet.run_adb("devices", "-l").stdout.decode()
    assert "product:toy model:Toy_Phone device:toy1" in listing


def test_shell_v1_merges_stderr_and_ends_with_the_stream(toy: Any) -> None:
    device, _, _ = toy
    assert device.shell("echo hello  world") == "hello world"
    assert device.shell("echo out; fail err") == "out\nerr"
    assert device.shell2("exit 3").returncode == 3  # adbutils' `; echo X4EXIT:$?` over v1


def test_shell_v2_separates_stdout_stderr_and_the_exit_code(toy: Any) -> None:
    device, _, _ = toy
    result = device.shell2("echo out; fail boom", v2=True)
    assert (result.returncode, result.stdout, result.stderr) == (2, "out\n", "boom\n")
    assert device.shell2("exit 300", v2=True).returncode == 300 % 256
    missing = device.shell2("nosuch", v2=True)
    assert missing.returncode == 127 and "nosuch: inaccessible" in missing.stderr


@pytest.mark.parametrize("v2", [False, True])
def test_a_megabyte_of_output_arrives_whole_and_in_order(toy: Any, v2: bool) -> None:
    device, _, _ = toy
    size = 1024 * 1024
    if v2:
        output = device.shell2(f"yes {size}", v2=True, encoding=None).stdout
    else:
        output = device.shell(f"yes {size}", encoding=None)
    expected = (PATTERN * (size // len(PATTERN)))[:size]
    assert len(output) == size and output == expected


def test_exec_is_raw(toy: Any) -> None:
    device, _, _ = toy
    with device.open_transport() as c:
        c.send_command("exec:echo raw")
        c.check_okay()
        assert c.read_until_close(encoding=None) == b"raw\n"


def test_an_unknown_service_is_refused(toy: Any) -> None:
    device, _, _ = toy
    with device.open_transport() as c:
        c.send_command("tcp:8080")
        with pytest.raises(adbutils.AdbError):
            c.check_okay()
    assert device.shell("echo still here") == "still here"


def test_concurrent_shells(toy: Any) -> None:
    device, _, _ = toy
    results: dict[int, str] = {}

    def worker(n: int) -> None:
        for i in range(10):
            results[n * 100 + i] = device.shell(f"echo {n} {i}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT)
    assert results == {n * 100 + i: f"{n} {i}" for n in range(8) for i in range(10)}


def test_a_blocking_command_holds_only_its_stream_and_ends_when_closed(toy: Any) -> None:
    device, shell, _ = toy
    stream = device.shell("block", stream=True)
    assert stream.conn.recv(8) == b"started\n"
    assert shell.blocking.is_set()
    assert device.shell("echo meanwhile") == "meanwhile"  # other streams go on
    assert not shell.unblocked.is_set()
    stream.close()
    assert shell.unblocked.wait(WAIT), "the command never saw its stream close"


# ----------------------------------------------------------------- sync


def test_push_stat_read_list_pull(toy: Any, tmp_path: Path) -> None:
    device, _, fs = toy
    data = os.urandom(300_000)
    device.sync.push(data, "/data/local/tmp/app.apk", mode=0o644)
    assert fs.read("/data/local/tmp/app.apk") == data
    info = device.sync.stat("/data/local/tmp/app.apk")
    assert (info.mode, info.size) == (stat.S_IFREG | 0o644, len(data))
    assert device.sync.read_bytes("/data/local/tmp/app.apk") == data
    names = {f.path: f for f in device.sync.list("/data/local/tmp")}
    assert set(names) == {".", "..", "app.apk"} and names["app.apk"].size == len(data)
    pulled = tmp_path / "pulled.apk"
    assert device.sync.pull("/data/local/tmp/app.apk", pulled) == len(data)
    assert pulled.read_bytes() == data


def test_push_into_a_directory_and_into_new_directories(toy: Any, tmp_path: Path) -> None:
    device, _, fs = toy
    local = tmp_path / "notes.txt"
    local.write_bytes(b"hello")
    device.sync.push(local, "/sdcard/Download")  # a directory: the file goes inside
    device.sync.push(b"deep", "/sdcard/a/b/c.txt")  # parents made, as adbd does
    assert fs.files()["/sdcard/Download/notes.txt"] == b"hello"
    assert fs.read("/sdcard/a/b/c.txt") == b"deep" and fs.stat("/sdcard/a/b").is_dir


def test_missing_files(toy: Any) -> None:
    device, _, _ = toy
    assert not device.sync.exists("/sdcard/none")
    with pytest.raises(adbutils.AdbError, match="does not exist"):
        device.sync.read_bytes("/sdcard/none")
    assert device.sync.list("/no/such/dir") == []


def test_files_are_shared_by_sync_and_shell(toy: Any) -> None:
    device, _, fs = toy
    device.sync.push(b"pushed bytes", "/sdcard/in.txt")
    assert device.shell("cat /sdcard/in.txt") == "pushed bytes"
    device.shell("write /sdcard/out.txt made-by-shell")
    assert device.sync.read_text("/sdcard/out.txt") == "made-by-shell"
    result = device.shell2("cat /sdcard/nope", v2=True)
    assert result.returncode == 1 and "No such file" in result.stderr


# ------------------------------------------------------------- adb CLI


def test_the_adb_cli(fleet: AdbFleet, toy: Any, tmp_path: Path) -> None:
    device, _, fs = toy
    serial = device.serial
    hi = fleet.run_adb("-s", serial, "shell", "echo", "hi")
    assert (hi.returncode, hi.stdout, hi.stderr) == (0, b"hi\n", b"")
    assert fleet.run_adb("-s", serial, "shell", "exit 7").returncode == 7
    err = fleet.run_adb("-s", serial, "shell", "fail", "to", "stderr")
    assert (err.returncode, err.stdout, err.stderr) == (2, b"", b"to stderr\n")
    cat = fleet.run_adb("-s", serial, "shell", "cat", input=b"through stdin")
    assert cat.stdout == b"through stdin"

    local = tmp_path / "big.bin"
    local.write_bytes(os.urandom(200_000))
    push = fleet.run_adb("-s", serial, "push", str(local), "/sdcard/big.bin")
    assert push.returncode == 0, push.stderr
    assert fs.read("/sdcard/big.bin") == local.read_bytes()
    back = tmp_path / "back.bin"
    pull = fleet.run_adb("-s", serial, "pull", "/sdcard/big.bin", str(back))
    assert pull.returncode == 0, pull.stderr
    assert hashlib.sha256(back.read_bytes()).digest() == hashlib.sha256(
        local.read_bytes()).digest()
    listing = fleet.run_adb("-s", serial, "ls", "/sdcard")
    assert listing.returncode == 0 and b"big.bin" in listing.stdout
    missing = fleet.run_adb("-s", serial, "pull", "/sdcard/none", str(tmp_path / "x"))
    assert missing.returncode != 0 and b"No such file or directory" in missing.stderr  # STA2


# ------------------------------------------------ lost and hung devices


def test_a_dropped_device_leaves_and_calls_fail_fast(fleet: AdbFleet, toy: Any) -> None:
    device, shell, _ = toy
    stream = device.shell("block", stream=True)
    assert stream.conn.recv(8) == b"started\n"
    fleet.drop(device.serial)
    assert shell.unblocked.wait(WAIT)  # its commands see their streams close
    assert stream.conn.recv(100) == b""  # the client's open stream ends
    assert fleet.wait_for_state(device.serial, {"offline", None}) in ("offline", None)
    error = finishes(lambda: device.shell("echo hi"))
    assert isinstance(error, adbutils.AdbError | ConnectionError), error
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", int(device.serial.split(":")[1])), timeout=5)


def test_an_unplugged_device_leaves_the_list(fleet: AdbFleet, toy: Any) -> None:
    device, _, _ = toy
    fleet.drop(device.serial, unplug=True)
    assert fleet.wait_for_state(device.serial, {None}) is None
    assert isinstance(finishes(lambda: device.shell("echo hi")), adbutils.AdbError)


def test_a_hung_device_times_out_and_recovers(fleet: AdbFleet, toy: Any) -> None:
    device, _, _ = toy
    fleet.freeze(device.serial)
    # shell v2 bounds the whole call by its timeout (adbutils' v1 shell() waits for the
    # stream to open with its 600 s default)
    error = finishes(lambda: device.shell2("echo hi", v2=True, timeout=1))
    assert isinstance(error, adbutils.AdbTimeout | TimeoutError), error
    fleet.thaw(device.serial)
    assert device.shell("echo back") == "back"


# --------------------------------------------------------------- console


def _console(port: int) -> tuple[socket.socket, Any]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
    return sock, sock.makefile("rwb", buffering=0)


def _until_ok(f: Any) -> list[str]:
    lines = []
    while True:
        line = f.readline().decode().rstrip("\r\n")
        lines.append(line)
        if line == "OK" or line.startswith("KO:") or not line and not lines[:-1]:
            return lines


def test_the_emulator_console_sends_an_sms(fleet: AdbFleet) -> None:
    sim = SimulatedDevice(SIMULATED_FLEET[0])
    fs = FakeFs()
    serial = fleet.add(sim, handler=ToyShell(fs), fs=fs, console=True)
    console = fleet[serial].console
    assert console is not None and console.port + 1 == int(serial.split(":")[1])
    sock, f = _console(console.port)
    with sock, f:
        banner = _until_ok(f)
        assert banner[0] == "Android Console: Authentication required"
        assert str(fleet.home / TOKEN_FILE) in "\n".join(banner)
        f.write(b"sms send 5551234 too early\r\n")
        assert _until_ok(f) == ["KO: unknown command, try 'help'"]
        f.write(b"auth wrong\r\n")
        assert _until_ok(f)[-1].startswith("KO: authentication token does not match")
        f.write(f"auth {fleet.console_token}\r\n".encode())
        assert _until_ok(f) == ["Android Console: type 'help' for a list of commands", "OK"]
        f.write(b"sms send DemoShop letters\r\n")
        assert _until_ok(f) == ["KO: bad phone number format, must be [+](0-9)*"]
        f.write(b"sms send +15551234567 Your code is 424242\r\n")
        assert _until_ok(f) == ["OK"]
        f.write(b"quit\r\n")
        assert f.readline() == b""
    [sms] = sim.read_sms()
    assert (sms.sender, sms.body) == ("+15551234567", "Your code is 424242")


def test_a_console_without_a_token_needs_no_auth(fleet: AdbFleet) -> None:
    (fleet.home / TOKEN_FILE).write_text("")
    sim = SimulatedDevice(SIMULATED_FLEET[0])
    fs = FakeFs()
    serial = fleet.add(sim, handler=ToyShell(fs), fs=fs, console=True)
    console = fleet[serial].console
    assert console is not None
    sock, f = _console(console.port)
    with sock, f:
        assert _until_ok(f) == ["Android Console: type 'help' for a list of commands", "OK"]
        f.write(b"sms send 123 hi there\n")
        assert _until_ok(f) == ["OK"]
    assert [s.body for s in sim.read_sms()] == ["hi there"]


# --------------------------------------------------------------- cleanup


def test_closing_the_fleet_leaves_nothing_running(tmp_path: Path) -> None:
    with AdbFleet(home=tmp_path) as fleet:
        fs = FakeFs()
        serial = fleet.add(handler=ToyShell(fs), fs=fs)
        assert fleet.client().device(serial).shell("echo up") == "up"
        assert fleet.server_running
    assert not fleet.server_running
    with pytest.raises(ProcessLookupError):
        os.kill(fleet.server_pid, 0)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", int(serial.split(":")[1])), timeout=5)


def test_the_announced_properties_follow_the_shells_props(fleet: AdbFleet) -> None:
    fs = FakeFs()
    shell = ToyShell(fs, props={"ro.product.model": "Pixel 9", "ro.build.version.release": "15"})
    serial = fleet.add(SimulatedDevice(SIMULATED_FLEET[0]), handler=shell, fs=fs)
    assert fleet[serial].adbd.serial_props == {
        "ro.product.name": "pixel_7", "ro.product.model": "Pixel 9", "ro.product.device": "pixel_7"}
    assert "model:Pixel_9" in fleet.run_adb("devices", "-l").stdout.decode()


def test_add_needs_a_simulator_or_a_handler(fleet: AdbFleet) -> None:
    with pytest.raises(TypeError):
        fleet.add()
    with pytest.raises(TypeError, match="knobs"):
        fleet.add(handler=ToyShell(FakeFs()), idle_failures=2)


def test_captured_output_runs_a_handler_without_a_transport() -> None:
    out = CapturedOutput(stdin=b"typed")
    shell = ToyShell(FakeFs({"/sdcard/a": b"A"}))
    assert shell.run("cat /sdcard/a; fail x; cat", None, out) == 0
    assert (bytes(out.out), bytes(out.err)) == (b"Atyped", b"x\n")


def test_starting_a_fleet_starts_no_other_server(monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    """adbutils runs `adb start-server` (on the environment's port) when it cannot connect:
    the fleet must not ask it before its own server answers."""
    elsewhere = free_port()
    monkeypatch.setenv("ANDROID_ADB_SERVER_PORT", str(elsewhere))
    monkeypatch.setenv("HOME", str(tmp_path))
    try:
        for _ in range(3):
            AdbFleet(home=tmp_path / "fleet").close()
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", elsewhere), timeout=5)
    finally:
        subprocess.run([adbutils.adb_path(), "-P", str(elsewhere), "kill-server"],
                       capture_output=True, timeout=20, check=False)
