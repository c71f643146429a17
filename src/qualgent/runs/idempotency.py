"""Idempotent submissions: a client that retries a POST after a lost response gets the first
answer again instead of a second batch.

A key is scoped to (organization, key) for KEEP_HOURS. Its row is written first, in the
transaction that then queues the batch on the same connection and stores the answer: a
concurrent request with the same key waits on the primary key until the first commits (then
replays its answer) or rolls back (then is evaluated afresh, since a refused submission
queued nothing and is not remembered). Expired rows are ignored, reused, and pruned by the
reaper. Requests without the header never touch the table.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from qualgent.api.errors import ApiError

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
KEEP_HOURS = 24
MAX_LENGTH = 255

# Printable ASCII; no space at either end, since HTTP parsers strip it (a key that arrives
# is exactly the key that was sent).
KEY_SCHEMA: dict[str, Any] = {
    "type": "string", "minLength": 1, "maxLength": MAX_LENGTH,
    "pattern": "^[!-~]([ -~]*[!-~])?$",
}
KEY_DESCRIPTION = (
    f"Makes the submission safe to retry: within {KEEP_HOURS} h, a repeat with the same key "
    f"and the same body returns the first answer again (header `{REPLAYED}: true`) and "
    "queues and charges nothing; the same key with another body or endpoint is 409 "
    "`idempotency_key_reused`. Only successful submissions are remembered. 1 to "
    f"{MAX_LENGTH} printable ASCII characters, e.g. a UUID per submission."
)
REPLAYED_HEADER: dict[str, Any] = {
    "description": "Present on an answer replayed for a repeated Idempotency-Key",
    "schema": {"type": "string", "enum": ["true"]},
}

_CLAIM = """
INSERT INTO idempotency_keys (organization_id, key, endpoint, request_hash)
VALUES ($1, $2, $3, $4)
ON CONFLICT (organization_id, key) DO UPDATE
SET endpoint = EXCLUDED.endpoint, request_hash = EXCLUDED.request_hash, status_code = NULL,
    response = NULL, created_at = now()
WHERE idempotency_keys.created_at < now() - make_interval(hours => $5)
RETURNING true
"""
_STORED = """
SELECT endpoint, request_hash, status_code, response FROM idempotency_keys
WHERE organization_id = $1 AND key = $2
"""
# The answer is sent as read back, so the first response and its replays are the same bytes
# (jsonb orders an object's keys its own way).
_REMEMBER = """
UPDATE idempotency_keys SET status_code = $3, response = $4
WHERE organization_id = $1 AND key = $2
RETURNING response
"""
_PRUNE = "DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(hours => $1)"

Submit = Callable[[asyncpg.Connection], Awaitable[dict]]
"""Queues the batch on the connection it is given and returns the route's JSON body."""


def parse_key(value: str | None) -> str | None:
    """The header's key, or None without one; 400 when it is not 1-255 printable ASCII."""
    if value is None:
        return None
    if not 1 <= len(value) <= MAX_LENGTH or not all(" " <= c <= "~" for c in value) \
            or value != value.strip(" "):
        raise ApiError(400, "invalid_request",
                       f"{HEADER} must be 1 to {MAX_LENGTH} printable ASCII characters.",
                       {"field": HEADER})
    return value


def request_hash(request: BaseModel) -> bytes:
    """SHA-256 of the parsed body as canonical JSON: spacing, key order and spelled-out
    defaults do not make two requests different."""
    canonical = json.dumps(request.model_dump(mode="json"), sort_keys=True,
                           separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).digest()


def key_reused() -> ApiError:
    return ApiError(
        409, "idempotency_key_reused",
        f"This {HEADER} was used in the last {KEEP_HOURS} hours for a different request "
        "(another body or endpoint); send a new key for a new submission.",
        {"field": HEADER})


async def once(pool: asyncpg.Pool, org_id: uuid.UUID, key: str, endpoint: str,
               request: BaseModel, submit: Submit) -> JSONResponse:
    """Run `submit` once per (organization, key): the first time its body (remembered with
    the queued runs, atomically), afterwards the same body replayed. A refusal raised by
    `submit` rolls everything back, so nothing is remembered."""
    digest = request_hash(request)
    async with pool.acquire() as conn, conn.transaction():
        for _ in range(2):  # a second pass only if the row was pruned between the statements
            if await conn.fetchval(_CLAIM, org_id, key, endpoint, digest, KEEP_HOURS):
                body = await submit(conn)
                stored_body = await conn.fetchval(_REMEMBER, org_id, key, 200, body)
                return JSONResponse(stored_body)
            stored = await conn.fetchrow(_STORED, org_id, key)
            if stored is not None:
                break
        else:
            raise RuntimeError(f"idempotency key row of {org_id} neither claimed nor found")
    if stored["endpoint"] != endpoint or stored["request_hash"] != digest:
        raise key_reused()
    return JSONResponse(stored["response"], status_code=stored["status_code"],
                        headers={REPLAYED: "true"})


async def prune(pool: asyncpg.Pool) -> int:
    """Delete keys past KEEP_HOURS (already ignored); how many went."""
    status = await pool.execute(_PRUNE, KEEP_HOURS)
    return int(status.rsplit(" ", 1)[-1])
