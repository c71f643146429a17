"""``FakeConsole``: an Android emulator's console (telnet-style text on TCP) over a simulator.

What tests and the driver use of the real one: the banner, ``auth <token>`` against the token
file (``~/.emulator_console_auth_token``; an empty or missing file turns authentication off,
as on the emulator), ``sms send <number> <text>`` (an inbound SMS: ``sim.receive_sms``),
``avd name``, ``ping``, ``help``, ``quit``/``exit``. Replies end in ``OK`` or ``KO: <why>``.
"""

from __future__ import annotations

import re
import socket
import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qualgent.drivers.simulator import SimulatedDevice

TOKEN_FILE = ".emulator_console_auth_token"
READY = "Android Console: type 'help' for a list of commands\r\nOK\r\n"
PHONE_NUMBER = re.compile(r"\+?[0-9]+")
HELP = ("Android console commands:\r\n\r\n"
        "    help|h|?         print a list of commands\r\n"
        "    sms              SMS related commands\r\n"
        "    avd              control virtual device execution\r\n"
        "    ping             check if the emulator is alive\r\n"
        "    auth             remove console authentication\r\n"
        "    quit|exit        quit control session\r\n"
        "\r\nOK\r\n")
UNKNOWN = "KO: unknown command, try 'help'\r\n"


class FakeConsole:
    """The console of one emulator, on 127.0.0.1:`port` (0: a free one)."""

    def __init__(self, sim: SimulatedDevice, *, token_file: Path | None, port: int = 0,
                 avd_name: str | None = None) -> None:
        self.sim = sim
        self.token_file = token_file
        self.avd_name = avd_name or re.sub(r"\W+", "_", sim.profile.name)
        self.commands: list[str] = []  # every line received, for assertions
        self._listener = socket.create_server(("127.0.0.1", port))
        self.port: int = self._listener.getsockname()[1]
        self._closed = threading.Event()
        self._clients: set[socket.socket] = set()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, name=f"fake-console-{self.port}",
                         daemon=True).start()

    def _token(self) -> str:
        try:
            return self.token_file.read_text().strip() if self.token_file else ""
        except OSError:
            return ""

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
        with self._lock:
            clients = list(self._clients)
        for sock in clients:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self._clients.add(sock)
            threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        try:
            with sock, sock.makefile("rwb", buffering=0) as f:
                token = self._token()
                if token:
                    f.write(("Android Console: Authentication required\r\n"
                             "Android Console: type 'auth <auth_token>' to authenticate\r\n"
                             "Android Console: you can find your <auth_token> in \r\n"
                             f"'{self.token_file}'\r\nOK\r\n").encode())
                else:
                    f.write(READY.encode())
                authed = not token
                for raw in f:
                    line = raw.decode("utf-8", "replace").strip()
                    self.commands.append(line)
                    if line in ("quit", "exit"):
                        return
                    reply, authed = self._answer(line, authed, token)
                    f.write(reply.encode())
        except OSError:
            pass
        finally:
            with self._lock:
                self._clients.discard(sock)

    def _answer(self, line: str, authed: bool, token: str) -> tuple[str, bool]:
        words = line.split(maxsplit=1)
        verb = words[0] if words else ""
        if verb in ("help", "h", "?"):
            return HELP, authed
        if verb == "auth":
            given = words[1].strip() if len(words) > 1 else ""
            if given == token:
                return READY, True
            return f"KO: authentication token does not match ~/{TOKEN_FILE}\r\n", authed
        if not authed or not verb:
            return UNKNOWN, authed
        if verb == "ping":
            return "I am alive!\r\nOK\r\n", authed
        if line.split()[:2] == ["avd", "name"]:
            return f"{self.avd_name}\r\nOK\r\n", authed
        if verb == "sms":
            return self._sms(words[1] if len(words) > 1 else ""), authed
        return UNKNOWN, authed

    def _sms(self, rest: str) -> str:
        parts = rest.split(maxsplit=2)
        if not parts or parts[0] != "send":
            return "KO: missing sub-command, try 'sms send <phonenumber> <text message>'\r\n"
        if len(parts) < 3:
            return "KO: missing argument, try 'sms send <phonenumber> <text message>'\r\n"
        number, text = parts[1], parts[2]
        if not PHONE_NUMBER.fullmatch(number):
            return "KO: bad phone number format, must be [+](0-9)*\r\n"
        self.sim.receive_sms(number, text)
        return "OK\r\n"
