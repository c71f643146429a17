"""A new team's first hour, all in the browser: sign up, create a key and use it, create a
category, author a case with a variable, upload the Demo Shop, run the case on the simulated
Pixel 7 and watch it finish live, open its results; a failing case explains itself; another
account sees none of it."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import expect

from tests.conftest import Db, Server, eventually
from tests.demo import SIGN_IN_QUOTED
from tests.web.conftest import Web
from tests.worker.conftest import SMS_PIXEL, WorkerProcess

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
SEARCH = [*SIGN_IN_QUOTED, "Type {{query}} into the search field and submit",
          "Tap the first result", "Check the price shows $59.99"]


def _nav(web: Web, name: str) -> None:
    web.page.get_by_role("navigation", name="Main").get_by_role("link", name=name).click()


def _author(web: Web, name: str, steps: list[str], category: str,
            variable: str | None = None) -> str:
    page = web.page
    web.goto("/test-cases")
    page.get_by_role("link", name="New test case").click()
    page.get_by_label("Name", exact=True).fill(name)
    page.get_by_label("Category").select_option(label=category)
    for i, step in enumerate(steps):
        if i:
            page.get_by_role("button", name="Add a step").click()
        page.get_by_label(f"Step {i + 1}", exact=True).fill(step)
    if variable:
        page.get_by_role("button", name="Add a variable").click()
        page.locator("#f-var-0-name").fill(variable)
        page.locator("#f-var-0-required").check()
    page.get_by_role("button", name="Create test case").click()
    page.wait_for_url(re.compile(rf"/test-cases/{UUID}\?saved=1$"))
    return re.search(UUID, page.url).group(0)


def _run(web: Web, case_id: str, **variables: str) -> str:
    page = web.page
    web.goto(f"/test-cases/{case_id}")
    page.get_by_role("link", name="Run this test case").click()
    page.get_by_label("Device").select_option(index=0)
    page.get_by_label("Needs a SIM (the test reads a code sent by SMS)").check()
    for name, value in variables.items():
        page.locator(f"#f-var-{name}").fill(value)
    page.get_by_role("button", name="Queue the run").click()
    page.wait_for_url(re.compile(rf"/test-runs/{UUID}$"))
    return re.search(UUID, page.url).group(0)


def test_first_hour_of_a_new_team(web: Web, second_web: Web, server: Server, db: Db,
                                  db_url: str, demo_apk: Path, tmp_path: Path) -> None:
    page = web.page
    web.sign_up(name="Ada", organization="Shop QA")

    # Settings -> Developer: a key, shown once, works against the API
    _nav(web, "Settings")
    page.get_by_role("button", name="Create key").click()
    key = page.locator("#new-key").inner_text().strip()
    assert key.startswith("qg_")
    api = server.client(key)
    assert api.get("/v1/categories/list").json() == []

    # a category, which only the dashboard can make
    _nav(web, "Categories")
    page.get_by_label("Name", exact=True).fill("Checkout")
    page.get_by_role("button", name="Create category").click()
    assert [c["name"] for c in api.get("/v1/categories/list").json()] == [
        "Checkout"]

    # the Demo Shop build, uploaded with a progress bar
    _nav(web, "Builds")
    page.get_by_label("Build file (.apk, .aab or .ipa)").set_input_files(str(demo_apk))
    page.get_by_label("App name").fill("Demo Shop")
    page.get_by_label("Version").fill("1.0.0")
    page.get_by_role("button", name="Upload").click()
    expect(page.locator("table")).to_contain_text("Demo Shop", timeout=30_000)

    # a case with a variable; its run on the simulated Pixel 7, watched live
    search = _author(web, "Search and open the headphones", SEARCH, "Checkout",
                     variable="query")
    assert api.get(f"/v1/test-cases/{search}").json()["test_case"]["variables"][0][
        "name"] == "query"
    worker = WorkerProcess(db_url, server, tmp_path / "worker.log", SMS_PIXEL)
    try:
        _nav(web, "Devices")
        eventually(lambda: page.reload() and "Idle" in page.locator("main").inner_text(),
                   timeout=60, interval=0.5)  # the worker registers its device
        expect(page.locator("table")).to_contain_text("Pixel 7")
        run_id = _run(web, search, query="wireless headphones")
        page.evaluate("window.notReloaded = true")
        status = page.locator("#result .run-status")
        expect(status).to_contain_text("passed", timeout=120_000)
        assert page.evaluate("window.notReloaded") is True
        steps = page.locator("ol.steps article.step")
        expect(steps).to_have_count(len(SEARCH))
        expect(steps.nth(5)).to_contain_text("Type wireless headphones into the search field")
        for img in page.locator("figure.shot img").all():
            img.scroll_into_view_if_needed()
            page.wait_for_function("img => img.complete && img.naturalWidth > 0",
                                   arg=img.element_handle())
        assert api.get(f"/v1/jobs/status/{run_id}").json()["link"] == page.url
        web.check("journey-results")

        # a case that cannot pass: the page says why, in words
        broken = _author(web, "A banner that is not there",
                         ["Open the app", 'Verify that "Spring sale" is shown'], "Checkout")
        failing = _run(web, broken)
        expect(page.locator("#result .run-status")).to_contain_text("failed", timeout=120_000)
        explanation = api.get(f"/v1/jobs/status/{failing}").json()["explanation"]
        assert explanation
        expect(page.locator("section.failure .explanation")).to_have_text(explanation)

        # the runs list shows both, each with its status in words
        _nav(web, "Runs")
        rows = page.locator("table tbody tr")
        expect(rows).to_have_count(2)
        expect(rows.nth(0)).to_contain_text("failed")
        expect(rows.nth(1)).to_contain_text("passed")
    finally:
        worker.stop()

    # another account: the run is the same 404 page as one that never existed
    second_web.sign_up(name="Eve", organization="Elsewhere")
    answers = []
    for path in (f"/test-runs/{run_id}", "/test-runs/00000000-0000-0000-0000-000000000000"):
        response = second_web.goto(path)
        assert response is not None
        answers.append((response.status, response.text()))
    assert answers[0][0] == 404 and answers[0] == answers[1]
    second_web.goto("/test-runs")
    expect(second_web.page.locator("main")).not_to_contain_text("Search and open")
