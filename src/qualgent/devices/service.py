"""The device pool as clients see it: profiles available now, and checks against the catalog."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from qualgent.db.models import Device
from qualgent.domain import DomainError


@dataclass(frozen=True)
class Profile:
    """A kind of device: SMS-enabled when any device of the profile has a SIM."""

    form_factor: str
    name: str
    platform: str
    os_version: str
    sms_enabled: bool


def _label(name: str, platform: str, os_version: str | None) -> str:
    version = f" {os_version}" if os_version else ""
    return f"{name} ({platform}{version})"


class UnknownDevice(DomainError):
    def __init__(self, name: str, platform: str, os_version: str | None) -> None:
        super().__init__(f"No device profile {_label(name, platform, os_version)} in the "
                         "catalog; GET /v1/devices lists them.", "device")


class SimUnavailable(DomainError):
    def __init__(self, name: str, platform: str, os_version: str | None) -> None:
        super().__init__(f"use_sim needs an SMS-capable device, and "
                         f"{_label(name, platform, os_version)} has no SIM.", "use_sim")


async def available_profiles(db: AsyncSession) -> list[Profile]:
    """One entry per profile with a device available right now, by platform then name."""
    stmt = (
        select(Device.form_factor, Device.name, Device.platform, Device.os_version,
               func.bool_or(Device.sms_enabled))
        .where(Device.available)
        .group_by(Device.form_factor, Device.name, Device.platform, Device.os_version)
        .order_by(Device.platform, Device.name, Device.os_version)
    )
    return [Profile(*row) for row in (await db.execute(stmt)).all()]


async def check_profile(db: AsyncSession, name: str, platform: str, os_version: str | None,
                        use_sim: bool) -> None:
    """The profile exists in the catalog (any os_version when none is asked), and has a SIM
    when the run needs one."""
    stmt = select(Device.sms_enabled).where(Device.name == name, Device.platform == platform)
    if os_version:
        stmt = stmt.where(Device.os_version == os_version)
    sims = (await db.scalars(stmt)).all()
    if not sims:
        raise UnknownDevice(name, platform, os_version)
    if use_sim and not any(sims):
        raise SimUnavailable(name, platform, os_version)
