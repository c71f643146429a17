"""/v1/webhooks: register, list, delete; each webhook's delivery log and resend."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from qualgent.api.auth import Auth
from qualgent.api.deps import Ctx, Session
from qualgent.api.errors import ApiError
from qualgent.api.refusals import RefusalRoute
from qualgent.api.shapes import Id, Shape, Timestamp
from qualgent.webhooks import service

router = APIRouter(tags=["webhooks"], route_class=RefusalRoute)

DeliveryId = Annotated[str, WithJsonSchema({"type": "integer", "minimum": 1})]
"""A delivery's id; in a path, anything else is answered 404."""


class WebhookRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(max_length=service.MAX_URL,
                     description="Receives a signed POST when a run finishes (http or https)")
    description: str | None = Field(default=None, max_length=service.MAX_DESCRIPTION)


class WebhookItem(Shape):
    id: Id
    url: str
    description: str | None
    created_at: Timestamp


class Registered(Shape):
    webhook: WebhookItem
    secret: str = Field(description="whsec_...: verifies X-Qualgent-Signature. Shown only here.")


class WebhookList(Shape):
    webhooks: list[WebhookItem]


class Deleted(Shape):
    success: bool
    deleted: Id


class DeliveryItem(Shape):
    id: int
    test_run_id: Id
    event: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    last_status_code: int | None
    last_error: str | None
    created_at: Timestamp
    delivered_at: Timestamp | None
    next_attempt_at: Timestamp | None = Field(description="When pending: the next try")


class DeliveryLog(Shape):
    deliveries: list[DeliveryItem]


class Resent(Shape):
    delivery: DeliveryItem


@asynccontextmanager
async def _refusals() -> AsyncIterator[None]:
    """A webhook refused as asked: 422 invalid_request naming the field at fault (409 when
    the organization has as many as it may)."""
    try:
        yield
    except service.TooManyWebhooks as exc:
        raise ApiError(409, "too_many_webhooks", exc.message,
                       {"limit": service.MAX_WEBHOOKS}) from None
    except service.WebhookRefused as exc:
        raise ApiError(422, "invalid_request", exc.message, {"field": exc.field}) from None


@router.post("/webhooks", response_model=Registered,
             responses={409: {"description": "At most 20 webhooks: `too_many_webhooks`."}})
async def register(body: WebhookRequest, auth: Auth, ctx: Ctx, db: Session) -> dict:
    """Register a URL told of every finished run. The answer carries its signing secret,
    shown this once."""
    async with _refusals():
        made = await service.register(db, ctx.settings, auth.organization_id, body.url,
                                      body.description)
    return {"webhook": service.webhook_view(made.webhook), "secret": made.secret}


@router.get("/webhooks", response_model=WebhookList)
async def list_webhooks(auth: Auth, db: Session) -> dict:
    """The organization's webhooks, oldest first."""
    hooks = await service.list_webhooks(db, auth.organization_id)
    return {"webhooks": [service.webhook_view(h) for h in hooks]}


@router.delete("/webhooks/{webhook_id:id}", response_model=Deleted)
async def delete_webhook(webhook_id: Id, auth: Auth, db: Session) -> dict:
    """Delete a webhook with its delivery log; its pending deliveries are not sent."""
    hook = await service.delete_webhook(db, auth.organization_id, webhook_id)
    return {"success": True, "deleted": str(hook.id)}


@router.get("/webhooks/{webhook_id:id}/deliveries", response_model=DeliveryLog)
async def deliveries(webhook_id: Id, auth: Auth, db: Session) -> dict:
    """The webhook's latest deliveries (up to 50), newest first."""
    found = await service.deliveries(db, auth.organization_id, webhook_id)
    return {"deliveries": [service.delivery_view(d) for d in found]}


@router.post("/webhooks/{webhook_id:id}/deliveries/{delivery_id}/resend",
             response_model=Resent)
async def resend(webhook_id: Id, delivery_id: DeliveryId, auth: Auth, db: Session) -> dict:
    """Send a delivery's payload again as a new delivery, due now (one still pending is
    made due now instead)."""
    again = await service.resend(db, auth.organization_id, webhook_id, delivery_id)
    return {"delivery": service.delivery_view(again)}
