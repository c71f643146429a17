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
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from qualgent.db.pool import UNAVAILABLE

log = logging.getLogger(__name__)
T = TypeVar("T")

FIRST_DELAY_S = 0.2
MAX_DELAY_S = 5.0


class LeaseOver(Exception):
    """The database stayed unreachable until the run's lease ran out."""


class Backoff:
    """Delays of 0.2, 0.4, 0.8 ... s, capped at 5 s, each drawn from its upper half (jitter:
    hosts that lost the database together do not come back in step)."""

    def __init__(self, first: float = FIRST_DELAY_S, cap: float = MAX_DELAY_S) -> None:
        self.first, self.cap, self.failures = first, cap, 0

    def next(self) -> float:
        delay = min(self.cap, self.first * 2 ** self.failures)
        self.failures += 1
        return random.uniform(delay / 2, delay)

    def reset(self) -> None:
        self.failures = 0


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
