"""The pages in a real browser: Debian's Chromium through Playwright, against a live server.

`web` is a browser page with helpers; `web.check(name)` runs axe-core (vendored from the npm
registry, injected as an init script so the pages' CSP applies to everything else) and fails
on any serious or critical violation, checks the page fits a phone's width, and saves a
screenshot of the page at desktop and phone width to PAGE_SHOTS, which CI keeps.
"""

from __future__ import annotations

import os
import re
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from qualgent.api.keys import display_prefix, hash_key, new_key
from tests.conftest import Db, Server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
PAGE_SHOTS = Path(os.environ.get(
    "QUALGENT_PAGE_SHOTS", Path(__file__).resolve().parents[2] / "test-artifacts" / "pages"))
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
PASSWORD = "correct horse battery"

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed")


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Per module: Playwright's sync API keeps an event loop running while it is open, which
    would break asyncio.run in the test modules that come after."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield b
        b.close()


class Web:
    """One browser context (its own cookies) on the live server."""

    def __init__(self, browser: Any, server: Server) -> None:
        self.server = server
        self.base_url = server.base_url
        self.context = browser.new_context(viewport=DESKTOP, base_url=server.base_url)
        self.context.add_init_script(path=str(AXE))
        self.context.set_default_timeout(15_000)
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.foreign: list[str] = []
        self.page.on("console", lambda m: self.problems.append(m.text)
                     if m.type == "error" and "status of 4" not in m.text else None)
        self.page.on("pageerror", lambda e: self.problems.append(str(e)))
        self.page.on("request", lambda r: None if r.url.startswith(
            (server.base_url, "data:", "blob:")) else self.foreign.append(r.url))

    def goto(self, path: str) -> Any:
        return self.page.goto(path)

    def sign_up(self, name: str = "Ada Lovelace", email: str | None = None,
                organization: str = "") -> str:
        email = email or f"ada-{uuid.uuid4().hex[:8]}@example.com"
        self.goto("/auth/sign-up")
        self.page.get_by_label("Your name").fill(name)
        self.page.get_by_label("Email").fill(email)
        self.page.get_by_label("Password").fill(PASSWORD)
        if organization:
            self.page.get_by_label("Organization name (optional)").fill(organization)
        self.page.get_by_role("button", name="Create account").click()
        self.page.wait_for_url(re.compile(r"/test-runs"))
        return email

    def sign_in(self, email: str, password: str = PASSWORD) -> None:
        self.goto("/auth/sign-in")
        self.page.get_by_label("Email").fill(email)
        self.page.get_by_label("Password").fill(password)
        self.page.get_by_role("button", name="Sign in").click()

    def api_key(self, db: Db, email: str) -> str:
        """An API key for this person's organization, made directly (for test set-up through
        the API; the Settings page's own tests create keys through the page)."""
        user = db.fetch("SELECT id, organization_id FROM users WHERE email = $1", email)[0]
        key = new_key()
        db.fetch("INSERT INTO api_keys (id, organization_id, user_id, key_hash, prefix) "
                 "VALUES ($1, $2, $3, $4, $5)", uuid.uuid4(), user["organization_id"],
                 user["id"], hash_key(key), display_prefix(key))
        return key

    def csrf(self) -> str:
        return self.page.evaluate("document.body.dataset.csrf")

    def check(self, name: str) -> None:
        """Accessibility (axe: no serious or critical violation), phone width, no script
        error or CSP violation, nothing fetched from elsewhere; screenshots saved."""
        page = self.page
        page.wait_for_load_state("load")
        violations = page.evaluate("""async () => {
            const result = await axe.run(document, {resultTypes: ["violations"]});
            return result.violations
                .filter(v => v.impact === "serious" || v.impact === "critical")
                .map(v => `${v.id} (${v.impact}): ${v.help} at ` +
                          v.nodes.slice(0, 3).map(n => n.target.join(" ")).join(", "));
        }""")
        assert violations == [], f"{name}: accessibility violations: {violations}"
        assert self.problems == [], f"{name}: console errors: {self.problems}"
        assert self.foreign == [], f"{name}: fetched from elsewhere: {self.foreign}"
        PAGE_SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(PAGE_SHOTS / f"{name}.png"), full_page=True)
        page.set_viewport_size(PHONE)
        try:
            overflow = page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 1, f"{name}: {overflow}px wider than a phone's screen"
            page.screenshot(path=str(PAGE_SHOTS / f"{name}-phone.png"), full_page=True)
        finally:
            page.set_viewport_size(DESKTOP)

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def web(browser: Any, server: Server) -> Iterator[Web]:
    w = Web(browser, server)
    yield w
    w.close()


@pytest.fixture
def second_web(browser: Any, server: Server) -> Iterator[Web]:
    """Another browser (its own cookies): another person."""
    w = Web(browser, server)
    yield w
    w.close()
