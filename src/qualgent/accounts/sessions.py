"""Browser sessions: a random token in an HttpOnly cookie, its SHA-256 in web_sessions.

A session is only ever created by signing in or up, with a fresh token (never one the
browser brought along), which rules out session fixation; signing out deletes the row. Each
session has its own CSRF token, which every form and script request sends back.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from qualgent.db.models import WebSession

COOKIE = "qg_session"


@dataclass(frozen=True, slots=True)
class Viewer:
    """The signed-in person a page is rendered for."""

    user_id: uuid.UUID
    organization_id: uuid.UUID
    name: str
    email: str
    role: str
    organization: str
    plan: str
    csrf_token: str

    @property
    def is_owner(self) -> bool:
        return self.role == "owner"


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def start(db: AsyncSession, user_id: uuid.UUID, days: float,
                replacing: str | None = None) -> str:
    """A new session for the user; the token for the cookie. `replacing`: the token the
    browser held before (signed in as someone, or planted), which stops working."""
    token = secrets.token_urlsafe(32)
    if replacing:
        await db.execute(delete(WebSession).where(WebSession.token_hash == _digest(replacing)))
    db.add(WebSession(token_hash=_digest(token), user_id=user_id,
                      csrf_token=secrets.token_urlsafe(32),
                      expires_at=datetime.now(UTC) + timedelta(days=days)))
    await db.commit()
    return token


_RESOLVE = """
SELECT s.csrf_token, u.id AS user_id, u.organization_id, u.name, u.email, u.role,
       o.name AS organization, o.plan
FROM web_sessions s JOIN users u ON u.id = s.user_id
JOIN organizations o ON o.id = u.organization_id
WHERE s.token_hash = $1 AND s.expires_at > now()
"""


async def resolve(pg: asyncpg.Pool, token: str | None) -> Viewer | None:
    """The viewer a session cookie stands for, or None (absent, unknown, expired)."""
    if not token or len(token) > 128:
        return None
    row = await pg.fetchrow(_RESOLVE, _digest(token))
    if row is None:
        return None
    return Viewer(row["user_id"], row["organization_id"], row["name"], row["email"] or "",
                  row["role"], row["organization"], row["plan"], row["csrf_token"])


async def end(db: AsyncSession, token: str | None) -> None:
    if token:
        await db.execute(delete(WebSession).where(WebSession.token_hash == _digest(token)))
        await db.commit()


async def end_all(db: AsyncSession, user_id: uuid.UUID) -> None:
    """Every browser of this user signs out (a removed member)."""
    await db.execute(delete(WebSession).where(WebSession.user_id == user_id))
    await db.commit()


async def prune(pg: asyncpg.Pool) -> None:
    """Expired sessions are deleted (by the reaper); they stopped working at expiry already."""
    await pg.execute("DELETE FROM web_sessions WHERE expires_at <= now()")
