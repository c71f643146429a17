"""POST /v1/sms/twilio as Twilio calls it: signed with the account's auth token, no API key."""

from __future__ import annotations

import logging
import socket
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest

from qualgent.config import Settings
from tests.api.test_auth_and_errors import _error
from tests.conftest import Db, Server, start_server
from tests.sms.conftest import PATH, TOKEN, Webhook, inbound, stored, twilio_signature

TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'


def test_a_signed_text_is_stored_and_answered_with_empty_twiml(
        webhook: Webhook, db: Db, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    params = inbound(to="+1 555 010 0001", body="Your Demo Shop code is 482913")
    r = webhook.post(params)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/xml")
    assert r.text == TWIML
    assert r.headers["X-RateLimit-Limit"]  # rate limited like every /v1 route
    assert stored(db) == [{"to_number": "+15550100001", "from_number": "+15557654321",
                           "body": "Your Demo Shop code is 482913",
                           "message_sid": params["MessageSid"]}]
    assert "inbound SMS to +15550100001 stored" in caplog.text  # the log is captured, and
    assert "482913" not in caplog.text and TOKEN not in caplog.text  # holds neither


def test_the_order_of_the_parameters_does_not_matter(webhook: Webhook, db: Db) -> None:
    params = inbound(body="code 1111")
    signature = twilio_signature(TOKEN, webhook.url(), params)
    reordered = dict(reversed(list(params.items())))
    assert list(reordered) != list(params)
    assert webhook.post(reordered, signature=signature).status_code == 200
    assert [m["body"] for m in stored(db)] == ["code 1111"]


def test_the_query_string_is_part_of_what_is_signed(webhook: Webhook, db: Db) -> None:
    params = inbound(body="code 2222")
    assert webhook.post(params, query="pool=eu&x=%20y").status_code == 200
    signed_without_query = twilio_signature(TOKEN, webhook.url(), params)
    r = webhook.post(inbound(body="code 3333"), query="pool=eu",
                     signature=signed_without_query)
    _error(r, 403, "invalid_signature")
    assert [m["body"] for m in stored(db)] == ["code 2222"]


def test_the_url_signed_without_its_port_is_accepted_as_twilio_libraries_do(
        webhook: Webhook, db: Db) -> None:
    params = inbound(body="code 4444")
    base = webhook.server.base_url  # http://127.0.0.1:<port>
    without_port = base.rsplit(":", 1)[0] + PATH
    assert webhook.post(params, signature=twilio_signature(TOKEN, without_port, params)
                        ).status_code == 200
    assert [m["body"] for m in stored(db)] == ["code 4444"]


@pytest.mark.parametrize("attack", ["tampered body", "tampered number", "wrong token",
                                    "missing header", "empty header", "another path"])
def test_requests_not_signed_by_the_account_are_refused(webhook: Webhook, db: Db,
                                                        attack: str) -> None:
    params = inbound(body="Your code is 123456")
    good = twilio_signature(TOKEN, webhook.url(), params)
    if attack == "tampered body":
        r = webhook.post({**params, "Body": "Your code is 999999"}, signature=good)
    elif attack == "tampered number":
        r = webhook.post({**params, "To": "+15550100002"}, signature=good)
    elif attack == "wrong token":
        r = webhook.post(params, signature=twilio_signature("x" * 32, webhook.url(), params))
    elif attack == "missing header":
        r = webhook.http.post(PATH, content=urlencode(params), headers={
            "Content-Type": "application/x-www-form-urlencoded"})
    elif attack == "empty header":
        r = webhook.post(params, signature="")
    else:
        r = webhook.post(params, signature=twilio_signature(
            TOKEN, webhook.server.base_url + "/v1/sms/other", params))
    body = _error(r, 403, "invalid_signature")
    assert body["details"] == {"field": "X-Twilio-Signature"}
    assert stored(db) == []


def test_without_an_auth_token_the_webhook_refuses(server: Server, db: Db) -> None:
    hook = Webhook(server)
    try:
        r = hook.post(inbound())
    finally:
        hook.close()
    body = _error(r, 503, "sms_webhook_not_configured")
    assert "QUALGENT_TWILIO_AUTH_TOKEN" in body["message"]
    assert stored(db) == []


def test_the_configured_public_url_is_what_twilio_signed(db_url: str, db: Db,
                                                         tmp_path: Path) -> None:
    """Behind a proxy the server is reached at another address than Twilio requested."""
    from tests.conftest import Server as TestServer

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    local = f"http://127.0.0.1:{sock.getsockname()[1]}"
    public = "https://sms.example.com/"
    settings = Settings(database_url=db_url, data_dir=tmp_path, rate_limit="1000/second",
                        public_url=public, secret_key="s", redis_url=None,
                        twilio_auth_token=TOKEN)
    srv = TestServer(settings, db_url, sock).start()
    try:
        with httpx.Client(base_url=local, timeout=30) as http:
            def post(url: str, params: dict[str, str]) -> httpx.Response:
                return http.post(PATH, content=urlencode(params), headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "X-Twilio-Signature": twilio_signature(TOKEN, url, params)})

            refused = inbound(body="signed for the local address")
            _error(post(local + PATH, refused), 403, "invalid_signature")
            accepted = inbound(body="signed for the public address")
            assert post("https://sms.example.com" + PATH, accepted).status_code == 200
            with_port = inbound(body="signed with the default port")
            assert post("https://sms.example.com:443" + PATH, with_port).status_code == 200
    finally:
        srv.stop()
    assert [m["body"] for m in stored(db)] == ["signed for the public address",
                                               "signed with the default port"]


def test_the_same_message_sid_is_stored_once(webhook: Webhook, db: Db) -> None:
    params = inbound(body="code 5555")
    assert webhook.post(params).status_code == 200
    assert webhook.post(params).text == TWIML  # Twilio's retry, or a replay
    assert len(stored(db)) == 1


def test_unreadable_forms_are_client_errors(webhook: Webhook, db: Db) -> None:
    params = inbound()
    r = webhook.post(params, headers={"Content-Type": "application/json"},
                     body='{"To": "+15550100001"}')
    _error(r, 400, "malformed_body")
    _error(webhook.post(params, body=b"To=%FF%FE&Body=x"), 400, "malformed_body")
    _error(webhook.post(params, body=b"To=\xff"), 400, "malformed_body")
    _error(webhook.post(params, body="To&Body=x"), 400, "malformed_body")
    _error(webhook.post(params, body="&".join(f"f{i}=1" for i in range(500))),
           400, "malformed_body")
    too_big = webhook.post(params, body="Body=" + "x" * (1024 * 1024 + 1))
    _error(too_big, 413, "payload_too_large")
    assert stored(db) == []


def test_signed_but_unusable_texts_are_refused_by_field(webhook: Webhook, db: Db) -> None:
    no_to = {k: v for k, v in inbound().items() if k != "To"}
    body = _error(webhook.post(no_to), 400, "missing_parameter")
    assert body["details"] == {"field": "To"}
    body = _error(webhook.post(inbound(body="code \x00 1")), 422, "invalid_request")
    assert body["details"] == {"field": "Body"}
    body = _error(webhook.post(inbound(to=" ")), 422, "invalid_request")
    assert body["details"] == {"field": "To"}
    assert stored(db) == []


def test_no_api_key_is_asked_and_the_address_is_rate_limited(db_url: str, db: Db,
                                                            tmp_path: Path) -> None:
    srv = start_server(db_url, tmp_path / "data", rate_limit="3/minute",
                       twilio_auth_token=TOKEN)
    hook = Webhook(srv)
    try:
        replies = [hook.post(inbound(body=f"code {i}")) for i in range(4)]
    finally:
        hook.close()
        srv.stop()
    assert [r.status_code for r in replies[:3]] == [200] * 3
    _error(replies[3], 429, "rate_limited")
    assert len(stored(db)) == 3


def test_the_webhook_is_not_in_the_api_document(webhook: Webhook) -> None:
    """The document is about API-key routes; this one is Twilio's and signed instead."""
    document = webhook.http.get("/openapi.json").json()
    assert PATH not in document["paths"]
