"""/v1/apps: upload, list, get (by id or 'latest'), delete; and the signed download route."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from pydantic import WithJsonSchema
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from qualgent.api.auth import Auth, KeyOrSession
from qualgent.api.context import Context
from qualgent.api.deps import Ctx, Session
from qualgent.api.errors import ApiError, error_response, malformed_body
from qualgent.api.refusals import RefusalRoute
from qualgent.api.shapes import UUID_SCHEMA
from qualgent.apps import links, service
from qualgent.apps.schemas import AppFileResponse, AppList, DeleteApps, DeletedApps
from qualgent.apps.upload import SegmentedWriter, UploadForm, boundary_of, too_large
from qualgent.db.models import AppFile
from qualgent.domain import NotFound, parse_id
from qualgent.observability.metrics import UPLOAD_BYTES
from qualgent.storage import keys

router = APIRouter(tags=["apps"], route_class=RefusalRoute)
downloads = APIRouter(tags=["apps"], route_class=RefusalRoute)

AppId = Annotated[str, WithJsonSchema(
    {"anyOf": [UUID_SCHEMA, {"type": "string", "enum": ["latest"]}]})]
"""A build's id, or 'latest'; anything else is answered 404."""


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


def _required(form: UploadForm, name: str) -> str:
    value = form.fields.get(name, "")
    if not value:
        raise ApiError(400, "missing_parameter", f"{name} is required.", {"field": name})
    if len(value) > 200:
        raise ApiError(422, "invalid_request", f"{name} is longer than 200 characters.",
                       {"field": name})
    return value


_UPLOAD_FORM = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object",
    "required": ["file", "app_name", "version"],
    "properties": {
        "file": {"type": "string", "format": "binary", "description": ".apk, .aab or .ipa"},
        "app_name": {"type": "string", "minLength": 1, "maxLength": 200},
        "version": {"type": "string", "minLength": 1, "maxLength": 200,
                    "description": "e.g. 1.0.0"},
        "os": {"type": "string", "enum": ["Android", "iOS"],
               "description": "Detected from the file extension if omitted"},
        "package_name": {"type": "string",
                         "description": "Checked against the package read from the build"},
    },
}}}}}


@router.post("/apps/upload", openapi_extra=_UPLOAD_FORM, response_model=AppFileResponse)
async def upload_app(request: Request, auth: KeyOrSession, ctx: Ctx,
                     db: Session) -> Response | dict:
    """Upload a build (multipart: file, app_name, version, optional os, package_name)."""
    limit = ctx.settings.max_upload_bytes
    boundary = boundary_of(request.headers.get("content-type", ""))
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + 64 * 1024:
        raise too_large(limit)

    file_id = uuid.uuid4()
    form = UploadForm(limit, lambda ext: SegmentedWriter(
        ctx.blobs, keys.build_key(auth.organization_id, file_id, ext)))
    parser = form.parser(boundary)
    try:
        async for chunk in request.stream():
            parser.write(chunk)
            if form.writer is not None:
                await form.writer.flush_full_segments()
        parser.finalize()
        if not form.ended:
            raise malformed_body("The multipart body ended early.", field=None)
        if form.writer is None:
            raise ApiError(400, "missing_parameter", "file is required.", {"field": "file"})
        writer, kind = form.writer, form.kind
        assert kind is not None and form.original_name is not None
        app_name, version = _required(form, "app_name"), _required(form, "version")
        service.check_platform(kind, form.fields.get("os"))
        await writer.finish()
        info = await run_in_threadpool(service.inspect, ctx.blobs, writer.key, kind)
        build = service.StoredBuild(
            id=file_id, key=writer.key, kind=kind, original_name=form.original_name,
            size=writer.size, sha256=writer.sha256.hexdigest(),
        )
        found = await service.record(
            db, auth.organization_id, auth.user_id, build, info, app_name=app_name,
            version=version, declared_package=form.fields.get("package_name"),
        )
        UPLOAD_BYTES.inc(writer.size)
    except ClientDisconnect:
        if form.writer is not None:
            form.writer.discard()
        return Response(status_code=499)
    except BaseException:
        if form.writer is not None:
            form.writer.discard()
        raise
    return {"success": True, "file": file_record(found, ctx)}


@router.get("/apps/list", response_model=AppList)
async def list_apps(auth: Auth, ctx: Ctx, db: Session) -> dict:
    """Every non-deleted build of the organization, newest first."""
    files = await service.list_live(db, auth.organization_id)
    return {"success": True, "files": [list_item(f, ctx) for f in files]}


@router.get("/apps/{app_id:id}", response_model=AppFileResponse)
async def get_app_route(app_id: AppId, auth: Auth, ctx: Ctx, db: Session) -> dict:
    """A build by id, or the literal 'latest' for the most recent upload."""
    if app_id == "latest":
        found = await service.latest(db, auth.organization_id)
        if found is None:
            raise NotFound("App")
    else:
        found = await service.get(db, auth.organization_id, parse_id(app_id, "App"))
    return {"success": True, "file": file_record(found, ctx)}


@router.post("/apps/delete", response_model=DeletedApps)
async def delete_apps(body: DeleteApps, auth: Auth, db: Session) -> dict:
    """Soft delete; idempotent. An id unknown to the organization deletes nothing (404)."""
    ids = [parse_id(raw, "App") for raw in body.files]
    await service.delete(db, auth.organization_id, ids)
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
    found = await service.downloadable(db, parse_id(file_id, "App"))
    return StreamingResponse(
        ctx.blobs.iter_bytes(found.file_path),
        media_type=found.file_type,
        headers={
            "Content-Length": str(found.file_size),
            "Content-Disposition": f'attachment; filename="{found.filename}"',
        },
    )


# What each kind of run artifact is called in a 404, and the type it is served as.
_ARTIFACTS = {"screenshots": ("Screenshot", "image/png"),
              "logs": ("Device log", "text/plain; charset=utf-8"),
              "videos": ("Video", "video/mp4")}


@downloads.get("/downloads/{directory}/{run_id}/{name}", include_in_schema=False)
async def artifact(directory: str, run_id: str, name: str, request: Request, ctx: Ctx,
                   expires: str = "", signature: str = "") -> Response:
    """A run's screenshot, device log or video chunk, for whoever holds its signed link."""
    if problem := link_problem(request, ctx, expires, signature):
        return problem
    what, media_type = _ARTIFACTS.get(directory, ("Artifact", ""))
    key = keys.artifact_key(directory, run_id, name) if media_type else None
    if key is None or not await run_in_threadpool(ctx.blobs.exists, key):
        raise NotFound(what)
    size = await run_in_threadpool(ctx.blobs.size, key)
    return StreamingResponse(ctx.blobs.iter_bytes(key), media_type=media_type,
                             headers={"Content-Length": str(size)})
