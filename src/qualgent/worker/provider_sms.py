"""A device whose SMS codes arrive through the SMS provider (an operator assigned it a number):
everything goes to the device, except `read_sms`, which reads the provider's messages for that
number received since the run started on it.

The agent calls `read_sms` in its worker thread; the read runs on the host's event loop (its
database pool lives there) and the thread waits for it.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import datetime
from typing import Any

import asyncpg

from qualgent.db.pool import UNAVAILABLE
from qualgent.drivers.base import Device, Sms
from qualgent.sms import read_messages

log = logging.getLogger(__name__)

READ_TIMEOUT = 15.0  # seconds; the agent polls again until its own SMS timeout


class ProviderSmsDevice:
    """`device` with read_sms served by the SMS provider for `serial`'s number."""

    def __init__(self, device: Device, pool: asyncpg.Pool, serial: str, since: datetime,
                 loop: asyncio.AbstractEventLoop) -> None:
        self._device = device
        # SMS-capable through the provider, whatever the phone's own inbox allows.
        self.profile = replace(device.profile, sms_enabled=True)
        self._pool = pool
        self._serial = serial
        self._since = since
        self._loop = loop

    def read_sms(self) -> list[Sms]:
        """Messages to the device's number since the run started, oldest first. While the
        database is unreachable: none yet (the agent keeps polling until its timeout)."""
        future = asyncio.run_coroutine_threadsafe(
            read_messages(self._pool, self._serial, since=self._since), self._loop)
        try:
            return list(future.result(READ_TIMEOUT))
        except UNAVAILABLE as exc:  # TimeoutError among them: our wait ran out
            future.cancel()
            log.warning("SMS for %s: the provider's messages could not be read (%s)",
                        self._serial, exc)
            return []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._device, name)
