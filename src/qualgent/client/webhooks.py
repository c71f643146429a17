"""Verifying a qualgent webhook on the receiving side.

    from qualgent.client.webhooks import verify

    if not verify(SECRET, raw_body, request.headers.get("X-Qualgent-Signature")):
        return 400  # not from qualgent, altered, or replayed

`body` must be the raw bytes received (not re-serialized JSON). The header is
`t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`; several v1 entries may be
present (any one matching is enough). Standard library only, so receivers need nothing else.
"""

from __future__ import annotations

import hashlib
import hmac
import time

__all__ = ["verify"]


def verify(secret: str, body: bytes | str, header: str | None, tolerance: float = 300,
           *, now: float | None = None) -> bool:
    """True when `header` signs `body` with `secret` and its timestamp is within `tolerance`
    seconds of `now` (default: the current time), so a captured delivery cannot be replayed
    later. Compared in constant time; a malformed header is simply False."""
    if not header or not secret:
        return False
    raw = body.encode() if isinstance(body, str) else bytes(body)
    timestamp: int | None = None
    candidates: list[bytes] = []
    for part in header.split(","):
        name, sep, value = part.strip().partition("=")
        if not sep:
            return False
        if name == "t":
            if timestamp is not None or not (value.isascii() and value.isdigit()):
                return False
            timestamp = int(value)
        elif name == "v1" and value.isascii():
            candidates.append(value.encode())
    if timestamp is None or not candidates:
        return False
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + raw,
                        hashlib.sha256).hexdigest().encode()
    matched = False
    for candidate in candidates:  # each one compared, no early exit
        matched |= hmac.compare_digest(expected, candidate)
    return matched
