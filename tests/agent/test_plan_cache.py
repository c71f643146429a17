"""The plan cache: a step solved on a screen is not asked again; checks are judged every time;
a remembered plan that fails is dropped and the model asked afresh; no sweep removes plans."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from pathlib import Path

from qualgent.agent import Intent, Target
from qualgent.agent.intents import Action
from qualgent.agent.llm.cache import PlanCache, cache_key
from qualgent.agent.llm.planner import LLMPlanner
from qualgent.agent.matching import fingerprint
from qualgent.db.engine import make_engine, make_sessionmaker
from qualgent.storage import keys
from qualgent.storage.blobs import LocalBlobStore
from qualgent.storage.gc import sweep_orphans
from tests.demo import SEARCH_AND_CHECK_OUT, SIGN_IN
from tests.fakes.llm import FakeOpenAI, tool_name

from .test_llm_planner import (
    KEY,
    MODEL,
    ScriptedModel,
    client_for,
    demo_device,
    run_demo,
    selectors,
)


def planner(fake: FakeOpenAI, blobs: LocalBlobStore, model: str = MODEL) -> LLMPlanner:
    client = client_for(fake)
    client.model = model
    return LLMPlanner(client, cache=PlanCache(blobs))


def test_a_solved_step_is_not_asked_again_and_checks_are_judged_every_time(
        demo_apk: Path, openai_fake: FakeOpenAI, tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path / "blobs")
    openai_fake.respond(ScriptedModel())
    steps = [*SIGN_IN, *SEARCH_AND_CHECK_OUT]
    first = run_demo(demo_apk, steps, planner(openai_fake, blobs))
    assert first.status == "passed", first.explanation
    cached = sorted(k for k, _ in blobs.list("plans/"))
    assert cached and all(keys.parse(k) == keys.ParsedKey(keys.BlobKind.PLAN) for k in cached)
    assert len(cached) == len(steps)

    openai_fake.requests.clear()
    second = run_demo(demo_apk, steps, planner(openai_fake, blobs))
    assert second.status == "passed", second.explanation
    # only the two checks went to the model, as verdicts: their answers are never cached
    assert [tool_name(r.json) for r in openai_fake.requests] == ["verdict", "verdict"]
    assert [selectors(s) for s in second.steps] == [selectors(s) for s in first.steps]
    assert [bool(s.usage) for s in second.steps] == [i in (7, 12) for i in range(len(steps))]

    # another model is another key: asked afresh
    with FakeOpenAI(api_key=KEY) as fake:
        fake.respond(ScriptedModel())
        other = run_demo(demo_apk, SIGN_IN[:1], planner(fake, blobs, model="other-model"))
        assert other.status == "completed" and len(fake.requests) == 1


def test_a_remembered_plan_that_fails_is_dropped_and_the_model_asked(
        demo_apk: Path, openai_fake: FakeOpenAI, tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path / "blobs")
    cache = PlanCache(blobs)
    model = ScriptedModel()
    openai_fake.respond(model)
    # the screen "Tap Sign in" starts on, and a stale plan for it (a button since renamed)
    device, package = demo_device(demo_apk)
    device.launch(package)
    screen = device.hierarchy()
    key = cache_key("Tap Sign in", fingerprint(screen), MODEL)
    cache.put(key, [Intent(Action.TAP, Target("Log in", True), clause="Tap Sign in")])
    assert cache.get(key) is not None

    out = run_demo(demo_apk, ["Open the app", "Tap Sign in"],
                   LLMPlanner(client_for(openai_fake), cache=cache))
    assert out.status == "completed", out.explanation
    assert ("tap", {"text": "Sign in", "kind": "button"}) in selectors(out.steps[1])
    asked = [s for s in model.seen if s.step == "Tap Sign in"]
    assert asked[0].note.startswith("A plan remembered from an earlier run failed here: "
                                    "Could not find an element matching \"Log in\"")
    assert not blobs.exists(key)  # dropped, and the recovery is not written in its place


def test_an_unreadable_entry_is_a_miss(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path / "blobs")
    key = cache_key("Tap Sign in", "0123456789abcdef", MODEL)
    blobs.put(key, b"{not json")
    assert PlanCache(blobs).get(key) is None
    assert not blobs.exists(key)


def test_the_key_covers_step_screen_model_and_prompt_version() -> None:
    base = cache_key("Tap  Sign in", "fp", "m", "1")
    assert base == cache_key("Tap Sign in", "fp", "m", "1")  # spacing is not meaning
    others = {cache_key("Tap Sign up", "fp", "m", "1"), cache_key("Tap Sign in", "fq", "m", "1"),
              cache_key("Tap Sign in", "fp", "n", "1"), cache_key("Tap Sign in", "fp", "m", "2")}
    assert base not in others and len(others) == 4
    assert base.startswith("plans/") and base.endswith(".json")


def test_the_blob_sweep_leaves_cached_plans_alone(db_url: str, tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path / "blobs")
    plan = cache_key("Tap Sign in", "fp", MODEL)
    blobs.put(plan, b'{"format": 1, "intents": []}')
    staging = tmp_path / "blobs" / "plans" / f".x.json.{uuid.uuid4().hex}.part"
    staging.write_bytes(b"{")
    old = time.time() - 86400
    for path in (tmp_path / "blobs" / plan, staging):
        os.utime(path, (old, old))

    async def sweep() -> list[str]:
        engine = make_engine(db_url, pool_size=1)
        try:
            async with make_sessionmaker(engine)() as db:
                return await sweep_orphans(db, blobs, older_than_s=60)
        finally:
            await engine.dispose()

    removed = asyncio.run(sweep())
    assert removed == [staging.relative_to(tmp_path / "blobs").as_posix()]
    assert blobs.exists(plan)
