"""Test case pages: the list, the editor (every save a new version), the history with a diff
between any two versions, and the form that runs a case.

The editor validates with the API's own schemas (CaseCreate / CaseUpdate), so a page cannot
save what the API would refuse; each pydantic error is shown next to the field its `loc`
names (the form model is web.case_form, the diff web.case_diff). Steps and variables are
edited by server-side buttons (`op`), so the form works without JavaScript and with the
keyboard alone. Runs go through runs.service.run_jobs, the
path POST /v1/test-cases/run takes, so every refusal is the API's.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from pydantic import ValidationError
from sqlalchemy import func, select
from starlette.datastructures import FormData
from starlette.responses import Response

from qualgent.api.deps import Ctx, Session
from qualgent.apps import service as apps
from qualgent.categories import service as categories
from qualgent.db.models import TestCase, TestCaseVersion
from qualgent.devices import service as devices
from qualgent.domain import DomainError, NotFound, parse_id
from qualgent.runs import service as runs
from qualgent.runs.schemas import DeviceSpec, JobSpec
from qualgent.testcases import service as testcases
from qualgent.testcases.schemas import CaseCreate, CaseUpdate
from qualgent.web.case_diff import DiffLine, diff, readable
from qualgent.web.case_form import (
    Draft,
    apply_op,
    as_text,
    focus_of,
    typed,
    undeclared,
    validation_errors,
)
from qualgent.web.pages import SignedIn, checked_form, redirect, render
from qualgent.web.pages import field as form_field

router = APIRouter(include_in_schema=False)


# ------------------------------------------------------------------------------ the list


async def _step_counts(db: Session, org_id: uuid.UUID) -> dict[uuid.UUID, int]:
    """Steps in each case's current version (the listing's summaries carry only the head)."""
    stmt = (
        select(TestCaseVersion.test_case_id, func.jsonb_array_length(TestCaseVersion.steps))
        .join(TestCase, (TestCase.id == TestCaseVersion.test_case_id)
              & (TestCase.current_version_number == TestCaseVersion.version_number))
        .where(TestCase.organization_id == org_id)
    )
    return {case_id: count for case_id, count in (await db.execute(stmt)).all()}


@router.get("/test-cases")
async def case_list(request: Request, viewer: SignedIn, db: Session, category: str = "",
                    q: str = "", archived: str = "") -> Response:
    org = viewer.organization_id
    cats = await categories.summaries(db, org)
    rows = await testcases.summaries(db, org, include_archived=bool(archived))
    error = None
    if category == "none":
        rows = [r for r in rows if r.head.category_id is None]
    elif category:
        if category not in {str(c.id) for c in cats}:
            error = "That category does not exist in your organization; showing every case."
            category = ""
        else:
            rows = [r for r in rows if str(r.head.category_id) == category]
    search = q.strip()[:200]
    if search:
        rows = [r for r in rows if search.casefold() in r.head.name.casefold()]
    return render(request, "testcases/list.html", viewer, title="Test cases", rows=rows,
                  categories=cats, category=category, q=search, archived=bool(archived),
                  steps=await _step_counts(db, org), error=error)


# ----------------------------------------------------------------------------- the editor

async def _render_editor(request: Request, viewer: SignedIn, db: Session, draft: Draft,
                         case: testcases.Case | None, *, errors: dict[str, str] | None = None,
                         focus: str | None = None, status: int = 200,
                         saved: int | None = None) -> Response:
    cats = await categories.summaries(db, viewer.organization_id)
    return render(
        request, "testcases/editor.html", viewer, status=status,
        title=case.head.name if case else "New test case",
        case=case, draft=draft, categories=cats, errors=errors or {}, focus=focus,
        saved=saved, undeclared=undeclared(draft),
        action=f"/test-cases/{case.head.id}" if case else "/test-cases/new",
    )


async def _case(db: Session, viewer: SignedIn, case_id: str) -> testcases.Case:
    return await testcases.read(db, viewer.organization_id, parse_id(case_id, "Test case"))


@router.get("/test-cases/new")
async def new_case(request: Request, viewer: SignedIn, db: Session) -> Response:
    return await _render_editor(request, viewer, db, Draft(), None)


@router.post("/test-cases/new")
async def create_case(request: Request, viewer: SignedIn, db: Session) -> Response:
    form = await checked_form(request, viewer)
    return await _submit_editor(request, viewer, db, form, None)


@router.get("/test-cases/{case_id}")
async def edit_case(request: Request, viewer: SignedIn, db: Session, case_id: str,
                    saved: str = "") -> Response:
    case = await _case(db, viewer, case_id)
    shown = case.version.version_number if saved else None
    return await _render_editor(request, viewer, db, Draft.of(case.version), case, saved=shown)


@router.post("/test-cases/{case_id}")
async def update_case(request: Request, viewer: SignedIn, db: Session,
                      case_id: str) -> Response:
    form = await checked_form(request, viewer)
    case = await _case(db, viewer, case_id)
    return await _submit_editor(request, viewer, db, form, case)


async def _submit_editor(request: Request, viewer: SignedIn, db: Session, form: FormData,
                         case: testcases.Case | None) -> Response:
    """An editing button re-renders the form with its change; Save validates and saves."""
    draft = Draft.from_form(form)
    op = form_field(form, "op", 40) or "save"
    if op != "save":
        return await _render_editor(request, viewer, db, draft, case, focus=apply_op(draft, op))
    try:
        body = (CaseUpdate if case else CaseCreate).model_validate(draft.body())
    except ValidationError as exc:
        errors = validation_errors(draft, exc)
        return await _render_editor(request, viewer, db, draft, case, errors=errors,
                                    focus=focus_of(errors), status=422)
    org = viewer.organization_id
    try:
        if case is None:
            saved = await testcases.create(db, org, body)  # type: ignore[arg-type]
        else:
            saved = await testcases.update(db, org, case.head.id, body)  # type: ignore[arg-type]
    except NotFound as exc:
        if exc.field != "category_id":
            raise
        await db.commit()  # ends the read (and the head's lock); nothing was written
        errors = {"category_id": "Choose a category from the list."}
        return await _render_editor(request, viewer, db, draft, case, errors=errors,
                                    focus="f-category", status=422)
    return redirect(f"/test-cases/{saved.head.id}?saved=1")


@router.post("/test-cases/{case_id}/archive")
async def archive_case(request: Request, viewer: SignedIn, db: Session,
                       case_id: str) -> Response:
    await checked_form(request, viewer)
    case = await testcases.archive(db, viewer.organization_id, parse_id(case_id, "Test case"))
    return redirect(f"/test-cases/{case.head.id}")


# ------------------------------------------------------------------------ versions and diff


def _number(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() and len(text) < 10 else None


@router.get("/test-cases/{case_id}/versions")
async def case_versions(request: Request, viewer: SignedIn, db: Session, case_id: str,
                        a: str = "", b: str = "") -> Response:
    case = await _case(db, viewer, case_id)
    history = await testcases.versions(db, viewer.organization_id, case.head.id)
    by_number = {v.version_number: v for v in history}
    current = case.version.version_number
    old_n = _number(a) if a else max(current - 1, 1)
    new_n = _number(b) if b else current
    error = None
    changes: list[DiffLine] | None = None
    if old_n not in by_number or new_n not in by_number:
        error = "Choose two versions of this test case from the lists."
    elif len(history) > 1 or a or b:
        names = {c.id: c.name for c in await categories.summaries(db, viewer.organization_id)}
        changes = diff(readable(by_number[old_n], names), readable(by_number[new_n], names))
    return render(request, "testcases/versions.html", viewer,
                  status=422 if error else 200, title=f"History of {case.head.name}",
                  case=case, history=history, old=old_n, new=new_n, changes=changes,
                  error=error)


# -------------------------------------------------------------------------------- running


def _device_value(p: devices.Profile) -> str:
    return f"{p.name}|{p.platform}|{p.os_version}"


def _run_error_key(field_name: str) -> str:
    name = field_name.removeprefix("jobs[0]").lstrip(".")
    if name.startswith("vars."):
        return "var-" + name[5:]
    if name.startswith("device"):
        return "device"
    return {"app_file_id": "app_file_id", "test_case_version_id": "version",
            "use_sim": "use_sim"}.get(name, "form")


async def _render_run(request: Request, viewer: SignedIn, db: Session,
                      case: testcases.Case, version: TestCaseVersion, *,
                      values: dict[str, str] | None = None, chosen: dict[str, str] | None = None,
                      errors: dict[str, str] | None = None, notice: str | None = None,
                      status: int = 200) -> Response:
    org = viewer.organization_id
    builds = await apps.list_live(db, org)
    profiles = await devices.available_profiles(db)
    history = await testcases.versions(db, org, case.head.id)
    chosen = chosen or {}
    if values is None:
        values = {v["name"]: "" if v.get("default") is None else as_text(v["default"])
                  for v in version.variables}
    return render(
        request, "testcases/run.html", viewer, status=status, title=f"Run {case.head.name}",
        case=case, version=version, history=history, builds=builds, profiles=profiles,
        device_value=_device_value, values=values, errors=errors or {}, notice=notice,
        chosen_build=chosen.get("app_file_id") or (str(builds[0].id) if builds else ""),
        chosen_device=chosen.get("device", ""), use_sim=chosen.get("use_sim") == "yes",
    )


@router.get("/test-cases/{case_id}/run")
async def run_page(request: Request, viewer: SignedIn, db: Session, case_id: str) -> Response:
    case = await _case(db, viewer, case_id)
    return await _render_run(request, viewer, db, case, case.version)


@router.post("/test-cases/{case_id}/run")
async def run_case(request: Request, viewer: SignedIn, db: Session, ctx: Ctx,
                   case_id: str) -> Response:
    form = await checked_form(request, viewer)
    org = viewer.organization_id
    case = await _case(db, viewer, case_id)
    chosen = {name: form_field(form, name, 300)
              for name in ("app_file_id", "device", "version", "shown_version", "use_sim")}
    version = case.version
    if chosen["version"]:
        try:
            version = await testcases.version_of(
                db, case.head, parse_id(chosen["version"], "Test case version"))
        except NotFound:
            return await _render_run(request, viewer, db, case, case.version, chosen=chosen,
                                     errors={"version": "Choose a version from the list."},
                                     status=422)
    submitted = {v["name"]: form_field(form, f"var-{v['name']}", 4000)
                 for v in version.variables}
    if chosen["shown_version"] != str(version.id):
        shown = await _shown_variables(db, case.head, chosen["shown_version"])
        if shown != [v["name"] for v in version.variables]:
            # The inputs on screen were another version's: show this one's before running.
            values = {v["name"]: submitted[v["name"]] or (
                "" if v.get("default") is None else as_text(v["default"]))
                for v in version.variables}
            return await _render_run(
                request, viewer, db, case, version, values=values, chosen=chosen,
                notice=f"Version {version.version_number} declares other variables: check "
                       "their values below, then run it.")
    supplied = {v["name"]: typed(submitted[v["name"]], v["type"])
                for v in version.variables if submitted[v["name"]] != ""}
    name, _, rest = chosen["device"].partition("|")
    platform, _, os_version = rest.partition("|")
    errors: dict[str, str] = {}
    try:
        job = JobSpec(
            app_file_id=chosen["app_file_id"] or None, test_case_id=str(case.head.id),
            device=DeviceSpec(name=name, platform=platform, os_version=os_version or None),
            use_sim=chosen["use_sim"] == "yes", vars=supplied,
            test_case_version_id=str(version.id),
        )
    except ValidationError:
        errors["device"] = "Choose a device from the list."
    else:
        try:
            submission = await runs.run_jobs(db, ctx.pg, org, [job],
                                             ctx.settings.credits_per_run)
        except DomainError as exc:  # refused while reading: nothing was written
            errors[_run_error_key(exc.field)] = exc.message
        else:
            return redirect(f"/test-runs/{submission.runs[0].id}")
    return await _render_run(request, viewer, db, case, version, values=submitted,
                             chosen=chosen, errors=errors, status=422)


async def _shown_variables(db: Session, head: TestCase, raw: str) -> list[str] | None:
    try:
        shown = await testcases.version_of(db, head, parse_id(raw, "Test case version"))
    except NotFound:
        return None
    return [v["name"] for v in shown.variables]
