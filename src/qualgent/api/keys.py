"""API key format and hashing. Keys are random, so a plain SHA-256 is a safe verifier."""

from __future__ import annotations

import hashlib
import re
import secrets

PREFIX = "qg_"
_FORMAT = re.compile(r"^qg_[A-Za-z0-9_-]{20,128}$")


def new_key() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def well_formed(key: str) -> bool:
    return bool(_FORMAT.match(key))


def display_prefix(key: str) -> str:
    return key[:10]
