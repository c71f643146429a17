"""Runs list: the organization's runs, newest first, filtered by status and category, with
the table refreshed in place (app.js data-live-url) while any run on it is unfinished.

The detail page /test-runs/{id} is web.results'; this module only links to it.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlencode

import asyncpg
from fastapi import APIRouter, Request
from starlette.responses import Response

from qualgent.accounts.sessions import Viewer
from qualgent.api.deps import Ctx, Session
from qualgent.categories import service as categories
from qualgent.queue.states import TERMINAL, RunStatus
from qualgent.runs import cursor as cursors
from qualgent.runs import queries
from qualgent.web.pages import SignedIn, render, viewer_of

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 25
STATUSES = tuple(RunStatus)  # queued, running, then the final ones
NO_CATEGORY = "none"


@dataclass
class Filters:
    """The list's query, checked: what could not be used is named in `errors` and left out."""

    status: str = ""
    category: str = ""
    cursor: str = ""
    category_id: uuid.UUID | None = None
    errors: dict[str, str] = field(default_factory=dict)

    def query(self, *, with_cursor: bool = True, **changes: str) -> str:
        values = {"status": self.status, "category": self.category,
                  "cursor": self.cursor if with_cursor else "", **changes}
        kept = {k: v for k, v in values.items() if v}
        return "?" + urlencode(kept) if kept else ""


async def _filters(db: Session, viewer: Viewer, status: str, category: str,
                   after: str) -> tuple[Filters, list]:
    options = await categories.summaries(db, viewer.organization_id)
    f = Filters()
    if status:
        if status in STATUSES:
            f.status = status
        else:
            f.errors["status"] = "Choose one of the statuses listed."
    if category == NO_CATEGORY:
        f.category = category
    elif category:
        found = next((c for c in options if str(c.id) == category), None)
        if found is None:
            f.errors["category"] = "That category does not exist (any more)."
        else:
            f.category, f.category_id = category, found.id
    if after:
        try:
            cursors.decode(after)
        except cursors.InvalidCursor:
            f.errors["cursor"] = "That page link is not valid; showing the newest runs."
        else:
            f.cursor = after
    return f, options


async def _page(pg: asyncpg.Pool, org_id: uuid.UUID, f: Filters) -> tuple[list, str | None]:
    after = cursors.decode(f.cursor) if f.cursor else None
    rows = await queries.run_page(pg, org_id, after, PAGE_SIZE + 1, status=f.status or None,
                                  by_category=bool(f.category), category_id=f.category_id)
    page = rows[:PAGE_SIZE]
    more = cursors.encode(page[-1]["created_at"], page[-1]["id"]) if len(rows) > PAGE_SIZE \
        else None
    return page, more


def _summary(rows: list) -> str:
    if not rows:
        return "No runs to show."
    counts = Counter(r["status"] for r in rows)
    parts = ", ".join(f"{counts[s]} {s}" for s in STATUSES if counts[s])
    return f"{len(rows)} run{'' if len(rows) == 1 else 's'} shown: {parts}."


async def _context(db: Session, ctx: Ctx, viewer: Viewer, status: str, category: str,
                   after: str) -> dict:
    f, options = await _filters(db, viewer, status[:20], category[:100], after[:200])
    rows, more = await _page(ctx.pg, viewer.organization_id, f)
    live = any(r["status"] not in TERMINAL for r in rows)
    return {"runs": rows, "filters": f, "categories": options, "statuses": STATUSES,
            "summary": _summary(rows),
            "older": f.query(cursor=more) if more else None,
            "fragment_url": "/test-runs/fragment" + f.query() if live else None}


@router.get("/test-runs")
async def runs_page(request: Request, viewer: SignedIn, db: Session, ctx: Ctx,
                    status: str = "", category: str = "", cursor: str = "") -> Response:
    context = await _context(db, ctx, viewer, status, category, cursor)
    return render(request, "runs/list.html", viewer, title="Runs", **context)


@router.get("/test-runs/fragment")
async def runs_fragment(request: Request, db: Session, ctx: Ctx, status: str = "",
                        category: str = "", cursor: str = "") -> Response:
    """Only the table's root element, for app.js to swap in place; it carries
    data-live-url again while a run shown is unfinished. Signed out (the session ended
    meanwhile): 401, which the script retries, rather than a sign-in page swapped in."""
    viewer = await viewer_of(request)
    if viewer is None:
        return Response("Sign in again.", status_code=401, media_type="text/plain")
    context = await _context(db, ctx, viewer, status, category, cursor)
    return render(request, "runs/table.html", viewer, **context)
