"""Helpers for the SMS provider's tests: Twilio's signature computed independently of the
code under test (straight from Twilio's documentation), a signed webhook client, and the
service functions run on a real pool."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

import asyncpg
import httpx
import pytest

from qualgent.db.pool import create_pool
from tests.conftest import Db, Server, start_server

TOKEN = "12345678901234567890123456789012"
PATH = "/v1/sms/twilio"
T = TypeVar("T")


def twilio_signature(token: str, url: str, params: dict[str, str]) -> str:
    """Twilio's documented algorithm: the full URL, then every POST parameter's name
    immediately followed by its value, names in alphabetical order; HMAC-SHA1 keyed by the
    auth token; base64."""
    data = url
    for name in sorted(params):
        data += name + params[name]
    mac = hmac.new(token.encode("utf-8"), data.encode("utf-8"), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode("ascii")


def inbound(to: str = "+15550100001", body: str = "Your code is 123456",
            sid: str | None = None, **extra: str) -> dict[str, str]:
    """The parameters Twilio posts for an inbound SMS."""
    sid = sid or "SM" + uuid.uuid4().hex
    return {"ToCountry": "US", "SmsMessageSid": sid, "NumMedia": "0", "SmsSid": sid,
            "SmsStatus": "received", "Body": body, "To": to, "NumSegments": "1",
            "MessageSid": sid, "AccountSid": "AC" + "0" * 32,
            "From": "+15557654321", "ApiVersion": "2010-04-01", **extra}


class Webhook:
    """Posts to the webhook as Twilio does, signed for the server's public URL."""

    def __init__(self, server: Server, token: str = TOKEN) -> None:
        self.server = server
        self.token = token
        self.http = httpx.Client(base_url=server.base_url, timeout=30)

    def url(self, query: str = "") -> str:
        return self.server.base_url + PATH + (f"?{query}" if query else "")

    def post(self, params: dict[str, str], *, signature: str | None = None,
             query: str = "", body: str | bytes | None = None,
             headers: dict[str, str] | None = None) -> httpx.Response:
        sent = {"Content-Type": "application/x-www-form-urlencoded"}
        sent["X-Twilio-Signature"] = (signature if signature is not None else
                                      twilio_signature(self.token, self.url(query), params))
        sent.update(headers or {})
        content = body if body is not None else urlencode(params)
        return self.http.post(PATH + (f"?{query}" if query else ""), content=content,
                              headers={k: v for k, v in sent.items() if v is not None})

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def sms_server(db_url: str, tmp_path: Path) -> Iterator[Server]:
    srv = start_server(db_url, tmp_path / "data", twilio_auth_token=TOKEN)
    yield srv
    srv.stop()


@pytest.fixture
def webhook(sms_server: Server) -> Iterator[Webhook]:
    hook = Webhook(sms_server)
    yield hook
    hook.close()


def with_pool(db_url: str, op: Callable[[asyncpg.Pool], Awaitable[T]]) -> T:
    """Run op on a real pool of the test's database."""
    async def go() -> T:
        pool = await create_pool(db_url, 2)
        try:
            return await op(pool)
        finally:
            await pool.close()
    return asyncio.run(go())


def stored(db: Db) -> list[dict[str, Any]]:
    return [dict(r) for r in db.fetch(
        "SELECT to_number, from_number, body, message_sid FROM inbound_sms ORDER BY id")]


def add_device(db: Db, serial: str, sms: bool = False) -> str:
    device_id = str(uuid.uuid4())
    db.fetch("INSERT INTO devices (id, name, platform, os_version, form_factor, sms_enabled, "
             "available, serial) VALUES ($1::uuid, 'iPhone 14 Pro', 'iOS', '16.0', 'phone', "
             "$2, true, $3)", device_id, sms, serial)
    return device_id
