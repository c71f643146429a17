"""Removing bytes no record points to.

An upload stores its bytes, then commits its record; if the process dies between the two, or
mid-upload, bytes are left without a record. Nothing serves them; this sweep deletes them once
they are old enough that no upload in flight can still be writing them.
"""

from __future__ import annotations

import time

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from qualgent.db.models import AppFile
from qualgent.storage.blobs import BlobStore


async def sweep_orphans(db: AsyncSession, blobs: BlobStore, older_than_s: float) -> list[str]:
    cutoff = time.time() - older_than_s
    candidates = [key for key, modified in blobs.list() if modified < cutoff]
    if not candidates:
        return []
    known = set((await db.scalars(
        select(AppFile.file_path).where(AppFile.file_path.in_(candidates)))).all())
    orphans = [key for key in candidates if key not in known]
    for key in orphans:
        blobs.delete(key)
    return orphans
