"""The bookkeeping of one GET /v1/jobs/events subscription, shared by both clients: the last
event id to resume from, the runs still awaited, and how long to wait before reconnecting."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence

import httpx

from qualgent.client.errors import ApiError
from qualgent.client.models import RunEvent
from qualgent.client.retry import RetryPolicy, retry_after
from qualgent.client.sse import Parser

log = logging.getLogger("qualgent.client")

RECONNECT_STATUSES = frozenset({429, 502, 504})
"""Answers worth reconnecting after (a proxy's hiccup, the rate limit); any other refusal,
e.g. 404 from a server without events or 503, ends the subscription with ApiError so the
caller can fall back to polling."""


class Subscription:
    def __init__(self, run_ids: Sequence[str] | None, last_event_id: str | None,
                 until_final: bool, policy: RetryPolicy) -> None:
        self.run_ids = list(run_ids) if run_ids else None
        self.last_event_id = last_event_id
        self.pending = set(run_ids or ()) if until_final else None
        self.policy = policy
        self.failures = 0
        self.parser = Parser()
        self.heard = False
        self._told_wait: float | None = None

    @property
    def done(self) -> bool:
        return self.pending is not None and not self.pending

    def opened(self, response: httpx.Response) -> None:
        """Raises ApiError for an answer that is not a stream; counts reconnectable ones."""
        if response.status_code == 200:
            retry = self.parser.retry
            self.parser = Parser()
            self.parser.last_id, self.parser.retry = self.last_event_id, retry
            self.heard = False
            return
        error = ApiError.from_response(response)
        if response.status_code not in RECONNECT_STATUSES:
            raise error
        self._told_wait = retry_after(response)
        self.failed(error)

    def failed(self, exc: BaseException) -> None:
        """A connection that could not be opened or dropped without delivering anything."""
        self.failures += 1
        if self.failures >= self.policy.max_attempts:
            if isinstance(exc, ApiError):
                raise exc
            raise ApiError.connection_failed(exc) from exc
        log.warning("events: %s; reconnecting (attempt %d of %d)",
                    exc if isinstance(exc, ApiError) else type(exc).__name__,
                    self.failures + 1, self.policy.max_attempts)

    def ended(self) -> None:
        """The server closed the stream: a failure only if it said nothing at all (a healthy
        stream starts with `retry:`), so a server that hangs up at once is not retried
        forever."""
        if not self.heard:
            self.failed(ApiError(0, "connection_failed", "the event stream closed at once"))

    def line(self, text: str) -> RunEvent | None:
        self.heard = True
        message = self.parser.feed(text)
        if self.parser.last_id is not None:
            self.last_event_id = self.parser.last_id
        if message is None or message.event != "run":
            return None
        try:
            event = RunEvent.from_json(json.loads(message.data))
        except (ValueError, KeyError, TypeError):
            log.warning("events: unreadable event %r", message.data[:200])
            return None
        self.failures = 0
        if self.pending is not None and event.final:
            self.pending.discard(event.test_run_id)
        return event

    def reconnect_delay(self) -> float:
        """Retry-After if told, else the server's `retry:` (ms) for a clean end of stream, and
        the back-off after failures (whichever is longer)."""
        told, self._told_wait = self._told_wait, None
        if told is not None:
            return told
        server = (self.parser.retry or 0) / 1000
        return max(server, self.policy.backoff(self.failures) if self.failures else 0.0)

    def request(self) -> tuple[dict[str, str], dict[str, str]]:
        from qualgent.client.calls import events_request

        return events_request(self.run_ids, self.last_event_id)
