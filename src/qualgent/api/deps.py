"""Dependency aliases shared by the resource routers."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession

from qualgent.api.context import Context, context, session
from qualgent.api.errors import not_found

Ctx = Annotated[Context, Depends(context)]
Session = Annotated[AsyncSession, Depends(session)]


def parse_id(raw: str | uuid.UUID, resource: str) -> uuid.UUID:
    """An id that is not a UUID cannot exist: answer exactly as for a missing one."""
    try:
        return raw if isinstance(raw, uuid.UUID) else uuid.UUID(str(raw))
    except ValueError:
        raise not_found(resource) from None
