"""Run submission called directly: refusals are typed, name their job, and write nothing."""

from __future__ import annotations

import pytest

from qualgent.queue.lifecycle import InsufficientCredits
from qualgent.queue.states import Priority, RunStatus
from qualgent.runs import service
from qualgent.runs.schemas import JobSpec, RunAllRequest
from qualgent.runs.submit import PlatformMismatch, TestCaseArchived
from qualgent.testcases import service as testcases
from qualgent.testcases.schemas import CaseCreate
from qualgent.testcases.variables import InvalidVariableValue, MissingRequiredVariable
from tests.services.conftest import World

pytestmark = pytest.mark.anyio

PIXEL = {"name": "Pixel 7", "platform": "Android"}
NEEDS_QUERY = CaseCreate(name="Search", steps=[{"description": "Type {{query}}"}],
                         variables=[{"name": "query", "type": "string", "required": True}])
PLAIN = CaseCreate(name="Open", steps=[{"description": "Open the app"}])


async def _queued(world: World) -> int:
    return await world.pool.fetchval("SELECT count(*) FROM test_runs")


async def test_a_batch_is_queued_with_warnings_per_job(world: World) -> None:
    await world.build()
    case = (await testcases.create(world.db, world.org_id, NEEDS_QUERY)).head
    jobs = [JobSpec(test_case_id=str(case.id), device=PIXEL, vars={"query": "shoes"},
                    priority=Priority.HIGH),
            JobSpec(test_case_id=str(case.id), device=PIXEL, vars={"query": "q", "x": 1})]
    done = await service.run_jobs(world.db, world.pool, world.org_id, jobs, 2)
    assert [(r.test_case_id, r.status) for r in done.runs] == [(case.id, RunStatus.QUEUED)] * 2
    assert [(w["code"], w["job_index"]) for w in done.warnings] == [("unknown_variable", 1)]
    assert await world.credits() == 6
    row = await world.pool.fetchrow("SELECT priority, priority_rank, resolved_steps FROM "
                                    "test_runs WHERE id = $1", done.runs[0].id)
    assert (row["priority"], row["priority_rank"]) == ("high", Priority.HIGH.rank)
    assert row["resolved_steps"] == [{"description": "Type shoes"}]


@pytest.mark.parametrize(("vars_", "error", "field"), [
    ({}, MissingRequiredVariable, "jobs[1].vars.query"),
    ({"query": 42}, InvalidVariableValue, "jobs[1].vars.query"),
])
async def test_a_refused_job_names_itself_and_nothing_is_written(
    world: World, vars_: dict, error: type, field: str
) -> None:
    await world.build()
    case = (await testcases.create(world.db, world.org_id, NEEDS_QUERY)).head
    good = JobSpec(test_case_id=str(case.id), device=PIXEL, vars={"query": "q"})
    bad = JobSpec(test_case_id=str(case.id), device=PIXEL, vars=vars_)
    with pytest.raises(error) as caught:
        await service.run_jobs(world.db, world.pool, world.org_id, [good, bad], 1)
    assert caught.value.field == field and caught.value.variable == "query"
    assert await _queued(world) == 0 and await world.credits() == 10


async def test_other_refusals_are_typed(world: World) -> None:
    await world.build()
    case = (await testcases.create(world.db, world.org_id, PLAIN)).head
    ios = JobSpec(test_case_id=str(case.id), device={"name": "iPhone", "platform": "iOS"})
    with pytest.raises(PlatformMismatch) as caught:
        await service.run_jobs(world.db, world.pool, world.org_id, [ios], 1)
    assert caught.value.field == "jobs[0].device.platform"
    with pytest.raises(service.BatchTooLarge):
        await service.run_jobs(world.db, world.pool, world.org_id,
                               [JobSpec(test_case_id=str(case.id), device=PIXEL)] * 11, 1)
    await testcases.archive(world.db, world.org_id, case.id)
    with pytest.raises(TestCaseArchived) as archived:
        await service.run_jobs(world.db, world.pool, world.org_id,
                               [JobSpec(test_case_id=str(case.id), device=PIXEL)], 1)
    assert archived.value.field == "jobs[0].test_case_id"
    assert await _queued(world) == 0


async def test_short_of_credits_the_queue_refuses_the_whole_batch(world: World) -> None:
    await world.build()
    case = (await testcases.create(world.db, world.org_id, PLAIN)).head
    jobs = [JobSpec(test_case_id=str(case.id), device=PIXEL)] * 3
    with pytest.raises(InsufficientCredits) as caught:
        await service.run_jobs(world.db, world.pool, world.org_id, jobs, 4)
    assert (caught.value.required, caught.value.available) == (12, 10)
    assert await _queued(world) == 0 and await world.credits() == 10


async def test_run_all_skips_cases_that_need_values_by_their_error_type(world: World) -> None:
    app = await world.build()
    plain = (await testcases.create(world.db, world.org_id, PLAIN)).head
    needy = (await testcases.create(world.db, world.org_id, NEEDS_QUERY)).head
    request = RunAllRequest(app_file_id=str(app.id), device=PIXEL)
    done = await service.run_all(world.db, world.pool, world.org_id, request, 1)
    assert [r.test_case_id for r in done.runs] == [plain.id]
    assert done.warnings == [{
        "code": "skipped_test_case", "test_case_id": str(needy.id),
        "message": "'Search' skipped: Variable 'query' is required and has no default."}]
    await testcases.archive(world.db, world.org_id, plain.id)
    with pytest.raises(service.NoTestCases) as caught:
        await service.run_all(world.db, world.pool, world.org_id, request, 1)
    assert caught.value.field == ""
    assert await _queued(world) == 1
