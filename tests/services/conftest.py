"""Services called directly, as the routes call them: a session and a pool on a real database."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from qualgent.apps import service as apps
from qualgent.builds import BuildInfo
from qualgent.db.engine import make_engine, make_sessionmaker
from qualgent.db.models import AppFile, User
from qualgent.db.pool import create_pool
from qualgent.orgs import admin


@dataclass
class World:
    """One organization with a device profile in the catalog."""

    db: AsyncSession
    pool: asyncpg.Pool
    org_id: uuid.UUID

    async def other_org(self) -> uuid.UUID:
        made = await admin.create_org(self.db, "Globex", 10, "enterprise")
        return uuid.UUID(made["organization_id"])

    async def build(self, org_id: uuid.UUID | None = None) -> AppFile:
        """A build record as an upload leaves it (its bytes are not needed here)."""
        org_id = org_id or self.org_id
        user_id = await self.db.scalar(select(User.id).where(User.organization_id == org_id))
        file_id = uuid.uuid4()
        stored = apps.StoredBuild(id=file_id, key=f"{org_id}/{file_id}.apk", kind="apk",
                                  original_name="shop.apk", size=1, sha256="0" * 64)
        info = BuildInfo(kind="apk", os="Android", package_name="com.example.shop",
                         version_name="1.0", version_code="1", label="Shop")
        return await apps.record(self.db, org_id, user_id, stored, info, app_name="Shop",
                                 version="1.0", declared_package=None)

    async def credits(self) -> int:
        return await self.pool.fetchval("SELECT credits FROM organizations WHERE id = $1",
                                        self.org_id)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def world(db_url: str) -> AsyncIterator[World]:
    engine = make_engine(db_url, 2)
    pool = await create_pool(db_url, 2)
    try:
        async with make_sessionmaker(engine)() as session:
            made = await admin.create_org(session, "Acme", 10, "enterprise")
            await admin.register_device(session, "Pixel 7", "Android", "14", "phone", True)
            yield World(session, pool, uuid.UUID(made["organization_id"]))
    finally:
        await pool.close()
        await engine.dispose()
