"""When and how long the SDK waits: the API contract's recommended back-off (exponential with
full jitter, base 1 s, cap 30 s) on 5xx and network errors, `Retry-After` on 429, never on
other 4xx; and pacing by X-RateLimit-Remaining / X-RateLimit-Reset.

What may be retried depends on what a repeat could do on the server:

- SAFE requests (reads, deletes, and submissions carrying an Idempotency-Key) are retried on
  any network error, even once the request may have reached the server;
- UNSENT requests (creating or editing a test case: a repeat would make a second one) only
  on errors before the request was sent (connect errors and timeouts, no free connection);
- UPLOAD requests, like UNSENT, and never on 5xx: a build is re-sent whole, from a freshly
  opened file, only when the server cannot have stored any of it.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from dataclasses import dataclass
from enum import Enum
from typing import Any

import httpx
import tenacity

log = logging.getLogger("qualgent.client")

CONNECT_PHASE = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
"""Failures that happen before any byte of the request left."""


class Mode(Enum):
    SAFE = "safe"
    UNSENT = "unsent"
    UPLOAD = "upload"


def retry_after(response: httpx.Response) -> float | None:
    """Retry-After in seconds (delta-seconds or an HTTP date), None when absent or unreadable."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def retryable_status(status: int, mode: Mode) -> bool:
    if status == 429:
        return True
    return status >= 500 and mode is not Mode.UPLOAD


def retryable_error(exc: BaseException, mode: Mode) -> bool:
    if not isinstance(exc, httpx.TransportError):
        return False
    return mode is Mode.SAFE or isinstance(exc, CONNECT_PHASE)


@dataclass(frozen=True)
class RetryPolicy:
    """A bounded number of attempts; waits drawn from [0, min(cap, base * 2**(n-1))] after
    the n-th failed attempt ("full jitter"), or the server's Retry-After when it gives one."""

    max_attempts: int = 8
    base: float = 1.0
    cap: float = 30.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.base < 0 or self.cap < 0:
            raise ValueError("max_attempts >= 1, base >= 0 and cap >= 0")

    def backoff(self, failed_attempts: int) -> float:
        ceiling = min(self.cap, self.base * 2 ** max(0, failed_attempts - 1))
        return random.uniform(0, ceiling)

    def wait(self, state: tenacity.RetryCallState) -> float:
        outcome = state.outcome
        if outcome is not None and not outcome.failed:
            told = retry_after(outcome.result())
            if told is not None:
                return told
        return self.backoff(state.attempt_number)

    def tenacity_options(self, mode: Mode, what: str) -> dict[str, Any]:
        """Keyword arguments for tenacity.Retrying / AsyncRetrying around one request: the
        last response (or error) is given back when the attempts run out."""
        return {
            "stop": tenacity.stop_after_attempt(self.max_attempts),
            "retry": (tenacity.retry_if_exception(lambda e: retryable_error(e, mode))
                      | tenacity.retry_if_result(
                          lambda r: retryable_status(r.status_code, mode))),
            "wait": self.wait,
            "before_sleep": lambda state: _log_retry(state, what, self.max_attempts),
            "retry_error_callback": lambda state: state.outcome.result(),
        }


def _log_retry(state: tenacity.RetryCallState, what: str, max_attempts: int) -> None:
    outcome = state.outcome
    assert outcome is not None and state.next_action is not None
    if outcome.failed:
        exc = outcome.exception()
        cause = f"{type(exc).__name__}" + (f" ({exc})" if str(exc) else "")
    else:
        response = outcome.result()
        cause = f"HTTP {response.status_code}"
        if response.status_code == 429:
            cause += " (rate limited)"
    log.warning("%s: %s; retrying in %.1f s (attempt %d of %d)", what, cause,
                state.next_action.sleep, state.attempt_number + 1, max_attempts)


class Pacer:
    """Holds the next request back until the rate-limit window the last response described
    has room again (X-RateLimit-Remaining 0: wait X-RateLimit-Reset seconds)."""

    def __init__(self) -> None:
        self.not_before = 0.0

    def delay(self) -> float:
        return max(0.0, self.not_before - time.monotonic())

    def observe(self, response: httpx.Response) -> None:
        remaining = _number(response.headers.get("x-ratelimit-remaining"))
        if remaining is None or remaining > 0:
            return
        reset = _number(response.headers.get("x-ratelimit-reset"))
        wait = reset if reset is not None else 1.0
        self.not_before = max(self.not_before, time.monotonic() + min(wait, 3600.0))


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None
