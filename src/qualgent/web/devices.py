"""Devices page: the shared pool, worker devices and catalog profiles.

Devices are shared between organizations, runs are not: a device's current run is linked
only for the viewer's own organization; for anyone else the device is just busy.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from qualgent.api.deps import Ctx
from qualgent.web.pages import SignedIn, render

router = APIRouter(include_in_schema=False)

# The run's organization is read only to decide whether to link it; nothing else of it.
_POOL = """
SELECT d.id, d.name, d.platform, d.os_version, d.form_factor, d.sms_enabled, d.available,
       d.host, d.serial, d.last_seen_at, d.worker_id, d.current_run_id,
       r.organization_id AS run_org
FROM devices d
LEFT JOIN test_runs r ON r.id = d.current_run_id
ORDER BY (d.worker_id IS NULL), d.platform, d.name, d.os_version, d.host NULLS LAST,
         d.serial NULLS LAST
"""

# (word, icon, status class) per state: the word is what tells it, the rest echoes it.
STATES = {
    "busy": ("Busy", "▶", "status-running"),
    "idle": ("Idle", "✔", "status-passed"),
    "offline": ("Offline", "✖", "status-failed"),
    "profile": ("Catalog profile", "◷", "status-queued"),
    "withdrawn": ("Withdrawn", "✖", "status-failed"),
}


def _state(row) -> str:  # noqa: ANN001
    if row["worker_id"] is None:  # a catalog profile: runs on it wait for a worker's device
        return "profile" if row["available"] else "withdrawn"
    if row["current_run_id"] is not None:
        return "busy"
    return "idle" if row["available"] else "offline"


@router.get("/devices")
async def devices_page(request: Request, viewer: SignedIn, ctx: Ctx) -> Response:
    rows = await ctx.pg.fetch(_POOL)
    devices = []
    for row in rows:
        state = _state(row)
        own_run = row["current_run_id"] is not None and row["run_org"] == viewer.organization_id
        devices.append({**{k: row[k] for k in (
            "name", "platform", "os_version", "form_factor", "sms_enabled", "host", "serial",
            "last_seen_at")},
            "worker": row["worker_id"] is not None, "state": STATES[state],
            "run_id": row["current_run_id"] if own_run else None})
    counts = {key: sum(1 for d in devices if d["state"] == STATES[key]) for key in STATES}
    return render(request, "devices/list.html", viewer, title="Devices", devices=devices,
                  counts=counts)
