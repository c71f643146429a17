"""An organization's API keys as the dashboard manages them.

Only a key's SHA-256 is stored: its plaintext exists once, in the answer to `create`.
Revoking sends the same NOTIFY as `qualgent admin revoke-key`, delivered on commit, so every
API process drops the key from its cache at once.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from qualgent.api.keycache import CHANNEL
from qualgent.api.keys import display_prefix, hash_key, new_key
from qualgent.db.models import ApiKey, User
from qualgent.domain import NotFound, parse_id


@dataclass(frozen=True)
class KeyInfo:
    id: uuid.UUID
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    created_by: str
    user_id: uuid.UUID

    @property
    def active(self) -> bool:
        return self.revoked_at is None


async def list_keys(db: AsyncSession, org_id: uuid.UUID) -> list[KeyInfo]:
    """Active keys first, newest first within each group."""
    stmt = (
        select(ApiKey.id, ApiKey.prefix, ApiKey.created_at, ApiKey.last_used_at,
               ApiKey.revoked_at, User.name, ApiKey.user_id)
        .join(User, User.id == ApiKey.user_id)
        .where(ApiKey.organization_id == org_id)
        .order_by(ApiKey.revoked_at.is_not(None), ApiKey.created_at.desc())
    )
    return [KeyInfo(*row) for row in (await db.execute(stmt)).all()]


async def create(db: AsyncSession, org_id: uuid.UUID, user_id: uuid.UUID) -> tuple[KeyInfo, str]:
    """A new key for the organization, made by this user; its plaintext is returned only here."""
    key = new_key()
    row = ApiKey(id=uuid.uuid4(), organization_id=org_id, user_id=user_id,
                 key_hash=hash_key(key), prefix=display_prefix(key))
    db.add(row)
    await db.commit()
    await db.refresh(row)
    name = await db.scalar(select(User.name).where(User.id == user_id)) or ""
    return KeyInfo(row.id, row.prefix, row.created_at, None, None, name, user_id), key


async def notify_revoked(db: AsyncSession, key_id: uuid.UUID) -> None:
    """Tell every API process to forget the key (delivered when the caller commits)."""
    await db.execute(text("SELECT pg_notify(:channel, :key_id)"),
                     {"channel": CHANNEL, "key_id": str(key_id)})


async def revoke(db: AsyncSession, org_id: uuid.UUID, raw_id: str,
                 only_user: uuid.UUID | None = None) -> str:
    """Revoke the organization's key (another org's id is NotFound; with `only_user`, so is
    another person's key); its prefix. Revoking an already revoked key notifies again, so
    every process is sure to refuse it."""
    key_id = parse_id(raw_id, "API key")
    stmt = select(ApiKey).where(ApiKey.id == key_id, ApiKey.organization_id == org_id)
    if only_user is not None:
        stmt = stmt.where(ApiKey.user_id == only_user)
    row = (await db.scalars(stmt.with_for_update())).first()
    if row is None:
        raise NotFound("API key")
    if row.revoked_at is None:
        row.revoked_at = func.now()
    await notify_revoked(db, row.id)
    prefix = row.prefix
    await db.commit()
    return prefix
