"""Checks on the identity values a build declares, before they reach the database and the API.

A build's manifest or Info.plist is written by whoever uploads it: a value can be a number,
bytes or a dictionary rather than text, contain NUL (which PostgreSQL text cannot store) or
other control characters, or be megabytes long and then come back in every listing. The
package / bundle id identifies the build, so a bad one refuses it; the version and label are
optional, so a value that is not text is dropped (an integer version is kept as its digits).
Any value longer than ``MAX_CHARS`` refuses the build: no real identifier or name is that long.
"""

from __future__ import annotations

import re

MAX_CHARS = 255  # the longest package, version or label accepted

# C0 and C1 controls, DEL, and lone surrogates (not encodable as UTF-8).
_BAD_CHAR = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


class BadValue(ValueError):
    """str(exc) is a clause naming the value, such as "its Info.plist CFBundleIdentifier is
    not a string"."""


def required(value: object, where: str) -> str:
    """``value`` as the build's identifier; BadValue unless it is clean text."""
    if not isinstance(value, str):
        raise BadValue(f"{where} is not a string")
    _check_length(value, where)
    bad = _BAD_CHAR.search(value)
    if bad:
        raise BadValue(f"{where} contains a control character (U+{ord(bad.group()):04X})")
    return value


def optional(value: object, where: str) -> str | None:
    """``value`` as an optional text field: None when absent, empty or not clean text;
    BadValue when it is longer than MAX_CHARS."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value:
        return None
    _check_length(value, where)
    return None if _BAD_CHAR.search(value) else value


def _check_length(value: str, where: str) -> None:
    if len(value) > MAX_CHARS:
        raise BadValue(f"{where} is longer than {MAX_CHARS} characters")
