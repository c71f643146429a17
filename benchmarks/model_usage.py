"""Model usage per step: what the model-backed planners cost on our side, measured without a
model.

    python benchmarks/model_usage.py [--cases 40] [--repeat 3] [--seed 7] [--corpus DIR]

The Demo Shop suite (tests.demo: sign in with the SMS code, search, check out; 13 steps) and a
random sample of `--cases` corpus cases (benchmarks/agent_corpus) run through
`qualgent.agent.run_steps` on the simulator with the worker's waits, once per planner: `rules`
(the reference), `llm` and `hybrid`. The model is tests.fakes.scripted_model's ScriptedModel
(the Demo Shop's steps scripted, corpus steps improvised from their words) behind the real
`OpenAIChat` client and tests.fakes.llm's FakeOpenAI on loopback. Its answers are scripted,
so the figures measure OUR side of a model call: how many calls a step makes, how big each
prompt is, how many screenshots go along, and how long our planning takes; not a real model's
accuracy, its latency or its token counts (the fake reports fixed ones).

Per planner it prints model calls per step (mean, max), per call the prompt's size
(characters of the system and user text, elements listed, tokens ESTIMATED at ~4 characters a
token, and the tool schema sent with every call), screenshots attached per call, and our own
time per step without the model: time inside the planner (planning, the element list, the
prompt, checking the answer, turning element numbers into targets) minus the model call, set
against the rules planner's time per step (the ratio); the model call's own overhead (the
official client, HTTP on loopback, the fake's framing; the scripted answer's time taken out);
and the step's wall time without the model call (planner, executor and simulator) against the
rules'. For hybrid, the share of steps that asked the model. Then the plan cache: the Demo
Shop suite twice with a fresh PlanCache, model calls per step cold and warm.

Times are medians over `--repeat` runs of each (the corpus sample runs once per planner).
Everything lives in a temp dir removed on exit. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _common import log, run_benchmark

from qualgent.agent import AgentOptions, RulePlanner, run_steps
from qualgent.agent.llm import HybridPlanner, LLMPlanner, OpenAIChat, PlanCache
from qualgent.agent.llm.prompt import ACT, JUDGE_SYSTEM, SYSTEM, VERDICT
from qualgent.builds.demo import write_demo_build
from qualgent.drivers.simulator import SimulatedDevice, parse_simulator_spec
from qualgent.evaluation import APPS, Case, load_corpus
from qualgent.storage.blobs import LocalBlobStore

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))  # tests: the fake model server, the scripted model, the steps
from tests.demo import SEARCH_AND_CHECK_OUT, SIGN_IN  # noqa: E402
from tests.fakes.llm import FakeOpenAI, message_texts  # noqa: E402
from tests.fakes.scripted_model import ScriptedModel, images, listed  # noqa: E402

DEVICE = "Pixel 7:Android:14:sms"
SUITE = [*SIGN_IN, *SEARCH_AND_CHECK_OUT]
PLANNERS = ("rules", "llm", "hybrid")
MODEL = "scripted-model"
KEY = "sk-bench-not-a-secret"
CHARS_PER_TOKEN = 4
_PLANNER_METHODS = ("plan", "plan_next", "recover", "take_over", "judge")


# --------------------------------------------------------------------------- measuring


@dataclass
class Clock:
    """Seconds spent inside the planner, inside model calls and inside the scripted answer;
    the server's thread adds to `model`, hence the lock."""

    planner: float = 0.0
    call: float = 0.0
    model: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, what: str, seconds: float) -> None:
        with self.lock:
            setattr(self, what, getattr(self, what) + seconds)

    def mark(self) -> tuple[float, float, float]:
        with self.lock:
            return self.planner, self.call, self.model


def timed(fn: Callable[..., Any], clock: Clock, what: str) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            clock.add(what, time.perf_counter() - t0)
    return call


class TimedModel:
    """The scripted model, its own time kept apart: a real model's place."""

    def __init__(self, clock: Clock) -> None:
        self.model = ScriptedModel(improvise=True)
        self.clock = clock

    def __call__(self, request: dict) -> dict:
        t0 = time.perf_counter()
        try:
            return self.model(request)
        finally:
            self.clock.add("model", time.perf_counter() - t0)


@dataclass
class StepFigures:
    calls: int
    planner: float  # seconds in the planner, model calls taken out
    wall: float  # the step's wall time, model calls taken out
    overhead: float  # the model calls' time minus the scripted answers'


@dataclass
class CallFigures:
    chars: int  # system + user text
    elements: int
    images: int


@dataclass
class RunFigures:
    status: str
    steps: list[StepFigures]
    calls: list[CallFigures]
    asked: int  # steps that called the model


def planner_for(name: str, client: Any, cache: PlanCache | None = None) -> Any:
    if name == "rules":
        return RulePlanner()
    llm = LLMPlanner(client, cache=cache)
    return llm if name == "llm" else HybridPlanner(RulePlanner(), llm)


def run_one(device: SimulatedDevice, package: str, steps: list[str], name: str,
            fake: FakeOpenAI, client: Any, clock: Clock,
            cache: PlanCache | None = None) -> RunFigures:
    """One run of `steps` with the named planner, its figures per step and per call."""
    planner = planner_for(name, client, cache)
    for method in _PLANNER_METHODS:  # instance attributes: run_steps finds the same members
        if hasattr(planner, method):
            setattr(planner, method, timed(getattr(planner, method), clock, "planner"))
    fake.requests.clear()
    marks: list[tuple[float, float, float]] = [clock.mark()]
    out = run_steps(device, package, steps, planner=planner, options=AgentOptions.fitted(
        device.timing), on_step=lambda result, progress: marks.append(clock.mark()))
    figures = []
    for i, step in enumerate(out.steps):
        if str(step.status) == "skipped" or i + 1 >= len(marks):
            continue
        (p0, c0, m0), (p1, c1, m1) = marks[i], marks[i + 1]
        in_calls = c1 - c0
        figures.append(StepFigures(
            calls=step.usage.calls if step.usage else 0, planner=(p1 - p0) - in_calls,
            wall=(step.finished_at - step.started_at) - in_calls,
            overhead=in_calls - (m1 - m0)))
    calls = [CallFigures(
        chars=sum(len(t) for role, t in message_texts(r.json) if role in ("system", "user")),
        elements=len(listed(next(t for role, t in message_texts(r.json) if role == "user"))),
        images=images(r.json)) for r in fake.requests if isinstance(r.json, dict)]
    return RunFigures(str(out.status), figures, calls,
                      sum(1 for s in out.steps if s.usage is not None))


def demo_device(apk: Path) -> tuple[SimulatedDevice, str]:
    device = SimulatedDevice(parse_simulator_spec(DEVICE), seed=7)
    package = device.install(apk).package
    device.begin_run(package)
    return device, package


def case_device(case: Case) -> tuple[SimulatedDevice, str]:
    device = SimulatedDevice(parse_simulator_spec(case.device), seed=7)
    package = device.install_model(APPS[case.app]()).package
    device.begin_run(package)
    return device, package


# --------------------------------------------------------------------------- report


def _mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else 0.0


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:7.2f}"


def report(title: str, runs: dict[str, list[list[RunFigures]]]) -> dict[str, dict]:
    """`runs[planner]`: per repeat, the runs of that repeat. Prints a block; returns it."""
    print(title)
    rows: dict[str, dict] = {}
    for name, repeats in runs.items():
        steps = [s for r in repeats[0] for s in r.steps]
        calls = [c for r in repeats[0] for c in r.calls]
        per_step_calls = [s.calls for s in steps]

        def per_repeat(attr: str, rep: list[RunFigures]) -> float:
            ss = [s for r in rep for s in r.steps]
            return sum(getattr(s, attr) for s in ss) / max(1, len(ss))

        n_calls = [sum(s.calls for r in rep for s in r.steps) for rep in repeats]
        rows[name] = {
            "runs": len(repeats[0]), "steps": len(steps),
            "statuses": {st: sum(r.status == st for r in repeats[0])
                         for st in sorted({r.status for r in repeats[0]})},
            "calls_mean": _mean(per_step_calls), "calls_max": max(per_step_calls, default=0),
            "chars": _mean([c.chars for c in calls]),
            "chars_max": max((c.chars for c in calls), default=0),
            "elements": _mean([c.elements for c in calls]),
            "elements_max": max((c.elements for c in calls), default=0),
            "images": _mean([c.images for c in calls]),
            "planner": statistics.median(per_repeat("planner", rep) for rep in repeats),
            "wall": statistics.median(per_repeat("wall", rep) for rep in repeats),
            "overhead": statistics.median(
                sum(s.overhead for r in rep for s in r.steps) / max(1, n)
                for rep, n in zip(repeats, n_calls, strict=True)),
            "asked": sum(r.asked for r in repeats[0]) / max(1, len(steps)),
        }
    ref = rows.get("rules")
    print(f"  {'planner':<8} {'steps':>5} {'calls/step':>10} {'max':>4}  {'chars/call':>10} "
          f"{'max':>6} {'~tokens':>7}  {'elements':>8} {'max':>4}  {'shots/call':>10}  "
          f"{'asked model':>11}  runs")
    for name, row in rows.items():
        sized = name != "rules" and row["chars"]
        statuses = ", ".join(f"{n} {st}" for st, n in row["statuses"].items())
        print(f"  {name:<8} {row['steps']:>5} {row['calls_mean']:>10.2f} {row['calls_max']:>4}  "
              + (f"{row['chars']:>10.0f} {row['chars_max']:>6} "
                 f"{row['chars'] / CHARS_PER_TOKEN:>7.0f}  {row['elements']:>8.1f} "
                 f"{row['elements_max']:>4}  {row['images']:>10.2f}  " if sized
                 else f"{'-':>10} {'-':>6} {'-':>7}  {'-':>8} {'-':>4}  {'-':>10}  ")
              + (f"{row['asked']:>11.0%}" if name == "hybrid" else f"{'':>11}")
              + f"  {statuses}")
    print(f"  {'planner':<8} {'ours ms/step':>12} {'x rules':>7}  {'wall-model ms/step':>18} "
          f"{'x rules':>7}  {'client ms/call':>14}")
    for name, row in rows.items():
        print(f"  {name:<8} {_ms(row['planner']):>12} "
              + (f"{row['planner'] / ref['planner']:>6.2f}x" if ref and ref["planner"]
                 else f"{'':>7}")
              + f"  {_ms(row['wall']):>18} "
              + (f"{row['wall'] / ref['wall']:>6.2f}x" if ref and ref["wall"] else f"{'':>7}")
              + f"  {_ms(row['overhead']) if name != 'rules' and row['calls_mean'] else '-':>14}")
    print()
    return rows


def main(tmp: Path) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", type=int, default=40, help="corpus cases sampled (0: none)")
    p.add_argument("--repeat", type=int, default=3,
                   help="runs of the Demo Shop suite per planner (times: their median)")
    p.add_argument("--seed", type=int, default=7, help="the corpus sample's seed")
    p.add_argument("--corpus", type=Path, default=REPO / "benchmarks" / "agent_corpus")
    p.add_argument("--planners", default=",".join(PLANNERS),
                   help=f"comma-separated, of {', '.join(PLANNERS)}")
    args = p.parse_args()
    planners = [x.strip() for x in args.planners.split(",") if x.strip()]
    if args.cases < 0 or args.repeat < 1 or not planners or set(planners) - set(PLANNERS):
        p.error(f"--cases at least 0, --repeat at least 1, --planners of {', '.join(PLANNERS)}")

    cases: list[Case] = []
    if args.cases:
        everything = load_corpus(args.corpus)
        cases = random.Random(args.seed).sample(everything, min(args.cases, len(everything)))
    apk = tmp / "demo.apk"
    write_demo_build(apk, "android")
    clock = Clock()
    started = time.perf_counter()
    with FakeOpenAI(api_key=KEY, models=[MODEL]) as fake:
        fake.respond(TimedModel(clock))
        client = OpenAIChat(MODEL, fake.url, api_key=KEY, timeout=20, max_retries=0)
        client.call = timed(client.call, clock, "call")  # type: ignore[method-assign]
        try:
            demo: dict[str, list[list[RunFigures]]] = {n: [] for n in planners}
            corpus: dict[str, list[list[RunFigures]]] = {n: [[]] for n in planners}
            for i in range(args.repeat + 1):  # the first round warms up, unmeasured
                log(f"Demo Shop suite, {'warm-up' if i == 0 else f'run {i}'}: "
                    f"{', '.join(planners)}")
                for name in planners:
                    run = run_one(*demo_device(apk), SUITE, name, fake, client, clock)
                    if i:
                        demo[name].append([run])
            for k, case in enumerate(cases, 1):
                if k % 10 == 1:
                    log(f"corpus cases {k}-{min(k + 9, len(cases))} of {len(cases)}")
                for name in planners:
                    corpus[name][0].append(run_one(*case_device(case), list(case.steps), name,
                                                   fake, client, clock))
            cached: dict[str, list[float]] = {}
            for name in (n for n in planners if n != "rules"):
                log(f"plan cache: the Demo Shop suite twice, {name}")
                cache = PlanCache(LocalBlobStore(tmp / f"plans-{name}"))
                cached[name] = []
                for _ in range(2):
                    run = run_one(*demo_device(apk), SUITE, name, fake, client, clock, cache)
                    cached[name].append(sum(s.calls for s in run.steps) / len(run.steps))
            errors = list(fake.errors)
        finally:
            client.close()
    elapsed = time.perf_counter() - started

    tools = {t.name: len(json.dumps(t.schema)) for t in (ACT, VERDICT)}
    print("THE MODEL IS SCRIPTED: its answers come from tests.fakes.scripted_model behind the "
          "real OpenAIChat client and a fake OpenAI-compatible server on loopback. These "
          "figures measure our side (prompt size, calls, screenshots, our planning time), "
          "not a real model's accuracy, latency or token counts.")
    print(f"{len(SUITE)}-step Demo Shop suite x {args.repeat} (+1 warm-up); "
          f"{len(cases)} corpus cases (seed {args.seed}); {elapsed:.1f} s in all")
    print(f"every call also sends a system prompt (act {len(SYSTEM)}, verdict "
          f"{len(JUDGE_SYSTEM)} characters, counted in chars/call) and one tool schema "
          f"(act {tools['act']}, verdict {tools['verdict']} "
          f"characters as JSON, not counted); ~tokens = chars/call / {CHARS_PER_TOKEN}, an "
          f"ESTIMATE (no tokenizer)")
    print("ours = time inside the planner minus the model call; wall-model = the step's wall "
          "time minus the model call (planner, executor, simulator); client = the call's "
          "time minus the scripted answer's (official client, HTTP on loopback)")
    print()
    report("Demo Shop suite (medians of the runs' per-step means for times)", demo)
    if cases:
        report(f"corpus sample ({len(cases)} cases, one run each; the model improvises steps "
               f"it has no script for, so its run results say nothing of a model's accuracy)",
               corpus)
    if cached:
        print("plan cache: the Demo Shop suite twice with one fresh cache, model calls per step")
        for name, (cold, warm) in cached.items():
            print(f"  {name:<8} cold {cold:.2f}   warm {warm:.2f}")
    if errors:
        print(f"\nthe scripted model could not answer {len(errors)} request(s); first: "
              f"{errors[0][:200]}")


if __name__ == "__main__":
    sys.exit(run_benchmark(main, "qualgent-model-usage-"))
