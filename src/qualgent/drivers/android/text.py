"""Typing on Android: which text `input text` can carry, how to quote it, and the rest as IMAP
modified UTF-7 for Appium Settings' UnicodeIME.

`input text` takes printable ASCII only (anything else throws a NullPointerException in
InputShellCommand.sendText) and turns ``%s`` into a space, so a space is sent as ``%s`` and a
literal "%s" is split across two calls ("...%" then "s..."). Some devices drop characters of
long bursts, so text goes in chunks. Newlines are sent as KEYCODE_ENTER. The UnicodeIME
(io.appium.settings) decodes IMAP modified UTF-7 (RFC 3501 §5.1.3) typed at it, which is plain
ASCII again.
"""

from __future__ import annotations

import base64
import shlex

KEYCODE_ENTER = 66
CHUNK = 60  # characters per `input text` call


def shell_typable(text: str) -> bool:
    """True when `input text` can type `text` (printable ASCII and newlines)."""
    return all(" " <= c <= "~" or c == "\n" for c in text)


def input_text_command(text: str) -> str:
    """One shell command line typing printable-ASCII `text` (newlines as ENTER)."""
    parts: list[str] = []
    for i, line in enumerate(text.split("\n")):
        if i:
            parts.append(f"input keyevent {KEYCODE_ENTER}")
        parts.extend(f"input text {shlex.quote(piece.replace(' ', '%s'))}"
                     for piece in _pieces(line))
    return " && ".join(parts) if parts else "true"


def _pieces(line: str) -> list[str]:
    """`line` cut into chunks, with every literal "%s" cut between its two characters."""
    out: list[str] = []
    for part in line.replace("%s", "%\0s").split("\0"):
        out.extend(part[i:i + CHUNK] for i in range(0, len(part), CHUNK))
    return out


def to_modified_utf7(text: str) -> str:
    """IMAP modified UTF-7: ASCII stays (``&`` becomes ``&-``), runs of anything else become
    ``&`` + base64 of their UTF-16BE with ``,`` for ``/`` and no padding + ``-``."""
    out: list[str] = []
    run: list[str] = []

    def flush() -> None:
        if run:
            raw = "".join(run).encode("utf-16-be")
            b64 = base64.b64encode(raw).decode("ascii").rstrip("=").replace("/", ",")
            out.append(f"&{b64}-")
            run.clear()

    for c in text:
        if " " <= c <= "~":
            flush()
            out.append("&-" if c == "&" else c)
        else:
            run.append(c)
    flush()
    return "".join(out)
