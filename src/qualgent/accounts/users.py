"""Sign-up and sign-in: a person with an email and a password, in one organization."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.concurrency import run_in_threadpool

from qualgent.accounts import passwords
from qualgent.db.models import CreditLedger, Organization, User

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s.]{2,63}$")


class SignUpRefused(Exception):
    """A sign-up form with a problem in `field` (a page's refusal: the API has no sign-up)."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class NewAccount:
    name: str
    email: str
    password: str
    organization: str = ""


def normalized_email(email: str) -> str:
    return email.strip().lower()


def check_account(form: NewAccount) -> dict[str, str]:
    """Problems by field (empty when the form can be saved)."""
    problems: dict[str, str] = {}
    if not form.name.strip() or len(form.name) > 200:
        problems["name"] = "Enter your name (at most 200 characters)."
    if not _EMAIL.match(normalized_email(form.email)):
        problems["email"] = "Enter an email address like name@example.com."
    if (why := passwords.problem(form.password)) is not None:
        problems["password"] = why
    if len(form.organization) > 200:
        problems["organization"] = "Use at most 200 characters."
    return problems


async def email_taken(db: AsyncSession, email: str) -> bool:
    found = await db.scalar(select(User.id).where(
        func.lower(User.email) == normalized_email(email)))
    return found is not None


async def create_user(db: AsyncSession, org_id: uuid.UUID, form: NewAccount,
                      role: str) -> User:
    """Adds the user to the session (the caller commits). The email's uniqueness is the
    database's: two sign-ups racing for one address end with one SignUpRefused."""
    digest = await run_in_threadpool(passwords.hash_password, form.password)
    user = User(id=uuid.uuid4(), organization_id=org_id, name=form.name.strip(),
                email=normalized_email(form.email), password_hash=digest, role=role)
    db.add(user)
    try:
        await db.flush()
    except IntegrityError:
        await db.rollback()
        raise SignUpRefused("An account with this email already exists.", "email") from None
    return user


async def sign_up(db: AsyncSession, form: NewAccount, plan: str, credits: int) -> User:
    """A new organization with its first user, its owner, and the operator's starting credits."""
    if problems := check_account(form):
        field, message = next(iter(problems.items()))
        raise SignUpRefused(message, field)
    if await email_taken(db, form.email):
        raise SignUpRefused("An account with this email already exists.", "email")
    org_name = form.organization.strip() or f"{form.name.strip()}'s team"
    org = Organization(id=uuid.uuid4(), name=org_name, plan=plan, credits=credits)
    db.add(org)
    await db.flush()
    if credits:
        db.add(CreditLedger(organization_id=org.id, delta=credits, balance_after=credits,
                            reason="initial_grant"))
    user = await create_user(db, org.id, form, "owner")
    await db.commit()
    return user


async def authenticate(db: AsyncSession, email: str, password: str) -> User | None:
    """The user whose email and password these are, or None (same work either way)."""
    if len(password) > passwords.MAX_LENGTH:
        return None
    user = (await db.scalars(select(User).where(
        func.lower(User.email) == normalized_email(email)))).first()
    ok = await run_in_threadpool(passwords.verify, user.password_hash if user else None,
                                 password)
    return user if ok and user is not None else None
