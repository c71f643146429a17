"""Submitting runs: a batch of jobs, or every active case against one build and device.

Every job is checked and resolved first, on the ORM session (reads only); then the whole
batch is debited and queued by the queue's one enqueue statement, or refused with
InsufficientCredits and nothing written.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
from sqlalchemy.ext.asyncio import AsyncSession

from qualgent.categories import service as categories
from qualgent.domain import DomainError
from qualgent.queue import lifecycle
from qualgent.queue.lifecycle import NewRun, QueuedRun
from qualgent.runs import submit
from qualgent.runs.schemas import MAX_JOBS, JobSpec, RunAllRequest
from qualgent.testcases import service as testcases
from qualgent.testcases.variables import MissingRequiredVariable, UnresolvedReference

Pg = asyncpg.Pool | asyncpg.Connection
"""Where the batch is queued: the pool, or a connection in the caller's transaction (an
idempotent submission stores its key in the same one)."""


class BatchTooLarge(DomainError):
    def __init__(self, size: int) -> None:
        super().__init__(f"A batch holds at most {MAX_JOBS} jobs; this one has {size}.",
                         "jobs", max=MAX_JOBS)


class NoTestCases(DomainError):
    def __init__(self, field: str) -> None:
        super().__init__("No active test case to run.", field)


@dataclass(frozen=True)
class Submission:
    runs: list[QueuedRun]
    warnings: list[dict]


async def run_jobs(db: AsyncSession, pool: Pg, org_id: uuid.UUID,
                   jobs: Sequence[JobSpec], cost_per_run: int) -> Submission:
    """Queue 1 to MAX_JOBS runs atomically: all of them, debited, or none. A refusal names
    its job (jobs[3].device); warnings carry their job_index."""
    if len(jobs) > MAX_JOBS:
        raise BatchTooLarge(len(jobs))
    runs: list[NewRun] = []
    warnings: list[dict] = []
    for index, job in enumerate(jobs):
        try:
            run = await _prepare_job(db, org_id, job)
        except DomainError as err:
            raise err.at(f"jobs[{index}]") from None
        runs.append(run)
        warnings += [{**w, "job_index": index} for w in run.warnings]
    return Submission(await _enqueue(db, pool, org_id, runs, cost_per_run), warnings)


async def _prepare_job(db: AsyncSession, org_id: uuid.UUID, job: JobSpec) -> NewRun:
    case = await submit.runnable_case(db, org_id, job.test_case_id)
    app = await submit.resolve_app(db, org_id, job.app_file_id)
    return await submit.prepare(
        db, org_id, case=case, app=app, device=job.device, use_sim=job.use_sim,
        priority=job.priority, version_id=job.test_case_version_id, supplied_vars=job.vars,
        audit_source_run_id=job.audit_source_run_id, mode=job.mode,
        cache_fallback=job.cache_fallback,
    )


async def run_all(db: AsyncSession, pool: Pg, org_id: uuid.UUID,
                  request: RunAllRequest, cost_per_run: int) -> Submission:
    """Queue every active case (of a category, if given) against one build and device.

    A case that needs a variable with no default cannot run without per-job vars: it is
    skipped with a warning rather than blocking the suite."""
    app = await submit.resolve_app(db, org_id, request.app_file_id)
    category_id = None
    if request.category_id is not None:
        category_id = (await categories.get(db, org_id, request.category_id, "category_id")).id
    runs: list[NewRun] = []
    warnings: list[dict] = []
    for case in await testcases.active(db, org_id, category_id):
        try:
            run = await submit.prepare(
                db, org_id, case=case, app=app, device=request.device,
                use_sim=request.use_sim, priority=request.priority,
            )
        except (MissingRequiredVariable, UnresolvedReference) as err:
            warnings.append({"code": "skipped_test_case", "test_case_id": str(case.id),
                             "message": f"'{case.name}' skipped: {err.message}"})
            continue
        runs.append(run)
    if not runs:
        raise NoTestCases("category_id" if request.category_id is not None else "")
    return Submission(await _enqueue(db, pool, org_id, runs, cost_per_run), warnings)


async def _enqueue(db: AsyncSession, pool: Pg, org_id: uuid.UUID,
                   runs: list[NewRun], cost_per_run: int) -> list[QueuedRun]:
    # The reads are done: end their transaction (a commit that writes nothing, and unlike a
    # rollback leaves the caller's objects loaded) so the session's connection is back in its
    # pool while this request waits on the organization's row lock.
    await db.commit()
    return await lifecycle.enqueue(pool, org_id, runs, cost_per_run)
