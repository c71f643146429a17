"""Riding out a database outage: capped exponential backoff with jitter, and writes that are
retried while the database is unreachable, for as long as the run's lease lasts.

A run survives an outage shorter than what is left of its lease (at least two thirds of
QUALGENT_LEASE_SECONDS, since the heartbeat renews every third): its step records, progress
and result are written once the database answers again. Past the lease, another host may
already hold the run, so the worker gives it up; the reaper returns it to the queue.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from qualgent.db.pool import UNAVAILABLE, Backoff

log = logging.getLogger(__name__)
T = TypeVar("T")

class LeaseOver(Exception):
    """The database stayed unreachable until the run's lease ran out."""


async def until_lease_ends(op: Callable[[], Awaitable[T]], lease_until: Callable[[], float],
                           what: str) -> T:
    """op(), retried while the database is unreachable and the lease (a time.monotonic()
    deadline, read afresh each time: the heartbeat may extend it) lasts."""
    backoff = Backoff()
    while True:
        try:
            return await op()
        except UNAVAILABLE as exc:
            left = lease_until() - time.monotonic()
            if left <= 0:
                raise LeaseOver(f"{what}: the database was unreachable until the lease ended "
                                f"({exc})") from exc
            delay = min(backoff.next(), left)
            if backoff.failures == 1:
                log.warning("%s: the database is unreachable (%s); retrying for up to %.1f s",
                            what, exc, left)
            await asyncio.sleep(delay)
