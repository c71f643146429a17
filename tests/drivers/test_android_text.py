"""Typing on Android: which text `input text` takes, its quoting and %s rules, and IMAP modified
UTF-7 for Appium Settings' UnicodeIME."""

from __future__ import annotations

import shlex

import pytest

from qualgent.drivers.android.text import (
    CHUNK,
    input_text_command,
    shell_typable,
    to_modified_utf7,
)
from tests.fakes.android.shell import _input_text_unescape


def typed(command: str) -> str:
    """What a device types for a command line from input_text_command (as its shell splits
    it and InputShellCommand unescapes it)."""
    out = []
    for part in command.split(" && "):
        argv = shlex.split(part)
        if argv[:2] == ["input", "keyevent"]:
            assert argv[2] == "66"
            out.append("\n")
        else:
            assert argv[:2] == ["input", "text"] and len(argv) == 3
            out.append(_input_text_unescape(argv[2]))
    return "".join(out)


@pytest.mark.parametrize("text", [
    "demo@example.com", "hunter 2", "it's a \"quote\" & $HOME; (x) | `y` \\ ~", "100%s sure",
    "%%s%", "line one\nline two\n", "a" * (CHUNK * 2 + 7), "% s", " leading and trailing "])
def test_ascii_text_is_typed_as_written(text: str) -> None:
    assert shell_typable(text)
    assert typed(input_text_command(text)) == text


def test_spaces_travel_as_percent_s_and_long_text_in_chunks() -> None:
    assert input_text_command("a b") == "input text a%sb"
    assert input_text_command("a" * (CHUNK + 1)).count("input text") == 2
    assert input_text_command("") == "true"


@pytest.mark.parametrize("text", ["Café", "東京", "emoji 🙂", "tab\there", "\x07"])
def test_anything_but_printable_ascii_needs_the_ime(text: str) -> None:
    assert not shell_typable(text)


@pytest.mark.parametrize(("text", "encoded"), [
    ("~peter/mail/台北/日本語", "~peter/mail/&U,BTFw-/&ZeVnLIqe-"),  # RFC 3501 §5.1.3
    ("Café 東京", "Caf&AOk- &Z3FOrA-"),
    ("Tom & Jerry", "Tom &- Jerry"),
    ("🙂", "&2D3eQg-"),
    ("plain", "plain"),
])
def test_modified_utf7(text: str, encoded: str) -> None:
    assert to_modified_utf7(text) == encoded
    assert shell_typable(encoded)
