"""An organization's webhooks and their delivery log: register (URL checked), list, delete,
read the log, resend. Used by the API (webhooks.routes) and the settings page (web.webhooks).

URL check: http(s), a host, no credentials in it, and a host that resolves only to public
addresses, unless QUALGENT_WEBHOOK_ALLOW_PRIVATE (a receiver inside your network); link-local
addresses (169.254.0.0/16 with the cloud metadata services, fe80::/10) never. The deliverer
checks again before every POST, since DNS may answer differently later (rebinding).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import SplitResult, urlsplit

from sqlalchemy import delete, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from qualgent.config import Settings
from qualgent.db.models import Webhook, WebhookDelivery
from qualgent.domain import DomainError, NotFound, parse_id
from qualgent.webhooks import signing

MAX_URL = 2048
MAX_DESCRIPTION = 200
MAX_WEBHOOKS = 20
"""Per organization: each finished run is one POST per webhook."""
LOG_ROWS = 50
DNS_TIMEOUT_S = 5.0

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


class WebhookRefused(DomainError):
    """A webhook that cannot be registered as asked (422 invalid_request)."""


class TooManyWebhooks(WebhookRefused):
    """The organization has MAX_WEBHOOKS already (409 too_many_webhooks): a state, not a
    fault of the request."""


@dataclass(frozen=True)
class Target:
    """Where a URL's POST goes: the address checked, so the connection cannot be sent
    elsewhere by a second DNS answer."""

    url: SplitResult
    host: str
    port: int
    address: Address


def _refused(message: str) -> WebhookRefused:
    return WebhookRefused(message, "url")


def parse_url(raw: str) -> SplitResult:
    """The URL's parts, or WebhookRefused saying what is wrong with it."""
    url = raw.strip()
    if not url:
        raise _refused("Give the URL that should receive the POST.")
    if len(url) > MAX_URL:
        raise _refused(f"The URL is longer than {MAX_URL} characters.")
    if not url.isascii() or any(c.isspace() or ord(c) < 32 for c in url):
        raise _refused("The URL has spaces or characters outside ASCII; encode them.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise _refused("That is not a valid URL.") from None
    if parts.scheme not in ("http", "https"):
        raise _refused("The URL must start with https:// (or http://).")
    if not parts.hostname:
        raise _refused("The URL has no host.")
    if parts.username is not None or parts.password is not None:
        raise _refused("Put no credentials in the URL: every delivery is signed instead.")
    if parts.fragment:
        raise _refused("The URL may not have a #fragment.")
    if port == 0:
        raise _refused("The URL's port must be between 1 and 65535.")
    return parts


def address_refusal(address: Address, allow_private: bool) -> str | None:
    """Why a POST may not go to this address, or None when it may."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    if address.is_link_local:
        return f"{address} is a link-local address (such as a cloud metadata service)"
    if address.is_unspecified or address.is_multicast:
        return f"{address} cannot receive a POST"
    if not allow_private and not address.is_global:
        return (f"{address} is a loopback or private address "
                "(allowed only with QUALGENT_WEBHOOK_ALLOW_PRIVATE)")
    return None


async def resolve(parts: SplitResult, allow_private: bool) -> Target:
    """Resolve the URL's host; every address it has must be allowed (WebhookRefused if not),
    and the first is the one to connect to."""
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        literal: Address | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses: list[Address] = [literal]
    else:
        loop = asyncio.get_running_loop()
        try:
            infos = await asyncio.wait_for(
                loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), DNS_TIMEOUT_S)
        except (OSError, TimeoutError, UnicodeError):
            raise _refused(f"The host {host} does not resolve.") from None
        addresses = []
        for info in infos:
            found = ipaddress.ip_address(info[4][0].split("%", 1)[0])
            if found not in addresses:
                addresses.append(found)
        if not addresses:
            raise _refused(f"The host {host} does not resolve.")
    for address in addresses:
        why = address_refusal(address, allow_private)
        if why:
            raise _refused(f"Refused: {host} resolves to {why}.")
    return Target(parts, host, port, addresses[0])


async def check_url(raw: str, allow_private: bool) -> str:
    """The URL as it will be stored, once it is valid and resolves to allowed addresses."""
    parts = parse_url(raw)
    await resolve(parts, allow_private)
    return parts.geturl()


@dataclass(frozen=True)
class Registered:
    webhook: Webhook
    secret: str


async def register(db: AsyncSession, settings: Settings, org_id: uuid.UUID, url: str,
                   description: str | None) -> Registered:
    """A new webhook and its secret (shown to the caller once; derived, never stored)."""
    clean = (description or "").strip()
    if len(clean) > MAX_DESCRIPTION:
        raise WebhookRefused(f"The description is longer than {MAX_DESCRIPTION} characters.",
                             "description")
    if "\x00" in clean:
        raise WebhookRefused("The description may not contain NUL.", "description")
    checked = await check_url(url, settings.webhook_allow_private)
    # one at a time per organization, so two concurrent registrations cannot pass the cap
    await db.execute(text("SELECT pg_advisory_xact_lock(hashtext('webhooks:' || :org))"),
                     {"org": str(org_id)})
    count = await db.scalar(select(func.count()).select_from(Webhook).where(
        Webhook.organization_id == org_id, Webhook.disabled_at.is_(None)))
    if (count or 0) >= MAX_WEBHOOKS:
        raise TooManyWebhooks(
            f"An organization has at most {MAX_WEBHOOKS} webhooks; delete one first.", "url")
    hook = Webhook(id=uuid.uuid4(), organization_id=org_id, url=checked,
                   description=clean or None, secret_version=1)
    db.add(hook)
    await db.commit()
    await db.refresh(hook)
    return Registered(hook, signing.secret(settings.signing_key, hook.id, hook.secret_version))


async def list_webhooks(db: AsyncSession, org_id: uuid.UUID) -> list[Webhook]:
    return list((await db.scalars(
        select(Webhook).where(Webhook.organization_id == org_id, Webhook.disabled_at.is_(None))
        .order_by(Webhook.created_at, Webhook.id))).all())


async def get(db: AsyncSession, org_id: uuid.UUID, raw_id: str | uuid.UUID) -> Webhook:
    """The organization's webhook, or NotFound (also for another org's, or a non-UUID id)."""
    hook_id = parse_id(raw_id, "Webhook")
    found = (await db.scalars(select(Webhook).where(
        Webhook.id == hook_id, Webhook.organization_id == org_id,
        Webhook.disabled_at.is_(None)))).first()
    if found is None:
        raise NotFound("Webhook")
    return found


async def delete_webhook(db: AsyncSession, org_id: uuid.UUID, raw_id: str) -> Webhook:
    """Delete the webhook with its delivery log; pending deliveries are never sent."""
    hook = await get(db, org_id, raw_id)
    await db.execute(delete(Webhook).where(Webhook.id == hook.id))
    await db.commit()
    return hook


async def deliveries(db: AsyncSession, org_id: uuid.UUID, raw_id: str | uuid.UUID,
                     limit: int = LOG_ROWS) -> list[WebhookDelivery]:
    """The webhook's latest deliveries, newest first."""
    hook = await get(db, org_id, raw_id)
    return list((await db.scalars(
        select(WebhookDelivery).where(WebhookDelivery.webhook_id == hook.id)
        .order_by(WebhookDelivery.id.desc()).limit(limit))).all())


async def recent_deliveries(db: AsyncSession, org_id: uuid.UUID, per_hook: int
                            ) -> dict[uuid.UUID, list[WebhookDelivery]]:
    """The latest `per_hook` deliveries of each of the organization's webhooks (the page)."""
    ranked = (select(WebhookDelivery.id, func.row_number().over(
        partition_by=WebhookDelivery.webhook_id,
        order_by=WebhookDelivery.id.desc()).label("n"))
        .where(WebhookDelivery.organization_id == org_id).subquery())
    rows = (await db.scalars(
        select(WebhookDelivery).join(ranked, ranked.c.id == WebhookDelivery.id)
        .where(ranked.c.n <= per_hook).order_by(WebhookDelivery.id.desc()))).all()
    out: dict[uuid.UUID, list[WebhookDelivery]] = {}
    for row in rows:
        out.setdefault(row.webhook_id, []).append(row)
    return out


def _delivery_id(raw: str | int) -> int:
    """A delivery id from a path: anything but a positive bigint cannot exist."""
    text_ = str(raw)
    value = int(text_) if text_.isascii() and text_.isdigit() and len(text_) < 20 else 0
    if not 1 <= value < 2**63:
        raise NotFound("Delivery")
    return value


async def resend(db: AsyncSession, org_id: uuid.UUID, raw_hook_id: str,
                 raw_delivery_id: str | int) -> WebhookDelivery:
    """Send a delivery again: a new pending delivery of the same run snapshot (payload), due
    now, with a full set of attempts. One still pending is not doubled but made due now (or,
    while a deliverer holds it mid-POST, left to that POST)."""
    hook = await get(db, org_id, raw_hook_id)
    delivery_id = _delivery_id(raw_delivery_id)
    old = (await db.scalars(select(WebhookDelivery).where(
        WebhookDelivery.id == delivery_id, WebhookDelivery.webhook_id == hook.id))).first()
    if old is None:
        raise NotFound("Delivery")
    if old.status == "pending":
        # a deliverer holds the row's lock for as long as its POST is in flight
        held = (await db.scalars(select(WebhookDelivery).where(WebhookDelivery.id == old.id)
                                 .with_for_update(skip_locked=True)
                                 .execution_options(populate_existing=True))).first()
        if held is None or held.status != "pending":
            await db.rollback()
            await db.refresh(old)
            return old
        held.next_attempt_at = func.now()
        target = held
    else:
        target = WebhookDelivery(webhook_id=hook.id, organization_id=org_id,
                                 test_run_id=old.test_run_id, event=old.event,
                                 payload=old.payload, status="pending", attempts=0)
        db.add(target)
    await db.flush()
    await db.execute(text("SELECT pg_notify('qualgent_webhooks', '')"))
    await db.commit()
    await db.refresh(target)
    return target


def delivery_view(d: WebhookDelivery) -> dict:
    """A delivery as the log shows it (API and page)."""
    return {
        "id": d.id,
        "test_run_id": str(d.test_run_id),
        "event": d.event,
        "status": d.status,
        "attempts": d.attempts,
        "last_status_code": d.last_status_code,
        "last_error": d.last_error,
        "created_at": _iso(d.created_at),
        "delivered_at": _iso(d.delivered_at),
        "next_attempt_at": _iso(d.next_attempt_at) if d.status == "pending" else None,
    }


def webhook_view(h: Webhook) -> dict:
    return {"id": str(h.id), "url": h.url, "description": h.description,
            "created_at": _iso(h.created_at)}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
