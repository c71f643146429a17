"""POST /v1/sms/twilio: the inbound-SMS webhook of a Twilio (or Twilio-compatible) number.

Twilio cannot send an API key: the X-Twilio-Signature, made with the auth token the operator
configured (QUALGENT_TWILIO_AUTH_TOKEN), is this route's authentication. It is left out of
the OpenAPI document, which is about the API-key routes clients call. Bodies are capped by
the app's BodyGuard like any other; texts are never logged (they carry one-time codes).
"""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl

from fastapi import APIRouter, Request
from fastapi.responses import Response

from qualgent.api.bodies import unstorable_text
from qualgent.api.deps import Ctx
from qualgent.api.errors import ApiError, malformed_body
from qualgent.sms import inbox, signature
from qualgent.sms.numbers import normalise

log = logging.getLogger(__name__)

router = APIRouter(tags=["sms"])

PATH = "/sms/twilio"
TWIML_EMPTY = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
MAX_FIELDS = 100
"""Twilio sends about twenty; far more is not Twilio."""
_FORM = "application/x-www-form-urlencoded"
_REQUIRED = ("From", "To", "Body")


def _not_configured() -> ApiError:
    return ApiError(503, "sms_webhook_not_configured",
                    "The SMS webhook is off: set QUALGENT_TWILIO_AUTH_TOKEN to the auth token "
                    "of the Twilio account whose numbers post here.")


def _bad_signature() -> ApiError:
    return ApiError(403, "invalid_signature",
                    "X-Twilio-Signature is missing or does not match this request signed with "
                    "the configured auth token.", {"field": "X-Twilio-Signature"})


async def _params(request: Request) -> list[tuple[str, str]]:
    """The form's (name, value) pairs in order; 400 when the body is not such a form."""
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if kind != _FORM:
        raise malformed_body(f"The body must be {_FORM} (Twilio's webhook format).")
    try:
        return parse_qsl((await request.body()).decode("utf-8"), keep_blank_values=True,
                         strict_parsing=True, errors="strict", max_num_fields=MAX_FIELDS)
    except UnicodeDecodeError:
        raise malformed_body("The form is not valid UTF-8.") from None
    except ValueError:  # a field without '=', or too many fields
        raise malformed_body(f"The body is not a form of at most {MAX_FIELDS} "
                             "name=value fields.") from None


def signed_url(request: Request, public_url: str) -> str:
    """The URL Twilio requested: the public one (a proxy may have changed host, scheme and
    port), with the path and query exactly as sent."""
    scope = request.scope
    path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1")
    query = scope.get("query_string", b"").decode("latin-1")
    base = public_url.rstrip("/") or f"{request.url.scheme}://{request.url.netloc}"
    return base + path + (f"?{query}" if query else "")


@router.post(PATH, include_in_schema=False)
async def twilio_inbound(request: Request, ctx: Ctx) -> Response:
    """Verify, store, and answer with empty TwiML (no reply text is sent)."""
    token = ctx.settings.twilio_auth_token
    if token is None or not token.get_secret_value():
        raise _not_configured()
    params = await _params(request)
    url = signed_url(request, ctx.settings.public_url)
    if not signature.valid(token.get_secret_value(), url, params,
                           request.headers.get("x-twilio-signature")):
        raise _bad_signature()
    fields: dict[str, str] = {}
    for name, value in params:
        fields.setdefault(name, value)
    for name in _REQUIRED:
        if name not in fields:
            raise ApiError(400, "missing_parameter", f"{name} is required.", {"field": name})
    sid = fields.get("MessageSid") or fields.get("SmsSid") or None
    for name in (*_REQUIRED, "MessageSid", "SmsSid"):
        if name in fields and (problem := unstorable_text(name, fields[name])):
            raise problem
    to = normalise(fields["To"])
    if not to:
        raise ApiError(422, "invalid_request", "To: the receiving number is empty.",
                       {"field": "To"})
    stored = await inbox.store(ctx.pg, to, fields["From"], fields["Body"], sid)
    log.info("inbound SMS to %s %s", to, "stored" if stored else "already stored (same sid)")
    return Response(TWIML_EMPTY, media_type="text/xml")
