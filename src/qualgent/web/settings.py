"""Settings pages: Developer (API keys, plan, credits and their ledger) and Members (people,
roles, invitation links), and the page that accepts an invitation.

A new key or invitation link is shown once, in the answer to the POST that made it (never
stored in plaintext, never put in a URL or a cookie); other POSTs redirect back.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from sqlalchemy import select
from starlette.responses import Response

from qualgent.accounts import invitations, keys, members, users
from qualgent.accounts.sessions import Viewer
from qualgent.api.deps import Ctx, Session
from qualgent.db.models import CreditLedger, Organization
from qualgent.domain import DomainError, NotFound
from qualgent.web import security
from qualgent.web.auth import begin_session
from qualgent.web.pages import Owner, SignedIn, checked_form, field, redirect, render

router = APIRouter(include_in_schema=False)

LEDGER_ROWS = 50
REASONS = {
    "initial_grant": "Initial grant",
    "top_up": "Top-up",
    "runs_queued": "Runs queued",
    "refund_infrastructure": "Refund (infrastructure failure)",
}


def public_base(request: Request, ctx: Ctx) -> str:
    return (ctx.settings.public_url.rstrip("/")
            or f"{request.url.scheme}://{request.url.netloc}")


# --- Developer -------------------------------------------------------------------------------

async def _developer(request: Request, db: Session, viewer: Viewer, *, status: int = 200,
                     new_key: str | None = None, revoked: str = "") -> Response:
    org = await db.get(Organization, viewer.organization_id)
    listed = await keys.list_keys(db, viewer.organization_id)
    notice = None  # only for a key of this org that is revoked: the URL cannot put words here
    if revoked and any(k.prefix == revoked and not k.active for k in listed):
        notice = f"The key {revoked}… is revoked: the API refuses it from now on."
    ledger = (await db.scalars(
        select(CreditLedger).where(CreditLedger.organization_id == viewer.organization_id)
        .order_by(CreditLedger.id.desc()).limit(LEDGER_ROWS))).all()
    return render(request, "settings/developer.html", viewer, status=status,
                  keys=listed, new_key=new_key,
                  notice=notice, plan=org.plan if org else viewer.plan,
                  credits=org.credits if org else 0, ledger=ledger, reasons=REASONS,
                  ledger_limit=LEDGER_ROWS, base=public_base(request, request.app.state.ctx))


@router.get("/settings")
async def settings_home() -> Response:
    return redirect("/settings/developer")


@router.get("/settings/developer")
async def developer(request: Request, db: Session, viewer: SignedIn,
                    revoked: str = "") -> Response:
    return await _developer(request, db, viewer, revoked=revoked[:16])


@router.post("/settings/developer/keys")
async def create_key(request: Request, db: Session, viewer: SignedIn) -> Response:
    await checked_form(request, viewer)
    _, plaintext = await keys.create(db, viewer.organization_id, viewer.user_id)
    return await _developer(request, db, viewer, status=201, new_key=plaintext)


@router.post("/settings/developer/keys/{key_id}/revoke")
async def revoke_key(request: Request, key_id: str, db: Session, viewer: SignedIn) -> Response:
    await checked_form(request, viewer)
    only = None if viewer.is_owner else viewer.user_id
    prefix = await keys.revoke(db, viewer.organization_id, key_id, only_user=only)
    return redirect(f"/settings/developer?revoked={prefix}")


# --- Members ---------------------------------------------------------------------------------

async def _members(request: Request, db: Session, viewer: Viewer, *, status: int = 200,
                   link: str | None = None, link_role: str = "",
                   errors: dict[str, str] | None = None, removed: str = "") -> Response:
    pending = (await invitations.pending(db, viewer.organization_id)
               if viewer.is_owner else [])
    people = await members.list_members(db, viewer.organization_id)
    notice = None  # never about someone still a member, whatever the URL says
    if removed and all(m.name != removed for m in people):
        notice = f"{removed} was removed and signed out."
    return render(request, "settings/members.html", viewer, status=status,
                  members=people,
                  pending=pending, link=link, link_role=link_role, errors=errors or {},
                  notice=notice, roles=members.ROLES)


@router.get("/settings/members")
async def members_page(request: Request, db: Session, viewer: SignedIn,
                       removed: str = "") -> Response:
    return await _members(request, db, viewer, removed=removed[:200])


@router.post("/settings/members/invitations")
async def invite(request: Request, ctx: Ctx, db: Session, viewer: Owner) -> Response:
    form = await checked_form(request, viewer)
    role = field(form, "role", 20)
    try:
        token = await invitations.create(db, viewer.organization_id, viewer.user_id, role)
    except DomainError as exc:
        return await _members(request, db, viewer, status=422, errors={"invite": exc.message})
    return await _members(request, db, viewer, status=201, link_role=role,
                          link=f"{public_base(request, ctx)}/auth/invite/{token}")


@router.post("/settings/members/invitations/{invitation_id}/revoke")
async def revoke_invitation(request: Request, invitation_id: str, db: Session,
                            viewer: Owner) -> Response:
    await checked_form(request, viewer)
    await invitations.revoke(db, viewer.organization_id, invitation_id)
    return redirect("/settings/members")


@router.post("/settings/members/{user_id}/role")
async def change_role(request: Request, user_id: str, db: Session, viewer: Owner) -> Response:
    form = await checked_form(request, viewer)
    try:
        await members.change_role(db, viewer.organization_id, user_id, field(form, "role", 20))
    except NotFound:
        raise
    except DomainError as exc:
        return await _members(request, db, viewer, status=409, errors={user_id: exc.message})
    return redirect("/settings/members")


@router.post("/settings/members/{user_id}/remove")
async def remove_member(request: Request, user_id: str, db: Session, viewer: Owner) -> Response:
    await checked_form(request, viewer)
    try:
        name = await members.remove(db, viewer.organization_id, user_id, viewer.user_id)
    except NotFound:
        raise
    except DomainError as exc:
        return await _members(request, db, viewer, status=409, errors={user_id: exc.message})
    return redirect("/settings/members?removed=" + quote(name[:200], safe=""))


# --- Accepting an invitation (before signing in) ---------------------------------------------

@router.get("/auth/invite/{token}")
async def invite_page(request: Request, token: str, db: Session) -> Response:
    try:
        offer = await invitations.offer(db, token)
    except invitations.InvitationRefused as exc:
        return render(request, "settings/invite_refused.html", None, status=410,
                      message=exc.message)
    return render(request, "settings/invite_accept.html", None, offer=offer, token=token,
                  form={}, errors={})


@router.post("/auth/invite/{token}")
async def accept_invite(request: Request, token: str, ctx: Ctx, db: Session) -> Response:
    form = await request.form()
    security.check_anonymous(request, form, ctx.settings.signing_key)
    account = users.NewAccount(name=field(form, "name", 300), email=field(form, "email", 300),
                               password=field(form, "password", 1000))
    errors = users.check_account(account)
    if not errors:
        try:
            user = await invitations.accept(db, token, account)
        except invitations.InvitationRefused as exc:
            return render(request, "settings/invite_refused.html", None, status=410,
                          message=exc.message)
        except users.SignUpRefused as exc:
            errors = {exc.field or "email": exc.message}
        else:
            return await begin_session(request, db, ctx, user.id, "/test-runs")
    try:
        offer = await invitations.offer(db, token)
    except invitations.InvitationRefused as exc:
        return render(request, "settings/invite_refused.html", None, status=410,
                      message=exc.message)
    shown = {"name": account.name, "email": account.email}
    return render(request, "settings/invite_accept.html", None, status=422, offer=offer,
                  token=token, form=shown, errors=errors)
