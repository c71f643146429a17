"""Running one claimed run on one device: fetch the build (an app bundle is turned into an
APK first), install, start the device's capture, let the agent work, record every step as it
completes, store the device log and video the device captured, and report the outcome while
we still own the run.

Every database write is conditioned on still holding the run, and retried through a short
database outage for as long as the run's lease lasts (`worker.outage`).
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import asyncpg

from qualgent.agent import AgentOptions, RunOutcome, StepResult, audit, run_steps
from qualgent.agent.planning import Planner, RulePlanner
from qualgent.builds.bundletool import BundletoolMissing, ConversionFailed, universal_apk
from qualgent.db.pool import UNAVAILABLE
from qualgent.drivers.base import Device, DeviceFailure, DeviceLost
from qualgent.queue import hosts
from qualgent.queue import lifecycle as q
from qualgent.queue.states import FailureCategory, RunStatus, StepStatus
from qualgent.storage import BlobStore
from qualgent.storage.keys import screenshot_key
from qualgent.worker.capture import end_run, store
from qualgent.worker.outage import LeaseOver, until_lease_ends
from qualgent.worker.provider_sms import ProviderSmsDevice

log = logging.getLogger(__name__)
T = TypeVar("T")
INFRA = FailureCategory.INFRASTRUCTURE
APP = FailureCategory.APP

NO_BUNDLETOOL = (
    "The build is an Android App Bundle (.aab), which the device host that took this run "
    "cannot convert to an APK. {reason} The run was not retried; its credits were refunded.")


@dataclass
class Execution:
    """A run in flight; `stop` asks the agent to stop after its current step."""

    claimed: q.Claimed
    lease_until: float  # time.monotonic() when our lease ends, as last renewed
    stop: bool = False
    lost: bool = False  # the lease was taken from us (or ran out): write nothing more
    task: asyncio.Task | None = field(default=None, repr=False)


@dataclass(frozen=True)
class BuildTools:
    """What a host turns an app bundle into an APK with (QUALGENT_BUNDLETOOL, QUALGENT_JAVA)."""

    bundletool: Path | None = None
    java: str = "java"


@dataclass(frozen=True)
class PlannerChoice:
    """What a host plans steps with (QUALGENT_PLANNER): its name and model, recorded on each
    run it claims, and how to build a planner. Each run gets a fresh one, built in its own
    thread: planners keep per-step state. (runtime.planner_choice builds it from settings.)"""

    name: str = "rules"
    model: str | None = None
    build: Callable[[], Planner] = RulePlanner


@dataclass
class Attempted:
    """What the device thread hands back: the outcome, the artifacts stored, and whether an
    infrastructure failure is worth another attempt (a missing bundletool is not)."""

    outcome: RunOutcome
    artifacts: list[q.Artifact] = field(default_factory=list)
    retry: bool = True


@dataclass(frozen=True)
class Reporter:
    """What an execution writes through: its host's pool and identity, and the host's batch
    of finishes (runs ending together are written in one statement)."""

    pool: asyncpg.Pool
    worker_id: uuid.UUID
    finish: Callable[[q.Outcome], Awaitable[bool]]
    quarantine: Callable[[uuid.UUID], Awaitable[None]]
    max_attempts: int


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
        "usage": result.usage.as_dict() if result.usage is not None else None,
    }


async def _held(run: Execution, op: Callable[[], Awaitable[T]], what: str) -> T | None:
    """op() while the lease lasts; None (and the run given up) once it is over."""
    try:
        return await until_lease_ends(op, lambda: run.lease_until, what)
    except LeaseOver as exc:
        log.warning("run %s: %s; giving it up", run.claimed.run_id, exc)
        run.lost = True
        return None


async def execute(rep: Reporter, blobs: BlobStore, device: Device, run: Execution, *,
                  serial: str = "", tools: BuildTools = BuildTools(),
                  planners: PlannerChoice = PlannerChoice()) -> None:
    claimed = run.claimed
    loop = asyncio.get_running_loop()
    pool, me, run_id = rep.pool, rep.worker_id, claimed.run_id

    def on_step(result: StepResult, progress: int) -> None:
        """Called in the agent's thread after each step; waits until the step is written."""
        if run.lost:
            return
        key = None
        if result.screenshot:
            key = screenshot_key(run_id, claimed.attempt, result.index)
            blobs.put(key, result.screenshot)
        row = _step_row(result, key)

        async def write() -> bool:
            return await q.record_step(pool, run_id, me, claimed.attempt, row,
                                       min(progress, 99))

        async def write_held() -> None:
            if not await _held(run, write, f"step {result.index + 1}"):
                run.lost = True

        asyncio.run_coroutine_threadsafe(write_held(), loop).result()

    recording = None
    if claimed.mode == "cached" and claimed.recording_run_id:
        recording_id = claimed.recording_run_id
        recorded = await _held(run, lambda: q.trace(pool, recording_id), "the recording")
        recording = [s["actions"] for s in recorded or []]
    agent_args = {"on_step": on_step, "should_stop": lambda: run.stop or run.lost,
                  "recording": recording, "fallback": claimed.cache_fallback or "agent"}
    agent_device = await _with_provider_sms(pool, run, device, serial, loop)
    try:
        done = await asyncio.to_thread(_install_and_run, blobs, agent_device, claimed,
                                       agent_args, tools, planners, lambda: run.lost)
    except Exception as exc:  # noqa: BLE001 - a bug must not leave the run running forever
        log.exception("run %s crashed the worker's executor", run_id)
        done = Attempted(RunOutcome(RunStatus.FAILED, INFRA,
                                    f"The device host failed while running this test: {exc}",
                                    []))
    if done.artifacts and not run.lost:
        artifacts = done.artifacts
        if await _held(run, lambda: q.record_artifacts(pool, run_id, me, claimed.attempt,
                                                       artifacts), "the log and video") is False:
            run.lost = True
    outcome = done.outcome
    if (outcome.failure_category == INFRA and done.retry
            and not await asyncio.to_thread(answers, device)):
        # Take a lost device out of the pool first, so a retry goes to a healthy one.
        log.warning("device %s stopped answering; taking it out of the pool",
                    device.profile.name)
        await _held(run, lambda: rep.quarantine(claimed.device_id), "quarantine")
    await _report(rep, run, outcome, retry=done.retry)


async def _with_provider_sms(pool: asyncpg.Pool, run: Execution, device: Device, serial: str,
                             loop: asyncio.AbstractEventLoop) -> Device:
    """The device, reading its SMS from the provider when an operator assigned it a number
    (looked up for each run: an assignment takes effect without a restart). The run's
    messages are those received from now on (the device is ours since the claim)."""
    if not serial:
        return device
    found = await _held(run, lambda: hosts.provider_number(pool, serial), "the device's number")
    if found is None or found[0] is None:
        return device
    return ProviderSmsDevice(device, pool, serial, found[1], loop)  # type: ignore[return-value]


def answers(device: Device) -> bool:
    """Whether the device answers a cheap call (ping)."""
    try:
        device.ping()
    except DeviceLost:
        return False
    except DeviceFailure:  # it answered, with an error of its own
        return True
    except Exception:  # noqa: BLE001 - a driver bug: take it out rather than feed it runs
        log.exception("device %s: ping failed", device.profile.name)
        return False
    return True


def _install_and_run(blobs: BlobStore, device: Device, claimed: q.Claimed, agent_args: dict,
                     tools: BuildTools, planners: PlannerChoice,
                     lost: Callable[[], bool]) -> Attempted:
    """In a worker thread: the run's planner built, the build fetched (converted from a
    bundle), installed, the run's capture started, the steps run, the capture stopped and
    stored."""
    planner = planners.build()
    suffix = Path(claimed.build_key).suffix
    with tempfile.TemporaryDirectory(prefix="qualgent-run-") as tmp:
        build = Path(tmp) / f"build{suffix}"
        with build.open("wb") as fh:
            for chunk in blobs.iter_bytes(claimed.build_key):
                fh.write(chunk)
        if suffix == ".aab":
            converted = _universal_apk(build, Path(tmp) / "apk", tools)
            if isinstance(converted, Attempted):
                return converted
            build = converted
        try:
            installed = device.install(build)
        except DeviceFailure as exc:
            what = ("install" if exc.category == FailureCategory.APP
                    else "reach the device to install")
            return Attempted(RunOutcome(RunStatus.FAILED, exc.category,
                                        f"Could not {what} the build: {exc}", []))
        package = installed.package or claimed.package_name
        capture_dir = Path(tmp) / "capture"
        capture_dir.mkdir()
        try:
            device.begin_run(package)
            outcome = run_steps(device, package, claimed.steps, planner=planner,
                                options=AgentOptions.fitted(device.timing), **agent_args)
        except DeviceFailure as exc:  # begin_run: the agent reports its own
            outcome = RunOutcome(RunStatus.FAILED, exc.category,
                                 f"Could not start the run on the device: {exc}", [])
        finally:
            capture = end_run(device, capture_dir)
        artifacts = [] if lost() else store(blobs, claimed.run_id, claimed.attempt, capture)
        return Attempted(outcome, artifacts)


def _universal_apk(aab: Path, out_dir: Path, tools: BuildTools) -> Path | Attempted:
    try:
        return universal_apk(aab, out_dir, tools.bundletool, tools.java)
    except BundletoolMissing as exc:
        # The host's setup, not the app: refunded, and not retried (the next attempt would most
        # likely land on this same host).
        return Attempted(RunOutcome(RunStatus.FAILED, INFRA,
                                    NO_BUNDLETOOL.format(reason=_sentence(exc)), []),
                         retry=False)
    except ConversionFailed as exc:
        return Attempted(RunOutcome(RunStatus.FAILED, APP,
                                    f"The app bundle could not be turned into an APK: {exc}",
                                    []))


def _sentence(exc: Exception) -> str:
    text = str(exc).strip()
    return text if text.endswith((".", "!", "?")) else f"{text}."


async def _report(rep: Reporter, run: Execution, outcome: RunOutcome, retry: bool = True
                  ) -> None:
    claimed = run.claimed
    pool, me, run_id = rep.pool, rep.worker_id, claimed.run_id
    if run.lost:
        log.warning("run %s: lease lost, result discarded", run_id)
        await _release(pool, claimed)
        return
    if run.stop and outcome.status != RunStatus.PASSED and not _finished_all(outcome, claimed):
        # Shutting down: hand the run back without counting this attempt against it.
        await _held(run, lambda: q.requeue(pool, run_id, me, count_attempt=False), "hand back")
        return
    if outcome.failure_category == INFRA and retry and claimed.attempt < rep.max_attempts:
        log.info("run %s: infrastructure failure, retrying (%s)", run_id, outcome.explanation)
        await _held(run, lambda: q.requeue(pool, run_id, me, count_attempt=True), "requeue")
        return
    explanation, report = outcome.explanation, None
    if claimed.audit_source_run_id:
        source_id = claimed.audit_source_run_id
        source = await _held(run, lambda: q.trace(pool, source_id), "the audit source")
        report = audit.compare([_step_row(s, None) for s in outcome.steps], source or [],
                               str(source_id))
        if outcome.status == RunStatus.FAILED:
            explanation = f"{explanation} {audit.sentence(report)}"
    replayed = healed = None
    if claimed.mode == "cached":
        replayed = sum(s.replay == "replayed" and s.status == StepStatus.PASSED
                       for s in outcome.steps)
        healed = sum(s.replay == "healed" for s in outcome.steps)
    result = q.Outcome(run_id, outcome.status, outcome.failure_category,
                       explanation, replayed, healed, report)
    if await _held(run, lambda: rep.finish(result), "finish") is False:
        log.warning("run %s: no longer ours when it finished; result discarded", run_id)
        await _release(pool, claimed)


async def _release(pool: asyncpg.Pool, claimed: q.Claimed) -> None:
    """Free our device's busy mark for a run we lost (the reaper would, later)."""
    try:
        await q.release_device(pool, claimed.device_id, claimed.run_id)
    except UNAVAILABLE:
        pass


def _finished_all(outcome: RunOutcome, claimed: q.Claimed) -> bool:
    return len(outcome.steps) == len(claimed.steps) and all(
        s.status != StepStatus.SKIPPED for s in outcome.steps)
