"""A plain asyncpg pool, and the rule for which code talks to the database how.

The database-access rule (the one place it is stated):

- The run lifecycle (`qualgent.queue.lifecycle`: enqueue, claim, renew, finish, requeue,
  reap, refund; and the device hosts' rows, `qualgent.queue.hosts`) and the hot read paths
  (API key lookup, job status, job lists, step traces: `qualgent.runs.queries`) use raw
  asyncpg on this pool, with each SQL statement written out and named once, as a module
  constant.
- The feature services (create/read/update/delete of organizations, apps, test cases and their
  versions, categories, devices' catalog) use the SQLAlchemy ORM on `qualgent.db.engine`.

Why: measured on this project, a query through SQLAlchemy's async engine costs ~0.55 ms of
CPU against ~0.06 ms on a bare asyncpg connection with its cached prepared statements. CI
polls job status constantly, submits batches, and workers claim and report constantly, so
those statements skip the ORM (and many are one round trip of several CTEs, which the ORM
would not make clearer). The rest is rarely hot and reads better as ORM code.

`UNAVAILABLE` names the errors that mean "the database cannot be reached right now" (down,
restarting, connection dropped, too many clients): callers that must ride out an outage
retry those, and only those, spacing their attempts with `Backoff`.
"""

from __future__ import annotations

import asyncio
import json
import random

import asyncpg
from sqlalchemy.engine import make_url

UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, unix socket gone (ConnectionError, FileNotFoundError)
    TimeoutError,  # connect timeout
    asyncpg.PostgresConnectionError,  # class 08: the connection failed or was dropped
    asyncpg.OperatorInterventionError,  # class 57: shutting down, starting up, terminated
    asyncpg.InsufficientResourcesError,  # class 53: too many clients, out of memory
    asyncpg.InterfaceError,  # the client's connection closed under it
)


FIRST_DELAY_S = 0.2
MAX_DELAY_S = 5.0


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


def asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def _init(conn: asyncpg.Connection) -> None:
    for kind in ("json", "jsonb"):
        await conn.set_type_codec(kind, encoder=json.dumps, decoder=json.loads,
                                  schema="pg_catalog")


async def _keep(conn: asyncpg.Connection) -> None:
    """No reset on release: our statements set no session state (asyncpg itself rolls back a
    transaction left open), and the default reset costs a round trip per checkout."""


async def create_pool(url: str, size: int) -> asyncpg.Pool:
    return await asyncpg.create_pool(
        asyncpg_dsn(url), min_size=1, max_size=size, init=_init, reset=_keep
    )


def watch_loss(conn: asyncpg.Connection) -> asyncio.Event:
    """An event set when `conn` is terminated (for the LISTEN connections)."""
    lost = asyncio.Event()
    conn.add_termination_listener(lambda _conn: lost.set())
    return lost


async def while_alive(conn: asyncpg.Connection, lost: asyncio.Event,
                      check_seconds: float) -> None:
    """Return when `conn` is lost (`lost`, from watch_loss, is set); prove it alive with a
    `SELECT 1` every `check_seconds` meanwhile, which raises if it is not."""
    while not lost.is_set():
        try:
            await asyncio.wait_for(lost.wait(), check_seconds)
        except TimeoutError:
            await asyncio.wait_for(conn.execute("SELECT 1"), check_seconds)
