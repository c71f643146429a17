"""Refusals the features' services raise, free of HTTP.

A service that will not do what it was asked raises a DomainError subclass carrying a sentence
for people and the request field at fault; the API maps each class to a status and a stable
error string at its edge (qualgent.api.refusals). Callers branch on the class, never on text.
"""

from __future__ import annotations

import uuid
from typing import Any, Self


def join_field(prefix: str, field: str) -> str:
    """('jobs[3]', 'device.platform') -> 'jobs[3].device.platform'; either may be empty."""
    if not prefix:
        return field
    if not field:
        return prefix
    return f"{prefix}{field}" if field.startswith("[") else f"{prefix}.{field}"


class DomainError(Exception):
    """A request refused for what it asks, not for how it was sent."""

    def __init__(self, message: str, field: str = "", **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.details = details

    def at(self, prefix: str) -> Self:
        """Place the field under `prefix`: a job's error names its job, e.g. jobs[3]."""
        self.field = join_field(prefix, self.field)
        return self


class NotFound(DomainError):
    """Absent, or owned by another organization: the same answer either way, so nothing
    tells one from the other."""

    def __init__(self, resource: str, field: str = "", **details: Any) -> None:
        super().__init__(f"{resource} not found in your organization.", field, **details)
        self.resource = resource


def parse_id(raw: str | uuid.UUID, resource: str, field: str = "") -> uuid.UUID:
    """An id that is not a UUID cannot exist: refused exactly as a missing one."""
    if isinstance(raw, uuid.UUID):
        return raw
    try:
        return uuid.UUID(raw)
    except (ValueError, TypeError, AttributeError):
        raise NotFound(resource, field) from None
