"""Builds page: the organization's uploads, with upload (by the API's streaming endpoint,
sent from the page so a progress bar can follow it), download and delete."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from qualgent.api.deps import Ctx, Session
from qualgent.apps import service
from qualgent.apps.routes import download_link
from qualgent.domain import parse_id
from qualgent.web.pages import SignedIn, checked_form, redirect, render

router = APIRouter(include_in_schema=False)


def human_size(size: int) -> str:
    """Bytes as people read them (1024-based, one decimal above a kilobyte)."""
    value = float(size)
    for unit in ("bytes", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{size} bytes" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


@router.get("/builds")
async def builds_page(request: Request, viewer: SignedIn, db: Session,
                      deleted: str = "") -> Response:
    files = await service.list_live(db, viewer.organization_id)
    rows = [{"id": f.id, "app_name": f.app_name, "version": f.version, "os": f.os,
             "package": f.package_name, "file_name": f.original_name,
             "size": human_size(f.file_size), "bytes": f.file_size, "uploaded": f.created_at}
            for f in files]
    return render(request, "builds/list.html", viewer, title="Builds", builds=rows,
                  deleted=deleted == "1")


@router.get("/builds/{build_id}/download")
async def download(build_id: str, viewer: SignedIn, ctx: Ctx, db: Session) -> Response:
    """A fresh signed link on every click: a page left open longer than a link lives still
    downloads."""
    found = await service.get(db, viewer.organization_id, parse_id(build_id, "App"))
    return redirect(download_link(ctx, found.id))


@router.post("/builds/{build_id}/delete")
async def delete(build_id: str, request: Request, viewer: SignedIn, db: Session) -> Response:
    await checked_form(request, viewer)
    found = await service.get(db, viewer.organization_id, parse_id(build_id, "App"))
    await service.delete(db, viewer.organization_id, [found.id])
    return redirect("/builds?deleted=1")
