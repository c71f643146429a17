"""/v1/categories."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import and_, func, select

from qualgent.api.auth import Auth
from qualgent.api.deps import Session
from qualgent.db.models import Category, TestCase

router = APIRouter(tags=["categories"])


@router.get("/categories/list")
async def list_categories(auth: Auth, db: Session) -> list[dict]:
    """Every category of the organization with its count of active test cases."""
    stmt = (
        select(Category.id, Category.name, func.count(TestCase.id))
        .outerjoin(TestCase, and_(TestCase.category_id == Category.id,
                                  TestCase.status == "active"))
        .where(Category.organization_id == auth.organization_id)
        .group_by(Category.id)
        .order_by(Category.name)
    )
    rows = (await db.execute(stmt)).all()
    return [{"id": str(i), "name": n, "test_case_count": c} for i, n, c in rows]
