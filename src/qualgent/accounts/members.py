"""The people of an organization: roles and removal, never leaving it without an owner.

Every change locks the organization's row first, so two owners demoting or removing each
other at the same moment are serialized and the second one sees that it would leave no owner.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from qualgent.accounts import sessions
from qualgent.accounts.keys import notify_revoked
from qualgent.db.models import ApiKey, AppFile, Organization, User
from qualgent.domain import DomainError, NotFound, parse_id

ROLES = ("member", "owner")


class LastOwner(DomainError):
    """The change would leave the organization without an owner."""


@dataclass(frozen=True)
class Member:
    id: uuid.UUID
    name: str
    email: str
    role: str
    created_at: datetime


async def list_members(db: AsyncSession, org_id: uuid.UUID) -> list[Member]:
    """Owners first, then by name."""
    stmt = (select(User.id, User.name, func.coalesce(User.email, ""), User.role,
                   User.created_at)
            .where(User.organization_id == org_id)
            .order_by(User.role != "owner", func.lower(User.name), User.created_at))
    return [Member(*row) for row in (await db.execute(stmt)).all()]


async def _locked_member(db: AsyncSession, org_id: uuid.UUID, raw_id: str) -> User:
    user_id = parse_id(raw_id, "Member")
    await db.execute(select(Organization.id).where(Organization.id == org_id)
                     .with_for_update())
    user = (await db.scalars(select(User).where(
        User.id == user_id, User.organization_id == org_id))).first()
    if user is None:
        await db.rollback()
        raise NotFound("Member")
    return user


async def _other_owners(db: AsyncSession, org_id: uuid.UUID, user_id: uuid.UUID) -> int:
    return await db.scalar(select(func.count()).select_from(User).where(
        User.organization_id == org_id, User.role == "owner", User.id != user_id)) or 0


async def change_role(db: AsyncSession, org_id: uuid.UUID, raw_id: str, role: str) -> Member:
    if role not in ROLES:
        raise DomainError("Choose the role owner or member.", "role")
    user = await _locked_member(db, org_id, raw_id)
    name = user.name  # read before a rollback expires the object
    if user.role == "owner" and role != "owner" and not await _other_owners(db, org_id, user.id):
        await db.rollback()
        raise LastOwner(f"{name} is the only owner. Make someone else an owner first.",
                        "role")
    user.role = role
    member = Member(user.id, user.name, user.email or "", role, user.created_at)
    await db.commit()
    return member


async def remove(db: AsyncSession, org_id: uuid.UUID, raw_id: str,
                 removed_by: uuid.UUID) -> str:
    """Remove a person; their name. Their browsers are signed out, the API keys they made are
    revoked at once (kept, now the remover's, so the key list still shows them) and their
    uploaded builds pass to the remover."""
    user = await _locked_member(db, org_id, raw_id)
    name = user.name  # read before a rollback expires the object
    if user.id == removed_by:
        await db.rollback()
        raise DomainError("You cannot remove yourself: ask another owner to do it.")
    if user.role == "owner" and not await _other_owners(db, org_id, user.id):
        await db.rollback()
        raise LastOwner(f"{name} is the only owner and cannot be removed.")
    key_ids = (await db.scalars(select(ApiKey.id).where(ApiKey.user_id == user.id))).all()
    await db.execute(update(ApiKey).where(ApiKey.user_id == user.id)
                     .values(user_id=removed_by,
                             revoked_at=func.coalesce(ApiKey.revoked_at, func.now())))
    for key_id in key_ids:
        await notify_revoked(db, key_id)
    await db.execute(update(AppFile).where(AppFile.user_id == user.id)
                     .values(user_id=removed_by))
    await db.delete(user)
    await sessions.end_all(db, user.id)  # commits the removal with the sessions' end
    return name
