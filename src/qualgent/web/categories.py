"""The Categories page: create, rename and delete an organization's categories, with the
number of active test cases in each (the same counts as GET /v1/categories/list).

Deleting a category keeps its test cases: the foreign key is ON DELETE SET NULL, so they
move to no category. A name taken in the organization is refused by the database's unique
constraint (so two people racing for one name end with one category) and shown inline.
"""

from __future__ import annotations

import uuid
from urllib.parse import quote

from fastapi import APIRouter, Request
from sqlalchemy.exc import IntegrityError
from starlette.responses import Response

from qualgent.accounts.sessions import Viewer
from qualgent.api.deps import Session
from qualgent.categories import service
from qualgent.db.models import Category
from qualgent.web.pages import SignedIn, checked_form, field, redirect, render

router = APIRouter(include_in_schema=False)

MAX_NAME = 100


def name_problem(name: str) -> str | None:
    """Why a category name is refused, or None."""
    if "\x00" in name:
        return "A name cannot contain NUL characters."
    if not name:
        return "Enter a name."
    if len(name) > MAX_NAME:
        return f"Use at most {MAX_NAME} characters (this name has {len(name)})."
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "A name cannot contain control characters such as tabs or line breaks."
    return None


def _taken(name: str) -> str:
    return f"There is already a category named “{name}”. Choose another name."


async def _page(request: Request, db: Session, viewer: Viewer, *, status: int = 200,
                new_name: str = "", create_error: str | None = None,
                row_errors: dict[str, tuple[str, str]] | None = None,
                deleted: str = "") -> Response:
    categories = await service.summaries(db, viewer.organization_id)
    notice = None  # never about a category that still exists, whatever the URL says
    if deleted and all(c.name != deleted for c in categories):
        notice = f"Deleted the category “{deleted}”. Its test cases now have no category."
    return render(request, "categories/list.html", viewer, status=status,
                  categories=categories,
                  new_name=new_name, create_error=create_error, row_errors=row_errors or {},
                  notice=notice)


@router.get("/categories")
async def categories_page(request: Request, db: Session, viewer: SignedIn,
                          deleted: str = "") -> Response:
    return await _page(request, db, viewer, deleted=deleted[:MAX_NAME])


@router.post("/categories")
async def create_category(request: Request, db: Session, viewer: SignedIn) -> Response:
    form = await checked_form(request, viewer)
    name = field(form, "name", MAX_NAME + 1000).strip()
    problem = name_problem(name)
    if problem is None:
        db.add(Category(id=uuid.uuid4(), organization_id=viewer.organization_id, name=name))
        try:
            await db.commit()
        except IntegrityError:
            await db.rollback()
            problem = _taken(name)
        else:
            return redirect("/categories")
    return await _page(request, db, viewer, status=422, new_name=name.replace("\x00", ""),
                       create_error=problem)


@router.post("/categories/{category_id}/rename")
async def rename_category(request: Request, category_id: str, db: Session,
                          viewer: SignedIn) -> Response:
    form = await checked_form(request, viewer)
    category = await service.get(db, viewer.organization_id, category_id)
    row_id = str(category.id)  # read before a rollback expires the object
    name = field(form, "name", MAX_NAME + 1000).strip()
    problem = name_problem(name)
    if problem is None and name != category.name:
        category.name = name
        try:
            await db.commit()
        except IntegrityError:
            await db.rollback()
            problem = _taken(name)
    if problem is None:
        return redirect("/categories")
    errors = {row_id: (name.replace("\x00", ""), problem)}
    return await _page(request, db, viewer, status=422, row_errors=errors)


@router.post("/categories/{category_id}/delete")
async def delete_category(request: Request, category_id: str, db: Session,
                          viewer: SignedIn) -> Response:
    await checked_form(request, viewer)
    category = await service.get(db, viewer.organization_id, category_id)
    name = category.name
    await db.delete(category)
    await db.commit()
    return redirect("/categories?deleted=" + quote(name, safe=""))
