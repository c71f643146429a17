"""Dependency aliases and the path parameter type shared by the resource routers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.convertors import StringConvertor, register_url_convertor

from qualgent.api.context import Context, context, session

Ctx = Annotated[Context, Depends(context)]
Session = Annotated[AsyncSession, Depends(session)]

RESERVED_SEGMENTS = ("list", "run", "run-all", "upload", "delete", "status")
"""Words that name a sibling operation (/v1/test-cases/run, /v1/apps/upload, ...)."""


class IdSegment(StringConvertor):
    """A path segment that can be an id: anything but a sibling operation's name, so that
    `PUT /v1/test-cases/run` is 405 (the path exists, not the method) instead of an update
    of a test case called "run". Other strings still reach the route, which answers ids
    that are not UUIDs exactly as missing ones."""

    regex = rf"(?!(?:{'|'.join(RESERVED_SEGMENTS)})(?![^/]))[^/]+"


register_url_convertor("id", IdSegment())
