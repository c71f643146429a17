"""/v1/apps: upload, list, get (by id or 'latest'), delete; and the signed download route."""

from __future__ import annotations

import time
import uuid

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, Field
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from qualgent.api.auth import Auth
from qualgent.api.context import Context
from qualgent.api.deps import Ctx, Session, parse_id
from qualgent.api.errors import ApiError, error_response, not_found
from qualgent.apps import links
from qualgent.apps.upload import KINDS, SegmentedWriter, UploadForm, boundary_of, too_large
from qualgent.builds import InvalidBuild, inspect_build
from qualgent.db.models import AppFile

router = APIRouter(tags=["apps"])
downloads = APIRouter(tags=["apps"])


FILE_TYPES = {
    "apk": "application/vnd.android.package-archive",
    "aab": "application/x-android-app-bundle",
    "ipa": "application/x-ios-app",
}
_OS_ALIASES = {"android": "Android", "ios": "iOS"}


def download_link(ctx: Context, file_id: uuid.UUID) -> str:
    return links.signed_url(ctx.settings.public_url, ctx.settings.signing_key,
                            f"/downloads/apps/{file_id}")


def file_record(f: AppFile, ctx: Context) -> dict:
    return {
        "id": str(f.id),
        "file_path": f.file_path,
        "filename": f.filename,
        "original_name": f.original_name,
        "file_size": f.file_size,
        "file_type": f.file_type,
        "app_name": f.app_name,
        "version": f.version,
        "os": f.os,
        "package_name": f.package_name,
        "version_name": f.version_name,
        "version_code": f.version_code,
        "label": f.label,
        "sha256": f.sha256,
        "user_id": str(f.user_id),
        "organization_id": str(f.organization_id),
        "created_at": f.created_at.isoformat(),
        "link": download_link(ctx, f.id),
    }


def list_item(f: AppFile, ctx: Context) -> dict:
    return {
        "id": str(f.id),
        "name": f.original_name,
        "version": f.version,
        "os": f.os.lower(),
        "link": download_link(ctx, f.id),
        "app_name": f.app_name,
        "package_name": f.package_name,
        "file_size": f.file_size,
        "created_at": f.created_at.isoformat(),
    }


def _live(org_id: uuid.UUID):
    return select(AppFile).where(AppFile.organization_id == org_id, AppFile.deleted_at.is_(None))


async def latest_app(db: AsyncSession, org_id: uuid.UUID) -> AppFile | None:
    stmt = _live(org_id).order_by(AppFile.created_at.desc(), AppFile.id.desc()).limit(1)
    return (await db.scalars(stmt)).first()


async def get_app(db: AsyncSession, org_id: uuid.UUID, raw_id: str | uuid.UUID) -> AppFile:
    app_id = parse_id(raw_id, "App")
    found = (await db.scalars(_live(org_id).where(AppFile.id == app_id))).first()
    if found is None:
        raise not_found("App")
    return found


def _required(form: UploadForm, name: str) -> str:
    value = form.fields.get(name, "")
    if not value:
        raise ApiError(400, "missing_parameter", f"{name} is required.", {"field": name})
    if len(value) > 200:
        raise ApiError(422, "invalid_request", f"{name} is longer than 200 characters.",
                       {"field": name})
    return value


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "_" for c in text)[:80]


_UPLOAD_FORM = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object",
    "required": ["file", "app_name", "version"],
    "properties": {
        "file": {"type": "string", "format": "binary", "description": ".apk, .aab or .ipa"},
        "app_name": {"type": "string"},
        "version": {"type": "string", "description": "e.g. 1.0.0"},
        "os": {"type": "string", "enum": ["Android", "iOS"],
               "description": "Detected from the file extension if omitted"},
        "package_name": {"type": "string",
                         "description": "Checked against the package read from the build"},
    },
}}}}}


@router.post("/apps/upload", openapi_extra=_UPLOAD_FORM)
async def upload_app(request: Request, auth: Auth, ctx: Ctx, db: Session) -> Response:
    """Upload a build (multipart: file, app_name, version, optional os, package_name)."""
    limit = ctx.settings.max_upload_bytes
    boundary = boundary_of(request.headers.get("content-type", ""))
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + 64 * 1024:
        raise too_large(limit)

    file_id = uuid.uuid4()
    key_base = f"{auth.organization_id}/{file_id}"
    form = UploadForm(limit, lambda ext: SegmentedWriter(ctx.blobs, f"{key_base}.{ext}"))
    parser = form.parser(boundary)
    try:
        async for chunk in request.stream():
            parser.write(chunk)
            if form.writer is not None:
                await form.writer.flush_full_segments()
        parser.finalize()
        if not form.ended:
            raise ApiError(400, "malformed_body", "The multipart body ended early.")
        if form.writer is None:
            raise ApiError(400, "missing_parameter", "file is required.", {"field": "file"})
        writer, kind = form.writer, form.kind
        assert kind is not None and form.original_name is not None
        app_name, version = _required(form, "app_name"), _required(form, "version")
        os_name = KINDS[kind]
        if declared_os := form.fields.get("os"):
            if _OS_ALIASES.get(declared_os.lower()) != os_name:
                raise ApiError(
                    422, "invalid_request",
                    f"os '{declared_os}' does not match the .{kind} build ({os_name}).",
                    {"field": "os"},
                )
        await writer.finish()
        info = await run_in_threadpool(_inspect, ctx, writer.key, kind)
        declared_pkg = form.fields.get("package_name")
        if declared_pkg and declared_pkg != info.package_name:
            raise ApiError(
                422, "package_name_mismatch",
                f"package_name '{declared_pkg}' does not match the build's "
                f"'{info.package_name}'.",
                {"field": "package_name", "build_package_name": info.package_name},
            )
        record = AppFile(
            id=file_id,
            organization_id=auth.organization_id,
            user_id=auth.user_id,
            file_path=writer.key,
            filename=f"{int(time.time() * 1000)}-{_safe(app_name)}-{_safe(version)}.{kind}",
            original_name=form.original_name,
            file_size=writer.size,
            file_type=FILE_TYPES[kind],
            sha256=writer.sha256.hexdigest(),
            app_name=app_name,
            version=version,
            os=os_name,
            package_name=info.package_name,
            version_name=info.version_name,
            version_code=info.version_code,
            label=info.label,
        )
        db.add(record)
        await db.commit()
    except ClientDisconnect:
        if form.writer is not None:
            form.writer.discard()
        return Response(status_code=499)
    except BaseException:
        if form.writer is not None:
            form.writer.discard()
        raise
    await db.refresh(record)
    return JSONResponse({"success": True, "file": file_record(record, ctx)})


def _inspect(ctx: Context, key: str, kind: str):
    with ctx.blobs.open(key) as fh:
        try:
            return inspect_build(fh, kind)
        except InvalidBuild as exc:
            raise ApiError(422, "invalid_build", str(exc), {"field": "file"}) from None


@router.get("/apps/list")
async def list_apps(auth: Auth, ctx: Ctx, db: Session) -> dict:
    """Every non-deleted build of the organization, newest first."""
    stmt = _live(auth.organization_id).order_by(AppFile.created_at.desc(), AppFile.id.desc())
    files = (await db.scalars(stmt)).all()
    return {"success": True, "files": [list_item(f, ctx) for f in files]}


@router.get("/apps/{app_id}")
async def get_app_route(app_id: str, auth: Auth, ctx: Ctx, db: Session) -> dict:
    """A build by id, or the literal 'latest' for the most recent upload."""
    if app_id == "latest":
        found = await latest_app(db, auth.organization_id)
        if found is None:
            raise not_found("App")
    else:
        found = await get_app(db, auth.organization_id, app_id)
    return {"success": True, "file": file_record(found, ctx)}


class DeleteApps(BaseModel):
    files: list[str] = Field(min_length=1, max_length=100)


@router.post("/apps/delete")
async def delete_apps(body: DeleteApps, auth: Auth, db: Session) -> dict:
    """Soft delete; idempotent. An id unknown to the organization deletes nothing (404)."""
    ids = [parse_id(raw, "App") for raw in body.files]
    known = set(
        (await db.scalars(
            select(AppFile.id).where(
                AppFile.organization_id == auth.organization_id, AppFile.id.in_(ids)
            )
        )).all()
    )
    if missing := [str(i) for i in ids if i not in known]:
        err = not_found("App")
        err.details = {"files": missing}
        raise err
    await db.execute(
        update(AppFile)
        .where(AppFile.id.in_(ids), AppFile.deleted_at.is_(None))
        .values(deleted_at=func.now())
    )
    await db.commit()
    return {"success": True, "deleted": [str(i) for i in ids]}


def link_problem(request: Request, ctx: Context, expires: str, signature: str) -> Response | None:
    """403 for a tampered or expired signed link, None when it is good."""
    problem = links.check(ctx.settings.signing_key, request.url.path, expires, signature)
    if problem is None:
        return None
    message = ("This download link has expired; fetch a fresh one from the API."
               if problem == "link_expired" else "This download link is not valid.")
    return error_response(403, problem, message)


@downloads.get("/downloads/apps/{file_id}", include_in_schema=False)
async def download(
    file_id: str, request: Request, ctx: Ctx, db: Session,
    expires: str = "", signature: str = "",
) -> Response:
    """The bytes of a build, for whoever holds a valid, unexpired signed link."""
    if problem := link_problem(request, ctx, expires, signature):
        return problem
    found = (await db.scalars(
        select(AppFile).where(AppFile.id == uuid.UUID(file_id), AppFile.deleted_at.is_(None))
    )).first()
    if found is None:
        raise not_found("App")
    return StreamingResponse(
        ctx.blobs.iter_bytes(found.file_path),
        media_type=found.file_type,
        headers={
            "Content-Length": str(found.file_size),
            "Content-Disposition": f'attachment; filename="{found.filename}"',
        },
    )


@downloads.get("/downloads/screenshots/{run_id}/{name}", include_in_schema=False)
async def screenshot(run_id: str, name: str, request: Request, ctx: Ctx,
                     expires: str = "", signature: str = "") -> Response:
    """A step's screenshot, for whoever holds its signed link."""
    if problem := link_problem(request, ctx, expires, signature):
        return problem
    key = f"screenshots/{run_id}/{name}"
    if not await run_in_threadpool(ctx.blobs.exists, key):
        raise not_found("Screenshot")
    return StreamingResponse(ctx.blobs.iter_bytes(key), media_type="image/png")
