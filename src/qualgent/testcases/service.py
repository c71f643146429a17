"""Test cases: a mutable head over immutable versions.

Every edit writes a new version and moves the head; runs keep pointing at the version they
ran. Archiving hides a case from listings and run-all but keeps it and its history readable.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from qualgent.categories import service as categories
from qualgent.db.models import Category, TestCase, TestCaseVersion, TestRun
from qualgent.domain import NotFound
from qualgent.queue.states import TERMINAL, RunStatus
from qualgent.testcases.schemas import CaseCreate, CaseStatus, CaseUpdate


@dataclass(frozen=True)
class Case:
    """A case's head, its current version and its category."""

    head: TestCase
    version: TestCaseVersion
    category: Category | None


@dataclass(frozen=True)
class LatestRun:
    id: uuid.UUID
    status: RunStatus
    progress: int
    device: str


@dataclass(frozen=True)
class CaseSummary:
    """A row of the listing: the head, its category's name, its latest finished run."""

    head: TestCase
    category_name: str | None
    latest_run: LatestRun | None


async def get(db: AsyncSession, org_id: uuid.UUID, case_id: uuid.UUID,
              field: str = "") -> TestCase:
    """The organization's test case head, archived or not."""
    found = (await db.scalars(select(TestCase).where(
        TestCase.id == case_id, TestCase.organization_id == org_id))).first()
    if found is None:
        raise NotFound("Test case", field)
    return found


async def version_of(db: AsyncSession, case: TestCase,
                     version_id: uuid.UUID | None = None, field: str = "") -> TestCaseVersion:
    """The case's current version, or the one pinned by id (which must be the case's own)."""
    stmt = select(TestCaseVersion).where(TestCaseVersion.test_case_id == case.id)
    if version_id is None:
        stmt = stmt.where(TestCaseVersion.version_number == case.current_version_number)
    else:
        stmt = stmt.where(TestCaseVersion.id == version_id)
    found = (await db.scalars(stmt)).first()
    if found is None:
        raise NotFound("Test case version", field)
    return found


async def _with_content(db: AsyncSession, head: TestCase, version: TestCaseVersion) -> Case:
    category = await db.get(Category, head.category_id) if head.category_id else None
    return Case(head, version, category)


async def read(db: AsyncSession, org_id: uuid.UUID, case_id: uuid.UUID) -> Case:
    head = await get(db, org_id, case_id)
    return await _with_content(db, head, await version_of(db, head))


async def summaries(
    db: AsyncSession, org_id: uuid.UUID, category_id: str | None = None,
    include_archived: bool = False,
) -> list[CaseSummary]:
    """Cases newest first, each with its latest run that reached a terminal state."""
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
        .where(TestCase.organization_id == org_id)
        .order_by(TestCase.created_at.desc(), TestCase.id)
    )
    if not include_archived:
        stmt = stmt.where(TestCase.status == CaseStatus.ACTIVE)
    if category_id is not None:
        category = await categories.get(db, org_id, category_id)
        stmt = stmt.where(TestCase.category_id == category.id)
    return [
        CaseSummary(head, category_name,
                    LatestRun(run_id, RunStatus(status), progress, device) if run_id else None)
        for head, category_name, run_id, status, progress, device in (await db.execute(stmt))
    ]


async def create(db: AsyncSession, org_id: uuid.UUID, body: CaseCreate) -> Case:
    """A new case at version 1."""
    category = (await categories.get(db, org_id, body.category_id, "category_id")
                if body.category_id is not None else None)
    head = TestCase(
        id=uuid.uuid4(), organization_id=org_id,
        category_id=category.id if category else None, name=body.name,
        status=CaseStatus.ACTIVE, current_version_number=1,
    )
    version = TestCaseVersion(
        id=uuid.uuid4(), organization_id=org_id, test_case_id=head.id,
        version_number=1, name=body.name, description=body.description,
        category_id=head.category_id,
        steps=[s.model_dump() for s in body.steps],
        variables=[v.model_dump(exclude_none=True) for v in body.variables],
    )
    db.add(head)
    await db.flush()
    db.add(version)
    return await _committed(db, head, version)


async def update(db: AsyncSession, org_id: uuid.UUID, case_id: uuid.UUID,
                 body: CaseUpdate) -> Case:
    """A new version from the current one; fields left out of `body` keep their value."""
    head = await get(db, org_id, case_id)
    # Lock the head so two concurrent edits cannot claim the same version number.
    await db.execute(select(TestCase.id).where(TestCase.id == head.id).with_for_update())
    await db.refresh(head)
    old = await version_of(db, head)
    fields = body.model_fields_set
    category_id = old.category_id
    if "category_id" in fields:
        category_id = (
            (await categories.get(db, org_id, body.category_id, "category_id")).id
            if body.category_id is not None else None
        )
    version = TestCaseVersion(
        id=uuid.uuid4(), organization_id=org_id, test_case_id=head.id,
        version_number=head.current_version_number + 1,
        name=body.name if body.name is not None else old.name,
        description=body.description if "description" in fields else old.description,
        category_id=category_id,
        steps=[s.model_dump() for s in body.steps] if body.steps is not None else old.steps,
        variables=[v.model_dump(exclude_none=True) for v in body.variables]
        if body.variables is not None else old.variables,
    )
    db.add(version)
    head.name = version.name
    head.category_id = category_id
    head.current_version_number = version.version_number
    head.updated_at = func.now()
    return await _committed(db, head, version)


async def archive(db: AsyncSession, org_id: uuid.UUID, case_id: uuid.UUID) -> Case:
    """Idempotent: archiving an archived case changes nothing."""
    head = await get(db, org_id, case_id)
    if head.status != CaseStatus.ARCHIVED:
        head.status = CaseStatus.ARCHIVED
        head.updated_at = func.now()
        await db.commit()
        await db.refresh(head)
    return await _with_content(db, head, await version_of(db, head))


async def versions(db: AsyncSession, org_id: uuid.UUID,
                   case_id: uuid.UUID) -> Sequence[TestCaseVersion]:
    """Every version of the case, newest first."""
    head = await get(db, org_id, case_id)
    return (await db.scalars(select(TestCaseVersion).where(
        TestCaseVersion.test_case_id == head.id
    ).order_by(TestCaseVersion.version_number.desc()))).all()


async def active(db: AsyncSession, org_id: uuid.UUID,
                 category_id: uuid.UUID | None = None) -> Sequence[TestCase]:
    """The active cases, oldest first (optionally of one category): what run-all runs."""
    stmt = select(TestCase).where(
        TestCase.organization_id == org_id, TestCase.status == CaseStatus.ACTIVE
    ).order_by(TestCase.created_at, TestCase.id)
    if category_id is not None:
        stmt = stmt.where(TestCase.category_id == category_id)
    return (await db.scalars(stmt)).all()


async def _committed(db: AsyncSession, head: TestCase, version: TestCaseVersion) -> Case:
    await db.commit()
    await db.refresh(head)  # timestamps come from the database
    await db.refresh(version)
    return await _with_content(db, head, version)
