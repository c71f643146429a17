"""/v1/categories."""

from __future__ import annotations

from fastapi import APIRouter

from qualgent.api.auth import Auth
from qualgent.api.deps import Session
from qualgent.api.refusals import RefusalRoute
from qualgent.api.shapes import Id, Shape
from qualgent.categories import service

router = APIRouter(tags=["categories"], route_class=RefusalRoute)


class CategoryItem(Shape):
    id: Id
    name: str
    test_case_count: int


@router.get("/categories/list", response_model=list[CategoryItem])
async def list_categories(auth: Auth, db: Session) -> list[dict]:
    """Every category of the organization with its count of active test cases."""
    return [{"id": str(c.id), "name": c.name, "test_case_count": c.test_case_count}
            for c in await service.summaries(db, auth.organization_id)]
