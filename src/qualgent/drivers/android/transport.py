"""Shell and file transfer over the ADB server with a deadline on every call.

adbutils opens its transports with a 10-minute socket timeout and its sync service with none,
so a device that stops answering would hang a worker thread. Here every call has a deadline
(the connection, the server's OKAY and each read), and any transport failure (timeout,
connection refused or reset, "device not found") is DeviceLost.
"""

from __future__ import annotations

import contextlib
import io
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import adbutils
from adbutils import AdbConnection, AdbError

from qualgent.drivers.base import DeviceLost

_SYNC_CHUNK = 64 * 1024


class RemoteFileMissing(Exception):
    """The device answered that the file is not there (not a transport failure)."""


class Transport:
    """One device's shell and sync service, each call bounded by `timeout` seconds."""

    def __init__(self, client: adbutils.AdbClient, serial: str, timeout: float) -> None:
        self.serial = serial
        self.timeout = timeout
        self.client = client

    @contextlib.contextmanager
    def guard(self, what: str) -> Iterator[None]:
        """Turn a transport failure inside into DeviceLost naming `what` was being done."""
        try:
            yield
        except DeviceLost:
            raise
        except (AdbError, OSError, EOFError, ValueError) as exc:
            reason = "did not answer in time" if isinstance(exc, TimeoutError) else str(exc)
            raise DeviceLost(f"{self.serial} is gone or stopped answering ({what}: "
                             f"{reason or type(exc).__name__})") from exc

    def _open(self, service: str, timeout: float) -> AdbConnection:
        """A connection to `service` on the device. Not adbutils' open_transport: that asks
        the server's version on a second connection first, and its close sleeps 10 ms; the
        two cost ~20 ms a call, most of a step's time on a fast device."""
        c = self.client.make_connection(timeout=timeout)
        try:
            c.send_command(f"host:transport:{self.serial}")
            c.check_okay()
            c.send_command(service)
            c.check_okay()
        except BaseException:
            _close(c)
            raise
        return c

    def shell_bytes(self, cmd: str, timeout: float | None = None) -> bytes:
        """The output (stdout and stderr) of `cmd` run by the device's shell."""
        limit = timeout or self.timeout
        deadline = time.monotonic() + limit
        with self.guard(cmd.split(" ", 1)[0]):
            c = self._open("shell:" + cmd, limit)
            try:
                chunks: list[bytes] = []
                while True:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise TimeoutError
                    c.conn.settimeout(left)
                    chunk = c.conn.recv(_SYNC_CHUNK)
                    if not chunk:
                        return b"".join(chunks)
                    chunks.append(chunk)
            finally:
                _close(c)

    def shell(self, cmd: str, timeout: float | None = None) -> str:
        return self.shell_bytes(cmd, timeout).decode("utf-8", "replace")

    def stream(self, cmd: str) -> AdbConnection:
        """A shell left running (screenrecord): the caller reads it and closes it."""
        with self.guard(cmd.split(" ", 1)[0]):
            c = self._open("shell:" + cmd, self.timeout)
            c.conn.settimeout(None)
            return c

    # ------------------------------------------------------------------ sync service

    def push(self, data: bytes | Path, remote: str, mode: int = 0o644) -> None:
        """Write a file on the device (the sync service's SEND)."""
        source = data.open("rb") if isinstance(data, Path) else io.BytesIO(data)
        size = data.stat().st_size if isinstance(data, Path) else len(data)
        # a deadline that grows with the size: 1 MB/s at worst
        limit = self.timeout + size / 1_000_000
        with source, self.guard("push"), self._sync(limit) as c:
            target = f"{remote},{0o100000 | mode}".encode()
            c.conn.sendall(b"SEND" + struct.pack("<I", len(target)) + target)
            while chunk := source.read(_SYNC_CHUNK):  # streamed: a build is never read whole
                c.conn.sendall(b"DATA" + struct.pack("<I", len(chunk)) + chunk)
            c.conn.sendall(b"DONE" + struct.pack("<I", int(time.time())))
            status = c.read_exact(4)
            if status != b"OKAY":
                message = c.read_exact(struct.unpack("<I", c.read_exact(4))[0])
                raise AdbError(f"push to {remote} failed: {message.decode('utf-8', 'replace')}")

    def pull(self, remote: str, into: BinaryIO) -> int:
        """A file from the device (the sync service's RECV), written to `into` as it comes
        (a video segment is never held whole); the bytes written."""
        written = 0
        with self.guard("pull"), self._sync(self.timeout) as c:
            path = remote.encode()
            c.conn.sendall(b"RECV" + struct.pack("<I", len(path)) + path)
            while True:
                kind = c.read_exact(4)
                size = struct.unpack("<I", c.read_exact(4))[0]
                if kind == b"DONE":
                    return written
                if kind == b"DATA":
                    into.write(c.read_exact(size))
                    written += size
                elif kind == b"FAIL":
                    raise RemoteFileMissing(
                        f"{remote}: {c.read_exact(size).decode('utf-8', 'replace')}")
                else:
                    raise AdbError(f"unexpected sync reply {kind!r}")

    @contextlib.contextmanager
    def _sync(self, timeout: float) -> Iterator[AdbConnection]:
        c = self._open("sync:", timeout)
        try:
            yield c
        finally:
            with contextlib.suppress(OSError):
                c.conn.sendall(b"QUIT" + struct.pack("<I", 0))
            _close(c)


def _close(c: AdbConnection) -> None:
    """Close at once: every caller has read the answer it needed (EOF or OKAY)."""
    with contextlib.suppress(OSError):
        c.conn.close()
