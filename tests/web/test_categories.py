"""The Categories page in the browser: create, rename and delete with case counts that agree
with the API; bad names refused inline; another organization's category is the 404 page."""

from __future__ import annotations

import re
from typing import Any

from tests.conftest import Db, Server
from tests.web.conftest import Web


def _submit(web: Web, button: Any) -> None:
    with web.page.expect_navigation():
        button.click()


def _create(web: Web, name: str) -> None:
    web.page.get_by_label("Name", exact=True).fill(name)
    _submit(web, web.page.get_by_role("button", name="Create category"))


def _row(web: Web, name: str) -> Any:
    return web.page.get_by_role("row").filter(
        has=web.page.get_by_role("link", name=name, exact=True))


def _counts(web: Web) -> dict[str, str]:
    rows = web.page.get_by_role("table", name="Your categories").locator("tbody tr")
    return {r.get_by_role("link").inner_text(): r.locator("td").nth(1).inner_text()
            for r in rows.all()}


def _post(web: Web, path: str, **form: str) -> Any:
    return web.page.request.post(path, form={"csrf_token": web.csrf(), **form},
                                 max_redirects=0)


def test_create_rename_delete_with_counts(web: Web, server: Server, db: Db) -> None:
    email = web.sign_up(organization="Shopfront")
    api = server.client(web.api_key(db, email))
    web.goto("/categories")
    assert web.page.get_by_text("No categories yet.").is_visible()
    _create(web, "  Checkout  ")  # trimmed
    _create(web, "Search")
    ids = {c["name"]: c["id"] for c in api.get("/v1/categories/list").json()}
    assert set(ids) == {"Checkout", "Search"}
    cases = [api.post("/v1/test-cases", json={
        "name": f"Pay {i}", "category_id": ids["Checkout"],
        "steps": [{"description": "Open the app"}]}).json()["test_case"]["id"]
        for i in range(2)]
    web.goto("/categories")
    assert _counts(web) == {"Checkout": "2", "Search": "0"}

    # a taken name: refused inline, on creation and on renaming; nothing changes
    _create(web, "Checkout")
    assert web.page.url.endswith("/categories")
    error = web.page.locator("#new-name-error")
    assert error.inner_text().endswith("There is already a category named “Checkout”. "
                                       "Choose another name.")
    assert web.page.get_by_label("Name", exact=True).get_attribute("aria-invalid") == "true"
    web.page.get_by_label("New name for Search").fill("Checkout")
    _submit(web, web.page.get_by_role("button", name="Rename Search"))
    assert "already a category named" in web.page.locator(
        f"#rename-{ids['Search']}-error").inner_text()
    assert web.page.get_by_label("New name for Search").input_value() == "Checkout"
    assert db.scalar("SELECT count(*) FROM categories") == 2
    assert web.page.get_by_label("Name", exact=True).get_attribute("maxlength") == "100"
    _create(web, "   ")
    assert web.page.locator("#new-name-error").inner_text().endswith("Enter a name.")
    for bad, why in (("Nul\x00here", "cannot contain NUL"), ("Tab\there", "cannot contain"),
                     ("x" * 101, "at most 100 characters (this name has 101)")):
        response = _post(web, "/categories", name=bad)
        assert response.status == 422, bad
        assert why in response.text()
        response = _post(web, f"/categories/{ids['Search']}/rename", name=bad)
        assert response.status == 422 and why in response.text()
    assert sorted(r["name"] for r in db.fetch("SELECT name FROM categories")) == [
        "Checkout", "Search"]

    web.goto("/categories")
    web.page.get_by_label("New name for Search").fill("Search & browse")
    _submit(web, web.page.get_by_role("button", name="Rename Search"))
    _create(web, "Sign-in")
    assert _counts(web) == {"Checkout": "2", "Search & browse": "0", "Sign-in": "0"}
    listed = {c["name"]: c["test_case_count"] for c in api.get("/v1/categories/list").json()}
    assert listed == {"Checkout": 2, "Search & browse": 0, "Sign-in": 0}
    web.check("categories")

    # deleting asks first (saying where the cases go); dismissed, nothing happens
    messages: list[str] = []
    web.page.once("dialog", lambda d: (messages.append(d.message), d.dismiss()))
    _row(web, "Checkout").get_by_role("button", name="Delete Checkout").click()
    assert messages == ["Delete the category “Checkout”? Its 2 test cases will be kept with "
                        "no category."]
    assert db.scalar("SELECT count(*) FROM categories") == 3
    web.page.once("dialog", lambda d: d.accept())
    _submit(web, _row(web, "Checkout").get_by_role("button", name="Delete Checkout"))
    assert re.search(r"Deleted the category “Checkout”", web.page.get_by_role(
        "status").inner_text())
    assert _counts(web) == {"Search & browse": "0", "Sign-in": "0"}
    assert [c["name"] for c in api.get("/v1/categories/list").json()] == [
        "Search & browse", "Sign-in"]
    for case_id in cases:  # the cases are kept, with no category
        body = api.get(f"/v1/test-cases/{case_id}").json()["test_case"]
        assert body["category"] is None
    api.close()


def test_another_organizations_category_is_the_404_page(web: Web, second_web: Web,
                                                        db: Db) -> None:
    web.sign_up(organization="Mine")
    web.goto("/categories")
    _create(web, "Ours")
    second_web.sign_up(organization="Theirs")
    second_web.goto("/categories")
    _create(second_web, "Private")
    theirs = db.scalar("SELECT id FROM categories WHERE name = 'Private'")
    for path, form in ((f"/categories/{theirs}/rename", {"name": "Hijacked"}),
                       (f"/categories/{theirs}/delete", {}),
                       ("/categories/not-a-uuid/delete", {})):
        response = _post(web, path, **form)
        assert response.status == 404, path
        assert "Page not found" in response.text()
    assert db.scalar("SELECT name FROM categories WHERE id = $1", theirs) == "Private"
    # the same name in two organizations is fine; neither sees the other's
    _create(web, "Private")
    assert set(_counts(web)) == {"Ours", "Private"}
    second_web.goto("/categories")
    assert set(_counts(second_web)) == {"Private"}
    # without the form's CSRF token nothing happens
    refused = second_web.page.request.post(f"/categories/{theirs}/delete", form={},
                                           max_redirects=0)
    assert refused.status == 403
    assert db.scalar("SELECT count(*) FROM categories WHERE id = $1", theirs) == 1
