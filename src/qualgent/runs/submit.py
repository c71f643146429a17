"""One job of a submission, checked and resolved into the run to queue; nothing is written.

Fields in the refusals raised here are relative to the job (test_case_id, device.platform,
vars.query): the batch places them under the job's index.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from qualgent.apps import service as apps
from qualgent.db.models import AppFile, Device, TestCase, TestCaseVersion, TestRun
from qualgent.devices import service as devices
from qualgent.domain import DomainError, NotFound, parse_id
from qualgent.queue.lifecycle import NewRun
from qualgent.queue.states import Priority, RunStatus
from qualgent.runs.schemas import CacheFallback, DeviceSpec, Mode
from qualgent.testcases import service as testcases
from qualgent.testcases import variables
from qualgent.testcases.schemas import CaseStatus


class TestCaseArchived(DomainError):
    __test__ = False  # not a pytest class

    def __init__(self, name: str) -> None:
        super().__init__(f"Test case '{name}' is archived.", "test_case_id")


class NoApp(DomainError):
    """No build named, and none uploaded to fall back on."""

    def __init__(self) -> None:
        super().__init__("No build uploaded yet: upload one or pass app_file_id.",
                         "app_file_id")


class PlatformMismatch(DomainError):
    def __init__(self, build_os: str, platform: str) -> None:
        super().__init__(f"The build is for {build_os} but the device is {platform}.",
                         "device.platform")


class NoRecording(DomainError):
    """A cached run needs a passed run of the same thing to replay."""

    def __init__(self) -> None:
        super().__init__(
            "No passed run of this test case version, with these variables, on this build and "
            "device profile to replay; run it once in agent mode first.", "mode")


async def runnable_case(db: AsyncSession, org_id: uuid.UUID, raw_id: str) -> TestCase:
    """The organization's active test case."""
    case = await testcases.get(db, org_id, parse_id(raw_id, "Test case", "test_case_id"),
                               "test_case_id")
    if case.status != CaseStatus.ACTIVE:
        raise TestCaseArchived(case.name)
    return case


async def resolve_app(db: AsyncSession, org_id: uuid.UUID, raw_id: str | None) -> AppFile:
    """The named build, or without a name the latest one."""
    if raw_id is None:
        app = await apps.latest(db, org_id)
        if app is None:
            raise NoApp()
        return app
    return await apps.get(db, org_id, parse_id(raw_id, "App", "app_file_id"), "app_file_id")


async def _audit_source(db: AsyncSession, org_id: uuid.UUID, raw_id: str) -> uuid.UUID:
    """A run of the organization whose trace the agent compares against."""
    field = "audit_source_run_id"
    run_id = parse_id(raw_id, "Test run", field)
    exists = (await db.scalars(select(TestRun.id).where(
        TestRun.id == run_id, TestRun.organization_id == org_id))).first()
    if exists is None:
        raise NotFound("Test run", field)
    return run_id


async def prepare(
    db: AsyncSession,
    org_id: uuid.UUID,
    *,
    case: TestCase,
    app: AppFile,
    device: DeviceSpec,
    use_sim: bool,
    priority: Priority,
    version_id: str | None = None,
    supplied_vars: dict[str, Any] | None = None,
    audit_source_run_id: str | None = None,
    mode: Mode = "agent",
    cache_fallback: CacheFallback = "agent",
) -> NewRun:
    """Check the job against the catalog, the case's version and its variables, and resolve
    the steps the agent will read."""
    if app.os != device.platform:
        raise PlatformMismatch(app.os, device.platform)
    await devices.check_profile(db, device.name, device.platform, device.os_version, use_sim)
    field = "test_case_version_id"
    pinned = parse_id(version_id, "Test case version", field) if version_id is not None else None
    version = await testcases.version_of(db, case, pinned, field)
    audit_id = (await _audit_source(db, org_id, audit_source_run_id)
                if audit_source_run_id is not None else None)
    steps, effective, warnings = variables.resolve(
        version.steps, version.variables, supplied_vars or {})
    recording = None
    if mode == "cached":
        recording = await find_recording(db, org_id, version, app, device, steps)
        if recording is None:
            raise NoRecording()
    return NewRun(
        test_case_id=case.id, test_case_version_id=version.id,
        version_number=version.version_number, app_file_id=app.id,
        device_name=device.name, device_platform=device.platform,
        device_os_version=device.os_version, device_orientation=device.orientation,
        use_sim=use_sim, resolved_steps=steps, vars=effective, warnings=warnings,
        priority=priority, mode=mode,
        cache_fallback=cache_fallback if mode == "cached" else None,
        recording_run_id=recording, audit_source_run_id=audit_id,
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
            TestRun.status == RunStatus.PASSED,
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
