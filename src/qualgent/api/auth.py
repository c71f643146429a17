"""X-Api-Key authentication: every /v1 request resolves to exactly one organization.

Keys that authenticated are kept in the process's KeyCache (see qualgent.api.keycache), so
a polling client costs no key lookup; a failed authentication is reported to the rate
limiter, which refuses further unknown keys from that address before they reach the
database.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request

from qualgent.api.errors import ApiError
from qualgent.api.keycache import KeyCache, Principal
from qualgent.api.keys import hash_key, well_formed
from qualgent.api.ratelimit import note_failed_authentication

__all__ = ["Auth", "Principal", "SECURITY_SCHEME", "principal"]

_LOOKUP = (  # a lookup that also notes the key's last use (shown under Settings -> Developer)
    "UPDATE api_keys k SET last_used_at = now() FROM organizations o "
    "WHERE k.key_hash = $1 AND o.id = k.organization_id AND k.revoked_at IS NULL "
    "RETURNING k.id, k.organization_id, k.user_id, k.key_hash, k.revoked_at, o.plan"
)

INVALID_KEY = "The API key is not valid: it is unknown or has been revoked."
"""One answer for unknown and revoked keys: telling them apart would confirm that a leaked
key once existed."""


def _unauthorized(message: str, error: str = "invalid_api_key") -> ApiError:
    return ApiError(401, error, message)


SECURITY_SCHEME = {"type": "apiKey", "in": "header", "name": "X-Api-Key",
                   "description": "Your organization's API key (qg_...)"}


async def principal(request: Request) -> Principal:
    key = request.headers.get("x-api-key")
    if not key:
        raise _unauthorized("Send your API key in the X-Api-Key header.", "missing_api_key")
    if not well_formed(key):
        note_failed_authentication(request.scope)
        raise _unauthorized("The API key is malformed: keys start with qg_.")
    digest = hash_key(key)
    cache: KeyCache = request.app.state.key_cache
    known = cache.get(digest)
    if known is not None:
        return known
    ticket = cache.ticket()
    row = await request.app.state.ctx.pg.fetchrow(_LOOKUP, digest)
    if (row is None or not hmac.compare_digest(row["key_hash"], digest)
            or row["revoked_at"] is not None):
        note_failed_authentication(request.scope)
        raise _unauthorized(INVALID_KEY)
    if row["plan"] != "enterprise":
        raise ApiError(
            403, "plan_required", "API access needs an enterprise plan; contact sales.",
            {"plan": row["plan"]},
        )
    found = Principal(row["organization_id"], row["user_id"], row["id"])
    cache.put(digest, found, ticket)
    return found


Auth = Annotated[Principal, Depends(principal)]


async def principal_or_session(request: Request) -> Principal:
    """For the upload endpoint, which the Builds page also uses: an API key, or else a
    signed-in browser session whose CSRF token came in the X-CSRF-Token header."""
    if request.headers.get("x-api-key") is None:
        from qualgent.accounts import sessions  # the web app's sessions, not needed for keys

        token = request.cookies.get(sessions.COOKIE)
        sent = request.headers.get("x-csrf-token")
        viewer = await sessions.resolve(request.app.state.ctx.pg, token) if sent else None
        if viewer is not None and hmac.compare_digest(sent.encode(),
                                                      viewer.csrf_token.encode()):
            if viewer.plan != "enterprise":
                raise ApiError(403, "plan_required",
                               "Uploads need an enterprise plan; contact sales.",
                               {"plan": viewer.plan})
            return Principal(viewer.organization_id, viewer.user_id, None)
    return await principal(request)


KeyOrSession = Annotated[Principal, Depends(principal_or_session)]
