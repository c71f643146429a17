"""Sign-up, sign-in and sign-out pages."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from limits import parse
from starlette.responses import Response

from qualgent.accounts import sessions, users
from qualgent.api.deps import Ctx, Session
from qualgent.api.ratelimit import client_address
from qualgent.api.windows import windows
from qualgent.web import security
from qualgent.web.pages import field, redirect, render, safe_next, viewer_of

router = APIRouter(include_in_schema=False)


class SignInLimiter:
    """Sign-in attempts per client address and per email, in the API's rate-limit windows
    (shared through Redis when QUALGENT_REDIS_URL is set)."""

    def __init__(self, limit: str, redis_url: str | None) -> None:
        self.item = parse(limit)
        self.windows = windows(redis_url)

    async def allowed(self, address: str, email: str) -> bool:
        by_address = await self.windows.hit(self.item, "signin-ip:" + address)
        by_email = await self.windows.hit(self.item, "signin-email:" + email)
        return by_address.allowed and by_email.allowed


def limiter(request: Request) -> SignInLimiter:
    state = request.app.state
    if getattr(state, "signin_limiter", None) is None:
        settings = state.ctx.settings
        state.signin_limiter = SignInLimiter(settings.signin_limit, settings.redis_url)
    return state.signin_limiter


async def begin_session(request: Request, db: Session, ctx: Ctx, user_id: uuid.UUID,
                        next_path: str) -> Response:
    """A fresh session (whatever cookie the browser brought is dropped), then on to next."""
    token = await sessions.start(db, user_id, ctx.settings.session_days,
                                 replacing=request.cookies.get(sessions.COOKIE))
    response = redirect(safe_next(next_path))
    response.set_cookie(sessions.COOKIE, token, httponly=True, samesite="lax",
                        secure=security.secure_cookies(request), path="/",
                        max_age=int(ctx.settings.session_days * 86400))
    return response


@router.get("/auth/sign-up")
async def sign_up_page(request: Request, ctx: Ctx) -> Response:
    if ctx.settings.signup != "open":
        return render(request, "auth/sign_up_closed.html", None, status=403)
    return render(request, "auth/sign_up.html", None, form={}, errors={})


@router.post("/auth/sign-up")
async def sign_up(request: Request, ctx: Ctx, db: Session) -> Response:
    if ctx.settings.signup != "open":
        return render(request, "auth/sign_up_closed.html", None, status=403)
    form = await request.form()
    security.check_anonymous(request, form, ctx.settings.signing_key)
    account = users.NewAccount(name=field(form, "name", 300), email=field(form, "email", 300),
                               password=field(form, "password", 1000),
                               organization=field(form, "organization", 300))
    errors = users.check_account(account)
    if not errors:
        try:
            user = await users.sign_up(db, account, ctx.settings.signup_plan,
                                       ctx.settings.signup_credits)
        except users.SignUpRefused as exc:
            errors = {exc.field: exc.message}
        else:
            return await begin_session(request, db, ctx, user.id, "/test-runs")
    shown = {"name": account.name, "email": account.email, "organization": account.organization}
    return render(request, "auth/sign_up.html", None, status=422, form=shown, errors=errors)


@router.get("/auth/sign-in")
async def sign_in_page(request: Request, next: str = "") -> Response:  # noqa: A002
    if await viewer_of(request) is not None:
        return redirect(safe_next(next))
    return render(request, "auth/sign_in.html", None, next=safe_next(next), email="",
                  error=None)


@router.post("/auth/sign-in")
async def sign_in(request: Request, ctx: Ctx, db: Session) -> Response:
    form = await request.form()
    security.check_anonymous(request, form, ctx.settings.signing_key)
    email, password = field(form, "email", 300), field(form, "password", 1000)
    next_path = safe_next(field(form, "next", 2000))
    if not await limiter(request).allowed(client_address(request.scope),
                                          users.normalized_email(email)):
        return render(request, "auth/sign_in.html", None, status=429, next=next_path,
                      email=email, error="Too many sign-in attempts. Wait a minute and try "
                      "again.")
    user = await users.authenticate(db, email, password)
    if user is None:
        return render(request, "auth/sign_in.html", None, status=401, next=next_path,
                      email=email, error="The email or the password is not right.")
    return await begin_session(request, db, ctx, user.id, next_path)


@router.post("/auth/sign-out")
async def sign_out(request: Request, db: Session) -> Response:
    viewer = await viewer_of(request)
    if viewer is not None:
        form = await request.form()
        security.check_session(request, viewer.csrf_token, form)
        await sessions.end(db, request.cookies.get(sessions.COOKIE))
    response = redirect("/auth/sign-in")
    response.delete_cookie(sessions.COOKIE, path="/")
    return response
