"""Reading what an Android device reports in text: crash blocks in logcat, SMS inbox rows from
`content query`, Appium Settings' SMS broadcast, the app's lines of a threadtime log."""

from __future__ import annotations

import pytest

from qualgent.drivers.android.capture import app_log_lines
from qualgent.drivers.android.crash import crash_line
from qualgent.drivers.android.sms import (
    SmsUnreadable,
    parse_content_rows,
    parse_settings_broadcast,
)
from qualgent.drivers.base import Sms

_AT = "12-02 05:41:02.200 12345 12345 E AndroidRuntime: "
CRASH = "\n".join([
    "--------- beginning of crash",
    "12-02 05:40:01.100 12000 12000 E AndroidRuntime: FATAL EXCEPTION: main",
    "12-02 05:40:01.100 12000 12000 E AndroidRuntime: Process: com.other.app, PID: 12000",
    "12-02 05:40:01.100 12000 12000 E AndroidRuntime: java.lang.NullPointerException: other",
    _AT + "FATAL EXCEPTION: main",
    _AT + "Process: com.qualgent.demo, PID: 12345",
    _AT + "java.lang.IllegalStateException: Crash app was tapped",
    _AT + "\tat com.qualgent.demo.MainActivity.onClick(MainActivity.java:42)", ""])


def test_the_crash_line_is_the_exception_of_the_apps_own_block() -> None:
    assert crash_line(CRASH, "com.qualgent.demo") == (
        "java.lang.IllegalStateException: Crash app was tapped")
    assert crash_line(CRASH, "com.other.app") == "java.lang.NullPointerException: other"
    assert crash_line(CRASH, "com.absent") is None
    brief = ("E/AndroidRuntime( 4242): FATAL EXCEPTION: main\n"
             "E/AndroidRuntime( 4242): Process: com.x, PID: 4242\n"
             "E/AndroidRuntime( 4242): java.lang.RuntimeException: boom\n")
    assert crash_line(brief, "com.x") == "java.lang.RuntimeException: boom"


def test_inbox_rows_are_read_by_their_known_columns() -> None:
    out = ("Row: 0 address=DemoShop, body=Code 123456, date=2, then, date=1, date=1700000002000\n"
           "Row: 1 address=+15551234567, body=line one\nline two, date=1700000001000\n")
    assert parse_content_rows(out) == [
        Sms("+15551234567", "line one\nline two", 1700000001.0),
        Sms("DemoShop", "Code 123456, date=2, then, date=1", 1700000002.0)]
    assert parse_content_rows("No result found.\n") == []


@pytest.mark.parametrize("out", [
    "Error while accessing provider:sms\njava.lang.SecurityException: Permission Denial",
    "Row: 0 address=x, date=1", "Row: 0 address=x, body=y, date=soon"])
def test_a_refused_or_unreadable_inbox_is_said_so(out: str) -> None:
    with pytest.raises(SmsUnreadable):
        parse_content_rows(out)


def test_appium_settings_broadcast() -> None:
    out = ('Broadcasting: Intent { act=io.appium.settings.sms.read flg=0x400000 }\n'
           'Broadcast completed: result=-1, data="{"items":[{"address":"Bank","date":'
           '"1700000005000","body":"Code \\"42\\" 654321"},{"address":"Shop","date":'
           '"1700000001000","body":"hi"}],"total":2}"\n')
    assert parse_settings_broadcast(out) == [Sms("Shop", "hi", 1700000001.0),
                                             Sms("Bank", 'Code "42" 654321', 1700000005.0)]
    with pytest.raises(SmsUnreadable):
        parse_settings_broadcast("Broadcast completed: result=0\n")


def test_the_apps_log_lines_are_those_of_its_processes_or_naming_it() -> None:
    log = ("--------- beginning of main\n"
           "12-02 05:41:00.000  1542  1542 I ActivityManager: Start proc 12345:com.qualgent.demo"
           "/u0a100 for activity {com.qualgent.demo/.MainActivity}\n"
           "12-02 05:41:00.100  1542  1542 I ActivityManager: Start proc 999:com.other/u0a9\n"
           "12-02 05:41:01.000 12345 12350 D OkHttp  : GET /api\n"
           "12-02 05:41:01.000   999   999 D Other   : noise\n")
    assert [line.split(": ", 1)[1] for line in app_log_lines(
        log, {12345}, "com.qualgent.demo")] == [
        "Start proc 12345:com.qualgent.demo/u0a100 for activity "
        "{com.qualgent.demo/.MainActivity}", "GET /api"]
