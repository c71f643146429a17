"""The opaque /v1/jobs/list cursor: the keyset position (created_at, id) of a page's last run."""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import UTC, datetime

from qualgent.domain import DomainError

MAX_LENGTH = 128
"""Far above any cursor this API writes (about 90 characters)."""
CURSOR_SCHEMA = {"type": "string", "pattern": "^[A-Za-z0-9_-]+$", "maxLength": MAX_LENGTH}


class InvalidCursor(DomainError):
    def __init__(self) -> None:
        super().__init__("The cursor is not one this API returned.", "cursor")


def encode(created_at: datetime, run_id: uuid.UUID) -> str:
    raw = f"{created_at.isoformat()}|{run_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str) -> tuple[datetime, uuid.UUID]:
    """The position, in UTC; InvalidCursor for anything encode() cannot have written,
    including timestamps whose offset takes them out of the representable range."""
    if len(cursor) > MAX_LENGTH:
        raise InvalidCursor()
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        when, run_id = raw.split("|")
        created_at = datetime.fromisoformat(when)
        if created_at.tzinfo is None:
            raise ValueError("a cursor's timestamp carries its offset")
        return created_at.astimezone(UTC), uuid.UUID(run_id)
    except (ValueError, OverflowError, binascii.Error):  # UnicodeDecodeError is a ValueError
        raise InvalidCursor() from None
