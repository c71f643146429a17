"""Test case pages in the browser: authoring with steps and variables (the API's validation,
errors inline, nothing saved), versions and their diff, the run form, and org scoping."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from playwright.sync_api import expect

from tests.conftest import Db, Server
from tests.web.conftest import Web

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def _org_of(db: Db, email: str) -> str:
    return str(db.scalar("SELECT organization_id FROM users WHERE email = $1", email))


def _press(web: Web, button: Any) -> None:
    """Keyboard only: focus the control and press Enter."""
    button.focus()
    with web.page.expect_navigation():
        web.page.keyboard.press("Enter")


def _steps(web: Web) -> list[str]:
    return web.page.locator("input[name=step]").evaluate_all("els => els.map(e => e.value)")


def _focused(web: Web) -> str:
    return web.page.evaluate("document.activeElement && document.activeElement.id")


def _case_count(db: Db, org_id: str) -> int:
    return db.scalar("SELECT count(*) FROM test_cases WHERE organization_id = $1::uuid", org_id)


def test_author_a_case_with_steps_and_variables_then_edit_and_diff(
        web: Web, db: Db, server: Server) -> None:
    email = web.sign_up()
    org_id = _org_of(db, email)
    category = db.admin("create_category", org_id, "Smoke")
    key = web.api_key(db, email)
    page = web.page

    web.goto("/test-cases")
    page.get_by_role("link", name="New test case").click()
    page.get_by_label("Name", exact=True).fill("Search the shop")
    page.get_by_label("Category").select_option(label="Smoke")
    page.get_by_label("Step 1", exact=True).fill("Open the app")
    # Steps added with the keyboard; the new step's field has the focus after each.
    _press(web, page.get_by_role("button", name="Add a step"))
    assert _focused(web) == "f-step-1"
    page.keyboard.type("Check that the results list is shown")
    _press(web, page.get_by_role("button", name="Add a step"))
    page.get_by_label("Step 3", exact=True).fill("Search for {{query}}")
    # The search belongs before the check: move it up with the keyboard.
    _press(web, page.get_by_role("button", name="Move step 3 up"))
    assert _steps(web) == ["Open the app", "Search for {{query}}",
                           "Check that the results list is shown"]
    assert _focused(web) == "step-1-up"  # pressing Enter again would move it further
    assert page.get_by_label("Name", exact=True).input_value() == "Search the shop"

    # Variables: a bad name, then a default not of its type, then a duplicate: each refused
    # next to its field, nothing saved.
    _press(web, page.get_by_role("button", name="Add a variable"))
    assert _focused(web) == "f-var-0-name"
    page.keyboard.type("query")
    page.locator("#f-var-0-required").check()
    page.locator("#f-var-0-description").fill("Search term to type")
    _press(web, page.get_by_role("button", name="Add a variable"))
    page.locator("#f-var-1-name").fill("Timeout-Seconds")
    page.locator("#f-var-1-type").select_option("number")
    page.locator("#f-var-1-default").fill("soon")
    page.get_by_role("button", name="Create test case").click()
    assert page.get_by_role("alert").inner_text().endswith("Nothing was saved: check the "
                                                           "fields marked below.")
    name_error = page.locator("#f-var-1-name-error")
    assert "must match ^[a-z][a-z0-9_]*$" in name_error.inner_text()
    assert page.locator("#f-var-1-name").get_attribute("aria-invalid") == "true"
    assert _focused(web) == "f-var-1-name"
    assert _steps(web)[1] == "Search for {{query}}"  # the form kept what was typed

    page.locator("#f-var-1-name").fill("timeout_seconds")
    page.get_by_role("button", name="Create test case").click()
    assert "default of 'timeout_seconds' must be a number" in page.locator(
        "#f-var-1-default-error").inner_text()

    page.locator("#f-var-1-name").fill("query")
    page.locator("#f-var-1-type").select_option("string")
    page.locator("#f-var-1-default").fill("")
    page.get_by_role("button", name="Create test case").click()
    assert "'query' is declared twice" in page.locator("#f-var-1-name-error").inner_text()
    page.get_by_label("Step 2", exact=True).fill("")
    page.get_by_role("button", name="Create test case").click()
    assert page.locator("#f-step-1-error").inner_text().endswith("Write the step, or remove it.")
    web.check("test-case-editor-errors")
    assert _case_count(db, org_id) == 0

    page.get_by_label("Step 2", exact=True).fill("Search for {{query}}")
    _press(web, page.get_by_role("button", name="Remove variable 2"))
    assert page.locator("#f-var-1-name").count() == 0
    page.get_by_role("button", name="Create test case").click()
    page.wait_for_url(re.compile(rf"/test-cases/{UUID}\?saved=1$"))
    expect(page.get_by_role("status")).to_have_text("Saved as version 1.")
    case_id = re.search(UUID, page.url).group(0)
    assert _case_count(db, org_id) == 1
    web.check("test-case-editor")

    # Edit: Enter in a text field saves (the form's default button is Save).
    step3 = page.get_by_label("Step 3", exact=True)
    step3.fill("Check that at least one result is shown")
    step3.press("Enter")
    page.wait_for_url(re.compile(r"\?saved=1$"))
    expect(page.get_by_role("status")).to_have_text("Saved as version 2.")

    api = server.client(key).get(f"/v1/test-cases/{case_id}").json()["test_case"]
    assert api["version_number"] == 2
    assert api["name"] == "Search the shop"
    assert api["category"] == {"id": category["id"], "name": "Smoke"}
    assert [s["description"] for s in api["steps"]] == [
        "Open the app", "Search for {{query}}", "Check that at least one result is shown"]
    assert api["variables"] == [{"name": "query", "type": "string", "required": True,
                                 "description": "Search term to type"}]

    page.get_by_role("link", name="History and changes").click()
    rows = page.locator("table tbody tr")
    expect(rows).to_have_count(2)
    removed = page.locator(".diff-removed")
    added = page.locator(".diff-added")
    expect(removed).to_have_count(1)
    expect(added).to_have_count(1)
    assert removed.text_content() == "−Removed:   3. Check that the results list is shown"
    assert added.text_content() == "+Added:   3. Check that at least one result is shown"
    web.check("test-case-versions")
    # v2 against itself: no changes; a version that does not exist: refused inline.
    page.get_by_label("From version").select_option("2")
    page.get_by_role("button", name="Show the changes").click()
    assert page.get_by_text("The two versions have the same content.").is_visible()
    web.goto(f"/test-cases/{case_id}/versions?a=1&b=9")
    assert page.get_by_role("alert").inner_text().endswith(
        "Choose two versions of this test case from the lists.")

    # The list: filters by category and name.
    web.goto("/test-cases")
    row = page.get_by_role("row", name=re.compile("Search the shop"))
    expect(row).to_contain_text("Smoke")
    expect(row).to_contain_text("v2")
    page.get_by_label("Name contains").fill("shop")
    page.get_by_label("Category").select_option(label="Smoke")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("link", name="Search the shop")).to_be_visible()
    web.check("test-cases-list")
    page.get_by_label("Category").select_option(label="No category")
    page.get_by_role("button", name="Filter").click()
    assert page.get_by_text("No test case matches these filters.").is_visible()

    # Archive: asked first, then hidden from the list but readable.
    web.goto(f"/test-cases/{case_id}")
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Archive this test case").click()
    expect(page.get_by_text("This test case is archived")).to_be_visible()
    assert db.scalar("SELECT status FROM test_cases WHERE id = $1::uuid", case_id) == "archived"
    web.goto("/test-cases")
    assert page.get_by_role("link", name="Search the shop").count() == 0


def _upload_demo(server: Server, key: str, apk: Path) -> str:
    with server.client(key) as http, apk.open("rb") as fh:
        r = http.post("/v1/apps/upload", files={"file": fh},
                      data={"app_name": "Demo Shop", "version": "1.0.0"})
    assert r.status_code == 200, r.text
    return r.json()["file"]["id"]


def _api_case(server: Server, key: str) -> dict:
    body = {
        "name": "Search and verify result",
        "steps": [{"description": "Open the app and tap the search bar"},
                  {"description": "Type {{query}} and submit"},
                  {"description": "Wait up to {{timeout_seconds}} seconds for results"}],
        "variables": [
            {"name": "query", "type": "string", "required": True,
             "description": "Search term to type"},
            {"name": "timeout_seconds", "type": "number", "required": False, "default": 30},
        ],
    }
    with server.client(key) as http:
        r = http.post("/v1/test-cases", json=body)
    assert r.status_code == 200, r.text
    return r.json()["test_case"]


def test_run_form_queues_a_run_with_its_variables(
        web: Web, db: Db, server: Server, pixel: dict, demo_apk: Path) -> None:
    email = web.sign_up()
    key = web.api_key(db, email)
    app_id = _upload_demo(server, key, demo_apk)
    case = _api_case(server, key)
    page = web.page

    web.goto(f"/test-cases/{case['id']}")
    page.get_by_role("link", name="Run this test case").click()
    page.wait_for_url(re.compile(r"/run$"))
    assert page.get_by_label("Build").input_value() == app_id
    expect(page.get_by_label("Device")).to_contain_text("Pixel 7 · Android 14")
    assert page.get_by_label("timeout_seconds (number)").input_value() == "30"  # the default
    query = page.get_by_label("query (string) required")
    assert query.get_attribute("aria-required") == "true"
    web.check("test-case-run")

    page.get_by_role("button", name="Queue the run").click()
    assert page.locator("#f-var-query-error").inner_text().endswith(
        "Variable 'query' is required and has no default.")
    assert db.scalar("SELECT count(*) FROM test_runs") == 0

    page.get_by_label("query (string) required").fill("wireless headphones")
    page.get_by_label("timeout_seconds (number)").fill("soon")
    page.get_by_role("button", name="Queue the run").click()
    assert page.locator("#f-var-timeout_seconds-error").inner_text().endswith(
        "Variable 'timeout_seconds' must be a number.")
    assert page.get_by_label("query (string) required").input_value() == "wireless headphones"
    web.check("test-case-run-errors")
    assert db.scalar("SELECT count(*) FROM test_runs") == 0

    page.get_by_label("timeout_seconds (number)").fill("45")
    page.get_by_role("button", name="Queue the run").click()
    page.wait_for_url(re.compile(rf"/test-runs/{UUID}$"))
    run_id = re.search(UUID, page.url).group(0)
    run = db.fetch("SELECT test_case_id, app_file_id, version_number, device_name, vars, "
                   "resolved_steps, status FROM test_runs WHERE id = $1::uuid", run_id)[0]
    assert (str(run["test_case_id"]), str(run["app_file_id"]), run["version_number"],
            run["device_name"], run["status"]) == (case["id"], app_id, 1, "Pixel 7", "queued")
    assert json.loads(run["vars"]) == {"query": "wireless headphones", "timeout_seconds": 45}
    assert [s["description"] for s in json.loads(run["resolved_steps"])][1:] == [
        "Type wireless headphones and submit", "Wait up to 45 seconds for results"]


def test_run_form_shows_credits_and_platform_refusals(
        web: Web, db: Db, server: Server, pixel: dict, demo_apk: Path) -> None:
    email = web.sign_up()
    key = web.api_key(db, email)
    _upload_demo(server, key, demo_apk)
    case = _api_case(server, key)
    db.admin("register_device", "iPhone 15", "iOS", "17", "phone", False)
    db.fetch("UPDATE organizations SET credits = 0 WHERE id = $1::uuid", _org_of(db, email))
    page = web.page
    web.goto(f"/test-cases/{case['id']}/run")
    page.get_by_label("query (string) required").fill("lamp")
    page.get_by_label("Device").select_option(label="iPhone 15 · iOS 17")
    page.get_by_role("button", name="Queue the run").click()
    assert page.locator("#f-device-error").inner_text().endswith(
        "The build is for Android but the device is iOS.")
    page.get_by_label("Device").select_option(label="Pixel 7 · Android 14 · SIM")
    page.get_by_role("button", name="Queue the run").click()
    assert "needs 1 credits and the organization has 0" in page.get_by_role(
        "alert").inner_text()
    assert db.scalar("SELECT count(*) FROM test_runs") == 0


def test_another_organizations_case_is_the_404_page_and_stays_unchanged(
        web: Web, second_web: Web, db: Db, server: Server, pixel: dict,
        demo_apk: Path) -> None:
    email = web.sign_up()
    key = web.api_key(db, email)
    _upload_demo(server, key, demo_apk)
    case = _api_case(server, key)
    second_web.sign_up(name="Mallory")
    page = second_web.page
    for path in ("", "/versions", "/run"):
        response = second_web.goto(f"/test-cases/{case['id']}{path}")
        assert response.status == 404
        expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
    second_web.goto("/test-cases")
    token = second_web.csrf()
    posts = {
        "": {"name": "Taken over", "step": "Delete everything", "var_count": "0",
             "op": "save"},
        "/archive": {},
        "/run": {"var-query": "x", "device": "Pixel 7|Android|14"},
    }
    for path, form in posts.items():
        response = page.request.post(f"/test-cases/{case['id']}{path}",
                                     form={"csrf_token": token, **form},
                                     headers={"Accept": "text/html"})
        assert response.status == 404, path
        assert "Page not found" in response.text()
    assert second_web.goto("/test-cases/not-a-uuid").status == 404
    row = db.fetch("SELECT name, status, current_version_number FROM test_cases "
                   "WHERE id = $1::uuid", case["id"])[0]
    assert tuple(row) == ("Search and verify result", "active", 1)
    assert db.scalar("SELECT count(*) FROM test_runs") == 0
