"""``FakeAdbd``: the device side of the ADB transport, behind the real adb server.

The real server connects to it (``adb connect 127.0.0.1:<port>``) and speaks the ADB
protocol: 24-byte messages (CNXN, OPEN, OKAY, WRTE, CLSE), version 0x01000001 (no checksum),
streams multiplexed on one TCP connection, one unacknowledged WRTE per stream. The services:

* ``shell:<cmd>`` (v1) and ``exec:<cmd>``: raw bytes, stderr merged into stdout, the stream
  closes when the command ends (the client learns no exit code);
* ``shell,v2[,raw|,pty|,TERM=..]:<cmd>``: packets ``id u8 | length u32le | data``: stdin 0,
  stdout 1, stderr 2, exit 3 (one byte), close-stdin 4, window size 5;
* ``sync:``: STAT, STA2/LST2 (stat_v2), LIST, LIS2 (ls_v2), SEND (DATA chunks up to 64 KiB,
  DONE mtime -> OKAY), RECV (DATA... DONE, or FAIL), QUIT, over a ``FakeFs``.

Every command runs through a ``ShellHandler`` in its own thread, so a command that blocks
(``screenrecord``, streaming ``logcat``) holds only its own stream; when the client closes the
stream, ``out.closed`` is set.
"""

from __future__ import annotations

import logging
import socket
import stat
import struct
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Mapping
from typing import Protocol

from tests.fakes.android.fs import FakeFs, FsEntry

log = logging.getLogger(__name__)

A_CNXN, A_OPEN, A_OKAY, A_WRTE, A_CLSE, A_AUTH = (
    int.from_bytes(name, "little") for name in (b"CNXN", b"OPEN", b"OKAY", b"WRTE", b"CLSE",
                                                b"AUTH"))
A_VERSION = 0x01000001  # skips the checksum
MAX_PAYLOAD = 1024 * 1024  # what adbd announces since 0x01000001
SYNC_DATA_MAX = 64 * 1024
FEATURES = ("shell_v2", "cmd", "stat_v2", "ls_v2", "fixed_push_mkdir")
# shell protocol v2 packet ids
ID_STDIN, ID_STDOUT, ID_STDERR, ID_EXIT, ID_CLOSE_STDIN, ID_WINDOW_SIZE = range(6)
_HEADER = struct.Struct("<6I")
_ENOENT = 2


class StreamClosed(Exception):
    """The client closed the stream (or the connection went away)."""


# ------------------------------------------------------------- the handler side


class ShellOutput(Protocol):
    """Where a command writes; ``closed`` is set when the client closes the stream."""

    closed: threading.Event

    def stdout(self, data: bytes) -> None: ...
    def stderr(self, data: bytes) -> None: ...
    def read_stdin(self, timeout: float | None = None) -> bytes:
        """The client's stdin up to its end (shell v2 close-stdin, or the stream closing), or
        what arrived within `timeout` seconds."""
        ...


class ShellHandler(Protocol):
    def run(self, cmd: str, stdin: bytes | None, out: ShellOutput) -> int:
        """Run `cmd` (the text after ``shell:``), writing through `out` as it goes; returns the
        exit code. `stdin` is None from the transport (read it with ``out.read_stdin``). May
        block until ``out.closed`` is set."""
        ...


class CapturedOutput:
    """A ShellOutput that keeps what was written: for testing a handler without a transport."""

    def __init__(self, stdin: bytes = b"") -> None:
        self.closed = threading.Event()
        self.out = bytearray()
        self.err = bytearray()
        self._stdin = stdin

    def stdout(self, data: bytes) -> None:
        self.out += data

    def stderr(self, data: bytes) -> None:
        self.err += data

    def read_stdin(self, timeout: float | None = None) -> bytes:
        return self._stdin


# ------------------------------------------------------------------ streams


class _Stream:
    """One ADB stream of a connection: flow-controlled writes and a buffer of what the client
    sent."""

    def __init__(self, conn: _Connection, local_id: int, remote_id: int) -> None:
        self.conn = conn
        self.local_id = local_id
        self.remote_id = remote_id
        self.closed = threading.Event()  # by the client, or the connection is gone
        self._cond = threading.Condition()
        self._acked = True  # the last WRTE was answered with OKAY
        self._inbox = bytearray()
        self._ended = False  # we sent CLSE

    # from the connection's reader thread
    def on_okay(self) -> None:
        with self._cond:
            self._acked = True
            self._cond.notify_all()

    def on_data(self, data: bytes) -> None:
        with self._cond:
            self._inbox += data
            self._cond.notify_all()

    def on_close(self) -> None:
        with self._cond:
            self.closed.set()
            self._cond.notify_all()

    # from the service thread
    def write(self, data: bytes) -> None:
        """Send `data` in WRTE messages, each after the previous one was acknowledged."""
        view = memoryview(bytes(data))
        while view:
            chunk, view = view[:self.conn.max_payload], view[self.conn.max_payload:]
            with self._cond:
                while not self._acked and not self.closed.is_set():
                    self._cond.wait()
                if self.closed.is_set() or self._ended:
                    raise StreamClosed
                self._acked = False
            if not self.conn.send(A_WRTE, self.local_id, self.remote_id, bytes(chunk)):
                self.on_close()
                raise StreamClosed

    def read_exact(self, n: int) -> bytes:
        with self._cond:
            while len(self._inbox) < n:
                if self.closed.is_set():
                    raise StreamClosed
                self._cond.wait()
            data = bytes(self._inbox[:n])
            del self._inbox[:n]
            return data

    def read_some(self, until: Callable[[bytearray], bool],
                  timeout: float | None) -> bytearray:
        """Wait until `until(inbox)` holds, the stream closes, or `timeout`; the inbox."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not until(self._inbox) and not self.closed.is_set():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    break
                self._cond.wait(left)
            return self._inbox

    def end(self) -> None:
        """We close the stream (CLSE); the client sees its end."""
        with self._cond:
            if self._ended:
                return
            self._ended = True
            closed = self.closed.is_set()
            self.closed.set()
            self._cond.notify_all()
        if not closed:
            self.conn.send(A_CLSE, self.local_id, self.remote_id)
        self.conn.forget(self)


class _RawOutput:
    """shell v1 and exec: stdout and stderr both go to the stream as they are."""

    def __init__(self, stream: _Stream) -> None:
        self._stream = stream
        self.closed = stream.closed

    def stdout(self, data: bytes) -> None:
        self._write(data)

    stderr = stdout

    def _write(self, data: bytes) -> None:
        if data:
            try:
                self._stream.write(data)
            except StreamClosed:
                pass  # the client went away: the command notices through `closed`

    def read_stdin(self, timeout: float | None = None) -> bytes:
        inbox = self._stream.read_some(lambda _: False, timeout)
        data = bytes(inbox)
        inbox.clear()
        return data


class _V2Output(_RawOutput):
    """shell v2: output in stdout/stderr packets; stdin arrives in packets too."""

    def __init__(self, stream: _Stream) -> None:
        super().__init__(stream)
        self._stdin = bytearray()
        self._stdin_closed = False

    def stdout(self, data: bytes) -> None:
        self.packet(ID_STDOUT, data)

    def stderr(self, data: bytes) -> None:
        self.packet(ID_STDERR, data)

    def packet(self, kind: int, data: bytes) -> None:
        # keep each packet inside one WRTE (adbd's buffer is MAX_PAYLOAD as well)
        step = self._stream.conn.max_payload - 5
        for i in range(0, len(data), step):
            chunk = data[i:i + step]
            self._write(struct.pack("<BI", kind, len(chunk)) + chunk)
        if not data and kind == ID_EXIT:
            self._write(struct.pack("<BI", kind, 0))

    def read_stdin(self, timeout: float | None = None) -> bytes:
        if not self._stdin_closed:
            self._stream.read_some(self._take_packets, timeout)
        return bytes(self._stdin)

    def _take_packets(self, inbox: bytearray) -> bool:
        """Move the complete packets of `inbox` into stdin; True once stdin is closed."""
        while len(inbox) >= 5 and not self._stdin_closed:
            kind, length = struct.unpack_from("<BI", inbox)
            if len(inbox) < 5 + length:
                break
            data = bytes(inbox[5:5 + length])
            del inbox[:5 + length]
            if kind == ID_STDIN:
                self._stdin += data
            elif kind == ID_CLOSE_STDIN:
                self._stdin_closed = True
        return self._stdin_closed


# --------------------------------------------------------------- services


def _run_shell(handler: ShellHandler, cmd: str, out: _RawOutput) -> int:
    try:
        return handler.run(cmd, None, out)
    except Exception as exc:  # the fake's own bug: say so on stderr, like a crashing binary
        log.exception("shell handler failed on %r", cmd)
        out.stderr(f"fake adbd: {type(exc).__name__}: {exc}\n".encode())
        return 255


def _shell_v1(handler: ShellHandler, stream: _Stream, cmd: str) -> None:
    _run_shell(handler, cmd, _RawOutput(stream))


def _shell_v2(handler: ShellHandler, stream: _Stream, cmd: str) -> None:
    out = _V2Output(stream)
    code = _run_shell(handler, cmd, out)
    out.packet(ID_EXIT, bytes([code & 0xFF]))


def _stat_v2_fields(entry: FsEntry | None, path: str) -> bytes:
    """A sync_stat_v2 after its id: error, dev, ino, mode, nlink, uid, gid, size, a/m/ctime."""
    if entry is None:
        return struct.pack("<IQQIIIIQqqq", _ENOENT, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    return struct.pack("<IQQIIIIQqqq", 0, 0xFD00, zlib.crc32(path.encode()), entry.mode, 1,
                       2000, 2000, entry.size, entry.mtime, entry.mtime, entry.mtime)


class _Sync:
    """The file sync protocol over one stream: requests until QUIT or the stream's end."""

    def __init__(self, stream: _Stream, fs: FakeFs) -> None:
        self.stream = stream
        self.fs = fs

    def serve(self) -> None:
        while True:
            request, length = struct.unpack("<4sI", self.stream.read_exact(8))
            if request == b"QUIT":
                return
            if length > 1024:
                return self.fail("path too long")
            path = self.stream.read_exact(length).decode("utf-8", "replace")
            handler = {b"STAT": self.stat_v1, b"STA2": self.stat_v2, b"LST2": self.stat_v2,
                       b"LIST": self.list_v1, b"LIS2": self.list_v2, b"SEND": self.send,
                       b"RECV": self.recv}.get(request)
            if handler is None:
                return self.fail(f"unknown sync request {request!r}")
            handler(request, path)

    def reply(self, data: bytes) -> None:
        self.stream.write(data)

    def fail(self, message: str) -> None:
        raw = message.encode()
        self.reply(b"FAIL" + struct.pack("<I", len(raw)) + raw)

    def _stat(self, path: str) -> FsEntry | None:
        try:
            return self.fs.stat(path)
        except ValueError:
            return None

    def stat_v1(self, _request: bytes, path: str) -> None:
        entry = self._stat(path)
        fields = (entry.mode, entry.size, entry.mtime) if entry else (0, 0, 0)
        self.reply(b"STAT" + struct.pack("<III", *fields))

    def stat_v2(self, request: bytes, path: str) -> None:
        self.reply(request + _stat_v2_fields(self._stat(path), path))

    def _entries(self, path: str) -> list[tuple[str, FsEntry]]:
        try:
            own = self.fs.stat(path)
            children = self.fs.listdir(path)
        except (ValueError, OSError):
            return []
        assert own is not None
        return [(".", own), ("..", own), *children]

    def list_v1(self, _request: bytes, path: str) -> None:
        for name, entry in self._entries(path):
            raw = name.encode()
            self.reply(b"DENT" + struct.pack("<IIII", entry.mode, entry.size, entry.mtime,
                                             len(raw)) + raw)
        self.reply(b"DONE" + bytes(16))

    def list_v2(self, _request: bytes, path: str) -> None:
        for name, entry in self._entries(path):
            raw = name.encode()
            fields = _stat_v2_fields(entry, f"{path}/{name}")
            self.reply(b"DNT2" + fields + struct.pack("<I", len(raw)) + raw)
        self.reply(b"DONE" + bytes(72))

    def send(self, _request: bytes, spec: str) -> None:
        path, _, mode_text = spec.rpartition(",")
        if not path:
            path, mode_text = spec, "33188"
        data = bytearray()
        while True:
            kind, arg = struct.unpack("<4sI", self.stream.read_exact(8))
            if kind == b"DATA":
                if arg > SYNC_DATA_MAX:
                    return self.fail(f"sync data chunk of {arg} bytes exceeds {SYNC_DATA_MAX}")
                data += self.stream.read_exact(arg)
            elif kind == b"DONE":
                break
            else:
                return self.fail(f"unexpected {kind!r} while receiving a file")
        try:
            mode = int(mode_text) if mode_text.isdigit() else 0o100644
            if stat.S_ISDIR(mode):
                raise IsADirectoryError(path)
            self.fs.write(path, bytes(data), mode & 0o7777, mtime=arg)
        except (ValueError, OSError) as exc:
            return self.fail(f"couldn't create file: {type(exc).__name__}: {exc}")
        self.reply(b"OKAY" + bytes(4))

    def recv(self, _request: bytes, path: str) -> None:
        try:
            data = self.fs.read(path)
        except FileNotFoundError:
            return self.fail(f"remote object '{path}' does not exist")
        except (ValueError, OSError) as exc:
            return self.fail(f"remote object '{path}' could not be read: {exc}")
        for i in range(0, len(data), SYNC_DATA_MAX):
            chunk = data[i:i + SYNC_DATA_MAX]
            self.reply(b"DATA" + struct.pack("<I", len(chunk)) + chunk)
        self.reply(b"DONE" + bytes(4))


# ------------------------------------------------------------- connections


class _Connection:
    """One TCP connection from the adb server: a reader thread and its streams."""

    def __init__(self, adbd: FakeAdbd, sock: socket.socket) -> None:
        self.adbd = adbd
        self.sock = sock
        self.max_payload = 4096  # until CNXN says otherwise
        self._send_lock = threading.Lock()
        self._streams: dict[int, _Stream] = {}
        self._streams_lock = threading.Lock()
        self._next_id = 1

    def send(self, command: int, arg0: int, arg1: int, data: bytes = b"") -> bool:
        header = _HEADER.pack(command, arg0, arg1, len(data), 0, command ^ 0xFFFFFFFF)
        try:
            with self._send_lock:
                self.sock.sendall(header + data)
            return True
        except OSError:
            return False

    def forget(self, stream: _Stream) -> None:
        with self._streams_lock:
            self._streams.pop(stream.local_id, None)

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    def serve(self) -> None:
        try:
            while True:
                header = self._recv_exact(_HEADER.size)
                command, arg0, arg1, length, _crc, magic = _HEADER.unpack(header)
                if magic != command ^ 0xFFFFFFFF or length > MAX_PAYLOAD:
                    log.warning("fake adbd: bad message header %r", header)
                    return
                data = self._recv_exact(length)
                self.adbd._wait_while_frozen()
                self._dispatch(command, arg0, arg1, data)
        except (OSError, EOFError):
            pass
        finally:
            with self._streams_lock:
                streams, self._streams = list(self._streams.values()), {}
            for stream in streams:
                stream.on_close()
            self.close()
            self.adbd._forget(self)

    def _recv_exact(self, n: int) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return bytes(buf)

    def _dispatch(self, command: int, arg0: int, arg1: int, data: bytes) -> None:
        if command == A_CNXN:
            self.max_payload = max(4096, min(arg1, MAX_PAYLOAD))
            self.send(A_CNXN, A_VERSION, MAX_PAYLOAD, self.adbd.banner().encode())
        elif command == A_OPEN:
            self._open(arg0, data.rstrip(b"\0").decode("utf-8", "replace"))
        elif command in (A_OKAY, A_WRTE, A_CLSE):
            with self._streams_lock:
                stream = self._streams.get(arg1)
                if command == A_CLSE:
                    self._streams.pop(arg1, None)
            if stream is None:
                return
            if command == A_OKAY:
                stream.on_okay()
            elif command == A_WRTE:
                stream.on_data(data)
                self.send(A_OKAY, stream.local_id, stream.remote_id)
            else:
                stream.on_close()

    def _open(self, remote_id: int, service: str) -> None:
        target = self.adbd._service(service)
        if target is None:
            self.send(A_CLSE, 0, remote_id)
            return
        with self._streams_lock:
            local_id, self._next_id = self._next_id, self._next_id + 1
            stream = _Stream(self, local_id, remote_id)
            self._streams[local_id] = stream
        self.send(A_OKAY, local_id, remote_id)
        threading.Thread(target=self._run_service, args=(target, stream),
                         name=f"fake-adbd-{service[:30]}", daemon=True).start()

    @staticmethod
    def _run_service(target: Callable[[_Stream], None], stream: _Stream) -> None:
        try:
            target(stream)
        except StreamClosed:
            pass
        except Exception:
            log.exception("fake adbd: a service failed")
        finally:
            stream.end()


# ------------------------------------------------------------------- adbd


class FakeAdbd:
    """A fake device listening for the adb server on 127.0.0.1:`port` (0: a free one).

    `handler_factory(fs)` makes the shell that serves every command (it shares `fs` with the
    sync service); `serial_props` are announced in CNXN (``ro.product.name``,
    ``ro.product.model``, ``ro.product.device``). ``drop()`` makes the device vanish: its
    connections close and new ones are refused.
    """

    def __init__(self, handler_factory: Callable[[FakeFs], ShellHandler],
                 serial_props: Mapping[str, str], *, fs: FakeFs | None = None,
                 port: int = 0, features: Iterable[str] = FEATURES) -> None:
        self.fs = fs if fs is not None else FakeFs()
        self.handler = handler_factory(self.fs)
        self.serial_props = dict(serial_props)
        self.features = tuple(features)
        self._connections: set[_Connection] = set()
        self._lock = threading.Lock()
        self._dropped = threading.Event()
        self._thawed = threading.Event()
        self._thawed.set()
        self._listener = socket.create_server(("127.0.0.1", port))
        self.port: int = self._listener.getsockname()[1]
        self._placeholder: socket.socket | None = None
        self._thread = threading.Thread(target=self._accept, name=f"fake-adbd-{self.port}",
                                        daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def banner(self) -> str:
        props = [f"{name}={self.serial_props.get(name, '')}"
                 for name in ("ro.product.name", "ro.product.model", "ro.product.device")]
        return "device::" + ";".join([*props, "features=" + ",".join(self.features)])

    @property
    def connections(self) -> int:
        with self._lock:
            return len(self._connections)

    def freeze(self) -> None:
        """Stop answering (messages are left unread) while connections stay open: a hung
        device. ``thaw()`` resumes."""
        self._thawed.clear()

    def thaw(self) -> None:
        self._thawed.set()

    def drop(self) -> None:
        """The device is gone: close every connection and refuse new ones."""
        if self._dropped.is_set():
            return
        self._dropped.set()
        self._thawed.set()
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        except OSError:
            pass
        self._listener.close()
        try:  # keep the port bound but not listening: connecting is refused, and the port is
            # not handed to another fake the server would then reconnect to under this serial
            placeholder = socket.socket()
            placeholder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            placeholder.bind(("127.0.0.1", self.port))
            self._placeholder = placeholder
        except OSError:
            pass
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            conn.close()
        self._thread.join(timeout=5)

    def close(self) -> None:
        """Drop the device and release its port."""
        self.drop()
        if self._placeholder is not None:
            self._placeholder.close()
            self._placeholder = None

    def __enter__(self) -> FakeAdbd:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------- internals

    def _accept(self) -> None:
        while not self._dropped.is_set():
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn = _Connection(self, sock)
            with self._lock:
                if self._dropped.is_set():
                    conn.close()
                    return
                self._connections.add(conn)
            threading.Thread(target=conn.serve, name=f"fake-adbd-{self.port}-conn",
                             daemon=True).start()

    def _forget(self, conn: _Connection) -> None:
        with self._lock:
            self._connections.discard(conn)

    def _wait_while_frozen(self) -> None:
        self._thawed.wait()
        if self._dropped.is_set():
            raise EOFError

    def _service(self, service: str) -> Callable[[_Stream], None] | None:
        """The function serving `service`, None for one this fake does not offer."""
        name, _, rest = service.partition(":")
        kind, *args = name.split(",")
        if kind == "shell":
            run = _shell_v2 if "v2" in args and "shell_v2" in self.features else _shell_v1
            return lambda stream: run(self.handler, stream, rest)
        if kind == "exec":
            return lambda stream: _shell_v1(self.handler, stream, rest)
        if service == "sync:":
            return lambda stream: _Sync(stream, self.fs).serve()
        return None
