"""Bootstrap operations, run by an operator before any dashboard exists."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from qualgent.api.keycache import CHANNEL as KEY_CHANNEL
from qualgent.api.keys import display_prefix, hash_key, new_key
from qualgent.db.models import ApiKey, Category, CreditLedger, Device, Organization, User


class AdminError(Exception):
    """A clear, user-facing reason the operation did nothing."""


async def _org(db: AsyncSession, org_id: str) -> Organization:
    try:
        org = await db.get(Organization, uuid.UUID(org_id))
    except ValueError:
        org = None
    if org is None:
        raise AdminError(f"No organization {org_id}.")
    return org


async def _issue_key(db: AsyncSession, org: Organization) -> str:
    user = (await db.scalars(select(User).where(User.organization_id == org.id)
                             .order_by(User.created_at))).first()
    assert user is not None
    key = new_key()
    db.add(ApiKey(organization_id=org.id, user_id=user.id, key_hash=hash_key(key),
                  prefix=display_prefix(key)))
    return key


async def create_org(db: AsyncSession, name: str, credits: int, plan: str) -> dict:
    if credits < 0:
        raise AdminError("Credits cannot be negative.")
    org = Organization(id=uuid.uuid4(), name=name, plan=plan, credits=credits)
    db.add(org)
    await db.flush()
    db.add(User(organization_id=org.id, name="owner"))
    if credits:
        db.add(CreditLedger(organization_id=org.id, delta=credits, balance_after=credits,
                            reason="initial_grant"))
    await db.flush()
    key = await _issue_key(db, org)
    await db.commit()
    return {"organization_id": str(org.id), "api_key": key}


async def create_key(db: AsyncSession, org_id: str) -> dict:
    org = await _org(db, org_id)
    key = await _issue_key(db, org)
    await db.commit()
    return {"api_key": key}


async def revoke_key(db: AsyncSession, key: str) -> dict:
    """Revoke at once: the NOTIFY, delivered on commit, drops the key from every API
    process's key cache. Sent again for a key already revoked, so re-running the command
    always leaves every process refusing it."""
    row = (await db.scalars(select(ApiKey).where(ApiKey.key_hash == hash_key(key)))).first()
    if row is None:
        raise AdminError("No such API key.")
    prefix = row.prefix
    if row.revoked_at is None:
        row.revoked_at = func.now()
    await db.execute(text("SELECT pg_notify(:channel, :key_id)"),
                     {"channel": KEY_CHANNEL, "key_id": str(row.id)})
    await db.commit()
    return {"revoked": True, "prefix": prefix}


async def add_credits(db: AsyncSession, org_id: str, amount: int) -> dict:
    if amount <= 0:
        raise AdminError("The amount must be positive.")
    org = await _org(db, org_id)
    balance = (await db.execute(
        update(Organization).where(Organization.id == org.id)
        .values(credits=Organization.credits + amount).returning(Organization.credits)
    )).scalar_one()
    db.add(CreditLedger(organization_id=org.id, delta=amount, balance_after=balance,
                        reason="top_up"))
    await db.commit()
    return {"organization_id": str(org.id), "credits": balance}


async def create_category(db: AsyncSession, org_id: str, name: str) -> dict:
    org = await _org(db, org_id)
    exists = (await db.scalars(select(Category).where(
        Category.organization_id == org.id, Category.name == name))).first()
    if exists:
        raise AdminError(f"The organization already has a category named {name!r}.")
    cat = Category(id=uuid.uuid4(), organization_id=org.id, name=name)
    db.add(cat)
    await db.commit()
    return {"id": str(cat.id), "name": cat.name}


async def register_device(
    db: AsyncSession, name: str, platform: str, os_version: str, form_factor: str, sms: bool
) -> dict:
    canonical = {"android": "Android", "ios": "iOS"}.get(platform.lower())
    if canonical is None:
        raise AdminError("platform must be Android or iOS.")
    if form_factor not in ("phone", "tablet"):
        raise AdminError("form factor must be phone or tablet.")
    device = (await db.scalars(select(Device).where(
        Device.name == name, Device.platform == canonical, Device.os_version == os_version,
        Device.host.is_(None)))).first()
    if device is None:
        device = Device(id=uuid.uuid4(), name=name, platform=canonical, os_version=os_version)
        db.add(device)
    device.form_factor, device.sms_enabled, device.available = form_factor, sms, True
    await db.commit()
    return {"id": str(device.id), "name": name, "platform": canonical, "os_version": os_version,
            "form_factor": form_factor, "sms_enabled": sms}


async def set_concurrency(db: AsyncSession, org_id: str, max_runs: int | None) -> dict:
    """The organization's own cap on runs running at once, over its plan's
    (QUALGENT_PLAN_CONCURRENCY): 0 for no cap, None to follow the plan again. The next claim
    applies it; runs already running are left to finish."""
    if max_runs is not None and max_runs < 0:
        raise AdminError("The cap cannot be negative (0 means no cap).")
    org = await _org(db, org_id)
    org.max_concurrent_runs = max_runs
    await db.commit()
    return {"organization_id": str(org.id),
            "max_concurrent_runs": "plan default" if max_runs is None else max_runs}
