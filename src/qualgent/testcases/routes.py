"""/v1/test-cases: list, CRUD with immutable versions, archive."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter
from pydantic import WithJsonSchema

from qualgent.api.auth import Auth
from qualgent.api.deps import Session
from qualgent.api.refusals import RefusalRoute
from qualgent.api.shapes import UUID_SCHEMA, Id
from qualgent.db.models import TestCaseVersion
from qualgent.domain import parse_id
from qualgent.testcases import service
from qualgent.testcases.schemas import (
    CaseCreate,
    CaseResponse,
    CaseSummary,
    CaseUpdate,
    VersionsResponse,
)

router = APIRouter(tags=["test cases"], route_class=RefusalRoute)
# Stored variables omit the keys they were declared without; the bodies keep it that way.
_AS_STORED = {"response_model_exclude_unset": True}


def _case_view(case: service.Case) -> dict:
    head, version, category = case.head, case.version, case.category
    return {
        "id": str(head.id),
        "name": head.name,
        "description": version.description,
        "status": head.status,
        "category": {"id": str(category.id), "name": category.name} if category else None,
        "steps": version.steps,
        "variables": version.variables,
        "version_id": str(version.id),
        "version_number": version.version_number,
        "created_at": head.created_at.isoformat(),
        "updated_at": head.updated_at.isoformat(),
    }


def _summary_view(row: service.CaseSummary) -> dict:
    head, run = row.head, row.latest_run
    return {
        "id": str(head.id),
        "name": head.name,
        "status": head.status,
        "category": {"id": str(head.category_id), "name": row.category_name}
        if head.category_id else None,
        "latest_completed_run": {
            "id": str(run.id), "status": run.status, "progress": run.progress,
            "device": run.device,
        } if run else None,
        "version_number": head.current_version_number,
        "created_at": head.created_at.isoformat(),
        "updated_at": head.updated_at.isoformat(),
    }


def _version_view(v: TestCaseVersion) -> dict:
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


def _case_id(raw: str) -> uuid.UUID:
    return parse_id(raw, "Test case")


@router.get("/test-cases/list", response_model=list[CaseSummary])
async def list_cases(
    auth: Auth, db: Session,
    category: Annotated[str | None, WithJsonSchema(UUID_SCHEMA)] = None,
    include_archived: bool = False,
) -> list[dict]:
    """Test cases with their category and latest completed run, newest first."""
    rows = await service.summaries(db, auth.organization_id, category, include_archived)
    return [_summary_view(r) for r in rows]


@router.post("/test-cases", response_model=CaseResponse, **_AS_STORED)
async def create_case(body: CaseCreate, auth: Auth, db: Session) -> dict:
    case = await service.create(db, auth.organization_id, body)
    return {"success": True, "test_case": _case_view(case)}


@router.get("/test-cases/{case_id:id}", response_model=CaseResponse, **_AS_STORED)
async def get_case_route(case_id: Id, auth: Auth, db: Session) -> dict:
    case = await service.read(db, auth.organization_id, _case_id(case_id))
    return {"success": True, "test_case": _case_view(case)}


@router.put("/test-cases/{case_id:id}", response_model=CaseResponse, **_AS_STORED)
async def update_case(case_id: Id, body: CaseUpdate, auth: Auth, db: Session) -> dict:
    """Every edit creates a new immutable version; runs keep pointing at theirs."""
    case = await service.update(db, auth.organization_id, _case_id(case_id), body)
    return {"success": True, "test_case": _case_view(case)}


@router.delete("/test-cases/{case_id:id}", response_model=CaseResponse, **_AS_STORED)
async def archive_case(case_id: Id, auth: Auth, db: Session) -> dict:
    """Archives: the case and its history stay readable, run-all skips it."""
    case = await service.archive(db, auth.organization_id, _case_id(case_id))
    return {"success": True, "test_case": _case_view(case)}


@router.get("/test-cases/{case_id:id}/versions", response_model=VersionsResponse, **_AS_STORED)
async def list_versions(case_id: Id, auth: Auth, db: Session) -> dict:
    versions = await service.versions(db, auth.organization_id, _case_id(case_id))
    return {"success": True, "versions": [_version_view(v) for v in versions]}
