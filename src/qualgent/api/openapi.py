"""The OpenAPI document says everything a client can get back, errors included.

Routes declare their success bodies; this module adds, in one place, what the edge answers
for every operation: the API key scheme, the X-RateLimit-* headers, and each error status an
operation can return with the one error schema. Which statuses apply follows from the
operation's shape (a /v1 route, a request body, an id in the path) plus a short table for
the statuses only some operations have.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI

from qualgent.api.auth import SECURITY_SCHEME

ERROR_SCHEMA: dict[str, Any] = {
    "title": "ErrorResponse",
    "type": "object",
    "required": ["error", "message", "details"],
    "additionalProperties": False,
    "properties": {
        "error": {"type": "string", "description": "Stable code, e.g. invalid_request"},
        "message": {"type": "string", "description": "For people; may change"},
        "details": {"type": "object", "additionalProperties": True,
                    "description": "Facts about the error; `field` names the input at fault"},
    },
}
ERROR_REF = {"$ref": "#/components/schemas/ErrorResponse"}

_INTEGER = {"type": "integer", "minimum": 0}
HEADERS: dict[str, Any] = {
    "X-RateLimit-Limit": {"description": "Requests allowed per window", "required": True,
                          "schema": _INTEGER},
    "X-RateLimit-Remaining": {"description": "Requests left in the window", "required": True,
                              "schema": _INTEGER},
    "X-RateLimit-Reset": {"description": "Seconds until the window frees up", "required": True,
                          "schema": _INTEGER},
    "Retry-After": {"description": "Seconds to wait before retrying", "required": True,
                    "schema": _INTEGER},
}
RATE_LIMIT_HEADERS = {name: {"$ref": f"#/components/headers/{name}"}
                      for name in ("X-RateLimit-Limit", "X-RateLimit-Remaining",
                                   "X-RateLimit-Reset")}
RETRY_AFTER = {"Retry-After": {"$ref": "#/components/headers/Retry-After"}}

ERRORS: dict[int, str] = {
    400: "The request cannot be read or lacks something: `malformed_body`, "
         "`missing_parameter`, `invalid_cursor`, `too_many_jobs`, "
         "`missing_required_variable`, `unresolved_reference`, `invalid_request` (a "
         "malformed Idempotency-Key header).",
    401: "No API key, or not a valid one: `missing_api_key`, `invalid_api_key`.",
    402: "The organization has too few credits for the batch: `insufficient_credits`.",
    403: "The organization's plan has no API access: `plan_required`.",
    404: "No such object in your organization (`S-90004`), the same answer whether it does "
         "not exist or belongs to another organization.",
    409: "The request conflicts with the object's current state; on submissions, "
         "`idempotency_key_reused`: the Idempotency-Key was used for another request.",
    413: "The body is over its cap: `payload_too_large` (`details.max_bytes`).",
    422: "Well-formed but not acceptable; `details.field` names the input at fault: "
         "`invalid_request`, `invalid_build`, `unsupported_file_type`, "
         "`package_name_mismatch`, `invalid_variable_value`, `unknown_device`, "
         "`sim_unavailable`, `test_case_archived`, `no_app`, `no_recording`, `no_test_cases`.",
    429: "Over the rate limit: `rate_limited`; wait Retry-After seconds.",
    503: "The database does not answer: `database_unavailable`; retry after Retry-After "
         "seconds.",
}

EVERY_V1 = (401, 403, 429, 503)
WITH_BODY = (400, 413, 422)
WITH_QUERY = (422,)
WITH_PATH_ID = (404,)
ONLY_SOME: dict[tuple[str, str], tuple[int, ...]] = {
    ("post", "/v1/test-cases/run"): (402, 404, 409),  # 409: Idempotency-Key reused
    ("post", "/v1/test-cases/run-all"): (402, 404, 409),
    ("post", "/v1/test-cases"): (404,),  # category_id
    ("put", "/v1/test-cases/{case_id}"): (404,),
    ("post", "/v1/apps/delete"): (404,),
    ("get", "/v1/test-cases/list"): (404,),  # category
    ("get", "/v1/jobs/list"): (400,),  # cursor
    ("get", "/healthz"): (429, 503),  # limited per client address (api.ratelimit)
}
_PATH_PARAM = re.compile(r"\{[^}]+\}")


def statuses(method: str, path: str, operation: dict[str, Any]) -> set[int]:
    """Every error status this operation can answer."""
    found = set(ONLY_SOME.get((method, path), ()))
    if path.startswith("/v1/"):
        found.update(EVERY_V1)
        if "requestBody" in operation:
            found.update(WITH_BODY)
        if any(p.get("in") == "query" for p in operation.get("parameters", [])):
            found.update(WITH_QUERY)
        if _PATH_PARAM.search(path):
            found.update(WITH_PATH_ID)
    return found


def _error_response(status: int, existing: dict[str, Any] | None) -> dict[str, Any]:
    response = dict(existing or {})
    response["description"] = ERRORS.get(status, response.get("description", "Error"))
    response["content"] = {"application/json": {"schema": ERROR_REF}}
    if status in (429, 503):
        response["headers"] = {**response.get("headers", {}), **RETRY_AFTER}
    return response


def _document_operation(method: str, path: str, operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    declared = {int(code) for code in responses if code.isdigit() and int(code) >= 400}
    for status in statuses(method, path, operation) | declared:
        responses[str(status)] = _error_response(status, responses.get(str(status)))
    if path.startswith("/v1/"):
        # declared here: the key is read by a plain dependency, since FastAPI's security
        # classes would cost a dependency level on every request
        operation["security"] = [{"ApiKey": []}]
        for response in responses.values():
            response["headers"] = {**RATE_LIMIT_HEADERS, **response.get("headers", {})}
    operation["responses"] = dict(sorted(responses.items()))


def _drop_unused_validation_schemas(schema: dict[str, Any]) -> None:
    """FastAPI's own 422 body (HTTPValidationError) is never sent: our 422s are ErrorResponse."""
    components = schema.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        rest = {k: v for k, v in components.items() if k not in ("HTTPValidationError", name)}
        if f"#/components/schemas/{name}'" not in repr((schema["paths"], rest)):
            components.pop(name, None)


RULES = """

Rules that hold for every request:
- Errors have one shape, `ErrorResponse`; `details.field` names the input at fault.
- Text may not contain NUL (`\\u0000`) or unpaired UTF-16 surrogates, and JSON numbers must
  be finite (no NaN, Infinity or 1e400): 422 `invalid_request`.
- Request bodies are capped (1 MB by default, QUALGENT_MAX_JSON_BODY_BYTES; builds have their
  own cap, QUALGENT_MAX_SINGLE_UPLOAD_MB) and JSON nests at most 64 levels.
- Every /v1 response carries X-RateLimit-Limit, -Remaining and -Reset."""


def complete(schema: dict[str, Any]) -> dict[str, Any]:
    """Add the security scheme, the error schema and every error response, in place."""
    info = schema.setdefault("info", {})
    info["description"] = info.get("description", "") + RULES
    components = schema.setdefault("components", {})
    components.setdefault("securitySchemes", {})["ApiKey"] = SECURITY_SCHEME
    components.setdefault("schemas", {})["ErrorResponse"] = ERROR_SCHEMA
    components.setdefault("headers", {}).update(HEADERS)
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            _document_operation(method, path, operation)
    _drop_unused_validation_schemas(schema)
    return schema


def install(app: FastAPI) -> None:
    """Serve the completed document, built once."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = complete(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
