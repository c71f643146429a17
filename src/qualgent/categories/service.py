"""Categories of an organization: lookups and the listing with active test case counts."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from qualgent.db.models import Category, TestCase
from qualgent.domain import NotFound, parse_id
from qualgent.testcases.schemas import CaseStatus


@dataclass(frozen=True)
class CategorySummary:
    id: uuid.UUID
    name: str
    test_case_count: int


async def get(db: AsyncSession, org_id: uuid.UUID, raw_id: str | uuid.UUID,
              field: str = "") -> Category:
    """The organization's category, or NotFound (also for an id that is not a UUID)."""
    category_id = parse_id(raw_id, "Category", field)
    found = (await db.scalars(select(Category).where(
        Category.id == category_id, Category.organization_id == org_id))).first()
    if found is None:
        raise NotFound("Category", field)
    return found


async def summaries(db: AsyncSession, org_id: uuid.UUID) -> list[CategorySummary]:
    """Every category of the organization by name, with its count of active test cases."""
    stmt = (
        select(Category.id, Category.name, func.count(TestCase.id))
        .outerjoin(TestCase, and_(TestCase.category_id == Category.id,
                                  TestCase.status == CaseStatus.ACTIVE))
        .where(Category.organization_id == org_id)
        .group_by(Category.id)
        .order_by(Category.name)
    )
    return [CategorySummary(*row) for row in (await db.execute(stmt)).all()]
