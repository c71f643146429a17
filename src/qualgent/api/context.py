"""Per-process resources shared by request handlers, built in the app's lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from qualgent.config import Settings
from qualgent.storage import BlobStore


@dataclass
class Context:
    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    pg: asyncpg.Pool
    """Raw asyncpg, for the hot read paths only (see qualgent.db.pool)."""
    blobs: BlobStore


async def context(request: Request) -> Context:
    return request.app.state.ctx


async def session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.ctx.sessions() as s:
        yield s
