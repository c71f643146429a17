"""Pre-signed download links: HMAC-SHA256 over the path and an expiry, valid 5 minutes.

Used for builds and step screenshots; whoever holds the link may fetch that one object.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from urllib.parse import urlencode

LINK_TTL_SECONDS = 300


def _signature(secret: bytes, path: str, expires: int) -> str:
    return hmac.new(secret, f"{path}:{expires}".encode(), hashlib.sha256).hexdigest()


def signed_url(base_url: str, secret: bytes, path: str, now: float | None = None) -> str:
    """path: the server path of the object, e.g. /downloads/apps/<id>."""
    expires = int(now if now is not None else time.time()) + LINK_TTL_SECONDS
    query = urlencode({"expires": expires, "signature": _signature(secret, path, expires)})
    return f"{base_url.rstrip('/')}{path}?{query}"


def check(secret: bytes, path: str, expires: str, signature: str) -> str | None:
    """None when the link is good, else the stable error string."""
    try:
        exp = int(expires)
    except ValueError:
        return "invalid_signature"
    if not hmac.compare_digest(_signature(secret, path, exp), signature):
        return "invalid_signature"
    if exp < time.time():
        return "link_expired"
    return None
