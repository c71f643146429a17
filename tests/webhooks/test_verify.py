"""qualgent.client.webhooks.verify, the receivers' check, against the server's own signing."""

from __future__ import annotations

import time
import uuid

from qualgent.client.webhooks import verify
from qualgent.webhooks import signing

SECRET = signing.secret(b"server key", uuid.uuid4(), 1)
BODY = b'{"event":"run.finished","delivery_id":7}'


def test_a_fresh_signature_verifies_and_anything_altered_does_not() -> None:
    header = signing.signature(SECRET, BODY)
    assert SECRET.startswith("whsec_")
    assert verify(SECRET, BODY, header)
    assert verify(SECRET, BODY.decode(), header)  # str bodies are the same bytes
    assert not verify(SECRET, BODY.replace(b"7", b"8"), header)  # tampered body
    assert not verify(SECRET + "0", BODY, header)  # wrong secret
    other = signing.secret(b"server key", uuid.uuid4(), 1)
    assert not verify(other, BODY, header)  # another webhook's secret


def test_the_timestamp_is_signed_and_must_be_recent() -> None:
    now = int(time.time())
    old = signing.signature(SECRET, BODY, now - 301)
    assert not verify(SECRET, BODY, old)
    assert verify(SECRET, BODY, old, tolerance=400)
    assert not verify(SECRET, BODY, signing.signature(SECRET, BODY, now + 301))  # future
    # moving the timestamp of a valid signature breaks it
    header = signing.signature(SECRET, BODY, now - 1000)
    mac = header.split("v1=")[1]
    assert not verify(SECRET, BODY, f"t={now},v1={mac}")


def test_malformed_headers_are_false_not_errors() -> None:
    good = signing.signature(SECRET, BODY)
    mac = good.split("v1=")[1]
    for header in (None, "", "garbage", f"v1={mac}", "t=123", "t=abc,v1=00",
                   f"t=1,t=2,v1={mac}", f"t={int(time.time())},v1=ü"):
        assert verify(SECRET, BODY, header) is False, header
    assert not verify("", BODY, good)
    # several signatures: any one that matches is enough (a receiver mid-rotation)
    t = good.split(",")[0]
    assert verify(SECRET, BODY, f"{t},v1={'0' * 64},v1={mac}")


def test_the_secret_is_derived_from_the_key_the_id_and_the_version() -> None:
    hook = uuid.uuid4()
    assert signing.secret(b"k", hook, 1) == signing.secret(b"k", hook, 1)
    assert signing.secret(b"k", hook, 1) != signing.secret(b"k", hook, 2)
    assert signing.secret(b"k", hook, 1) != signing.secret(b"other", hook, 1)
