"""Removing stored bytes that nothing can reach any more.

An upload stores its bytes, then commits its record; if the process dies between the two, or
mid-upload, bytes are left without a record (a build key no app_files row names, or a staging
part). Retention (qualgent.storage.retention) marks a run pruned before deleting its
artifacts, so a prune that died half-way leaves artifacts of a pruned run. Only those three
are swept, and only once older than the threshold, so no upload in flight is touched. Run
artifacts of live runs are never swept: they are referenced by the run, whatever their age.
"""

from __future__ import annotations

import time
import uuid

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from qualgent.db.models import AppFile, TestRun
from qualgent.storage import keys
from qualgent.storage.blobs import BlobStore
from qualgent.storage.keys import BlobKind


async def sweep_orphans(db: AsyncSession, blobs: BlobStore, older_than_s: float) -> list[str]:
    cutoff = time.time() - older_than_s
    builds: list[str] = []
    artifacts: dict[str, uuid.UUID] = {}
    orphans: list[str] = []
    for key, modified in blobs.list():
        parsed = keys.parse(key)
        if parsed is None or modified >= cutoff:
            continue
        if parsed.kind is BlobKind.STAGING:
            orphans.append(key)
        elif parsed.kind is BlobKind.BUILD:
            builds.append(key)
        elif parsed.run_id is not None:  # a run artifact
            artifacts[key] = parsed.run_id
    if builds:
        known = set((await db.scalars(
            select(AppFile.file_path).where(AppFile.file_path.in_(builds)))).all())
        orphans += [key for key in builds if key not in known]
    if artifacts:
        live = set((await db.scalars(select(TestRun.id).where(
            TestRun.id.in_(set(artifacts.values())),
            TestRun.artifacts_pruned_at.is_(None)))).all())
        orphans += [key for key, run_id in artifacts.items() if run_id not in live]
    for key in orphans:
        blobs.delete(key)
    return orphans
