"""Reading app crashes from logcat's crash buffer (`logcat -b crash -d`).

A Java crash is logged by AndroidRuntime as a block: "FATAL EXCEPTION: main", then
"Process: <package>, PID: <pid>", then the exception line ("java.lang.IllegalStateException:
...") and its stack. Lines may come in any logcat format; only the message after the tag is
read.
"""

from __future__ import annotations

import re

_MESSAGE_RE = re.compile(r"\bAndroidRuntime\s*(?:\(\s*\d+\))?\s*:\s?(?P<message>.*)$")
_PROCESS_RE = re.compile(r"^Process: (?P<package>[^,\s]+), PID: (?P<pid>\d+)")


def crash_line(log: str, package: str) -> str | None:
    """The exception line of `package`'s last fatal exception in `log`, None if it has none."""
    messages = [m.group("message") for line in log.splitlines()
                if (m := _MESSAGE_RE.search(line)) is not None]
    found: str | None = None
    for i, message in enumerate(messages):
        m = _PROCESS_RE.match(message.strip())
        if m is None or m.group("package") != package:
            continue
        rest = [msg.strip() for msg in messages[i + 1:i + 4]]
        line = next((msg for msg in rest if msg and not msg.startswith("at ")), None)
        found = line or "FATAL EXCEPTION"
    return found
