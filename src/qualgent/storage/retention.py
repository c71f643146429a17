"""Retention: finished runs' artifacts older than QUALGENT_RETENTION_DAYS are removed.

The run rows, their steps (actions, reasons, timings) and the explanation stay; the
screenshots, device logs and videos go (every prefix of `keys.run_artifact_prefixes`), and the
run says when (`artifacts_pruned_at`). Each batch is marked in the database first and its
blobs deleted after: a prune that dies half-way leaves unreachable bytes, which `gc-blobs`
sweeps, and never a step or an artifact row pointing at a deleted blob.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from qualgent.db.models import RunArtifact, RunStep, TestRun
from qualgent.storage import keys
from qualgent.storage.blobs import BlobStore


@dataclass
class PruneResult:
    runs: int = 0
    blobs: int = 0


async def prune(db: AsyncSession, blobs: BlobStore, older_than_days: float,
                batch_size: int = 500) -> PruneResult:
    cutoff = datetime.now(UTC) - timedelta(days=older_than_days)
    result = PruneResult()
    while True:
        run_ids = (await db.scalars(
            select(TestRun.id)
            .where(TestRun.finished_at < cutoff, TestRun.artifacts_pruned_at.is_(None))
            .order_by(TestRun.finished_at)
            .limit(batch_size)
            .with_for_update(skip_locked=True)
        )).all()
        if not run_ids:
            return result
        await db.execute(update(RunStep).where(RunStep.test_run_id.in_(run_ids))
                         .values(screenshot_key=None))
        await db.execute(delete(RunArtifact).where(RunArtifact.test_run_id.in_(run_ids)))
        await db.execute(update(TestRun).where(TestRun.id.in_(run_ids))
                         .values(artifacts_pruned_at=func.now()))
        await db.commit()
        for run_id in run_ids:
            for prefix in keys.run_artifact_prefixes(run_id):
                for key, _ in list(blobs.list(prefix)):
                    blobs.delete(key)
                    result.blobs += 1
        result.runs += len(run_ids)
