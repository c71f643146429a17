"""Running one claimed run on one device: fetch the build, install, let the agent work,
record every step as it completes, and write the outcome while we still own the run."""

from __future__ import annotations

import asyncio
import logging
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from qualgent.agent import RunOutcome, StepResult, audit, run_steps
from qualgent.drivers.base import Device, DeviceFailure, DeviceLost
from qualgent.queue import runs as q
from qualgent.storage import BlobStore

log = logging.getLogger(__name__)


@dataclass
class Execution:
    """A run in flight; `stop` asks the agent to stop after its current step."""

    claimed: q.Claimed
    stop: bool = False
    lost: bool = False  # the lease was taken from us: write nothing more
    task: asyncio.Task | None = field(default=None, repr=False)


def screenshot_key(run_id: uuid.UUID, attempt: int, index: int) -> str:
    return f"screenshots/{run_id}/{attempt}-{index}.png"


def _step_row(result: StepResult, key: str | None) -> dict:
    return {
        "index": result.index,
        "description": result.description,
        "status": result.status,
        "actions": [
            {"action": a.action, "selector": a.selector, "bounds": a.bounds, "value": a.value,
             "screen": a.screen}
            for a in result.actions
        ],
        "screenshot_key": key,
        "reason": result.reason,
        "started_at": result.started_at,
        "finished_at": result.finished_at,
        "replay": result.replay,
    }


async def execute(pool: asyncpg.Pool, blobs: BlobStore, worker_id: uuid.UUID, device: Device,
                  run: Execution, max_attempts: int) -> None:
    claimed = run.claimed
    loop = asyncio.get_running_loop()

    def on_step(result: StepResult, progress: int) -> None:
        """Called in the agent's thread after each step."""
        if run.lost:
            return
        key = None
        if result.screenshot:
            key = screenshot_key(claimed.run_id, claimed.attempt, result.index)
            blobs.put(key, result.screenshot)
        row = _step_row(result, key)

        async def write() -> None:
            ok = await q.record_step(pool, claimed.run_id, worker_id, claimed.attempt, row)
            ok = ok and await q.progress(pool, claimed.run_id, worker_id, min(progress, 99))
            if not ok:
                run.lost = True

        asyncio.run_coroutine_threadsafe(write(), loop).result()

    app = await pool.fetchrow(
        "SELECT file_path, package_name FROM app_files WHERE id = $1", claimed.app_file_id
    )
    recording = None
    if claimed.mode == "cached" and claimed.recording_run_id:
        recorded = await q.trace(pool, claimed.recording_run_id)
        recording = [s["actions"] for s in recorded]
    agent_args = {"on_step": on_step, "should_stop": lambda: run.stop or run.lost,
                  "recording": recording, "fallback": claimed.cache_fallback or "agent"}
    try:
        outcome = await asyncio.to_thread(
            _install_and_run, blobs, device, app["file_path"], app["package_name"],
            claimed.steps, agent_args,
        )
    except Exception as exc:  # noqa: BLE001 - a bug must not leave the run running forever
        log.exception("run %s crashed the worker's executor", claimed.run_id)
        outcome = RunOutcome("failed", "infrastructure",
                             f"The device host failed while running this test: {exc}", [])
    if outcome.failure_category == "infrastructure" and not await asyncio.to_thread(
            _answers, device):
        # Take a lost device out of the pool first, so a retry goes to a healthy one.
        log.warning("device %s stopped answering; taking it out of the pool",
                    device.profile.name)
        await pool.execute(_QUARANTINE, claimed.device_id)
    await _report(pool, worker_id, run, outcome, max_attempts)


_QUARANTINE = "UPDATE devices SET available = false WHERE id = $1"


def _answers(device: Device) -> bool:
    try:
        device.hierarchy()
    except DeviceLost:
        return False
    except Exception:  # noqa: BLE001 - an app crash or similar: the device itself answers
        return True
    return True


def _install_and_run(blobs: BlobStore, device: Device, key: str, package: str,
                     steps: list[str], agent_args: dict) -> RunOutcome:
    suffix = Path(key).suffix
    with tempfile.TemporaryDirectory(prefix="qualgent-build-") as tmp:
        build = Path(tmp) / f"build{suffix}"
        with build.open("wb") as fh:
            for chunk in blobs.iter_bytes(key):
                fh.write(chunk)
        try:
            installed = device.install(build)
        except DeviceFailure as exc:
            what = "install" if exc.category == "app" else "reach the device to install"
            return RunOutcome("failed", exc.category,
                              f"Could not {what} the build: {exc}", [])
        return run_steps(device, installed.package or package, steps, **agent_args)


async def _report(pool: asyncpg.Pool, worker_id: uuid.UUID, run: Execution,
                  outcome: RunOutcome, max_attempts: int) -> None:
    claimed = run.claimed
    if run.lost:
        log.warning("run %s: lease lost, result discarded", claimed.run_id)
        return
    if run.stop and outcome.status != "passed" and not _finished_all(outcome, claimed):
        # Shutting down: hand the run back without counting this attempt against it.
        await q.requeue(pool, claimed.run_id, worker_id, count_attempt=False)
        return
    if outcome.failure_category == "infrastructure" and claimed.attempt < max_attempts:
        log.info("run %s: infrastructure failure, retrying (%s)", claimed.run_id,
                 outcome.explanation)
        await q.requeue(pool, claimed.run_id, worker_id, count_attempt=True)
        return
    explanation, report = outcome.explanation, None
    if claimed.audit_source_run_id:
        report = audit.compare([_step_row(s, None) for s in outcome.steps],
                               await q.trace(pool, claimed.audit_source_run_id),
                               str(claimed.audit_source_run_id))
        if outcome.status == "failed":
            explanation = f"{explanation} {audit.sentence(report)}"
    replayed = healed = None
    if claimed.mode == "cached":
        replayed = sum(s.replay == "replayed" and s.status == "passed" for s in outcome.steps)
        healed = sum(s.replay == "healed" for s in outcome.steps)
    await q.finish(pool, claimed.run_id, worker_id, outcome.status, outcome.failure_category,
                   explanation, replayed=replayed, healed=healed, audit=report)


def _finished_all(outcome: RunOutcome, claimed: q.Claimed) -> bool:
    return len(outcome.steps) == len(claimed.steps) and all(
        s.status != "skipped" for s in outcome.steps)

