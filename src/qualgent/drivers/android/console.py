"""The Android emulator console: inject an inbound SMS (what `adb emu sms send` does).

The console listens on 127.0.0.1:<port> (the even port of serial emulator-<port>), greets
with a banner ending in "OK", and wants `auth <token>` with the token from
~/.emulator_console_auth_token before `sms send <from> <text>`.
"""

from __future__ import annotations

import socket
from pathlib import Path

from qualgent.drivers.base import DeviceFailure

TOKEN_FILE = Path.home() / ".emulator_console_auth_token"


class ConsoleError(DeviceFailure):
    """The console refused a command or did not answer."""


def console_port(serial_or_port: str | int) -> int:
    """5554 from 'emulator-5554', 5554 itself, or '5554'."""
    text = str(serial_or_port)
    return int(text.rsplit("-", 1)[-1])


def send_sms(serial_or_port: str | int, sender: str, body: str, *, host: str = "127.0.0.1",
             token: str | None = None, timeout: float = 5.0) -> None:
    """Deliver an SMS from `sender` to the emulator; raises ConsoleError."""
    if token is None:
        token = TOKEN_FILE.read_text().strip() if TOKEN_FILE.is_file() else ""
    if any(c in sender + body for c in "\r\n"):
        raise ValueError("an SMS sent through the console is one line")
    try:
        with socket.create_connection((host, console_port(serial_or_port)), timeout) as sock:
            reader = sock.makefile("rb")
            _until_ok(reader)
            if token:
                _command(sock, reader, f"auth {token}")
            _command(sock, reader, f"sms send {sender} {body}")
            sock.sendall(b"quit\r\n")
    except OSError as exc:
        raise ConsoleError(f"the emulator console did not answer: {exc}") from exc


def _command(sock: socket.socket, reader, line: str) -> None:  # noqa: ANN001
    sock.sendall(line.encode("utf-8") + b"\r\n")
    _until_ok(reader)


def _until_ok(reader) -> None:  # noqa: ANN001
    while True:
        raw = reader.readline()
        if not raw:
            raise ConsoleError("the emulator console closed the connection")
        line = raw.decode("utf-8", "replace").strip()
        if line == "OK":
            return
        if line.startswith("KO"):
            raise ConsoleError(f"the emulator console refused: {line}")
