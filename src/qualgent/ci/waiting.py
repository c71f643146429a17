"""Waiting for runs to finish: pushed by GET /v1/jobs/events when the server has it, else
polled at the API reference's pace (round robin over the runs, each at most once per
interval, 15 s by default: the documented floor for sustained polling)."""

from __future__ import annotations

import asyncio
import contextlib
import time

from qualgent.ci.display import Display, Tracked
from qualgent.client import ApiError, AsyncClient, Run

EVENTS_RUN_IDS = 100
"""The most run ids one events subscription may filter by."""


def _apply_run(display: Display, t: Tracked, run: Run) -> None:
    t.run = run
    if t.update(run.status, run.progress, run.link):
        display.changed(t)


async def _follow(client: AsyncClient, runs: dict[str, Tracked], ids: list[str],
                  display: Display) -> None:
    async with contextlib.aclosing(client.events(ids, until_final=True)) as stream:
        async for event in stream:
            t = runs.get(event.test_run_id)
            if t is not None and t.update(event.status, event.progress, event.link):
                display.changed(t)


async def by_events(client: AsyncClient, runs: dict[str, Tracked], display: Display) -> None:
    """Until every run has sent its final event; ApiError when events cannot be had."""
    pending = [rid for rid, t in runs.items() if not t.finished]
    chunks = [pending[i:i + EVENTS_RUN_IDS] for i in range(0, len(pending), EVENTS_RUN_IDS)]
    tasks = [asyncio.create_task(_follow(client, runs, chunk, display)) for chunk in chunks]
    try:
        for task in asyncio.as_completed(tasks):
            await task
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def by_polling(client: AsyncClient, runs: dict[str, Tracked], display: Display,
                     interval: float) -> None:
    """GET /v1/jobs/status round robin: the runs' first reads spread over one interval, then
    each run again `interval` seconds after its last read, until all are finished."""
    pending = [t for t in runs.values() if not t.finished]
    now = time.monotonic()
    due = {t.id: now + i * interval / len(pending) for i, t in enumerate(pending)}
    while due:
        rid = min(due, key=due.__getitem__)
        await asyncio.sleep(max(0.0, due[rid] - time.monotonic()))
        t = runs[rid]
        _apply_run(display, t, await client.get_run(rid))
        if t.finished:
            del due[rid]
        else:
            due[rid] = time.monotonic() + interval


async def wait_for(client: AsyncClient, runs: dict[str, Tracked], display: Display, *,
                   timeout: float | None, use_events: bool, poll_interval: float) -> bool:
    """True when every run finished within `timeout` seconds, False when time ran out."""
    try:
        async with asyncio.timeout(timeout):
            if use_events and any(not t.finished for t in runs.values()):
                try:
                    await by_events(client, runs, display)
                except ApiError as exc:
                    display.note(f"events unavailable ({exc}); polling each run every "
                                 f"{poll_interval:g}s")
            if any(not t.finished for t in runs.values()):
                await by_polling(client, runs, display, poll_interval)
        return True
    except TimeoutError:
        return False
