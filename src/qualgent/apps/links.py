"""Pre-signed download links: HMAC-SHA256 over the file id and an expiry, valid 5 minutes."""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid
from urllib.parse import urlencode

LINK_TTL_SECONDS = 300


def _signature(secret: bytes, file_id: uuid.UUID | str, expires: int) -> str:
    return hmac.new(secret, f"app:{file_id}:{expires}".encode(), hashlib.sha256).hexdigest()


def signed_url(base_url: str, secret: bytes, file_id: uuid.UUID, now: float | None = None) -> str:
    expires = int(now if now is not None else time.time()) + LINK_TTL_SECONDS
    query = urlencode({"expires": expires, "signature": _signature(secret, file_id, expires)})
    return f"{base_url.rstrip('/')}/downloads/apps/{file_id}?{query}"


def check(secret: bytes, file_id: str, expires: str, signature: str) -> str | None:
    """None when the link is good, else the stable error string."""
    try:
        exp = int(expires)
    except ValueError:
        return "invalid_signature"
    if not hmac.compare_digest(_signature(secret, file_id, exp), signature):
        return "invalid_signature"
    if exp < time.time():
        return "link_expired"
    return None
