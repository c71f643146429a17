"""The edge where the services' typed refusals become HTTP answers.

Services (and the queue, for InsufficientCredits) raise DomainError subclasses, and the build
reader its InvalidBuild, with a message and the field at fault; this table gives each class
its status and stable error string. The feature routers use RefusalRoute, so every route and
its dependencies answer refusals the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from qualgent.accounts.invitations import InvitationRefused
from qualgent.accounts.members import LastOwner
from qualgent.api.errors import NOT_FOUND, ApiError
from qualgent.apps.service import OsMismatch, PackageNameMismatch
from qualgent.builds import InvalidBuild
from qualgent.devices.service import SimUnavailable, UnknownDevice
from qualgent.domain import DomainError, NotFound
from qualgent.queue.lifecycle import InsufficientCredits
from qualgent.runs.cursor import InvalidCursor
from qualgent.runs.service import BatchTooLarge, NoTestCases
from qualgent.runs.submit import NoApp, NoRecording, PlatformMismatch, TestCaseArchived
from qualgent.testcases.variables import (
    InvalidVariableValue,
    MissingRequiredVariable,
    UnresolvedReference,
)
from qualgent.webhooks.service import TooManyWebhooks, WebhookRefused

STATUS: dict[type[DomainError], tuple[int, str]] = {
    NotFound: (404, NOT_FOUND),
    OsMismatch: (422, "invalid_request"),
    PackageNameMismatch: (422, "package_name_mismatch"),
    MissingRequiredVariable: (400, "missing_required_variable"),
    UnresolvedReference: (400, "unresolved_reference"),
    InvalidVariableValue: (422, "invalid_variable_value"),
    UnknownDevice: (422, "unknown_device"),
    SimUnavailable: (422, "sim_unavailable"),
    PlatformMismatch: (422, "invalid_request"),
    TestCaseArchived: (422, "test_case_archived"),
    NoApp: (422, "no_app"),
    NoRecording: (422, "no_recording"),
    BatchTooLarge: (400, "too_many_jobs"),
    NoTestCases: (422, "no_test_cases"),
    InvalidCursor: (400, "invalid_cursor"),
    InsufficientCredits: (402, "insufficient_credits"),
    # the pages' refusals (accounts), in the same table though no /v1 route raises them
    InvitationRefused: (410, "invitation_unusable"),
    LastOwner: (409, "last_owner"),
    WebhookRefused: (422, "invalid_request"),
    TooManyWebhooks: (409, "too_many_webhooks"),
}

REFUSALS = (DomainError, InvalidBuild)


def as_api_error(exc: Exception) -> ApiError:
    """The HTTP answer for one of REFUSALS."""
    if isinstance(exc, InvalidBuild):
        return ApiError(422, "invalid_build", str(exc), {"field": "file"})
    assert isinstance(exc, DomainError)
    status, error = next(STATUS[cls] for cls in type(exc).__mro__ if cls in STATUS)
    details = {"field": exc.field, **exc.details} if exc.field else dict(exc.details)
    return ApiError(status, error, exc.message, details)


class RefusalRoute(APIRoute):
    """An APIRoute whose handler answers a service's refusal with its mapped error."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handle(request)
            except REFUSALS as exc:
                raise as_api_error(exc) from None

        return route
