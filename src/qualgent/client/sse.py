"""A server-sent events parser (the WHATWG event-stream format), fed one line at a time."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Message:
    event: str
    data: str
    id: str | None


class Parser:
    """`feed(line)` returns a Message when a blank line ends one. `last_id` and `retry`
    (milliseconds) persist across messages, as the format says."""

    def __init__(self) -> None:
        self.last_id: str | None = None
        self.retry: int | None = None
        self._event = ""
        self._data: list[str] = []

    def feed(self, line: str) -> Message | None:
        if line == "":
            if not self._data:
                self._event = ""
                return None
            message = Message(self._event or "message", "\n".join(self._data), self.last_id)
            self._event, self._data = "", []
            return message
        if line.startswith(":"):
            return None  # a comment: keep-alive
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self.last_id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self.retry = int(value)
        return None
