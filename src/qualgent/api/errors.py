"""One error shape for every failure: {"error": <stable string>, "message", "details"}."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

NOT_FOUND = "S-90004"


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        error: str,
        message: str,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.details = details or {}
        self.headers = headers


def not_found(resource: str) -> ApiError:
    """The same answer whether the object is absent or belongs to another organization."""
    return ApiError(404, NOT_FOUND, f"{resource} not found in your organization.")


def error_response(
    status: int, error: str, message: str, details: dict | None = None, headers: dict | None = None
) -> JSONResponse:
    return JSONResponse(
        {"error": error, "message": message, "details": details or {}},
        status_code=status,
        headers=headers,
    )


def field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """('body', 'jobs', 0, 'device', 'platform') -> 'jobs[0].device.platform'."""
    out = ""
    for part in loc:
        if part in ("body", "query", "path", "header"):
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        elif not str(part).startswith("function-"):
            out += f".{part}" if out else str(part)
    return out


def validation_error(exc: RequestValidationError) -> ApiError:
    """Missing parameters and malformed bodies are 400; well-formed but invalid values, 422."""
    errors = exc.errors()
    first = errors[0]
    field = field_path(first["loc"])
    kind = first["type"]
    if kind == "json_invalid":
        return ApiError(400, "malformed_body", "The request body is not valid JSON.", {})
    if kind == "missing":
        return ApiError(
            400, "missing_parameter", f"{field} is required.", {"field": field}
        )
    if kind == "model_attributes_type" and not field:
        return ApiError(400, "malformed_body", "The request body must be a JSON object.", {})
    msg = str(first.get("msg", "is invalid"))
    custom = (first.get("ctx") or {}).get("error")
    if custom is not None:
        msg = str(custom)
    else:
        msg = msg.removeprefix("Value error, ")
        msg = f"{field}: {msg}" if field else msg
    return ApiError(422, "invalid_request", msg, {"field": field})


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.error, exc.message, exc.details, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        err = validation_error(exc)
        return error_response(err.status, err.error, err.message, err.details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return error_response(404, "not_found", "No such endpoint.")
        if exc.status_code == 405:
            return error_response(405, "method_not_allowed", "Method not allowed here.")
        return error_response(exc.status_code, "http_error", str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        return error_response(500, "internal_error", "Something went wrong on our side.")
