"""Cached replay on the simulated Demo Shop: selectors, not coordinates; healing; failing."""

from __future__ import annotations

import copy
from dataclasses import asdict
from pathlib import Path

import pytest

from qualgent.agent import AgentOptions, run_steps
from qualgent.builds.demo import write_demo_build
from qualgent.drivers.simulator import SimulatedDevice, parse_simulator_spec

STEPS = ["Open the app", 'Enter "demo@example.com" into Email', 'Enter "hunter2" into Password',
         "Tap Sign in", "Enter the code from the SMS and tap Verify", "Tap the search bar",
         "Type wireless headphones and submit", 'Verify "Wireless Headphones X200" is visible']
FAST = AgentOptions(find_timeout=0.2, assert_timeout=0.2)


@pytest.fixture(scope="module")
def build(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "demo.apk"
    write_demo_build(path)
    return path


def _device(build: Path, spec: str = "Pixel 7:Android:14:sms") -> SimulatedDevice:
    device = SimulatedDevice(parse_simulator_spec(spec))
    device.install(build)
    return device


@pytest.fixture(scope="module")
def recording(build: Path) -> list[list[dict]]:
    outcome = run_steps(_device(build), "com.qualgent.demo", STEPS, options=FAST)
    assert outcome.status == "passed", outcome.explanation
    return [[asdict(a) for a in s.actions] for s in outcome.steps]


def test_replay_follows_selectors_and_reads_a_fresh_code(build: Path, recording) -> None:
    outcome = run_steps(_device(build), "com.qualgent.demo", STEPS, recording=recording,
                        options=FAST)
    assert outcome.status == "passed", outcome.explanation
    assert [s.replay for s in outcome.steps] == ["replayed"] * len(STEPS)
    old_code = next(a["value"] for a in recording[4] if a["action"] == "read_sms")
    new_code = next(a.value for a in outcome.steps[4].actions if a.action == "read_sms")
    typed = [a.value for a in outcome.steps[4].actions if a.action == "type"]
    assert typed == [new_code] and (new_code != old_code or new_code.isdigit())


def test_replay_on_a_taller_screen_taps_where_the_element_is_now(build: Path,
                                                                 recording) -> None:
    """Same content, another layout: recorded bounds would miss, selectors do not."""
    outcome = run_steps(_device(build, "Pixel 7:Android:14:sms:tablet"), "com.qualgent.demo",
                        STEPS, recording=recording, options=FAST)
    assert outcome.status == "passed", outcome.explanation
    recorded_tap = next(a for a in recording[3] if a["action"] == "tap")
    replayed_tap = next(a for a in outcome.steps[3].actions if a.action == "tap")
    assert replayed_tap.selector == recorded_tap["selector"]
    assert replayed_tap.bounds != recorded_tap["bounds"]


def _diverged(recording: list[list[dict]]) -> list[list[dict]]:
    changed = copy.deepcopy(recording)
    for action in changed[3]:
        if action["action"] == "tap":
            action["selector"] = {"text": "Log in", "kind": "button"}  # renamed in a new build
    return changed


def test_a_diverging_step_is_healed_by_the_agent(build: Path, recording) -> None:
    outcome = run_steps(_device(build), "com.qualgent.demo", STEPS,
                        recording=_diverged(recording), options=FAST)
    assert outcome.status == "passed", outcome.explanation
    assert [s.replay for s in outcome.steps].count("healed") == 1
    assert outcome.steps[3].replay == "healed"


def test_a_diverging_step_fails_when_asked(build: Path, recording) -> None:
    outcome = run_steps(_device(build), "com.qualgent.demo", STEPS,
                        recording=_diverged(recording), fallback="fail", options=FAST)
    assert outcome.status == "failed" and outcome.failure_category == "test"
    assert "diverged from the recording" in outcome.explanation
    assert "Log in" in outcome.steps[3].reason
    assert [s.status for s in outcome.steps[4:]] == ["skipped"] * 4
