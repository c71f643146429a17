"""The API docs page, opened in a real browser: it must render with no network but ours."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import Server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Chromium is not installed")
def test_docs_render_offline(server: Server, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking"],
        )
        try:
            page = browser.new_page()
            foreign: list[str] = []
            page.on("request", lambda r: None if r.url.startswith(server.base_url)
                    else foreign.append(r.url))
            page.goto(f"{server.base_url}/docs")
            upload = page.get_by_text("/v1/apps/upload", exact=True).first
            upload.wait_for(timeout=15000)
            upload.click()
            page.get_by_text("app_name").first.wait_for(timeout=5000)
            page.screenshot(
                path=str(tmp_path / "docs.png"), full_page=True)
            assert foreign == [], f"the docs page fetched from elsewhere: {foreign}"
            assert page.get_by_text("/v1/test-cases/run", exact=True).count() == 1
        finally:
            browser.close()
