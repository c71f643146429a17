"""X-Api-Key authentication: every /v1 request resolves to exactly one organization."""

from __future__ import annotations

import hmac
import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from qualgent.api.errors import ApiError
from qualgent.api.keys import hash_key, well_formed

_LOOKUP = (
    "SELECT k.id, k.organization_id, k.user_id, k.key_hash, k.revoked_at, o.plan "
    "FROM api_keys k JOIN organizations o ON o.id = k.organization_id WHERE k.key_hash = $1"
)


@dataclass(frozen=True)
class Principal:
    organization_id: uuid.UUID
    user_id: uuid.UUID
    key_id: uuid.UUID


def _unauthorized(message: str, error: str = "invalid_api_key") -> ApiError:
    return ApiError(401, error, message)


SECURITY_SCHEME = {"type": "apiKey", "in": "header", "name": "X-Api-Key",
                   "description": "Your organization's API key (qg_...)"}


async def principal(request: Request) -> Principal:
    key = request.headers.get("x-api-key")
    if not key:
        raise _unauthorized("Send your API key in the X-Api-Key header.", "missing_api_key")
    if not well_formed(key):
        raise _unauthorized("The API key is malformed: keys start with qg_.")
    digest = hash_key(key)
    row = await request.app.state.ctx.pg.fetchrow(_LOOKUP, digest)
    if row is None or not hmac.compare_digest(row["key_hash"], digest):
        raise _unauthorized("The API key is not valid.")
    if row["revoked_at"] is not None:
        raise _unauthorized("The API key has been revoked.")
    if row["plan"] != "enterprise":
        raise ApiError(
            403, "plan_required", "API access needs an enterprise plan; contact sales.",
            {"plan": row["plan"]},
        )
    return Principal(row["organization_id"], row["user_id"], row["id"])


Auth = Annotated[Principal, Depends(principal)]
