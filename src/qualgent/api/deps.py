"""Dependency aliases shared by the resource routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession

from qualgent.api.context import Context, context, session

Ctx = Annotated[Context, Depends(context)]
Session = Annotated[AsyncSession, Depends(session)]
