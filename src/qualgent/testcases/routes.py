"""/v1/test-cases: list, CRUD with immutable versions, archive."""

from __future__ import annotations

import uuid

from fastapi import APIRouter
from sqlalchemy import func, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from qualgent.api.auth import Auth
from qualgent.api.deps import Session, parse_id
from qualgent.api.errors import not_found
from qualgent.db.models import Category, TestCase, TestCaseVersion, TestRun
from qualgent.testcases.schemas import CaseCreate, CaseUpdate

router = APIRouter(tags=["test cases"])

TERMINAL = ("passed", "failed", "completed")


async def get_case(db: AsyncSession, org_id: uuid.UUID, raw_id: str) -> TestCase:
    case_id = parse_id(raw_id, "Test case")
    case = (await db.scalars(select(TestCase).where(
        TestCase.id == case_id, TestCase.organization_id == org_id))).first()
    if case is None:
        raise not_found("Test case")
    return case


async def current_version(db: AsyncSession, case: TestCase) -> TestCaseVersion:
    return (await db.scalars(select(TestCaseVersion).where(
        TestCaseVersion.test_case_id == case.id,
        TestCaseVersion.version_number == case.current_version_number))).one()


async def _category(db: AsyncSession, org_id: uuid.UUID, raw_id: str | None) -> Category | None:
    if raw_id is None:
        return None
    cat_id = parse_id(raw_id, "Category")
    cat = (await db.scalars(select(Category).where(
        Category.id == cat_id, Category.organization_id == org_id))).first()
    if cat is None:
        raise not_found("Category")
    return cat


def _version_dict(v: TestCaseVersion) -> dict:
    return {
        "id": str(v.id),
        "version_number": v.version_number,
        "name": v.name,
        "description": v.description,
        "category_id": str(v.category_id) if v.category_id else None,
        "steps": v.steps,
        "variables": v.variables,
        "created_at": v.created_at.isoformat(),
    }


async def _case_dict(db: AsyncSession, case: TestCase, version: TestCaseVersion) -> dict:
    category = await db.get(Category, case.category_id) if case.category_id else None
    return {
        "id": str(case.id),
        "name": case.name,
        "description": version.description,
        "status": case.status,
        "category": {"id": str(category.id), "name": category.name} if category else None,
        "steps": version.steps,
        "variables": version.variables,
        "version_id": str(version.id),
        "version_number": version.version_number,
        "created_at": case.created_at.isoformat(),
        "updated_at": case.updated_at.isoformat(),
    }


@router.get("/test-cases/list")
async def list_cases(
    auth: Auth, db: Session, category: str | None = None, include_archived: bool = False
) -> list[dict]:
    """Test cases with their category and latest completed run, newest first."""
    latest = (
        select(TestRun.id, TestRun.status, TestRun.progress, TestRun.device_name)
        .where(TestRun.test_case_id == TestCase.id, TestRun.status.in_(TERMINAL))
        .order_by(TestRun.finished_at.desc().nulls_last(), TestRun.created_at.desc())
        .limit(1)
        .lateral("latest")
    )
    stmt = (
        select(TestCase, Category.name, latest)
        .outerjoin(Category, Category.id == TestCase.category_id)
        .outerjoin(latest, true())
        .where(TestCase.organization_id == auth.organization_id)
        .order_by(TestCase.created_at.desc(), TestCase.id)
    )
    if not include_archived:
        stmt = stmt.where(TestCase.status == "active")
    if category is not None:
        cat = await _category(db, auth.organization_id, category)
        stmt = stmt.where(TestCase.category_id == cat.id)
    out = []
    for case, cat_name, run_id, run_status, run_progress, run_device in (
        await db.execute(stmt)
    ).all():
        out.append({
            "id": str(case.id),
            "name": case.name,
            "status": case.status,
            "category": {"id": str(case.category_id), "name": cat_name}
            if case.category_id else None,
            "latest_completed_run": {
                "id": str(run_id), "status": run_status, "progress": run_progress,
                "device": run_device,
            } if run_id else None,
            "version_number": case.current_version_number,
            "created_at": case.created_at.isoformat(),
            "updated_at": case.updated_at.isoformat(),
        })
    return out


@router.post("/test-cases")
async def create_case(body: CaseCreate, auth: Auth, db: Session) -> dict:
    category = await _category(db, auth.organization_id, body.category_id)
    case = TestCase(
        id=uuid.uuid4(), organization_id=auth.organization_id,
        category_id=category.id if category else None, name=body.name,
        status="active", current_version_number=1,
    )
    version = TestCaseVersion(
        id=uuid.uuid4(), organization_id=auth.organization_id, test_case_id=case.id,
        version_number=1, name=body.name, description=body.description,
        category_id=case.category_id,
        steps=[s.model_dump() for s in body.steps],
        variables=[v.model_dump(exclude_none=True) for v in body.variables],
    )
    db.add(case)
    await db.flush()
    db.add(version)
    await db.commit()
    await db.refresh(case)
    await db.refresh(version)
    return {"success": True, "test_case": await _case_dict(db, case, version)}


@router.get("/test-cases/{case_id}")
async def get_case_route(case_id: str, auth: Auth, db: Session) -> dict:
    case = await get_case(db, auth.organization_id, case_id)
    version = await current_version(db, case)
    return {"success": True, "test_case": await _case_dict(db, case, version)}


@router.put("/test-cases/{case_id}")
async def update_case(case_id: str, body: CaseUpdate, auth: Auth, db: Session) -> dict:
    """Every edit creates a new immutable version; runs keep pointing at theirs."""
    case = await get_case(db, auth.organization_id, case_id)
    # Lock the head so two concurrent edits cannot claim the same version number.
    await db.execute(select(TestCase.id).where(TestCase.id == case.id).with_for_update())
    await db.refresh(case)
    old = await current_version(db, case)
    fields = body.model_fields_set
    category_id = old.category_id
    if "category_id" in fields:
        category = await _category(db, auth.organization_id, body.category_id)
        category_id = category.id if category else None
    version = TestCaseVersion(
        id=uuid.uuid4(), organization_id=auth.organization_id, test_case_id=case.id,
        version_number=case.current_version_number + 1,
        name=body.name if body.name is not None else old.name,
        description=body.description if "description" in fields else old.description,
        category_id=category_id,
        steps=[s.model_dump() for s in body.steps] if body.steps is not None else old.steps,
        variables=[v.model_dump(exclude_none=True) for v in body.variables]
        if body.variables is not None else old.variables,
    )
    db.add(version)
    case.name = version.name
    case.category_id = category_id
    case.current_version_number = version.version_number
    case.updated_at = func.now()
    await db.commit()
    await db.refresh(case)
    await db.refresh(version)
    return {"success": True, "test_case": await _case_dict(db, case, version)}


@router.delete("/test-cases/{case_id}")
async def archive_case(case_id: str, auth: Auth, db: Session) -> dict:
    """Archives: the case and its history stay readable, run-all skips it."""
    case = await get_case(db, auth.organization_id, case_id)
    if case.status != "archived":
        case.status = "archived"
        case.updated_at = func.now()
        await db.commit()
        await db.refresh(case)
    version = await current_version(db, case)
    return {"success": True, "test_case": await _case_dict(db, case, version)}


@router.get("/test-cases/{case_id}/versions")
async def list_versions(case_id: str, auth: Auth, db: Session) -> dict:
    case = await get_case(db, auth.organization_id, case_id)
    versions = (await db.scalars(select(TestCaseVersion).where(
        TestCaseVersion.test_case_id == case.id
    ).order_by(TestCaseVersion.version_number.desc()))).all()
    return {"success": True, "versions": [_version_dict(v) for v in versions]}
