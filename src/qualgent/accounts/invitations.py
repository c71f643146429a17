"""Invitation links: an owner lets one new person join the organization with a role.

The link carries a random token; only its SHA-256 is stored, so the database alone cannot
be used to join. A link works once, for seven days, until an owner revokes it; accepting
creates the account and marks the link used in one transaction, with the invitation row
locked, so two people racing with one link end with one account.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from qualgent.accounts import users
from qualgent.db.models import Invitation, Organization, User
from qualgent.domain import DomainError, NotFound, parse_id

LIFETIME = timedelta(days=7)
ROLES = ("member", "owner")
MAX_TOKEN = 128
"""Longer tokens are never ours: refused before hashing."""


class InvitationRefused(DomainError):
    """The link cannot be used (unknown, expired, revoked or already used)."""


@dataclass(frozen=True)
class PendingInvitation:
    id: uuid.UUID
    role: str
    created_at: datetime
    expires_at: datetime
    created_by: str


@dataclass(frozen=True)
class Offer:
    """What an invitation link offers, shown on the page that accepts it."""

    organization: str
    role: str
    expires_at: datetime


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def create(db: AsyncSession, org_id: uuid.UUID, created_by: uuid.UUID, role: str) -> str:
    """A new invitation; the token for its link (returned only here)."""
    if role not in ROLES:
        raise DomainError("Choose the role owner or member.", "role")
    token = secrets.token_urlsafe(32)
    db.add(Invitation(id=uuid.uuid4(), organization_id=org_id, token_hash=_digest(token),
                      role=role, created_by=created_by,
                      expires_at=datetime.now(UTC) + LIFETIME))
    await db.commit()
    return token


async def pending(db: AsyncSession, org_id: uuid.UUID) -> list[PendingInvitation]:
    """Links that can still be accepted, newest first."""
    stmt = (
        select(Invitation.id, Invitation.role, Invitation.created_at, Invitation.expires_at,
               func.coalesce(User.name, "—"))
        .outerjoin(User, User.id == Invitation.created_by)
        .where(Invitation.organization_id == org_id, Invitation.accepted_at.is_(None),
               Invitation.revoked_at.is_(None), Invitation.expires_at > func.now())
        .order_by(Invitation.created_at.desc())
    )
    return [PendingInvitation(*row) for row in (await db.execute(stmt)).all()]


async def revoke(db: AsyncSession, org_id: uuid.UUID, raw_id: str) -> None:
    """The link stops working (another organization's id is NotFound)."""
    invitation_id = parse_id(raw_id, "Invitation")
    row = (await db.scalars(select(Invitation).where(
        Invitation.id == invitation_id, Invitation.organization_id == org_id))).first()
    if row is None:
        raise NotFound("Invitation")
    if row.revoked_at is None and row.accepted_at is None:
        row.revoked_at = func.now()
    await db.commit()


async def _usable(db: AsyncSession, token: str, lock: bool = False) -> Invitation:
    if not token or len(token) > MAX_TOKEN:
        raise InvitationRefused("This invitation link is not valid. Ask for a new one.")
    stmt = select(Invitation).where(Invitation.token_hash == _digest(token))
    if lock:
        stmt = stmt.with_for_update()
    row = (await db.scalars(stmt)).first()
    if row is None:
        raise InvitationRefused("This invitation link is not valid. Ask for a new one.")
    if row.accepted_at is not None:
        raise InvitationRefused("This invitation link has already been used. Each link "
                                "works once: ask for a new one.")
    if row.revoked_at is not None:
        raise InvitationRefused("This invitation link has been withdrawn by an owner of the "
                                "organization. Ask for a new one.")
    if row.expires_at <= datetime.now(UTC):
        raise InvitationRefused("This invitation link has expired (links work for 7 days). "
                                "Ask for a new one.")
    return row


async def offer(db: AsyncSession, token: str) -> Offer:
    """What the link offers, or InvitationRefused saying why it cannot be used."""
    row = await _usable(db, token)
    name = await db.scalar(select(Organization.name).where(
        Organization.id == row.organization_id))
    return Offer(name or "", row.role, row.expires_at)


async def accept(db: AsyncSession, token: str, account: users.NewAccount) -> User:
    """The new person's account in the inviting organization, with the invitation's role.
    InvitationRefused when the link cannot be used; users.SignUpRefused for the form."""
    if problems := users.check_account(account):
        field, message = next(iter(problems.items()))
        raise users.SignUpRefused(message, field)
    row = await _usable(db, token, lock=True)
    if await users.email_taken(db, account.email):
        await db.rollback()
        raise users.SignUpRefused("An account with this email already exists.", "email")
    org_id, role = row.organization_id, row.role
    row.accepted_at = func.now()
    user = await users.create_user(db, org_id, account, role)
    await db.commit()
    return user
