"""Settings -> Webhooks in the browser: add (a bad URL refused inline, the secret shown once),
a real receiver failing then told again with Resend, delete; another organization's webhook
ids answer 404, and a form without this session's CSRF token changes nothing."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from qualgent.client.webhooks import verify
from tests.conftest import Db, Server, eventually, start_server
from tests.web.conftest import Web
from tests.webhooks.conftest import (  # noqa: F401 - receiver is a fixture
    FAST,
    Receiver,
    finish_runs,
    queue_runs,
    receiver,
)

MAX_ATTEMPTS = 2


@pytest.fixture
def server(db_url: str, tmp_path: Path) -> Iterator[Server]:
    """This module's server: the receiver on 127.0.0.1 allowed, retries quick and few."""
    srv = start_server(db_url, tmp_path / "data",
                       **{**FAST, "webhook_max_attempts": MAX_ATTEMPTS})
    yield srv
    srv.stop()


def _submit(web: Web, button: Any) -> None:
    with web.page.expect_navigation():
        button.click()


def _reload_until(web: Web, text: str, timeout: float = 30) -> None:
    """Reload the page until its first delivery row says `text` (the page is not live)."""
    def shows() -> bool:
        web.goto("/settings/webhooks")
        rows = web.page.locator("section.webhook tbody tr")
        return rows.count() > 0 and text in rows.first.inner_text()
    eventually(shows, timeout, 0.3)


def test_webhooks_page_adds_shows_deliveries_resends_and_deletes(
        web: Web, second_web: Web, db: Db, server: Server, pixel: dict,
        receiver: Receiver) -> None:  # noqa: F811 - the fixture imported above
    email = web.sign_up(organization="Hooks QA")
    page = web.page
    web.goto("/settings/developer")
    page.get_by_role("navigation", name="Settings").get_by_role("link", name="Webhooks").click()
    page.wait_for_url(re.compile(r"/settings/webhooks$"))
    expect(page.get_by_role("link", name="Webhooks")).to_have_attribute("aria-current", "page")
    expect(page.locator("main")).to_contain_text("No webhooks yet.")

    # a URL that is not http(s): refused inline, the typed value kept, nothing stored
    page.get_by_label("URL", exact=True).fill("ftp://example.com/drop")
    page.get_by_label("Description (optional)").fill("Build channel")
    with page.expect_navigation() as nav:
        page.get_by_role("button", name="Add webhook").click()
    assert nav.value is not None and nav.value.status == 422
    expect(page.locator("#f-url-error")).to_contain_text("must start with https://")
    expect(page.get_by_label("URL", exact=True)).to_have_value("ftp://example.com/drop")
    expect(page.get_by_label("URL", exact=True)).to_have_attribute("aria-invalid", "true")
    assert db.scalar("SELECT count(*) FROM webhooks") == 0

    # the receiver's URL: added, its secret shown this once with a copy button
    page.get_by_label("URL", exact=True).fill(receiver.url)
    _submit(web, page.get_by_role("button", name="Add webhook"))
    secret = page.locator("#new-secret").inner_text().strip()
    assert re.fullmatch(r"whsec_[0-9a-f]{64}", secret), secret
    expect(page.get_by_role("button", name="Copy secret")).to_have_attribute(
        "data-copy", "new-secret")
    expect(page.locator("section.webhook h3")).to_have_text(receiver.url)
    expect(page.locator("section.webhook")).to_contain_text("Build channel")
    web.goto("/settings/webhooks")
    expect(page.locator("#new-secret")).to_have_count(0)  # never shown again
    assert secret not in page.content()
    hook_id = db.scalar("SELECT id::text FROM webhooks")

    # a run finishes; the receiver refuses every attempt: the page shows the failure
    receiver.answer(500)
    api = server.client(web.api_key(db, email))
    [run_id] = queue_runs(api)
    finish_runs(db, [run_id])
    _reload_until(web, "failed")
    row = page.locator("section.webhook tbody tr").first
    expect(row).to_contain_text(str(MAX_ATTEMPTS))
    expect(row).to_contain_text("HTTP 500")
    expect(row).to_contain_text("receiver says no")
    expect(row.get_by_role("link")).to_have_attribute("href", f"/test-runs/{run_id}")
    assert receiver.count() == MAX_ATTEMPTS
    web.check("settings-webhooks")

    # another organization: the same 404 for this webhook as for none at all
    second_web.sign_up(organization="Other Co")
    first_id = db.scalar("SELECT id FROM webhook_deliveries")
    for path in (f"/settings/webhooks/{hook_id}/delete",
                 f"/settings/webhooks/{hook_id}/deliveries/{first_id}/resend"):
        r = second_web.page.request.post(path, form={"csrf_token": second_web.csrf()},
                                         max_redirects=0)
        assert r.status == 404, path
    # this session without its CSRF token: refused, nothing changed
    r = page.request.post(f"/settings/webhooks/{hook_id}/delete",
                          form={"csrf_token": "forged"}, max_redirects=0)
    assert r.status == 403
    assert db.scalar("SELECT count(*) FROM webhooks") == 1

    # the receiver is fixed; Resend sends the same run again, as a new delivery
    receiver.answer(200)
    _submit(web, page.get_by_role("button", name=f"Resend delivery {first_id}"))
    expect(page.locator(".notice")).to_contain_text("is queued and will be sent shortly")
    _reload_until(web, "delivered")
    rows = page.locator("section.webhook tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.nth(1)).to_contain_text("failed")
    last = receiver.requests[-1]
    assert verify(secret, last.body, last.headers["X-Qualgent-Signature"])
    assert json.loads(last.body)["test_run"]["id"] == run_id

    # delete, after confirming
    messages: list[str] = []
    page.once("dialog", lambda d: (messages.append(d.message), d.accept()))
    _submit(web, page.get_by_role("button", name=f"Delete the webhook {receiver.url}"))
    assert messages and receiver.url in messages[0]
    expect(page.locator(".notice")).to_contain_text("The webhook was deleted")
    expect(page.locator("main")).to_contain_text("No webhooks yet.")
    assert db.scalar("SELECT count(*) FROM webhooks") == 0
    # the notice is only shown when it is true
    web.goto(f"/settings/webhooks?resent={first_id}")
    expect(page.locator(".notice")).to_have_count(0)
