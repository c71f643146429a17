"""/v1/devices: the profiles available right now, grouped by form factor."""

from __future__ import annotations

from fastapi import APIRouter

from qualgent.api.auth import Auth
from qualgent.api.deps import Session
from qualgent.api.refusals import RefusalRoute
from qualgent.api.shapes import Platform, Shape
from qualgent.devices import service

router = APIRouter(tags=["devices"], route_class=RefusalRoute)


class DeviceProfile(Shape):
    name: str
    platform: Platform
    os_version: str
    sms_enabled: bool


class DevicePool(Shape):
    phone: list[DeviceProfile]
    tablet: list[DeviceProfile]


@router.get("/devices", response_model=DevicePool)
async def list_devices(auth: Auth, db: Session) -> dict:
    """One entry per profile; a profile is SMS-enabled when any of its devices has a SIM."""
    pool: dict[str, list[dict]] = {"phone": [], "tablet": []}
    for p in await service.available_profiles(db):
        pool[p.form_factor].append({"name": p.name, "platform": p.platform,
                                    "os_version": p.os_version, "sms_enabled": p.sms_enabled})
    return pool
