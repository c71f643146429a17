"""Settings in the browser: API keys made, used and revoked through the page; the plan, credits
and ledger; members invited by link, their roles, removal; invitation links that no longer
work; the invite-only server still accepting invitations."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.conftest import Db, Server, start_server
from tests.web.conftest import PASSWORD, Web


def _accept_dialogs(web: Web, seen: list[str]) -> None:
    def on_dialog(dialog: Any) -> None:
        seen.append(dialog.message)
        dialog.accept()
    web.page.on("dialog", on_dialog)


def _submit(web: Web, button: Any) -> None:
    """Click a form's button and wait for the page it leads to."""
    with web.page.expect_navigation():
        button.click()


def _create_key(web: Web) -> str:
    web.goto("/settings/developer")
    web.page.get_by_role("button", name="Create key").click()
    key = web.page.locator("#new-key").inner_text().strip()
    assert re.fullmatch(r"qg_[A-Za-z0-9_-]{40,}", key), key
    return key


def _key_row(web: Web, key: str) -> Any:
    return web.page.get_by_role("row").filter(has_text=key[:10])


def _post(web: Web, path: str, **form: str) -> Any:
    """A form POST from this browser's session, as a tampered page would send it."""
    return web.page.request.post(path, form={"csrf_token": web.csrf(), **form},
                                 max_redirects=0)


def _invite(web: Web, role: str = "member") -> str:
    web.goto("/settings/members")
    web.page.get_by_label("Role", exact=True).select_option(role)
    web.page.get_by_role("button", name="Create invitation link").click()
    link = web.page.locator("#invite-link").inner_text().strip()
    assert re.fullmatch(re.escape(web.base_url) + r"/auth/invite/[A-Za-z0-9_-]{40,}", link)
    return link


def _accept(web: Web, link: str, name: str, email: str) -> None:
    web.page.goto(link)
    web.page.get_by_label("Your name").fill(name)
    web.page.get_by_label("Email").fill(email)
    web.page.get_by_label("Password").fill(PASSWORD)
    _submit(web, web.page.get_by_role("button", name="Create account and join"))


def test_a_key_made_on_the_page_works_until_revoked_there(web: Web, server: Server,
                                                          db: Db) -> None:
    web.sign_up(name="Ada Lovelace", organization="Analytical Engines")
    web.goto("/settings")
    assert web.page.url.endswith("/settings/developer")
    page = web.page
    # plan, balance and the ledger's initial grant from sign-up
    assert page.locator("#credit-balance").inner_text() == "100"
    assert page.get_by_text("Enterprise", exact=True).is_visible()
    ledger = page.get_by_role("table", name="Credit ledger")
    first = ledger.get_by_role("row").nth(1).inner_text()
    assert "+100" in first and "Initial grant" in first and "\t100\t" in first

    key = _create_key(web)
    web.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.get_by_role("button", name="Copy key").click()
    assert page.evaluate("navigator.clipboard.readText()") == key
    assert "Never" in _key_row(web, key).inner_text()
    assert db.scalar("SELECT count(*) FROM api_keys WHERE key_hash = sha256($1::bytea)",
                     key.encode()) == 1
    assert db.scalar("SELECT count(*) FROM api_keys WHERE prefix = $1", key[:10]) == 1

    with server.client(key) as api:
        assert api.get("/v1/categories/list").status_code == 200
        assert api.get("/v1/categories/list").status_code == 200  # served from the key cache
        # the key shows its use; a second key is made for CI, shown once too
        second = _create_key(web)
        assert second != key and key not in page.content()
        row = _key_row(web, key).inner_text()
        assert "Never" not in row and re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", row)
        assert "Active" in row
        web.check("settings-developer")

        # a dismissed confirmation revokes nothing
        page.once("dialog", lambda d: d.dismiss())
        page.get_by_role("button", name=f"Revoke {key[:10]}").click()
        assert api.get("/v1/categories/list").status_code == 200
        seen: list[str] = []
        _accept_dialogs(web, seen)
        page.get_by_role("button", name=f"Revoke {key[:10]}").click()
        page.wait_for_url(re.compile(r"revoked="))
        assert "Programs using it are refused at once" in seen[0]
        assert page.get_by_role("status").first.inner_text().startswith(f"The key {key[:10]}")
        assert api.get("/v1/categories/list").status_code == 401
        assert "Revoked" in _key_row(web, key).inner_text()
        assert page.get_by_role("button", name=f"Revoke {key[:10]}").count() == 0
    with server.client(second) as api:
        assert api.get("/v1/categories/list").status_code == 200


def test_keys_of_another_organization_cannot_be_revoked(web: Web, second_web: Web,
                                                        server: Server) -> None:
    web.sign_up()
    key = _create_key(web)
    second_web.sign_up()
    key_id = web.page.locator("form[action$='/revoke']").first.get_attribute("action")
    assert key_id is not None
    response = _post(second_web, key_id)
    assert response.status == 404
    assert "Page not found" in response.text()
    with server.client(key) as api:
        assert api.get("/v1/categories/list").status_code == 200
    # no CSRF token: refused before anything is looked up
    refused = second_web.page.request.post(key_id, form={}, max_redirects=0)
    assert refused.status == 403 and "This form has expired" in refused.text()


def test_invite_a_member_by_link(web: Web, second_web: Web, server: Server, db: Db) -> None:
    owner = web.sign_up(name="Olive Owner", organization="Orchard")
    web.goto("/categories")
    web.page.get_by_label("Name", exact=True).fill("Checkout")
    _submit(web, web.page.get_by_role("button", name="Create category"))
    link = _invite(web, "member")
    pending = web.page.get_by_role("table", name="Pending invitations")
    assert pending.get_by_role("row").count() == 2 and "Member" in pending.inner_text()
    token = link.rsplit("/", 1)[1]
    assert db.scalar("SELECT count(*) FROM invitations WHERE token_hash = sha256($1::bytea) "
                     "AND expires_at BETWEEN now() + interval '6 days 23 hours' "
                     "AND now() + interval '7 days'", token.encode()) == 1
    assert db.scalar("SELECT count(*) FROM invitations WHERE token_hash = $1::text::bytea",
                     token) == 0  # only the digest is stored

    second_web.page.goto(link)
    assert second_web.page.get_by_role("heading", name="Join Orchard").is_visible()
    second_web.page.get_by_label("Your name").fill("Max Member")
    second_web.page.get_by_label("Email").fill("not an email")
    second_web.page.get_by_label("Password").fill("short")
    _submit(second_web, second_web.page.get_by_role("button", name="Create account and join"))
    assert second_web.page.get_by_text("Use at least 10 characters.").is_visible()
    second_web.check("invite-accept")
    member = "max@example.com"
    _accept(second_web, link, "Max Member", member)
    second_web.page.wait_for_url(re.compile(r"/test-runs"))
    assert tuple(db.fetch("SELECT u.role, o.name FROM users u JOIN organizations o "
                          "ON o.id = u.organization_id WHERE u.email = $1", member)[0]) == (
        "member", "Orchard")
    # the member sees the organization's data, and the member list but no owner controls
    second_web.goto("/categories")
    assert second_web.page.get_by_role("link", name="Checkout").is_visible()
    second_web.goto("/settings/members")
    members = second_web.page.get_by_role("table", name="Members of Orchard").inner_text()
    assert "Olive Owner" in members and owner in members and "Max Member" in members
    assert second_web.page.get_by_role("button", name="Create invitation link").count() == 0
    refused = _post(second_web, "/settings/members/invitations", role="member")
    assert refused.status == 403 and "Owners only" in refused.text()
    assert db.scalar("SELECT count(*) FROM invitations") == 1
    # the link worked once
    web.page.goto(link)
    assert "already been used" in web.page.get_by_role("alert").inner_text()

    # the only owner cannot step down; after making the member an owner, they can
    web.goto("/settings/members")
    page = web.page
    assert page.get_by_role("table", name="Pending invitations").count() == 0
    page.get_by_label("Role of Olive Owner").select_option("member")
    _submit(web, page.get_by_role("button", name="Change role").first)
    assert "is the only owner" in page.locator(".error").last.inner_text()
    assert db.scalar("SELECT role FROM users WHERE email = $1", owner) == "owner"
    page.get_by_label("Role of Max Member").select_option("owner")
    _submit(web, page.locator("form[action$='/role']").filter(
        has=page.get_by_label("Role of Max Member")).get_by_role("button"))
    assert db.scalar("SELECT role FROM users WHERE email = $1", member) == "owner"
    second_web.goto("/settings/members")
    assert second_web.page.get_by_role("button", name="Create invitation link").is_visible()
    page.get_by_label("Role of Max Member").select_option("member")
    _submit(web, page.locator("form[action$='/role']").filter(
        has=page.get_by_label("Role of Max Member")).get_by_role("button"))

    _invite(web, "owner")  # a pending invitation shown alongside the members
    web.check("settings-members")

    # removing the member signs them out at once and revokes the keys they made
    key = _create_key(second_web)
    web.goto("/settings/members")
    seen: list[str] = []
    _accept_dialogs(web, seen)
    page.get_by_role("button", name="Remove Max Member").click()
    page.wait_for_url(re.compile(r"removed="))
    assert "signed out at once" in seen[0]
    assert page.get_by_role("status").first.inner_text() == (
        "Max Member was removed and signed out.")
    second_web.goto("/categories")
    assert "/auth/sign-in" in second_web.page.url
    with server.client(key) as api:
        assert api.get("/v1/categories/list").status_code == 401
    web.goto("/settings/developer")
    assert "Revoked" in _key_row(web, key).inner_text()
    assert db.scalar("SELECT count(*) FROM users WHERE email = $1", member) == 0


def test_members_of_another_organization_are_404(web: Web, second_web: Web, db: Db) -> None:
    web.sign_up()
    second = second_web.sign_up()
    _invite(second_web)
    other_user = db.scalar("SELECT id FROM users WHERE email = $1", second)
    other_invitation = db.scalar("SELECT id FROM invitations")
    for path, form in ((f"/settings/members/{other_user}/role", {"role": "member"}),
                       (f"/settings/members/{other_user}/remove", {}),
                       (f"/settings/members/invitations/{other_invitation}/revoke", {})):
        response = _post(web, path, **form)
        assert response.status == 404, path
        assert "Page not found" in response.text()
    assert db.scalar("SELECT role FROM users WHERE email = $1", second) == "owner"
    assert db.scalar("SELECT revoked_at FROM invitations") is None


def test_expired_withdrawn_and_used_links_are_refused(web: Web, second_web: Web, db: Db,
                                                      db_url: str, tmp_path: Path) -> None:
    web.sign_up(organization="Tidy Co")
    expired = _invite(web)
    db.fetch("UPDATE invitations SET expires_at = now() - interval '1 minute'")
    withdrawn = _invite(web)
    assert web.page.get_by_role("table", name="Pending invitations").get_by_role(
        "row").count() == 2  # the expired one is no longer pending
    seen: list[str] = []
    _accept_dialogs(web, seen)
    _submit(web, web.page.get_by_role("button", name=re.compile("^Withdraw")))
    assert "stops working" in seen[0]
    assert web.page.get_by_text("No pending invitations.").is_visible()

    second_web.page.goto(expired)
    assert "has expired" in second_web.page.get_by_role("alert").inner_text()
    second_web.check("invite-refused")
    _accept_from_form_of(second_web, withdrawn)
    second_web.page.goto(withdrawn)
    assert "withdrawn" in second_web.page.get_by_role("alert").inner_text()
    response = second_web.page.request.get("/auth/invite/" + "x" * 43)
    assert response.status == 410 and "not valid" in response.text()
    # a form filled while the link still worked, sent after it expired: no account
    fresh = _invite(web)
    second_web.page.goto(fresh)
    db.fetch("UPDATE invitations SET expires_at = now() - interval '1 second' "
             "WHERE accepted_at IS NULL AND revoked_at IS NULL")
    second_web.page.get_by_label("Your name").fill("Late Larry")
    second_web.page.get_by_label("Email").fill("larry@example.com")
    second_web.page.get_by_label("Password").fill(PASSWORD)
    _submit(second_web, second_web.page.get_by_role("button", name="Create account and join"))
    assert "has expired" in second_web.page.get_by_role("alert").inner_text()
    assert db.scalar("SELECT count(*) FROM users") == 1

    # invite-only sign-up: the sign-up page is closed, an invitation still works
    link = _invite(web)
    closed = start_server(db_url, tmp_path / "closed", signup="invite")
    other = Web(web.page.context.browser, closed)
    try:
        assert other.page.goto("/auth/sign-up").status == 403
        # the same email as an existing account is refused inline
        _accept(other, closed.base_url + link.split(web.base_url, 1)[1], "Dup",
                db.scalar("SELECT email FROM users"))
        assert other.page.get_by_text("An account with this email already exists.").is_visible()
        _accept(other, closed.base_url + link.split(web.base_url, 1)[1], "Ivy Invited",
                "ivy@example.com")
        other.page.wait_for_url(re.compile(r"/test-runs"))
        other.goto("/settings/members")
        assert "Ivy Invited" in other.page.get_by_role("table").inner_text()
    finally:
        other.close()
        closed.stop()


def _accept_from_form_of(web: Web, link: str) -> None:
    """The withdrawn link's form, posted with this browser's anonymous CSRF pair: refused."""
    web.page.goto("/auth/sign-in")  # gets the anonymous CSRF cookie
    token = web.page.locator("input[name=csrf_token]").get_attribute("value")
    response = web.page.request.post(link, form={
        "csrf_token": token or "", "name": "Wanda", "email": "wanda@example.com",
        "password": PASSWORD}, max_redirects=0)
    assert response.status == 410 and "withdrawn" in response.text()
