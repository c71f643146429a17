"""Reading a device's SMS inbox: `content query` rows, or Appium Settings' broadcast JSON.

`content query --uri content://sms/inbox --projection address:body:date` prints one line per
row, "Row: 0 address=+1555..., body=Your code is 123456, date=1700000000000", or "No result
found."; a body may hold ", " and even newlines, so a row is read by the known column order:
the address up to ", body=", the date after the last ", date=". When the shell may not read
the provider the command prints an error (SecurityException) instead. Appium Settings answers
`am broadcast -a io.appium.settings.sms.read` with `Broadcast completed: result=-1,
data="{"items": [{"address", "body", "date", ...}], "total": N}"`.
"""

from __future__ import annotations

import json
import re

from qualgent.drivers.base import Sms

CONTENT_QUERY = ('content query --uri content://sms/inbox --projection address:body:date '
                 '--sort "date DESC"')
_ROW_RE = re.compile(r"^Row: \d+ address=", re.M)
_DATA_RE = re.compile(r'Broadcast completed: result=(-?\d+)(?:, data="(?P<data>.*)")?\s*$',
                      re.S)


class SmsUnreadable(Exception):
    """The device's answer is not an inbox listing (refused, or an unexpected format)."""


def parse_content_rows(output: str) -> list[Sms]:
    """The rows of a `content query` of the inbox, oldest first."""
    text = output.strip()
    if text == "No result found." or not text:
        return []
    starts = [m.start() for m in _ROW_RE.finditer(text)]
    if not starts or starts[0] != 0:
        raise SmsUnreadable(text.splitlines()[0][:200])
    out: list[Sms] = []
    for start, end in zip(starts, [*starts[1:], len(text)], strict=True):
        row = text[start:end].rstrip("\n")
        row = row[row.index("address=") + len("address="):]
        address, sep, rest = row.partition(", body=")
        body, sep2, date = rest.rpartition(", date=")
        if not sep or not sep2:
            raise SmsUnreadable(f"an unreadable row: {row[:200]}")
        out.append(Sms(sender=address, body=body, received_at=_seconds(date)))
    return sorted(out, key=lambda s: s.received_at)


def parse_settings_broadcast(output: str) -> list[Sms]:
    """The messages in Appium Settings' SMS broadcast answer, oldest first."""
    m = _DATA_RE.search(output.strip())
    if m is None or m.group("data") is None:
        raise SmsUnreadable(output.strip()[:200] or "no answer")
    try:
        items = json.loads(m.group("data"))["items"]
        out = [Sms(sender=str(i.get("address") or ""), body=str(i.get("body") or ""),
                   received_at=_seconds(str(i.get("date") or 0))) for i in items]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise SmsUnreadable(f"unreadable JSON: {exc}") from exc
    return sorted(out, key=lambda s: s.received_at)


def _seconds(millis: str) -> float:
    try:
        return int(float(millis.strip())) / 1000
    except ValueError as exc:
        raise SmsUnreadable(f"not a date: {millis[:40]!r}") from exc
