"""Finding Android devices: the ones the ADB server lists, joining and leaving over time."""

from __future__ import annotations

import logging
import os
from typing import Any

import adbutils

from qualgent.drivers.android.device import AdbDevice
from qualgent.drivers.base import DeviceFailure

log = logging.getLogger(__name__)


def adb_client(socket_timeout: float = 10.0) -> adbutils.AdbClient:
    """A client of the ADB server at ANDROID_ADB_SERVER_HOST/PORT (default 127.0.0.1:5037)."""
    host = os.environ.get("ANDROID_ADB_SERVER_HOST") or None
    port = os.environ.get("ANDROID_ADB_SERVER_PORT")
    return adbutils.AdbClient(host=host, port=int(port) if port else None,
                              socket_timeout=socket_timeout)


class AdbSource:
    """The devices an ADB server lists in state "device" (only `serials`, if given)."""

    def __init__(self, client: adbutils.AdbClient, serials: list[str] | None = None,
                 **device_kwargs: Any) -> None:
        self.client = client
        self.serials = list(serials) if serials else None
        self.device_kwargs = device_kwargs
        self._known: dict[str, AdbDevice] = {}
        self._states: dict[str, str] = {}  # what was last logged, so a scan logs only changes
        self._server_down = False

    def scan(self) -> dict[str, AdbDevice]:
        """serial -> device for every device ready now; the same objects for serials seen
        before. An unreachable server or a device that does not answer is left out (logged)."""
        try:
            listed = self.client.list()
        except (adbutils.AdbError, OSError) as exc:
            if not self._server_down:
                log.warning("the ADB server at %s:%s did not answer: %s", self.client.host,
                            self.client.port, exc)
            self._server_down = True
            return {}
        if self._server_down:
            log.info("the ADB server at %s:%s answers again", self.client.host,
                     self.client.port)
            self._server_down = False
        mine = [info for info in listed
                if self.serials is None or info.serial in self.serials]
        ready = [info.serial for info in mine if info.state == "device"]
        states = {info.serial: info.state for info in mine}
        for serial, state in states.items():
            if state != "device" and self._states.get(serial) != state:
                log.info("ADB device %s is %s, not ready%s", serial, state,
                         ": accept the USB debugging prompt on the phone"
                         if state == "unauthorized" else "")
        self._states = states
        found: dict[str, AdbDevice] = {}
        for serial in ready:
            device = self._known.get(serial)
            if device is None:
                try:
                    device = AdbDevice(serial, self.client, **self.device_kwargs)
                except DeviceFailure as exc:
                    log.warning("ADB device %s left out: %s", serial, exc)
                    continue
            found[serial] = device
        self._known = found
        return dict(found)
