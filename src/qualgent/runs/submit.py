"""Batch submission: validate every job, then debit credits and queue all runs in one transaction.

Nothing is written until every job has been checked; the organization's row is locked while
its balance is checked and debited, so concurrent batches can never overdraw it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from qualgent.api.deps import parse_id
from qualgent.api.errors import ApiError, not_found
from qualgent.apps.routes import get_app, latest_app
from qualgent.db.models import (
    AppFile,
    CreditLedger,
    Device,
    Organization,
    TestCase,
    TestCaseVersion,
    TestRun,
)
from qualgent.queue import CHANNEL
from qualgent.runs.schemas import PRIORITY_RANK, DeviceSpec
from qualgent.testcases import variables


@dataclass
class PreparedRun:
    case: TestCase
    version: TestCaseVersion
    app: AppFile
    device: DeviceSpec
    use_sim: bool
    priority: str
    supplied_vars: dict[str, Any]
    resolved_steps: list[dict]
    effective_vars: dict[str, Any]
    warnings: list[dict] = field(default_factory=list)
    audit_source_run_id: uuid.UUID | None = None
    mode: str = "agent"
    cache_fallback: str | None = None
    recording_run_id: uuid.UUID | None = None


def _at(err: ApiError, where: str) -> ApiError:
    """Name the job (and field) an error belongs to, like jobs[3].test_case_id."""
    err.details = {"field": where, **err.details} if "field" not in err.details else err.details
    return err


async def check_device(db: AsyncSession, device: DeviceSpec, use_sim: bool, where: str) -> None:
    stmt = select(Device.sms_enabled).where(
        Device.name == device.name, Device.platform == device.platform
    )
    if device.os_version:
        stmt = stmt.where(Device.os_version == device.os_version)
    sms = (await db.scalars(stmt)).all()
    version = f" {device.os_version}" if device.os_version else ""
    profile = f"{device.name} ({device.platform}{version})"
    if not sms:
        raise ApiError(
            422, "unknown_device",
            f"No device profile {profile} in the catalog; GET /v1/devices lists them.",
            {"field": f"{where}.device"},
        )
    if use_sim and not any(sms):
        raise ApiError(
            422, "sim_unavailable",
            f"use_sim needs an SMS-capable device, and {profile} has no SIM.",
            {"field": f"{where}.use_sim"},
        )


async def load_case(
    db: AsyncSession, org_id: uuid.UUID, raw_id: str, where: str
) -> TestCase:
    case_id = parse_id(raw_id, "Test case")
    case = (await db.scalars(select(TestCase).where(
        TestCase.id == case_id, TestCase.organization_id == org_id))).first()
    if case is None:
        raise _at(not_found("Test case"), f"{where}.test_case_id")
    return case


async def load_version(
    db: AsyncSession, case: TestCase, raw_version_id: str | None, where: str
) -> TestCaseVersion:
    stmt = select(TestCaseVersion).where(TestCaseVersion.test_case_id == case.id)
    if raw_version_id is None:
        stmt = stmt.where(TestCaseVersion.version_number == case.current_version_number)
    else:
        try:
            version_id = parse_id(raw_version_id, "Test case version")
        except ApiError as err:
            raise _at(err, f"{where}.test_case_version_id") from None
        stmt = stmt.where(TestCaseVersion.id == version_id)
    version = (await db.scalars(stmt)).first()
    if version is None:
        raise _at(not_found("Test case version"), f"{where}.test_case_version_id")
    return version


async def prepare(
    db: AsyncSession,
    org_id: uuid.UUID,
    where: str,
    *,
    case: TestCase,
    app: AppFile,
    device: DeviceSpec,
    use_sim: bool,
    priority: str,
    version_id: str | None = None,
    supplied_vars: dict[str, Any] | None = None,
    audit_source_run_id: str | None = None,
    mode: str = "agent",
    cache_fallback: str = "agent",
) -> PreparedRun:
    if app.os != device.platform:
        raise ApiError(
            422, "invalid_request",
            f"The build is for {app.os} but the device is {device.platform}.",
            {"field": f"{where}.device.platform"},
        )
    await check_device(db, device, use_sim, where)
    version = await load_version(db, case, version_id, where)
    audit_id = None
    if audit_source_run_id is not None:
        try:
            audit_id = parse_id(audit_source_run_id, "Test run")
        except ApiError as err:
            raise _at(err, f"{where}.audit_source_run_id") from None
        exists = (await db.scalars(select(TestRun.id).where(
            TestRun.id == audit_id, TestRun.organization_id == org_id))).first()
        if exists is None:
            raise _at(not_found("Test run"), f"{where}.audit_source_run_id")
    supplied = supplied_vars or {}
    steps, effective, warnings = variables.resolve(
        version.steps, version.variables, supplied, f"{where}.vars"
    )
    recording = None
    if mode == "cached":
        recording = await find_recording(db, org_id, version, app, device, steps)
        if recording is None:
            raise ApiError(
                422, "no_recording",
                "No passed run of this test case version, with these variables, on this "
                "build and device profile to replay; run it once in agent mode first.",
                {"field": f"{where}.mode"},
            )
    return PreparedRun(
        case=case, version=version, app=app, device=device, use_sim=use_sim,
        priority=priority, supplied_vars=supplied, resolved_steps=steps,
        effective_vars=effective, warnings=warnings, audit_source_run_id=audit_id,
        mode=mode, cache_fallback=cache_fallback if mode == "cached" else None,
        recording_run_id=recording,
    )


async def find_recording(
    db: AsyncSession, org_id: uuid.UUID, version: TestCaseVersion, app: AppFile,
    device: DeviceSpec, steps: list[dict],
) -> uuid.UUID | None:
    """The latest passed run of this version with the same resolved steps, on the same build
    (package and content hash) and device profile: what a cached run replays."""
    stmt = (
        select(TestRun.id)
        .join(AppFile, AppFile.id == TestRun.app_file_id)
        .join(Device, Device.id == TestRun.device_id)
        .where(
            TestRun.organization_id == org_id,
            TestRun.test_case_version_id == version.id,
            TestRun.status == "passed",
            TestRun.resolved_steps == steps,
            AppFile.package_name == app.package_name,
            AppFile.sha256 == app.sha256,
            Device.name == device.name,
            Device.platform == device.platform,
        )
        .order_by(TestRun.finished_at.desc())
        .limit(1)
    )
    if device.os_version:
        stmt = stmt.where(Device.os_version == device.os_version)
    return (await db.scalars(stmt)).first()


async def resolve_app(
    db: AsyncSession, org_id: uuid.UUID, raw_id: str | None, where: str
) -> AppFile:
    if raw_id is None:
        app = await latest_app(db, org_id)
        if app is None:
            raise ApiError(
                422, "no_app", "No build uploaded yet: upload one or pass app_file_id.",
                {"field": f"{where}.app_file_id"},
            )
        return app
    try:
        return await get_app(db, org_id, raw_id)
    except ApiError as err:
        raise _at(err, f"{where}.app_file_id") from None


async def enqueue(
    db: AsyncSession, org_id: uuid.UUID, runs: list[PreparedRun], cost_per_run: int
) -> list[TestRun]:
    """Debit and queue the whole batch, or raise 402 and change nothing. Commits."""
    cost = cost_per_run * len(runs)
    balance = (await db.scalars(
        select(Organization.credits).where(Organization.id == org_id).with_for_update()
    )).one()
    if balance < cost:
        await db.rollback()
        raise ApiError(
            402, "insufficient_credits",
            f"This batch needs {cost} credits and the organization has {balance}.",
            {"required": cost, "available": balance},
        )
    batch_id = uuid.uuid4()
    await db.execute(
        update(Organization).where(Organization.id == org_id)
        .values(credits=Organization.credits - cost)
    )
    db.add(CreditLedger(organization_id=org_id, delta=-cost, balance_after=balance - cost,
                        reason="runs_queued", batch_id=batch_id))
    created = []
    for p in runs:
        run = TestRun(
            id=uuid.uuid4(), organization_id=org_id, batch_id=batch_id,
            test_case_id=p.case.id, test_case_version_id=p.version.id,
            version_number=p.version.version_number, app_file_id=p.app.id,
            status="queued", progress=0, priority=p.priority,
            priority_rank=PRIORITY_RANK[p.priority],
            device_name=p.device.name, device_platform=p.device.platform,
            device_os_version=p.device.os_version, device_orientation=p.device.orientation,
            use_sim=p.use_sim, mode=p.mode, cache_fallback=p.cache_fallback,
            recording_run_id=p.recording_run_id, vars=p.effective_vars,
            resolved_steps=p.resolved_steps, warnings=p.warnings,
            audit_source_run_id=p.audit_source_run_id, credits_charged=cost_per_run,
        )
        db.add(run)
        created.append(run)
    await db.flush()
    await db.execute(text(f"NOTIFY {CHANNEL}"))  # delivered on commit: wakes idle workers
    await db.commit()
    return created
