"""Credits given back for runs that failed for infrastructure reasons."""

from __future__ import annotations

import uuid

import asyncpg

_REFUND = """
WITH org AS (
    UPDATE organizations SET credits = credits + $2 WHERE id = $1 RETURNING credits
)
INSERT INTO credit_ledger (organization_id, delta, balance_after, reason, test_run_id, created_at)
SELECT $1, $2, credits, 'refund_infrastructure', $3, now() FROM org
"""


async def refund(conn: asyncpg.Connection, org_id: uuid.UUID, amount: int,
                 run_id: uuid.UUID) -> None:
    """Inside the caller's transaction, so a refund lands exactly with the failure."""
    await conn.execute(_REFUND, org_id, amount, run_id)
