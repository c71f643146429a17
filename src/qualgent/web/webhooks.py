"""Settings -> Webhooks: the organization's webhooks (add, delete), each one's recent
deliveries with what the receiver answered, and Resend.

A new webhook's signing secret is shown once, in the answer to the POST that made it (it is
derived, never stored, and never put in a URL); other POSTs redirect back with a notice that
is only shown when it is true of what the page lists.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from qualgent.accounts.sessions import Viewer
from qualgent.api.deps import Ctx, Session
from qualgent.web.pages import SignedIn, checked_form, field, redirect, render
from qualgent.webhooks import service

router = APIRouter(include_in_schema=False)

RECENT = 10
"""Deliveries shown per webhook (the API's log has more)."""


async def _page(request: Request, db: Session, viewer: Viewer, *, status: int = 200,
                created: service.Registered | None = None, errors: dict[str, str] | None = None,
                values: dict[str, str] | None = None, notice: str | None = None) -> Response:
    hooks = await service.list_webhooks(db, viewer.organization_id)
    recent = await service.recent_deliveries(db, viewer.organization_id, RECENT)
    return render(request, "settings/webhooks.html", viewer, status=status, hooks=hooks,
                  recent=recent, created=created, errors=errors or {}, values=values or {},
                  notice=notice, recent_limit=RECENT)


@router.get("/settings/webhooks")
async def webhooks_page(request: Request, db: Session, viewer: SignedIn, deleted: str = "",
                        resent: str = "") -> Response:
    notice = None
    if deleted:  # only when no listed webhook has that id: the URL cannot put words here
        listed = {str(h.id) for h in await service.list_webhooks(db, viewer.organization_id)}
        if deleted[:36] not in listed:
            notice = "The webhook was deleted: it receives nothing more."
    elif resent.isascii() and resent.isdigit() and len(resent) < 20:
        recent = await service.recent_deliveries(db, viewer.organization_id, RECENT)
        if any(d.id == int(resent) for ds in recent.values() for d in ds):
            notice = f"Delivery {resent} is queued and will be sent shortly."
    return await _page(request, db, viewer, notice=notice)


@router.post("/settings/webhooks")
async def add_webhook(request: Request, ctx: Ctx, db: Session, viewer: SignedIn) -> Response:
    form = await checked_form(request, viewer)
    url = field(form, "url", service.MAX_URL + 1)
    description = field(form, "description", service.MAX_DESCRIPTION + 1)
    try:
        made = await service.register(db, ctx.settings, viewer.organization_id, url,
                                      description)
    except service.WebhookRefused as exc:
        await db.rollback()
        return await _page(request, db, viewer, status=422,
                           errors={exc.field or "url": exc.message},
                           values={"url": url, "description": description})
    return await _page(request, db, viewer, status=201, created=made)


@router.post("/settings/webhooks/{webhook_id}/delete")
async def delete_webhook(request: Request, webhook_id: str, db: Session,
                         viewer: SignedIn) -> Response:
    await checked_form(request, viewer)
    hook = await service.delete_webhook(db, viewer.organization_id, webhook_id)
    return redirect(f"/settings/webhooks?deleted={hook.id}")


@router.post("/settings/webhooks/{webhook_id}/deliveries/{delivery_id}/resend")
async def resend(request: Request, webhook_id: str, delivery_id: str, db: Session,
                 viewer: SignedIn) -> Response:
    await checked_form(request, viewer)
    again = await service.resend(db, viewer.organization_id, webhook_id, delivery_id)
    return redirect(f"/settings/webhooks?resent={again.id}")
