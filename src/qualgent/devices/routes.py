"""/v1/devices: the profiles available right now, grouped by form factor."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import func, select

from qualgent.api.auth import Auth
from qualgent.api.deps import Session
from qualgent.db.models import Device

router = APIRouter(tags=["devices"])


@router.get("/devices")
async def list_devices(auth: Auth, db: Session) -> dict:
    """One entry per profile; a profile is SMS-enabled when any of its devices has a SIM."""
    stmt = (
        select(Device.form_factor, Device.name, Device.platform, Device.os_version,
               func.bool_or(Device.sms_enabled))
        .where(Device.available)
        .group_by(Device.form_factor, Device.name, Device.platform, Device.os_version)
        .order_by(Device.platform, Device.name, Device.os_version)
    )
    pool: dict[str, list[dict]] = {"phone": [], "tablet": []}
    for form_factor, name, platform, os_version, sms in (await db.execute(stmt)).all():
        pool[form_factor].append(
            {"name": name, "platform": platform, "os_version": os_version, "sms_enabled": sms}
        )
    return pool
