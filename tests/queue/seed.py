"""Rows the queue needs, written by SQL: an organization with credits, a build, a test case
with its version, and workers with devices. Runs are queued with `lifecycle.enqueue`."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

from qualgent.db.pool import create_pool
from qualgent.queue import lifecycle
from qualgent.queue.states import Priority
from tests.conftest import Db

STEPS = [{"description": "Open the app"}, {"description": "Tap Sign in"}]


@dataclass
class Seed:
    org_id: uuid.UUID
    app_id: uuid.UUID
    case_id: uuid.UUID
    version_id: uuid.UUID


def seed(db: Db, credits: int = 100) -> Seed:
    s = Seed(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4())
    user = uuid.uuid4()
    db.fetch("INSERT INTO organizations (id, name, plan, credits) VALUES ($1, 'q', 'enterprise', "
             "$2)", s.org_id, credits)
    db.fetch("INSERT INTO users (id, organization_id, name) VALUES ($1, $2, 'u')", user, s.org_id)
    db.fetch("INSERT INTO app_files (id, organization_id, user_id, file_path, filename, "
             "original_name, file_size, file_type, sha256, app_name, version, os, package_name) "
             "VALUES ($1, $2, $3, 'q/app.apk', 'app.apk', 'app.apk', 1, 'apk', $4, 'q', '1.0', "
             "'Android', 'com.example.q')", s.app_id, s.org_id, user, "0" * 64)
    db.fetch("INSERT INTO test_cases (id, organization_id, name, status, current_version_number) "
             "VALUES ($1, $2, 'case', 'active', 1)", s.case_id, s.org_id)
    db.fetch("INSERT INTO test_case_versions (id, organization_id, test_case_id, version_number, "
             "name, steps, variables) VALUES ($1, $2, $3, 1, 'case', $4::jsonb, '[]')",
             s.version_id, s.org_id, s.case_id, '[{"description": "Open the app"}]')
    return s


def new_run(s: Seed, priority: Priority = Priority.MEDIUM, **device: object) -> lifecycle.NewRun:
    spec = {"device_name": "Pixel 7", "device_platform": "Android", "device_os_version": None,
            "device_orientation": None, "use_sim": False, **device}
    return lifecycle.NewRun(
        test_case_id=s.case_id, test_case_version_id=s.version_id, version_number=1,
        app_file_id=s.app_id, resolved_steps=STEPS, vars={"who": "me"},
        warnings=[{"code": "unknown_variable", "variable": "x"}], priority=priority,
        **spec,  # type: ignore[arg-type]
    )


def device(db: Db, worker: uuid.UUID, name: str = "Pixel 7", platform: str = "Android",
           os_version: str = "14", sms: bool = True) -> uuid.UUID:
    """An idle device of `worker` (registered, heartbeating)."""
    device_id = uuid.uuid4()
    db.fetch("INSERT INTO workers (id, host, pid) VALUES ($1, 'test', 1) ON CONFLICT DO NOTHING",
             worker)
    db.fetch("INSERT INTO devices (id, name, platform, os_version, form_factor, sms_enabled, "
             "available, worker_id) VALUES ($1, $2, $3, $4, 'phone', $5, true, $6)",
             device_id, name, platform, os_version, sms, worker)
    return device_id


def enqueue(db: Db, s: Seed, *runs: lifecycle.NewRun, cost: int = 1) -> list[uuid.UUID]:
    async def go() -> list[lifecycle.QueuedRun]:
        pool = await create_pool(db.url, 2)
        try:
            return await lifecycle.enqueue(pool, s.org_id, runs, cost)
        finally:
            await pool.close()
    return [q.id for q in asyncio.run(go())]
