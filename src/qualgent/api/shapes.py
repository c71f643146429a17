"""Building blocks of the documented response bodies.

Response models forbid extra fields, so a body that grows a field its model does not declare
fails loudly in tests instead of drifting from the OpenAPI document.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, WithJsonSchema

Id = Annotated[str, WithJsonSchema({"type": "string", "format": "uuid"})]
Timestamp = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time"})]
"""ISO 8601 with its UTC offset, as datetime.isoformat() writes it."""


class Shape(BaseModel):
    """A response body (or part of one), field for field."""

    model_config = ConfigDict(extra="forbid")
