"""Provider phone numbers assigned to devices (by serial), set by an operator.

A number belongs to one serial at a time (device_numbers.phone_number is unique), and a
device reads only what its number received since it was assigned (see inbox.read_messages).
"""

from __future__ import annotations

import re
from collections.abc import Collection

import asyncpg

E164 = re.compile(r"\+[1-9]\d{7,14}")
_SEPARATORS = re.compile(r"[\s\-().]")


class NumberRefused(ValueError):
    """The assignment was not made; str(exc) says why, for the operator."""


def normalise(number: str) -> str:
    """'+1 (555) 010-0000' -> '+15550100000': what people write between the digits dropped."""
    return _SEPARATORS.sub("", number)


def e164(number: str) -> str:
    """The number in E.164 form (+ and 8 to 15 digits), or NumberRefused."""
    compact = normalise(number)
    if not E164.fullmatch(compact):
        raise NumberRefused(f"{number!r} is not a phone number in E.164 form: + then the "
                            "country code and number, 8 to 15 digits (e.g. +15550100000).")
    return compact


_HOLDER = "SELECT serial FROM device_numbers WHERE phone_number = $1"

# A new number restarts the device's window (assigned_at): texts the number received for
# whoever held it before are never read by this device.
_ASSIGN = """
INSERT INTO device_numbers (serial, phone_number) VALUES ($1, $2)
ON CONFLICT (serial) DO UPDATE
SET phone_number = EXCLUDED.phone_number,
    assigned_at = CASE WHEN device_numbers.phone_number = EXCLUDED.phone_number
                       THEN device_numbers.assigned_at ELSE now() END
"""

# The pool shows the device as SMS-capable now; a worker that registers it again reads its
# number (numbers()) to say the same.
_ENABLE_SMS = "UPDATE devices SET sms_enabled = true WHERE serial = $1"

_UNASSIGN = "DELETE FROM device_numbers WHERE serial = $1 RETURNING phone_number"

_NUMBERS = "SELECT serial, phone_number FROM device_numbers WHERE serial = ANY($1::text[])"


async def assign(pool: asyncpg.Pool, serial: str, number: str) -> str:
    """Give `serial` the provider `number` (returned in E.164 form) and mark its current
    device rows SMS-capable; NumberRefused if the number is malformed or held by another
    serial."""
    if not serial.strip():
        raise NumberRefused("The device serial is empty.")
    phone = e164(number)
    async with pool.acquire() as conn, conn.transaction():
        holder = await conn.fetchval(_HOLDER, phone)
        if holder is not None and holder != serial:
            raise NumberRefused(f"{phone} is already assigned to device {holder}; clear it "
                                f"first (qualgent admin set-device-number {holder} --clear).")
        try:
            await conn.execute(_ASSIGN, serial, phone)
        except asyncpg.UniqueViolationError:  # assigned elsewhere in the meantime
            raise NumberRefused(f"{phone} was just assigned to another device.") from None
        await conn.execute(_ENABLE_SMS, serial)
    return phone


async def unassign(pool: asyncpg.Pool, serial: str) -> str | None:
    """Take the number away from `serial`; the number it had, or None. The device rows keep
    their sms flag (a SIM may be why it is set) until their worker registers them again."""
    return await pool.fetchval(_UNASSIGN, serial)


async def numbers(pool: asyncpg.Pool, serials: Collection[str]) -> dict[str, str]:
    """serial -> assigned number, for those of `serials` that have one."""
    rows = await pool.fetch(_NUMBERS, list(serials))
    return {row["serial"]: row["phone_number"] for row in rows}
