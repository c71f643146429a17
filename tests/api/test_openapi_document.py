"""The OpenAPI document names every status an operation can answer, with the error schema."""

from __future__ import annotations

from tests.conftest import Server

ERROR = {"$ref": "#/components/schemas/ErrorResponse"}


def _document(server: Server) -> dict:
    with server.client() as c:
        return c.get("/openapi.json").json()


def test_every_operation_documents_its_errors(server: Server) -> None:
    doc = _document(server)
    assert doc["components"]["schemas"]["ErrorResponse"]["required"] == [
        "error", "message", "details"]
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    for path, operations in doc["paths"].items():
        for method, op in operations.items():
            responses = op["responses"]
            errors = {int(code) for code in responses if int(code) >= 400}
            for code in errors:
                assert responses[str(code)]["content"]["application/json"]["schema"] == ERROR
            if not path.startswith("/v1/"):
                continue
            where = f"{method.upper()} {path}"
            assert {401, 403, 429, 503} <= errors, where
            if "requestBody" in op:
                assert {400, 413, 422} <= errors, where
            if "{" in path:
                assert 404 in errors, where
            for response in responses.values():
                assert "X-RateLimit-Remaining" in response["headers"], where
            assert "Retry-After" in responses["429"]["headers"]
            assert "Retry-After" in responses["503"]["headers"]
    run = doc["paths"]["/v1/test-cases/run"]["post"]["responses"]
    assert "402" in run and "404" in run
    assert "503" in doc["paths"]["/healthz"]["get"]["responses"]


def test_ids_in_paths_are_documented_as_uuids(server: Server) -> None:
    doc = _document(server)
    status = doc["paths"]["/v1/jobs/status/{test_run_id}"]["get"]["parameters"][0]
    assert status["schema"]["format"] == "uuid"
    app = doc["paths"]["/v1/apps/{app_id}"]["get"]["parameters"][0]
    assert {"type": "string", "enum": ["latest"]} in app["schema"]["anyOf"]
