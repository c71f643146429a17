"""The shell language of the fake device: what `sh -c` does with the command lines the ADB
driver sends (quotes, `;`, `&&`, `||`, `$?`, `>`/`2>&1`/`>/dev/null`), the commands
themselves being SimShell's."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


class ShellOutputLike:  # the part of tests.fakes.android.ShellOutput a command writes to
    closed: threading.Event

    def stdout(self, data: bytes) -> None: ...
    def stderr(self, data: bytes) -> None: ...


# ------------------------------------------------------------------ the mini shell


@dataclass
class Command:
    op: str  # how it joins the previous one: ";", "&&", "||"
    argv: list[str] = field(default_factory=list)
    redirects: list[tuple[int, str]] = field(default_factory=list)  # (fd, "&1" | path)


STATUS = "\x00?"  # stands for $? until the command runs


def parse(line: str) -> list[Command]:
    """Split a command line into simple commands; quotes, operators, redirections, $?."""
    cmds = [Command(";")]
    word: list[str] | None = None
    i, n = 0, len(line)

    def end_word() -> None:
        nonlocal word
        if word is not None:
            cmds[-1].argv.append("".join(word))
            word = None

    while i < n:
        c = line[i]
        if c in " \t\n":
            end_word()
        elif c == "'":
            j = line.index("'", i + 1)
            word = (word or []) + [line[i + 1:j]]
            i = j
        elif c == '"':
            j = i + 1
            buf: list[str] = []
            while line[j] != '"':
                if line[j] == "\\" and line[j + 1] in '"\\$`':
                    j += 1
                elif line.startswith("$?", j):
                    buf.append(STATUS)
                    j += 2
                    continue
                buf.append(line[j])
                j += 1
            word = (word or []) + buf
            i = j
        elif c == "\\" and i + 1 < n:
            word = (word or []) + [line[i + 1]]
            i += 1
        elif c == "$" and line.startswith("$?", i):
            word = (word or []) + [STATUS]
            i += 1
        elif c in ";&|":
            end_word()
            op = line[i:i + 2] if line[i:i + 2] in ("&&", "||") else c
            if op not in (";", "&&", "||"):
                raise ValueError(f"unsupported operator {op!r}")
            cmds.append(Command(op))
            i += len(op) - 1
        elif c == ">":
            fd = 1
            if word is not None and "".join(word) in ("1", "2"):
                fd, word = int("".join(word)), None
            end_word()
            i += 2 if line.startswith(">", i + 1) else 1
            while i < n and line[i] == " ":
                i += 1
            j = i + 2 if line.startswith("&", i) else i
            while j < n and line[j] not in " \t;&|":
                j += 1
            cmds[-1].redirects.append((fd, line[i:j]))
            i = j - 1
        else:
            word = (word or []) + [c]
        i += 1
    end_word()
    return [c for c in cmds if c.argv]


class Out:
    """Where one simple command writes, after its redirections."""

    def __init__(self, out: ShellOutputLike, redirects: list[tuple[int, str]]) -> None:
        self.closed = out.closed
        self._out = out
        self.files: dict[int, bytearray] = {}
        self.targets: dict[int, str] = {}
        self.route = {1: 1, 2: 2}
        for fd, target in redirects:
            if target in ("&1", "&2"):
                self.route[fd] = self.route[int(target[1])]
            elif target == "/dev/null":
                self.route[fd] = 0
            else:
                self.route[fd] = 10 + fd
                self.targets[10 + fd] = target
                self.files[10 + fd] = bytearray()

    def _write(self, fd: int, data: bytes) -> None:
        where = self.route[fd]
        if where == 1:
            self._out.stdout(data)
        elif where == 2:
            self._out.stderr(data)
        elif where >= 10:
            self.files[where] += data

    def stdout(self, data: bytes) -> None:
        self._write(1, data)

    def stderr(self, data: bytes) -> None:
        self._write(2, data)

    def say(self, text: str) -> None:
        self.stdout(text.encode())

    def err(self, text: str) -> None:
        self.stderr(text.encode())
