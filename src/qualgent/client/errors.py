"""The SDK's one exception: the API's error shape {"error", "message", "details"}."""

from __future__ import annotations

from typing import Any

import httpx

__all__ = ["ApiError"]


class ApiError(Exception):
    """A refusal or failure of the API, or no answer at all.

    `status` is the HTTP status; 0 when no response came (connection refused, reset or timed
    out after the retries), then `error` is "connection_failed". `error` is the API's stable
    string to branch on (e.g. "insufficient_credits", "idempotency_key_reused")."""

    def __init__(self, status: int, error: str, message: str,
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status} {error}: {message}" if status else f"{error}: {message}")
        self.status = status
        self.error = error
        self.message = message
        self.details = details or {}

    @classmethod
    def from_response(cls, response: httpx.Response) -> ApiError:
        """Built from any response, even one that is not the API's JSON (a proxy's page)."""
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            details = body.get("details")
            return cls(response.status_code, body["error"], str(body.get("message", "")),
                       details if isinstance(details, dict) else {})
        text = response.text.strip()[:200] if response.content else ""
        return cls(response.status_code, f"http_{response.status_code}",
                   text or response.reason_phrase or "no body")

    @classmethod
    def connection_failed(cls, exc: BaseException) -> ApiError:
        return cls(0, "connection_failed", f"{type(exc).__name__}: {exc}" if str(exc)
                   else type(exc).__name__)
