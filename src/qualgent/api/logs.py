"""Keep credentials out of the access log: a signed link's signature is one."""

from __future__ import annotations

import logging
import re

_SIGNATURE = re.compile(r"(signature=)[^&\s]+")


class RedactSignatures(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _SIGNATURE.sub(r"\1<redacted>", a) if isinstance(a, str) else a
                for a in record.args
            )
        return True


def install() -> None:
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactSignatures) for f in access.filters):
        access.addFilter(RedactSignatures())
