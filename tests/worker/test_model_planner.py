"""The model-backed planner through a real `qualgent worker`: QUALGENT_PLANNER=llm and hybrid
against fake OpenAI-compatible and Anthropic servers on loopback.

The model is scripted at the wire (tests.fakes.scripted_model): it reads the step and the
numbered element list the planner sent, picks the elements the step names by their number,
and says the step passed once the step's goal is on the screen; checks are judged from the
screen.
Everything else is real: the API, the database, the queue, the worker, the planner, the
official model clients, the executor and the device (the simulator, or fake phones behind the
real adb server).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from qualgent.drivers.simulator import SimulatedDevice, parse_simulator_spec
from tests.conftest import Db, Org, Server
from tests.demo import FIXTURE_APK, SEARCH_AND_CHECK_OUT, SIGN_IN_QUOTED
from tests.fakes.llm import FakeAnthropic, FakeOpenAI, message_texts, tool_name
from tests.fakes.scripted_model import DEMO_STEPS, Act, ScriptedModel, StepScript
from tests.worker.conftest import (
    PIXEL,
    SMS_PIXEL,
    run_case,
    upload_demo,
    wait_for_devices,
    wait_terminal,
)

MODEL = "fake-model-1"
SUITE = [*SIGN_IN_QUOTED, *SEARCH_AND_CHECK_OUT]
# Hybrid: the rules' steps, then two the rules cannot do alone (a vague action, and a check
# that is not literal), which go to the model.
PAY = "Proceed to pay for everything in the basket"
PURCHASE_CHECK = "Verify the purchase went through"
HYBRID_SUITE = [*SIGN_IN_QUOTED, *SEARCH_AND_CHECK_OUT[:-2], PAY, PURCHASE_CHECK]
USAGE = (120, 30)  # the fakes' tokens in and out per call


# The model's script for the two steps the rules leave to it (the Demo Shop's are shared).
MODEL_STEPS = {**DEMO_STEPS,
               PAY: StepScript([Act("tap", ("button", "Checkout"))], r"Order confirmed"),
               PURCHASE_CHECK: StepScript([Act("check", text="the purchase went through")])}


def scripted_model() -> ScriptedModel:
    return ScriptedModel(steps=MODEL_STEPS, evidence={"purchase": "Order confirmed"})


# ------------------------------------------------------------------- helpers


@pytest.fixture
def key() -> str:
    return f"sk-qualgent-{secrets.token_hex(12)}"


@pytest.fixture
def fake_openai(key: str) -> Iterator[FakeOpenAI]:
    with FakeOpenAI(api_key=key, models=[MODEL], usage=USAGE) as fake:
        yield fake.respond(scripted_model())


def model_env(planner: str, url: str, key: str, provider: str = "openai") -> dict[str, str]:
    return {"QUALGENT_PLANNER": planner, "QUALGENT_LLM_PROVIDER": provider,
            "QUALGENT_LLM_BASE_URL": url, "QUALGENT_LLM_MODEL": MODEL,
            "QUALGENT_LLM_API_KEY": key, "QUALGENT_LLM_TIMEOUT": "20",
            "QUALGENT_LLM_MAX_RETRIES": "1"}


def run_suite(org: Org, steps: list[str], name: str) -> tuple[dict, dict]:
    """Queue the steps as one SMS run, wait for it; (its status, its trace)."""
    run_id = run_case(org, steps, name=name, device=PIXEL, use_sim=True)
    status = wait_terminal(org, [run_id], timeout=240)[run_id]
    return status, org.http.get(f"/v1/jobs/{run_id}/steps").json()


def assert_usage_adds_up(trace: dict, calls: int) -> None:
    """Each model step's usage is the fake's per-call tokens times its calls, and the run's
    sum is the steps' sum and the requests the fake received."""
    used = [s["usage"] for s in trace["steps"] if s["usage"] is not None]
    for u in used:
        assert u["calls"] >= 1 and u["latency_ms"] > 0
        assert (u["input_tokens"], u["output_tokens"]) == (USAGE[0] * u["calls"],
                                                           USAGE[1] * u["calls"])
    total = trace["usage"]
    assert total["calls"] == sum(u["calls"] for u in used) == calls
    assert (total["input_tokens"], total["output_tokens"]) == (USAGE[0] * calls,
                                                               USAGE[1] * calls)
    assert total["latency_ms"] == pytest.approx(sum(u["latency_ms"] for u in used), abs=1)


def assert_key_kept(key: str, db: Db, server: Server, run_id: str, *logs: Path) -> None:
    """The key is in no log, no row of the run (or its steps, artifacts), no stored blob."""
    for log in logs:
        assert key not in log.read_text(errors="replace")
    for table, column in (("test_runs", "id"), ("run_steps", "test_run_id"),
                          ("run_artifacts", "test_run_id")):
        rows = db.fetch(f"SELECT t::text AS row FROM {table} t WHERE {column} = $1::uuid",
                        run_id)
        assert not any(key in r["row"] for r in rows), table
    for path in Path(server.settings.blob_root).rglob("*"):
        if path.is_file():
            assert key.encode() not in path.read_bytes(), path


def act_steps(fake: FakeOpenAI | FakeAnthropic) -> list[str]:
    """The step each `act` request was about."""
    steps = []
    for r in fake.requests:
        if tool_name(r.json) == "act":
            prompt = next(t for role, t in message_texts(r.json)
                          if role == "user" and t.startswith("Step:"))
            steps.append(prompt.split("\n", 1)[0].removeprefix("Step: "))
    return steps


# ------------------------------------------------------------------- tests


def test_llm_planner_runs_the_demo_shop_suite_on_a_phone_over_adb(
        org: Org, db: Db, server: Server, workers, adb_fleet, fake_openai: FakeOpenAI,  # noqa: ANN001
        key: str, tmp_path: Path) -> None:
    sim = SimulatedDevice(parse_simulator_spec(SMS_PIXEL), seed=7)
    serial = adb_fleet.add(sim)
    upload_demo(org, tmp_path)
    worker = workers(args=["--adb", "all"], env={
        **model_env("llm", fake_openai.url, key),
        "ANDROID_ADB_SERVER_PORT": str(adb_fleet.port), "ANDROID_ADB_SERVER_HOST": "127.0.0.1",
        "QUALGENT_ANDROID_HELPER_APK": str(FIXTURE_APK), "QUALGENT_DEVICE_SCAN_SECONDS": "0.5"})
    wait_for_devices(db, 1)

    status, trace = run_suite(org, SUITE, "llm suite")

    assert status["status"] == "passed", (status["explanation"], fake_openai.errors)
    assert (status["planner"], status["planner_model"]) == ("llm", MODEL)
    assert (trace["planner"], trace["planner_model"]) == ("llm", MODEL)
    assert fake_openai.errors == []
    # Every step was planned by the model, its usage stored with the step and summed.
    assert all(s["usage"] is not None for s in trace["steps"])
    assert_usage_adds_up(trace, len(fake_openai.requests))
    assert set(act_steps(fake_openai)) == set(SUITE)
    verdicts = [r for r in fake_openai.requests if tool_name(r.json) == "verdict"]
    assert len(verdicts) == 2  # the two checks, judged on the screen
    # What was sent: the model, temperature 0, the forced tool, the numbered element list.
    first = fake_openai.requests[0]
    assert first.json["model"] == MODEL and first.json["temperature"] == 0
    assert first.headers["authorization"] == f"Bearer {key}"
    email_step = next(r for r in fake_openai.requests
                      if "Step: Enter \"demo@example.com\" into Email" in r.text)
    assert re.search(r'\[\d+\] input (hint=)?"Email" id=email', email_step.text)
    # A model-chosen element is recorded by its own words (this dump has no hints: its id),
    # like any other.
    typed = next(a for a in trace["steps"][1]["actions"] if a["action"] == "type")
    assert typed["selector"]["id"] == "email" and typed["value"] == "demo@example.com"
    tapped = next(a for a in trace["steps"][3]["actions"] if a["action"] == "tap")
    assert tapped["selector"]["text"] == "Sign in"
    # The key went to the model only: not to the device, not in a log, a row or a blob.
    assert all(key not in (r.text + str(r.json)) for r in fake_openai.requests)
    commands = adb_fleet[serial].handler.commands
    assert any(c.startswith("input ") for c in commands)  # what the device was told to do
    assert not any(key in c for c in commands)
    worker.stop()
    assert "planner: llm (model fake-model-1" in worker.log.read_text()
    assert_key_kept(key, db, server, status["id"], worker.log)


def test_llm_planner_with_anthropic_runs_the_demo_shop_suite(
        org: Org, db: Db, server: Server, workers, key: str, tmp_path: Path) -> None:  # noqa: ANN001
    with FakeAnthropic(api_key=key, models=[MODEL], usage=USAGE) as fake:
        fake.respond(scripted_model())
        upload_demo(org, tmp_path)
        worker = workers(SMS_PIXEL, env=model_env("llm", fake.url, key, provider="anthropic"))
        wait_for_devices(db, 1)

        status, trace = run_suite(org, SUITE, "anthropic suite")

    assert status["status"] == "passed", (status["explanation"], fake.errors)
    assert (trace["planner"], trace["planner_model"]) == ("llm", MODEL)
    assert_usage_adds_up(trace, len(fake.requests))
    assert set(act_steps(fake)) == set(SUITE)
    assert all(r.path == "/v1/messages" for r in fake.requests)
    assert fake.requests[0].json["tool_choice"] == {"type": "tool", "name": "act"}
    worker.stop()
    assert_key_kept(key, db, server, status["id"], worker.log)


def test_hybrid_asks_the_model_only_for_what_the_rules_cannot_do(
        org: Org, db: Db, server: Server, workers, fake_openai: FakeOpenAI,  # noqa: ANN001
        key: str, tmp_path: Path) -> None:
    upload_demo(org, tmp_path)
    worker = workers(SMS_PIXEL, env=model_env("hybrid", fake_openai.url, key))
    wait_for_devices(db, 1)

    status, trace = run_suite(org, HYBRID_SUITE, "hybrid suite")

    assert status["status"] == "passed", (status["explanation"], fake_openai.errors)
    assert (trace["planner"], trace["planner_model"]) == ("hybrid", MODEL)
    by_step = {s["description"]: s["usage"] for s in trace["steps"]}
    rules_steps = HYBRID_SUITE[:-2]
    # The rules did these: no model call, no usage.
    assert all(by_step[s] is None for s in rules_steps)
    assert not set(act_steps(fake_openai)) & set(rules_steps)
    # The model did the rest: the vague step, and the check that is not literal.
    assert by_step[PAY] is not None and by_step[PURCHASE_CHECK] is not None
    assert PAY in act_steps(fake_openai)
    assert any(tool_name(r.json) == "verdict" and "purchase" in r.text.lower()
               for r in fake_openai.requests)
    assert_usage_adds_up(trace, len(fake_openai.requests))
    worker.stop()
    assert_key_kept(key, db, server, status["id"], worker.log)


def test_plans_the_model_made_are_reused_by_another_host_and_checks_judged_again(
        org: Org, db: Db, server: Server, workers, fake_openai: FakeOpenAI,  # noqa: ANN001
        key: str, tmp_path: Path) -> None:
    upload_demo(org, tmp_path)
    first_host = workers(SMS_PIXEL, env=model_env("llm", fake_openai.url, key))
    wait_for_devices(db, 1)
    first, _ = run_suite(org, SUITE, "first")
    assert first["status"] == "passed", first["explanation"]
    asked_first = act_steps(fake_openai)
    plans = list((Path(server.settings.blob_root) / "plans").glob("*.json"))
    assert plans  # the plan cache lives in the blob store the hosts share
    first_host.stop()
    fake_openai.requests.clear()

    workers(SMS_PIXEL, env=model_env("llm", fake_openai.url, key))
    wait_for_devices(db, 1)
    second, trace = run_suite(org, SUITE, "second")

    assert second["status"] == "passed", second["explanation"]
    asked_again = act_steps(fake_openai)
    assert len(asked_again) < len(asked_first) / 2  # solved steps skip the model
    verdicts = [r for r in fake_openai.requests if tool_name(r.json) == "verdict"]
    assert len(verdicts) == 2  # checks are never cached
    assert_usage_adds_up(trace, len(fake_openai.requests))


def test_a_model_that_keeps_failing_fails_the_run_as_infrastructure_retried_then_refunded(
        org: Org, db: Db, server: Server, workers, key: str, tmp_path: Path) -> None:  # noqa: ANN001
    with FakeOpenAI(api_key=key, models=[MODEL]) as fake:
        for _ in range(50):
            fake.fail(503)
        upload_demo(org, tmp_path)
        workers(SMS_PIXEL, env={**model_env("llm", fake.url, key),
                                "QUALGENT_MAX_ATTEMPTS": "2"})
        wait_for_devices(db, 1)

        status, trace = run_suite(org, SUITE, "model down")

        # Two attempts, each one call retried once by the client, then given up.
        assert len(fake.requests) == 2 * 2
    assert status["status"] == "failed"
    assert status["failure_category"] == "infrastructure"
    assert status["attempts"] == 2
    assert "model" in status["explanation"] and "503" in status["explanation"]
    assert key not in status["explanation"]
    assert db.scalar("SELECT credits FROM organizations WHERE id=$1::uuid", org.id) == 100
    assert db.scalar("SELECT reason FROM credit_ledger WHERE test_run_id=$1::uuid",
                     status["id"]) == "refund_infrastructure"
    first = trace["steps"][0]
    assert first["status"] == "failed" and first["usage"]["calls"] == 1
    assert trace["usage"]["input_tokens"] == 0


@pytest.mark.parametrize("planner", ["llm", "hybrid"])
def test_a_worker_with_a_model_planner_and_no_model_refuses_to_start(
        planner: str, db: Db, workers) -> None:  # noqa: ANN001
    worker = workers(SMS_PIXEL, env={"QUALGENT_PLANNER": planner, "QUALGENT_LLM_MODEL": ""})
    assert worker.wait(60) == 2
    said = worker.log.read_text()
    assert f"QUALGENT_PLANNER={planner} needs a model" in said
    assert "QUALGENT_LLM_MODEL" in said
    assert db.scalar("SELECT count(*) FROM workers") == 0
