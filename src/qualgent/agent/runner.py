"""Running a test case's steps on a device: launch, then observe - plan - act - check per step."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from qualgent.agent.executor import AgentOptions, Executor
from qualgent.agent.intents import ExpectationFailed, Intent, StepFailure, TargetNotFound
from qualgent.agent.planning import ObservingPlanner, Planner, RulePlanner
from qualgent.agent.records import RunOutcome, StepResult, Usage
from qualgent.agent.replay import Divergence, replay_step
from qualgent.drivers.base import AppCrashed, Device, DeviceFailure, DeviceLost, InstallFailed
from qualgent.queue.states import FailureCategory, RunStatus, StepStatus

log = logging.getLogger(__name__)

Failure = tuple[FailureCategory, str]  # who is to blame, and the run's explanation

_DEVICE_FAILURE_WORDS = (
    (AppCrashed, "The app crashed"),
    (InstallFailed, "The app could not be installed"),
    (DeviceLost, "The device was lost"),
)


def _quote(step: str) -> str:
    step = " ".join(step.split())
    return step if len(step) <= 120 else step[:117] + "..."


def run_steps(device: Device, package: str, steps: list[str], *,
              planner: Planner | None = None,
              on_step: Callable[[StepResult, int], None] | None = None,
              should_stop: Callable[[], bool] | None = None,
              options: AgentOptions | None = None,
              recording: list[list[dict]] | None = None,
              fallback: str = "agent") -> RunOutcome:
    """Launch the app (already installed) and run every step.

    After each step `on_step(result, progress)` is called (progress 1..100, 100 after the
    last step). The run stops at the first failed step, or when `should_stop()` turns true
    between steps; the remaining steps are reported as skipped.

    With `recording` (each step's recorded actions, from a passed run) the steps are replayed
    (see agent.replay); a step that diverges is planned afresh by the agent ("healed"), or,
    with fallback "fail", fails the run.

    A model-backed planner (agent.llm) plugs in through optional members, each used when the
    planner has it: `judge` decides the `judge` intents (checks a model judges),
    `use_screenshots` is handed a way to take a screenshot, `recover` may replace an intent
    that failed (see `_carry_out`), and `take_usage` hands over what each step cost
    (`StepResult.usage`).
    """
    planner = planner or RulePlanner()
    ex = Executor(device, package, options, judge=getattr(planner, "judge", None))
    use_screenshots = getattr(planner, "use_screenshots", None)
    if use_screenshots is not None:
        use_screenshots(lambda: _screenshot(ex))
    _take_usage(planner)  # nothing left over from an earlier run counts against this one
    total = len(steps)
    results: list[StepResult] = []
    category: FailureCategory | None = None
    explanation: str | None = None
    skip_reason = ""

    def report(result: StepResult) -> None:
        results.append(result)
        if on_step is not None:
            on_step(result, 100 * len(results) // total if total else 100)

    if total == 0:
        try:
            ex.launch_app()
        except DeviceFailure as exc:
            return RunOutcome(RunStatus.FAILED, exc.category,
                              f"{_failure_words(exc)} on launch: {exc}.", [])
        return RunOutcome(RunStatus.COMPLETED, None, None, [])

    for i, step in enumerate(steps):
        if category is None and should_stop is not None and should_stop():
            category = FailureCategory.INFRASTRUCTURE
            explanation = f"The run was stopped before step {i + 1} ('{_quote(step)}')."
            skip_reason = "The run was stopped before this step."
        if category is not None:
            now = time.time()
            report(StepResult(i, step, StepStatus.SKIPPED, [], None, now, now, skip_reason,
                              False))
            continue
        if recording is not None and i < len(recording):
            result, failure = _replay_step(ex, planner, i, step, recording[i], fallback)
        else:
            result, failure = _run_step(ex, planner, i, step, launch=(i == 0))
        if failure is not None:
            category, explanation = failure
            skip_reason = f"Skipped: step {i + 1} failed."
        report(result)

    if category is not None:
        return RunOutcome(RunStatus.FAILED, category, explanation, results)
    asserted = any(r.has_assertion for r in results)
    return RunOutcome(RunStatus.PASSED if asserted else RunStatus.COMPLETED, None, None, results)


def _failure_words(exc: DeviceFailure) -> str:
    for cls, words in _DEVICE_FAILURE_WORDS:
        if isinstance(exc, cls):
            return words
    if exc.category == FailureCategory.INFRASTRUCTURE:
        return "The device failed"
    return "The app failed"


def _run_step(ex: Executor, planner: Planner, i: int, step: str, launch: bool
              ) -> tuple[StepResult, Failure | None]:
    started = time.time()
    ex.take_actions()  # start the step's trace afresh
    planned: list[Intent] = []
    failure: Failure | None = None
    reason: str | None = None
    where = f"step {i + 1} ('{_quote(step)}')"
    try:
        if launch:
            ex.launch_app()
        _carry_out(ex, planner, step, planned)
        ex.observe()  # a crash the last action caused belongs to this step
    except StepFailure as exc:
        reason = exc.reason
        failure = (exc.category,
                   f"Step {i + 1} ('{_quote(step)}') failed: {exc.reason}")
    except DeviceFailure as exc:
        detail = str(exc).strip()
        words = _failure_words(exc)
        reason = f"{words}{': ' + detail if detail else ''}."
        during = "while launching the app, before" if launch and not ex.actions else "during"
        failure = (exc.category,
                   f"{words} {during} {where}{': ' + detail if detail else ''}.")
    except Exception as exc:  # noqa: BLE001 - a driver or planner bug fails the run, not the host
        log.exception("agent error in %s", where)
        reason = f"The agent failed: {type(exc).__name__}: {exc}"
        failure = (FailureCategory.INFRASTRUCTURE,
                   f"The test agent failed during {where}: {exc}")
    shot = _screenshot(ex)
    has_assertion = any(it.is_assertion for it in planned)
    status = StepStatus.FAILED if failure else StepStatus.PASSED
    result = StepResult(i, step, status, ex.take_actions(), shot, started, time.time(), reason,
                        has_assertion, usage=_take_usage(planner))
    return result, failure


def _take_usage(planner: Planner) -> Usage | None:
    """What the planner's model calls cost since the last call (None: no model, no calls)."""
    take = getattr(planner, "take_usage", None)
    return take() if take is not None else None


def _carry_out(ex: Executor, planner: Planner, step: str, planned: list[Intent]) -> None:
    """Plan the step and carry out its intents; an observing planner is asked again after each
    round, on the screen as it is then, until it has nothing more to do (at most
    `max_planning_rounds` rounds). `planned` collects every intent planned, in order.

    When an intent fails because its target is not on screen (TargetNotFound) or what it
    checks or waits for does not hold (ExpectationFailed), a planner with `recover(step,
    screen, failed, failure, done, pending)` may return the intents to carry out instead of
    the failed one and the rest of the round (`pending`); None lets the failure stand. A
    check leaves no record when it is replaced (it only looked), so the step's trace replays.
    Each recovery counts as a round."""
    recover = getattr(planner, "recover", None)
    done: list[Intent] = []
    intents = planner.plan(step, ex.observe())
    rounds = 1
    while True:
        pending = list(intents)
        while pending:
            intent = pending.pop(0)
            planned.append(intent)
            mark = len(ex.actions)
            try:
                ex.run(intent)
            except (TargetNotFound, ExpectationFailed) as failure:
                instead = None if recover is None else recover(
                    step, ex.observe(fresh=True), intent, failure, tuple(done), tuple(pending))
                if instead is None:
                    raise
                _bound_rounds(ex, rounds, planned)
                rounds += 1
                if intent.is_assertion:
                    del ex.actions[mark:]
                pending = list(instead)
                continue
            done.append(intent)
        if not isinstance(planner, ObservingPlanner):
            return
        intents = planner.plan_next(step, ex.observe(), tuple(done))
        if not intents:
            return
        _bound_rounds(ex, rounds, planned)
        rounds += 1


def _bound_rounds(ex: Executor, rounds: int, planned: list[Intent]) -> None:
    if rounds >= ex.options.max_planning_rounds:
        raise StepFailure(
            f"The planner had not finished the step after {rounds} rounds of actions "
            f"({len(planned)} in all).", FailureCategory.TEST)


def _replay_step(ex: Executor, planner: Planner, i: int, step: str, recorded: list[dict],
                 fallback: str) -> tuple[StepResult, Failure | None]:
    started = time.time()
    ex.take_actions()  # start the step's trace afresh
    try:
        asserted = replay_step(ex, recorded)
    except Divergence as exc:
        if fallback == "agent":
            result, failure = _run_step(ex, planner, i, step, launch=False)
            result.replay = "healed"
            return result, failure
        reason = f"The cached replay diverged from the recording: {exc}."
        result = StepResult(i, step, StepStatus.FAILED, ex.take_actions(), _screenshot(ex),
                            started, time.time(), reason, False, "replayed",
                            usage=_take_usage(planner))
        return result, (FailureCategory.TEST,
                        f"Step {i + 1} ('{_quote(step)}') failed: {reason}")
    except (StepFailure, DeviceFailure):
        # Let the agent's own step runner report it exactly as in an agent run.
        result, failure = _run_step(ex, planner, i, step, launch=False)
        result.replay = "healed"
        return result, failure
    result = StepResult(i, step, StepStatus.PASSED, ex.take_actions(), _screenshot(ex), started,
                        time.time(), None, asserted, "replayed", usage=_take_usage(planner))
    return result, None


def _screenshot(ex: Executor) -> bytes | None:
    try:
        return ex.device.screenshot()
    except Exception:  # noqa: BLE001 - a lost device has no screenshot; the step says why
        return None
