"""Webhook secrets and signatures.

A webhook's secret is derived, never stored: HMAC-SHA256 of the server's signing key over
"webhook:<id>:<secret_version>", so it can be shown once at registration and recomputed for
every delivery; bumping secret_version rotates it. A body is signed as Stripe-style
`t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<raw body>")>`: the timestamp inside the
MAC lets receivers refuse replays (qualgent.client.webhooks.verify checks both).
"""

from __future__ import annotations

import hashlib
import hmac
import time
import uuid

PREFIX = "whsec_"
HEADER = "X-Qualgent-Signature"


def secret(signing_key: bytes, webhook_id: uuid.UUID | str, version: int) -> str:
    """The webhook's signing secret (the whole string, prefix included, is the HMAC key)."""
    mac = hmac.new(signing_key, f"webhook:{webhook_id}:{version}".encode(), hashlib.sha256)
    return PREFIX + mac.hexdigest()


def signature(secret_: str, body: bytes, timestamp: int | None = None) -> str:
    """The X-Qualgent-Signature value for this body, at `timestamp` (default: now)."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret_.encode(), f"{t}.".encode() + body, hashlib.sha256)
    return f"t={t},v1={mac.hexdigest()}"
