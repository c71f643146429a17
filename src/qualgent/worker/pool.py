"""Where a host's devices come from: sources it scans every few seconds.

A source lists the devices it can serve now, keyed by a serial that stays the same while the
device comes and goes (an ADB serial, say). The host keeps one pool id per (source, serial),
so a phone that is unplugged and plugged back in is the same device row again.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from typing import Protocol

from qualgent.drivers.base import Device

log = logging.getLogger(__name__)


class DeviceSource(Protocol):
    def scan(self) -> Mapping[str, Device]:
        """The devices that can be served now, by serial. Blocking (it may ask a server);
        called in a worker thread. An error keeps the source's devices as they were."""
        ...


class StaticSource:
    """Devices given when the host starts (simulators, Appium sessions): always listed. A
    device that stops answering is taken out by the run that finds it lost."""

    def __init__(self, devices: Sequence[Device]) -> None:
        self.devices: dict[str, Device] = {}
        for device in devices:
            serial = base = device.profile.serial or "device"
            n = 1
            while serial in self.devices:  # two simulators of one profile share a serial
                n += 1
                serial = f"{base}-{n}"
            self.devices[serial] = device

    def scan(self) -> dict[str, Device]:
        return dict(self.devices)


class Listed:
    """One scan's result: every device listed now, by pool id, with its serial."""

    def __init__(self) -> None:
        self.devices: dict[uuid.UUID, Device] = {}
        self.serials: dict[uuid.UUID, str] = {}


class DevicePool:
    """The ids of a host's devices, across scans of its sources."""

    def __init__(self, sources: Sequence[DeviceSource]) -> None:
        self.sources = list(sources)
        self._ids: dict[tuple[int, str], uuid.UUID] = {}
        self._last: list[dict[str, Device]] = [{} for _ in self.sources]

    def scan(self) -> Listed:
        """Ask every source (blocking: run it in a thread). A source that fails counts as
        unchanged: not knowing is not the same as gone."""
        listed = Listed()
        for i, source in enumerate(self.sources):
            try:
                found = dict(source.scan())
            except Exception:  # noqa: BLE001 - one source's failure must not stop the host
                log.exception("device source %r: scan failed; keeping its devices", source)
                found = self._last[i]
            self._last[i] = found
            for serial, device in found.items():
                pool_id = self._ids.setdefault((i, serial), uuid.uuid4())
                listed.devices[pool_id] = device
                listed.serials[pool_id] = serial
        return listed
