"""Building blocks of the documented response bodies.

Response models forbid extra fields, so a body that grows a field its model does not declare
fails loudly in tests instead of drifting from the OpenAPI document.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, WithJsonSchema

UUID_SCHEMA: dict[str, Any] = {"type": "string", "format": "uuid"}
Id = Annotated[str, WithJsonSchema(UUID_SCHEMA)]
"""An id, documented as a UUID; in a path or query, anything else is answered 404."""
Timestamp = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]
"""ISO 8601 with its UTC offset, as datetime.isoformat() writes it."""


Platform = Literal["Android", "iOS"]


class Shape(BaseModel):
    """A response body (or part of one), field for field."""

    model_config = ConfigDict(extra="forbid")


class Ref(Shape):
    """Another object, named: a run's test case and app, a test case's category."""

    id: Id
    name: str
