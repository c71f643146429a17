"""A fake Android device at the wire, behind the REAL adb server.

``AdbFleet`` runs the adb server from the adbutils wheel on a free port and ``adb connect``s
fake devices to it: ``FakeAdbd`` (the device side of the ADB transport: shell v1/v2, exec,
sync over a ``FakeFs``) whose commands a ``ShellHandler`` answers (``SimShell`` in
``tests.fakes.android.shell``, over a ``SimulatedDevice``), and optionally a ``FakeConsole``
(the emulator console: ``sms send``). Fixtures: ``tests.fakes.android.fixtures``.
"""

from tests.fakes.android.adbd import (
    FEATURES,
    CapturedOutput,
    FakeAdbd,
    ShellHandler,
    ShellOutput,
    StreamClosed,
)
from tests.fakes.android.console import TOKEN_FILE, FakeConsole
from tests.fakes.android.fs import FakeFs, FsEntry
from tests.fakes.android.server import AdbFleet, FakeDevice, FleetError, free_port

__all__ = [
    "FEATURES",
    "TOKEN_FILE",
    "AdbFleet",
    "CapturedOutput",
    "FakeAdbd",
    "FakeConsole",
    "FakeDevice",
    "FakeFs",
    "FleetError",
    "FsEntry",
    "ShellHandler",
    "ShellOutput",
    "StreamClosed",
    "free_port",
]
