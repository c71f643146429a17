"""Builds of an organization: recording uploads, finding them, soft deletion.

The routes stream the bytes into the blob store; everything decided about a build once it is
stored (its platform, its identity, its record) is decided here.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from qualgent.builds import BuildInfo, inspect_build
from qualgent.db.models import AppFile
from qualgent.domain import DomainError, NotFound
from qualgent.storage import BlobStore

OS_OF_KIND = {"apk": "Android", "aab": "Android", "ipa": "iOS"}
FILE_TYPES = {
    "apk": "application/vnd.android.package-archive",
    "aab": "application/x-android-app-bundle",
    "ipa": "application/x-ios-app",
}
_OS_ALIASES = {"android": "Android", "ios": "iOS"}


class OsMismatch(DomainError):
    """The declared `os` is not the platform of the uploaded file's kind."""

    def __init__(self, declared: str, kind: str) -> None:
        super().__init__(
            f"os '{declared}' does not match the .{kind} build ({OS_OF_KIND[kind]}).", "os")


class PackageNameMismatch(DomainError):
    """The declared package_name is not the one read from the build."""

    def __init__(self, declared: str, actual: str) -> None:
        super().__init__(
            f"package_name '{declared}' does not match the build's '{actual}'.",
            "package_name", build_package_name=actual)


@dataclass(frozen=True)
class StoredBuild:
    """A build's bytes, already in the blob store under `key`."""

    id: uuid.UUID
    key: str
    kind: str
    original_name: str
    size: int
    sha256: str


def check_platform(kind: str, declared_os: str | None) -> None:
    """A declared `os` must be the platform of the build's file kind (which `record` stores)."""
    if declared_os and _OS_ALIASES.get(declared_os.lower()) != OS_OF_KIND[kind]:
        raise OsMismatch(declared_os, kind)


def inspect(blobs: BlobStore, key: str, kind: str) -> BuildInfo:
    """Read the stored build's identity (blocking: run it in a thread). Raises InvalidBuild."""
    with blobs.open(key) as fh:
        return inspect_build(fh, kind)


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in text)[:80]


async def record(
    db: AsyncSession, org_id: uuid.UUID, user_id: uuid.UUID, build: StoredBuild,
    info: BuildInfo, *, app_name: str, version: str, declared_package: str | None,
) -> AppFile:
    """Check the declared package against the build and commit its record."""
    if declared_package and declared_package != info.package_name:
        raise PackageNameMismatch(declared_package, info.package_name)
    found = AppFile(
        id=build.id,
        organization_id=org_id,
        user_id=user_id,
        file_path=build.key,
        filename=f"{int(time.time() * 1000)}-{_safe(app_name)}-{_safe(version)}.{build.kind}",
        original_name=build.original_name,
        file_size=build.size,
        file_type=FILE_TYPES[build.kind],
        sha256=build.sha256,
        app_name=app_name,
        version=version,
        os=OS_OF_KIND[build.kind],
        package_name=info.package_name,
        version_name=info.version_name,
        version_code=info.version_code,
        label=info.label,
    )
    db.add(found)
    await db.commit()
    await db.refresh(found)  # created_at comes from the database
    return found


def _live(org_id: uuid.UUID) -> Select[tuple[AppFile]]:
    return select(AppFile).where(AppFile.organization_id == org_id, AppFile.deleted_at.is_(None))


_NEWEST_FIRST = (AppFile.created_at.desc(), AppFile.id.desc())


async def list_live(db: AsyncSession, org_id: uuid.UUID) -> Sequence[AppFile]:
    """Every non-deleted build of the organization, newest first."""
    return (await db.scalars(_live(org_id).order_by(*_NEWEST_FIRST))).all()


async def latest(db: AsyncSession, org_id: uuid.UUID) -> AppFile | None:
    """The most recent upload still present, if any."""
    return (await db.scalars(_live(org_id).order_by(*_NEWEST_FIRST).limit(1))).first()


async def get(db: AsyncSession, org_id: uuid.UUID, app_id: uuid.UUID, field: str = "") -> AppFile:
    found = (await db.scalars(_live(org_id).where(AppFile.id == app_id))).first()
    if found is None:
        raise NotFound("App", field)
    return found


async def delete(db: AsyncSession, org_id: uuid.UUID, app_ids: Sequence[uuid.UUID]) -> None:
    """Soft delete, idempotent; an id unknown to the organization deletes nothing."""
    known = set((await db.scalars(select(AppFile.id).where(
        AppFile.organization_id == org_id, AppFile.id.in_(app_ids)))).all())
    if missing := [str(i) for i in app_ids if i not in known]:
        raise NotFound("App", files=missing)
    await db.execute(
        update(AppFile)
        .where(AppFile.id.in_(app_ids), AppFile.deleted_at.is_(None))
        .values(deleted_at=func.now())
    )
    await db.commit()


async def downloadable(db: AsyncSession, app_id: uuid.UUID) -> AppFile:
    """A build for a signed download link: the link is the credential, so no organization."""
    found = (await db.scalars(
        select(AppFile).where(AppFile.id == app_id, AppFile.deleted_at.is_(None))
    )).first()
    if found is None:
        raise NotFound("App")
    return found
