"""Sign-up, sign-in, sign-out in the browser; CSRF, session fixation and brute force refused."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import Db, Server, start_server
from tests.web.conftest import PASSWORD, Web


def _form_token(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


def test_sign_up_creates_an_org_with_credits_and_signs_in(web: Web, db: Db) -> None:
    web.goto("/auth/sign-up")
    web.check("sign-up")
    email = web.sign_up(name="Grace Hopper", organization="Compilers Inc")
    row = db.fetch("SELECT u.role, u.password_hash, o.name, o.plan, o.credits FROM users u "
                   "JOIN organizations o ON o.id = u.organization_id WHERE u.email = $1", email)
    assert len(row) == 1
    assert (row[0]["role"], row[0]["name"], row[0]["plan"], row[0]["credits"]) == (
        "owner", "Compilers Inc", "enterprise", 100)
    assert row[0]["password_hash"].startswith("$argon2id$")
    assert PASSWORD not in row[0]["password_hash"]
    cookie = next(c for c in web.context.cookies() if c["name"] == "qg_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    assert db.scalar("SELECT count(*) FROM credit_ledger l JOIN users u ON "
                     "u.organization_id = l.organization_id WHERE u.email = $1", email) == 1


def test_sign_up_errors_are_shown_inline_and_save_nothing(web: Web, db: Db) -> None:
    web.goto("/auth/sign-up")
    web.page.get_by_label("Your name").fill("Bob")
    web.page.get_by_label("Email").fill("not-an-email")
    web.page.get_by_label("Password").fill("short")
    web.page.get_by_role("button", name="Create account").click()
    page = web.page
    assert page.get_by_text("Enter an email address like name@example.com.").is_visible()
    assert page.get_by_text("Use at least 10 characters.").is_visible()
    assert page.get_by_label("Email").get_attribute("aria-invalid") == "true"
    web.check("sign-up-errors")
    assert db.scalar("SELECT count(*) FROM users WHERE name = 'Bob'") == 0
    # the same email twice: refused the second time
    email = web.sign_up()
    other = Web(web.page.context.browser, web.server)
    try:
        other.goto("/auth/sign-up")
        other.page.get_by_label("Your name").fill("Impostor")
        other.page.get_by_label("Email").fill(email.upper())
        other.page.get_by_label("Password").fill(PASSWORD)
        other.page.get_by_role("button", name="Create account").click()
        assert other.page.get_by_text("An account with this email already exists.").is_visible()
    finally:
        other.close()
    assert db.scalar("SELECT count(*) FROM organizations") == 1


def test_sign_in_out_and_keyboard_only(web: Web) -> None:
    email = web.sign_up()
    web.page.get_by_role("button", name="Sign out").click()
    web.page.wait_for_url(re.compile(r"/auth/sign-in"))
    web.goto("/test-runs")  # signed out: sent to sign in, and back afterwards
    assert "/auth/sign-in?next=%2Ftest-runs" in web.page.url
    web.check("sign-in")
    web.page.get_by_label("Email").fill(email)
    web.page.get_by_label("Password").fill("wrong password!")
    web.page.get_by_role("button", name="Sign in").click()
    assert web.page.get_by_role("alert").inner_text().endswith(
        "The email or the password is not right.")
    # keyboard alone: tab to the fields, Enter submits
    page = web.page
    page.get_by_label("Email").focus()
    page.keyboard.press("Control+A")
    page.keyboard.type(email)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/test-runs$"))


def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(
        web: Web, server: Server, db: Db) -> None:
    web.sign_up()
    session = next(c["value"] for c in web.context.cookies() if c["name"] == "qg_session")
    with httpx.Client(base_url=server.base_url, cookies={"qg_session": session}) as client:
        # a forged cross-site sign-out: no token
        r = client.post("/auth/sign-out", data={})
        assert r.status_code == 403 and "This form has expired" in r.text
        # the right token but another site's Origin
        r = client.post("/auth/sign-out", data={"csrf_token": web.csrf()},
                        headers={"Origin": "https://evil.example"})
        assert r.status_code == 403
        assert client.get("/", follow_redirects=False).headers["location"] == "/test-runs"
    # anonymous forms: a sign-up posted from elsewhere (no cookie pair) creates nothing
    with httpx.Client(base_url=server.base_url) as client:
        r = client.post("/auth/sign-up", data={"name": "Mallory", "email": "m@example.com",
                                               "password": PASSWORD})
        assert r.status_code == 403
        r = client.post("/auth/sign-in", data={"email": "m@example.com", "password": PASSWORD,
                                               "csrf_token": "forged"})
        assert r.status_code == 403
    assert db.scalar("SELECT count(*) FROM users WHERE email = 'm@example.com'") == 0


def test_session_fixation_fails(web: Web, second_web: Web, server: Server) -> None:
    victim_email = web.sign_up(email="victim@example.com")
    web.page.get_by_role("button", name="Sign out").click()
    # a made-up session id planted in the victim's browser is not adopted by signing in
    web.context.add_cookies([{"name": "qg_session", "value": "planted-by-attacker",
                              "url": server.base_url}])
    web.sign_in(victim_email)
    web.page.wait_for_url(re.compile(r"/test-runs"))
    now = next(c["value"] for c in web.context.cookies() if c["name"] == "qg_session")
    assert now != "planted-by-attacker"
    assert web.page.get_by_text("victim@example.com").is_visible()
    # the attacker's own, real session planted: signing in replaces it, and the attacker's
    # copy of the token does not become the victim's session
    second_web.sign_up(name="Attacker")
    planted = next(c["value"] for c in second_web.context.cookies()
                   if c["name"] == "qg_session")
    with httpx.Client(base_url=server.base_url, cookies={"qg_session": planted}) as victim:
        token = _form_token(victim.get("/auth/sign-up").text)  # the sign-in form's token
        r = victim.post("/auth/sign-in", data={"email": victim_email, "password": PASSWORD,
                                               "csrf_token": token})
        assert r.status_code == 303
        assert r.cookies["qg_session"] != planted
    with httpx.Client(base_url=server.base_url, cookies={"qg_session": planted}) as attacker:
        assert attacker.get("/test-runs", follow_redirects=False).status_code == 303


def test_sign_in_attempts_are_rate_limited(db_url: str, tmp_path: Path) -> None:
    server = start_server(db_url, tmp_path / "data", signin_limit="3/minute")
    try:
        with httpx.Client(base_url=server.base_url) as client:
            token = _form_token(client.get("/auth/sign-in").text)
            codes = [client.post("/auth/sign-in", data={
                "email": "nobody@example.com", "password": f"guess number {i}",
                "csrf_token": token}).status_code for i in range(5)]
        assert codes == [401, 401, 401, 429, 429]
    finally:
        server.stop()


@pytest.mark.parametrize("mode", ["invite"])
def test_sign_up_can_be_restricted_to_invitations(db_url: str, tmp_path: Path, mode: str,
                                                  db: Db) -> None:
    server = start_server(db_url, tmp_path / "data", signup=mode)
    try:
        with httpx.Client(base_url=server.base_url) as client:
            page = client.get("/auth/sign-up")
            assert page.status_code == 403 and "by invitation" in page.text
            r = client.post("/auth/sign-up", data={"name": "X", "email": "x@example.com",
                                                   "password": PASSWORD})
            assert r.status_code == 403
        assert db.scalar("SELECT count(*) FROM users") == 0
    finally:
        server.stop()


def test_an_expired_session_signs_nobody_in_and_is_pruned(db_url: str, tmp_path: Path,
                                                          db: Db) -> None:
    server = start_server(db_url, tmp_path / "data", lease_seconds=0.4)
    try:
        with httpx.Client(base_url=server.base_url) as client:
            token = _form_token(client.get("/auth/sign-up").text)
            r = client.post("/auth/sign-up", data={
                "name": "Ada", "email": "ada@example.com", "password": PASSWORD,
                "csrf_token": token})
            assert r.status_code == 303 and r.headers["location"] == "/test-runs"
            assert client.get("/", follow_redirects=False).headers["location"] == "/test-runs"
            db.fetch("UPDATE web_sessions SET expires_at = now() - interval '1 second'")
            assert client.get("/", follow_redirects=False).headers["location"] == (
                "/auth/sign-in")
        deadline = time.monotonic() + 10
        while db.scalar("SELECT count(*) FROM web_sessions") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert db.scalar("SELECT count(*) FROM web_sessions") == 0
    finally:
        server.stop()
