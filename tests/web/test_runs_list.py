"""The Runs list in the browser: a real worker runs the Demo Shop while the list updates in
place (no reload); filters narrow it; pages of 25; another organization's runs never show."""

from __future__ import annotations

import re
import time
import uuid
from pathlib import Path

import httpx
from playwright.sync_api import expect

from tests.conftest import Db, Server
from tests.web.conftest import Web
from tests.worker.conftest import SMS_PIXEL, TERMINAL, WorkerProcess

PIXEL = {"name": "Pixel 7", "platform": "Android"}


class Team:
    """A signed-up organization and an API client on its key, for set-up through the API."""

    def __init__(self, web: Web, db: Db, server: Server, demo_apk: Path, organization: str):
        self.web, self.db = web, db
        self.email = web.sign_up(organization=organization)
        self.org_id = str(db.scalar("SELECT organization_id FROM users WHERE email = $1",
                                    self.email))
        self.api = server.client(web.api_key(db, self.email))
        with demo_apk.open("rb") as fh:
            r = self.api.post("/v1/apps/upload", files={"file": ("demo.apk", fh)},
                              data={"app_name": "Demo Shop", "version": "1.0.0"})
        assert r.status_code == 200, r.text

    def category(self, name: str) -> str:
        return self.db.admin("create_category", self.org_id, name)["id"]

    def case(self, name: str, steps: list[str], category_id: str | None = None) -> str:
        r = self.api.post("/v1/test-cases", json={
            "name": name, "steps": [{"description": s} for s in steps],
            "category_id": category_id})
        assert r.status_code == 200, r.text
        return r.json()["test_case"]["id"]

    def run(self, *case_ids: str) -> list[str]:
        r = self.api.post("/v1/test-cases/run", json={"jobs": [
            {"test_case_id": c, "device": PIXEL} for c in case_ids]})
        assert r.status_code == 200, r.text
        return [x["test_run_id"] for x in r.json()["results"]]

    def wait_finished(self, run_ids: list[str], timeout: float = 120) -> None:
        deadline = time.time() + timeout
        while any(self.api.get(f"/v1/jobs/status/{r}").json()["status"] not in TERMINAL
                  for r in run_ids):
            assert time.time() < deadline, "runs did not finish"
            time.sleep(0.2)


def worker(db_url: str, server: Server, tmp_path: Path) -> WorkerProcess:
    return WorkerProcess(db_url, server, tmp_path / f"worker-{uuid.uuid4().hex[:6]}.log",
                         SMS_PIXEL)


def run_row(web: Web, run_id: str):  # noqa: ANN201
    return web.page.locator(f'tr[data-run-id="{run_id}"]')


def test_list_updates_live_to_the_final_status(web: Web, second_web: Web, db: Db, db_url: str,
                                               server: Server, demo_apk: Path, pixel: dict,
                                               tmp_path: Path) -> None:
    shop = Team(web, db, server, demo_apk, "Shop Co")
    checkout = shop.category("Checkout")
    slow = shop.case("Slow checkout", ["Open the app", "Wait 3 seconds"], checkout)
    quick = shop.case("Quick look", ["Open the app"])
    [slow_run] = shop.run(slow)
    [quick_run] = shop.run(quick)
    rival = Team(second_web, db, server, demo_apk, "Rival Org")
    [rival_run] = rival.run(rival.case("Rival secret case", ["Open the app"]))

    page = web.page
    web.goto("/test-runs")
    table = page.locator("#runs-table")
    expect(table).to_have_attribute("data-live-url", "/test-runs/fragment")
    expect(run_row(web, slow_run)).to_contain_text("queued")
    expect(run_row(web, slow_run)).to_contain_text("Checkout")
    expect(run_row(web, quick_run)).to_contain_text("queued")
    expect(run_row(web, quick_run).get_by_role("link", name="Quick look")).to_have_attribute(
        "href", f"/test-runs/{quick_run}")
    expect(page.get_by_role("status")).to_have_text("2 runs shown: 2 queued. Updating as they run.")
    web.check("runs")
    page.evaluate("window.stillTheSamePage = true")

    host = worker(db_url, server, tmp_path)
    try:
        # the slow run is seen running, part way, then finished: all without a reload (runs
        # without a check end "completed")
        expect(run_row(web, slow_run)).to_contain_text("running", timeout=60_000)
        expect(run_row(web, slow_run).locator("progress")).to_have_attribute(
            "value", re.compile(r"^([1-9]\d?)$"), timeout=10_000)
        expect(run_row(web, slow_run)).to_contain_text("completed", timeout=60_000)
        expect(run_row(web, quick_run)).to_contain_text("completed", timeout=60_000)
        expect(page.get_by_role("status")).to_have_text("2 runs shown: 2 completed.")
        expect(run_row(web, quick_run)).to_contain_text("100%")
        expect(run_row(web, quick_run).locator("td").last).to_contain_text("UTC")
        expect(page.locator("#runs-table[data-live-url]")).to_have_count(0)
        assert page.evaluate("window.stillTheSamePage") is True
        rival.wait_finished([rival_run])
    finally:
        host.stop()

    # another organization's runs never show, either way round
    web.goto("/test-runs")
    expect(page.locator("tbody tr")).to_have_count(2)
    expect(page.get_by_text("Rival secret case")).to_have_count(0)
    second_web.goto("/test-runs")
    expect(second_web.page.locator("tbody tr")).to_have_count(1)
    expect(second_web.page.get_by_text("Rival secret case")).to_be_visible()
    expect(second_web.page.get_by_text("Slow checkout")).to_have_count(0)
    fragment = second_web.page.request.get("/test-runs/fragment")
    assert "Slow checkout" not in fragment.text() and "Rival secret case" in fragment.text()

    # filters narrow the list, as a GET form
    page.get_by_label("Category").select_option(label="Checkout")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r"category=" + checkout))
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(run_row(web, slow_run)).to_be_visible()
    page.get_by_label("Category").select_option(label="No category")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("tbody tr")).to_have_count(1)
    expect(run_row(web, quick_run)).to_be_visible()
    page.get_by_label("Category").select_option(label="Any category")
    page.get_by_label("Status").select_option(label="Failed")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r"status=failed"))
    expect(page.get_by_text("No runs match these filters.")).to_be_visible()
    page.get_by_label("Status").select_option(label="Completed")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("tbody tr")).to_have_count(2)


def test_pages_of_runs_and_the_fragment(web: Web, db: Db, server: Server, demo_apk: Path,
                                        pixel: dict) -> None:
    """No worker: 30 runs stay queued, so the list keeps asking for its fragment."""
    shop = Team(web, db, server, demo_apk, "Many Runs")
    case = shop.case("Smoke", ["Open the app"])
    run_ids = [r for _ in range(3) for r in shop.run(*[case] * 10)]
    page = web.page
    web.goto("/test-runs?status=queued")
    expect(page.locator("tbody tr")).to_have_count(25)
    expect(page.locator("#runs-table")).to_have_attribute(
        "data-live-url", "/test-runs/fragment?status=queued")
    shown = page.locator("tbody tr").evaluate_all("rows => rows.map(r => r.dataset.runId)")
    assert shown == list(reversed(run_ids))[:25]  # newest first
    page.get_by_role("link", name="Older runs").click()
    expect(page.locator("tbody tr")).to_have_count(5)
    assert "status=queued" in page.url and "cursor=" in page.url
    expect(page.get_by_label("Status")).to_have_value("queued")
    rest = page.locator("tbody tr").evaluate_all("rows => rows.map(r => r.dataset.runId)")
    assert rest == list(reversed(run_ids))[25:]
    expect(page.get_by_role("link", name="Older runs")).to_have_count(0)
    # the live fragment of this page keeps the cursor, and is the table's root element alone
    live_url = page.locator("#runs-table").get_attribute("data-live-url")
    assert "cursor=" in live_url
    fragment = page.request.get(live_url).text()
    assert fragment.lstrip().startswith('<div id="runs-table"') and "<html" not in fragment
    assert fragment.count("<tr data-run-id") == 5
    page.get_by_role("link", name="Newest runs").click()
    expect(page.locator("tbody tr")).to_have_count(25)


def test_bad_filters_are_named_inline(web: Web, db: Db, server: Server, demo_apk: Path,
                                      pixel: dict) -> None:
    shop = Team(web, db, server, demo_apk, "Typos")
    shop.run(shop.case("Smoke", ["Open the app"]))
    page = web.page
    for query, field, message in [
        ("status=exploded", "Status", "Choose one of the statuses listed."),
        (f"category={uuid.uuid4()}", "Category", "That category does not exist (any more)."),
        ("category=not-a-uuid", "Category", "That category does not exist (any more)."),
    ]:
        answer = web.goto("/test-runs?" + query)
        assert answer.status == 200
        expect(page.get_by_label(field)).to_have_attribute("aria-invalid", "true")
        expect(page.get_by_text(message)).to_be_visible()
        expect(page.locator("tbody tr")).to_have_count(1)  # the filter was left out
    web.goto("/test-runs?cursor=bm90IGEgY3Vyc29y")
    expect(page.get_by_text("That page link is not valid; showing the newest runs.")
           ).to_be_visible()
    expect(page.locator("tbody tr")).to_have_count(1)


def test_fragment_needs_a_session(server: Server) -> None:
    with httpx.Client(base_url=server.base_url) as anonymous:
        r = anonymous.get("/test-runs/fragment", headers={"accept": "text/html"})
    assert r.status_code == 401
    assert "runs-table" not in r.text
