"""/v1/test-cases/run, /v1/test-cases/run-all and /v1/jobs."""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from sqlalchemy import select

from qualgent.api.auth import Auth
from qualgent.api.deps import Ctx, Session, parse_id
from qualgent.api.errors import ApiError, not_found
from qualgent.apps import links
from qualgent.db.models import Category, TestCase, TestRun
from qualgent.runs import queries, submit
from qualgent.runs.schemas import MAX_JOBS, RunAllRequest, RunRequest
from qualgent.runs.views import run_link, run_view

router = APIRouter(tags=["runs"])
jobs = APIRouter(tags=["jobs"])


def _results(runs: list[TestRun], public_url: str) -> list[dict]:
    return [
        {"test_run_id": str(r.id), "test_case_id": str(r.test_case_id), "status": r.status,
         "link": run_link(public_url, r.id)}
        for r in runs
    ]


def _job_warnings(index: int, warnings: list[dict]) -> list[dict]:
    return [{**w, "job_index": index} for w in warnings]


@router.post("/test-cases/run")
async def run_cases(body: RunRequest, auth: Auth, ctx: Ctx, db: Session) -> dict:
    """Queue 1 to 10 runs atomically: all of them, debited, or none."""
    if len(body.jobs) > MAX_JOBS:
        raise ApiError(
            400, "too_many_jobs",
            f"A batch holds at most {MAX_JOBS} jobs; this one has {len(body.jobs)}.",
            {"field": "jobs", "max": MAX_JOBS},
        )
    prepared, warnings = [], []
    for i, job in enumerate(body.jobs):
        where = f"jobs[{i}]"
        case = await submit.load_case(db, auth.organization_id, job.test_case_id, where)
        if case.status != "active":
            raise ApiError(422, "test_case_archived",
                           f"Test case '{case.name}' is archived.",
                           {"field": f"{where}.test_case_id"})
        app = await submit.resolve_app(db, auth.organization_id, job.app_file_id, where)
        run = await submit.prepare(
            db, auth.organization_id, where, case=case, app=app, device=job.device,
            use_sim=job.use_sim, priority=job.priority, version_id=job.test_case_version_id,
            supplied_vars=job.vars, audit_source_run_id=job.audit_source_run_id,
            mode=job.mode, cache_fallback=job.cache_fallback,
        )
        prepared.append(run)
        warnings += _job_warnings(i, run.warnings)
    runs = await submit.enqueue(
        db, auth.organization_id, prepared, ctx.settings.credits_per_run
    )
    return {"success": True, "results": _results(runs, ctx.settings.public_url),
            "warnings": warnings}


@router.post("/test-cases/run-all")
async def run_all(body: RunAllRequest, auth: Auth, ctx: Ctx, db: Session) -> dict:
    """Queue every active case (of a category, if given) against one build and device.

    Cases that need a variable with no default cannot run without per-job vars: they are
    skipped with a warning rather than blocking the suite.
    """
    app = await submit.resolve_app(db, auth.organization_id, body.app_file_id, "")
    stmt = select(TestCase).where(
        TestCase.organization_id == auth.organization_id, TestCase.status == "active"
    ).order_by(TestCase.created_at, TestCase.id)
    if body.category_id is not None:
        cat_id = parse_id(body.category_id, "Category")
        owned = (await db.scalars(select(Category.id).where(
            Category.id == cat_id, Category.organization_id == auth.organization_id))).first()
        if owned is None:
            raise not_found("Category")
        stmt = stmt.where(TestCase.category_id == cat_id)
    cases = (await db.scalars(stmt)).all()
    prepared, warnings = [], []
    for case in cases:
        try:
            run = await submit.prepare(
                db, auth.organization_id, "", case=case, app=app, device=body.device,
                use_sim=body.use_sim, priority=body.priority,
            )
        except ApiError as err:
            if err.error not in ("missing_required_variable", "unresolved_reference"):
                raise
            warnings.append({"code": "skipped_test_case", "test_case_id": str(case.id),
                             "message": f"'{case.name}' skipped: {err.message}"})
            continue
        prepared.append(run)
    if not prepared:
        raise ApiError(422, "no_test_cases", "No active test case to run.",
                       {"field": "category_id" if body.category_id else ""})
    runs = await submit.enqueue(db, auth.organization_id, prepared, ctx.settings.credits_per_run)
    return {"success": True, "results": _results(runs, ctx.settings.public_url),
            "warnings": warnings}


@jobs.get("/jobs/status/{test_run_id}")
async def job_status(test_run_id: str, auth: Auth, ctx: Ctx) -> JSONResponse:
    run_id = parse_id(test_run_id, "Test run")
    row = await queries.run_row(ctx.pg, auth.organization_id, run_id)
    if row is None:
        raise not_found("Test run")
    return JSONResponse(run_view(row, ctx.settings.public_url))


def _cursor(row) -> str:  # noqa: ANN001 - a test_runs row
    raw = f"{row['created_at'].isoformat()}|{row['id']}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        when, run_id = raw.split("|")
        return datetime.fromisoformat(when), uuid.UUID(run_id)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise ApiError(400, "invalid_cursor", "The cursor is not one this API returned.",
                       {"field": "cursor"}) from None


@jobs.get("/jobs/list")
async def list_jobs(
    auth: Auth, ctx: Ctx,
    limit: int = Query(50, ge=1, le=200), cursor: str | None = None,
) -> JSONResponse:
    """Runs of the organization, most recent first; pass next_cursor to page on."""
    after = _decode_cursor(cursor) if cursor else None
    rows = await queries.run_page(ctx.pg, auth.organization_id, after, limit + 1)
    page = rows[:limit]
    return JSONResponse({
        "test_runs": [run_view(r, ctx.settings.public_url, with_steps=False) for r in page],
        "next_cursor": _cursor(page[-1]) if len(rows) > limit else None,
    })


@jobs.get("/jobs/{test_run_id}/steps")
async def job_steps(
    test_run_id: str, auth: Auth, ctx: Ctx, attempt: str = Query("latest"),
) -> JSONResponse:
    """The per-step trace: what the agent did and saw, with screenshot links (5 minutes).

    `attempt`: "latest" (default), "all", or an attempt number; runs retried after an
    infrastructure failure keep every attempt."""
    run_id = parse_id(test_run_id, "Test run")
    row = await queries.run_row(ctx.pg, auth.organization_id, run_id)
    if row is None:
        raise not_found("Test run")
    if attempt == "all":
        wanted = None
    elif attempt == "latest":
        wanted = row["attempts"]
    elif attempt.isdigit():
        wanted = int(attempt)
    else:
        raise ApiError(422, "invalid_request", "attempt is 'latest', 'all' or a number.",
                       {"field": "attempt"})
    steps = await queries.step_rows(ctx.pg, run_id, wanted)
    return JSONResponse({
        "test_run_id": str(run_id),
        "status": row["status"],
        "attempts": row["attempts"],
        "explanation": row["explanation"],
        "failure_category": row["failure_category"],
        "steps": [step_view(s, ctx) for s in steps],
    })


def step_view(step, ctx) -> dict:  # noqa: ANN001
    shot = None
    if step["screenshot_key"]:
        shot = links.signed_url(ctx.settings.public_url, ctx.settings.signing_key,
                                f"/downloads/{step['screenshot_key']}")
    return {
        "attempt": step["attempt"],
        "index": step["index"],
        "description": step["description"],
        "status": step["status"],
        "actions": step["actions"],
        "reason": step["reason"],
        "replay": step["replay"],
        "screenshot_url": shot,
        "started_at": step["started_at"].isoformat(),
        "finished_at": step["finished_at"].isoformat(),
        "duration_ms": round((step["finished_at"] - step["started_at"]).total_seconds() * 1000),
    }
