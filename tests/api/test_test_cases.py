"""Test case CRUD, immutable versions, variable validation, categories."""

from __future__ import annotations

import pytest

from tests.api.test_auth_and_errors import _error
from tests.conftest import Org

SEARCH_CASE = {
    "name": "Search and verify result",
    "steps": [
        {"description": "Open the app and tap the search bar"},
        {"description": "Type {{query}} and submit"},
        {"description": "Wait up to {{timeout_seconds}} seconds for results"},
    ],
    "variables": [
        {"name": "query", "type": "string", "required": True, "description": "Search term"},
        {"name": "timeout_seconds", "type": "number", "required": False, "default": 30},
    ],
}


def test_create_get_and_list_with_category(org: Org) -> None:
    cat = org.category("Smoke Tests")
    made = org.test_case(**SEARCH_CASE, category_id=cat["id"])
    assert made["version_number"] == 1 and made["status"] == "active"
    assert made["category"] == {"id": cat["id"], "name": "Smoke Tests"}
    assert made["variables"][0]["name"] == "query"
    got = org.http.get(f"/v1/test-cases/{made['id']}").json()["test_case"]
    assert got["steps"] == SEARCH_CASE["steps"]
    other = org.test_case(name="Checkout")
    listed = org.http.get("/v1/test-cases/list").json()
    assert isinstance(listed, list)
    by_id = {c["id"]: c for c in listed}
    assert set(by_id) == {made["id"], other["id"]}
    assert by_id[made["id"]]["category"] == {"id": cat["id"], "name": "Smoke Tests"}
    assert by_id[made["id"]]["latest_completed_run"] is None
    assert by_id[made["id"]]["status"] == "active"
    only = org.http.get("/v1/test-cases/list", params={"category": cat["id"]}).json()
    assert [c["id"] for c in only] == [made["id"]]
    cats = org.http.get("/v1/categories/list").json()
    assert cats == [{"id": cat["id"], "name": "Smoke Tests", "test_case_count": 1}]


def test_every_edit_creates_an_immutable_version(org: Org) -> None:
    made = org.test_case(**SEARCH_CASE)
    r = org.http.put(f"/v1/test-cases/{made['id']}",
                     json={"steps": [{"description": "Tap Sign in"}]})
    assert r.status_code == 200, r.text
    v2 = r.json()["test_case"]
    assert v2["version_number"] == 2 and v2["name"] == SEARCH_CASE["name"]
    assert v2["steps"] == [{"description": "Tap Sign in"}]
    assert v2["variables"] == made["variables"]  # left out: kept
    v3 = org.http.put(f"/v1/test-cases/{made['id']}", json={"name": "Renamed"}).json()["test_case"]
    assert v3["version_number"] == 3 and v3["name"] == "Renamed"
    versions = org.http.get(f"/v1/test-cases/{made['id']}/versions").json()["versions"]
    assert [v["version_number"] for v in versions] == [3, 2, 1]
    assert versions[2]["steps"] == SEARCH_CASE["steps"]
    assert versions[2]["id"] == made["version_id"]


def test_delete_archives(org: Org) -> None:
    cat = org.category("Smoke")
    made = org.test_case(category_id=cat["id"])
    r = org.http.delete(f"/v1/test-cases/{made['id']}")
    assert r.status_code == 200 and r.json()["test_case"]["status"] == "archived"
    assert org.http.get("/v1/test-cases/list").json() == []
    archived = org.http.get("/v1/test-cases/list", params={"include_archived": True}).json()
    assert [c["status"] for c in archived] == ["archived"]
    assert org.http.get(f"/v1/test-cases/{made['id']}").json()["test_case"]["status"] == "archived"
    assert org.http.get("/v1/categories/list").json()[0]["test_case_count"] == 0


@pytest.mark.parametrize(("variables", "field"), [
    ([{"name": "Query", "type": "string"}], "variables[0].name"),
    ([{"name": "1abc", "type": "string"}], "variables[0].name"),
    ([{"name": "a" * 41, "type": "string"}], "variables[0].name"),
    ([{"name": "q", "type": "text"}], "variables[0].type"),
    ([{"name": "q", "type": "number", "default": "30"}], "variables[0]"),
    ([{"name": "q", "type": "string", "default": 3}], "variables[0]"),
    ([{"name": "q", "type": "number", "default": True}], "variables[0].default"),
    ([{"name": "q", "type": "string", "description": "x" * 201}], "variables[0].description"),
    ([{"name": "q", "type": "string"}, {"name": "q", "type": "number"}], "variables"),
])
def test_variable_declarations_are_validated(org: Org, variables: list, field: str) -> None:
    r = org.http.post("/v1/test-cases", json={"name": "X", "steps": [{"description": "s"}],
                                              "variables": variables})
    body = _error(r, 422, "invalid_request")
    assert body["details"]["field"] == field
    assert org.http.get("/v1/test-cases/list").json() == []


def test_variable_name_of_40_chars_is_fine(org: Org) -> None:
    org.test_case(variables=[{"name": "a" * 40, "type": "string"}])


def test_bad_bodies(org: Org) -> None:
    body = _error(org.http.post("/v1/test-cases", json={"steps": [{"description": "s"}]}),
                  400, "missing_parameter")
    assert body["details"]["field"] == "name"
    body = _error(org.http.post("/v1/test-cases", json={"name": "x", "steps": []}),
                  422, "invalid_request")
    assert body["details"]["field"] == "steps"
    made = org.test_case()
    _error(org.http.put(f"/v1/test-cases/{made['id']}", json={"steps": [{"text": "x"}]}),
           400, "missing_parameter")
    assert len(org.http.get(f"/v1/test-cases/{made['id']}/versions").json()["versions"]) == 1


def test_variable_name_with_a_trailing_newline_is_refused(org: Org) -> None:
    r = org.http.post("/v1/test-cases", json={"name": "X", "steps": [{"description": "s"}],
                                              "variables": [{"name": "q\n", "type": "string"}]})
    assert _error(r, 422, "invalid_request")["details"]["field"] == "variables[0].name"


@pytest.mark.parametrize(("method", "path"), [
    ("PUT", "/v1/test-cases/run"), ("DELETE", "/v1/test-cases/run-all"),
    ("PUT", "/v1/test-cases/list"), ("GET", "/v1/apps/upload"), ("GET", "/v1/apps/delete"),
])
def test_a_sibling_operations_name_is_not_an_id(org: Org, method: str, path: str) -> None:
    """The path exists with another method: 405, not an edit of a case called "run"."""
    _error(org.http.request(method, path, json={"name": "x"}), 405, "method_not_allowed")
