"""/v1/test-cases/run, /v1/test-cases/run-all and /v1/jobs."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Header, Query
from fastapi.responses import JSONResponse
from pydantic import BeforeValidator, Field, WithJsonSchema

from qualgent.api.auth import Auth
from qualgent.api.deps import Ctx, Session
from qualgent.api.refusals import RefusalRoute
from qualgent.api.shapes import Id
from qualgent.domain import NotFound, parse_id
from qualgent.runs import idempotency, queries, service
from qualgent.runs.cursor import CURSOR_SCHEMA
from qualgent.runs.cursor import decode as decode_cursor
from qualgent.runs.cursor import encode as encode_cursor
from qualgent.runs.events import EVENT_RESPONSES, EventStream, EventStreamResponse
from qualgent.runs.schemas import (
    RunAllRequest,
    RunDetail,
    RunPage,
    RunRequest,
    RunTrace,
    Submitted,
)
from qualgent.runs.views import run_link, run_view, signed_links, trace_view

router = APIRouter(tags=["runs"], route_class=RefusalRoute)
jobs = APIRouter(tags=["jobs"], route_class=RefusalRoute)

MAX_ATTEMPT = 2**31 - 1  # run_steps.attempt is an int4


def _submitted(submission: service.Submission, public_url: str) -> dict:
    return {
        "success": True,
        "results": [
            {"test_run_id": str(r.id), "test_case_id": str(r.test_case_id), "status": r.status,
             "link": run_link(public_url, r.id)}
            for r in submission.runs
        ],
        "warnings": submission.warnings,
    }


IdempotencyKey = Annotated[
    str | None,
    Header(alias=idempotency.HEADER, description=idempotency.KEY_DESCRIPTION),
    WithJsonSchema(idempotency.KEY_SCHEMA),
]
"""Checked by the route (400 invalid_request naming the header), not by FastAPI (422)."""

_SUBMITTED_RESPONSES: dict[int | str, dict] = {
    200: {"headers": {idempotency.REPLAYED: idempotency.REPLAYED_HEADER}}}


# Warnings omit the keys that do not concern them (job_index, variable, test_case_id).
@router.post("/test-cases/run", response_model=Submitted, response_model_exclude_unset=True,
             responses=_SUBMITTED_RESPONSES)
async def run_cases(body: RunRequest, auth: Auth, ctx: Ctx, db: Session,
                    idempotency_key: IdempotencyKey = None) -> dict | JSONResponse:
    """Queue 1 to 10 runs atomically: all of them, debited, or none.

    With an Idempotency-Key, a retry of the same submission returns its first answer."""
    key = idempotency.parse_key(idempotency_key)

    async def submit(pg: service.Pg) -> dict:
        submission = await service.run_jobs(
            db, pg, auth.organization_id, body.jobs, ctx.settings.credits_per_run)
        return _submitted(submission, ctx.settings.public_url)

    if key is None:
        return await submit(ctx.pg)
    return await idempotency.once(ctx.pg, auth.organization_id, key, "run", body, submit)


@router.post("/test-cases/run-all", response_model=Submitted,
             response_model_exclude_unset=True, responses=_SUBMITTED_RESPONSES)
async def run_all(body: RunAllRequest, auth: Auth, ctx: Ctx, db: Session,
                  idempotency_key: IdempotencyKey = None) -> dict | JSONResponse:
    """Queue every active case (of a category, if given) against one build and device.

    Cases that need a variable with no default cannot run without per-job vars: they are
    skipped with a warning rather than blocking the suite. With an Idempotency-Key, a retry
    of the same submission returns its first answer."""
    key = idempotency.parse_key(idempotency_key)

    async def submit(pg: service.Pg) -> dict:
        submission = await service.run_all(
            db, pg, auth.organization_id, body, ctx.settings.credits_per_run)
        return _submitted(submission, ctx.settings.public_url)

    if key is None:
        return await submit(ctx.pg)
    return await idempotency.once(ctx.pg, auth.organization_id, key, "run-all", body, submit)


# The hottest path of the API: the body is built by hand (runs.views) and sent as is; its
# schema is documented, not enforced per request (tests check the two agree).
@jobs.get("/jobs/status/{test_run_id}",
          responses={200: {"model": RunDetail, "description": "The run"}})
async def job_status(test_run_id: Id, auth: Auth, ctx: Ctx) -> JSONResponse:
    run_id = parse_id(test_run_id, "Test run")
    row = await queries.run_row(ctx.pg, auth.organization_id, run_id)
    if row is None:
        raise NotFound("Test run")
    return JSONResponse(run_view(row, ctx.settings.public_url))


@jobs.get("/jobs/list", response_model=RunPage)
async def list_jobs(
    auth: Auth, ctx: Ctx,
    limit: Annotated[int, Query(ge=1, le=200, description="Runs per page")] = 50,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page"),
                      WithJsonSchema(CURSOR_SCHEMA)] = None,
) -> dict:
    """Runs of the organization, most recent first; pass next_cursor to page on."""
    after = decode_cursor(cursor) if cursor is not None else None
    rows = await queries.run_page(ctx.pg, auth.organization_id, after, limit + 1)
    page = rows[:limit]
    last = page[-1] if len(rows) > limit else None
    return {
        "test_runs": [run_view(r, ctx.settings.public_url, with_steps=False) for r in page],
        "next_cursor": encode_cursor(last["created_at"], last["id"]) if last else None,
    }


@jobs.get("/jobs/events", response_class=EventStreamResponse, response_model=None,
          responses=EVENT_RESPONSES)
async def job_events(stream: EventStream) -> EventStreamResponse:
    """Server-sent events: each change of a run of the organization, pushed as it commits.

    With `Last-Event-ID` (or last_event_id): every retained event after it, then live ones.
    Without it but with run_ids: one snapshot event per run first (its current state). A
    client waits on this instead of polling /jobs/status."""
    return stream


def _attempt(value: object) -> object:
    """'latest', 'all', or an attempt number in ASCII digits ('²'.isdigit() is True too)."""
    if value in ("latest", "all"):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        number = int(value)
        if 1 <= number <= MAX_ATTEMPT:
            return number
    raise ValueError(f"attempt is 'latest', 'all' or a number from 1 to {MAX_ATTEMPT}.")


Attempt = Annotated[
    Literal["latest", "all"] | Annotated[int, Field(ge=1, le=MAX_ATTEMPT)],
    BeforeValidator(_attempt),
]


@jobs.get("/jobs/{test_run_id}/steps", response_model=RunTrace)
async def job_steps(
    test_run_id: Id, auth: Auth, ctx: Ctx,
    attempt: Annotated[Attempt, Query(
        description="'latest' (default), 'all', or an attempt number")] = "latest",
) -> dict:
    """The per-step trace: what the agent did and saw, with screenshot links (5 minutes).

    Runs retried after an infrastructure failure keep every attempt."""
    run_id = parse_id(test_run_id, "Test run")
    row = await queries.run_row(ctx.pg, auth.organization_id, run_id)
    if row is None:
        raise NotFound("Test run")
    if attempt == "all":
        wanted = None
    elif attempt == "latest":
        wanted = row["attempts"]
    else:
        wanted = attempt
    steps = await queries.step_rows(ctx.pg, run_id, wanted)
    return trace_view(row, steps, signed_links(ctx.settings.public_url,
                                                  ctx.settings.signing_key))
