"""The back-off arithmetic and header reading the SDK's retries rest on."""

from __future__ import annotations

import email.utils
import time

import httpx
import pytest

from qualgent.client import RetryPolicy
from qualgent.client.retry import Mode, Pacer, retry_after, retryable_error, retryable_status


def test_full_jitter_stays_within_the_exponential_ceiling_and_the_cap() -> None:
    policy = RetryPolicy(max_attempts=10, base=1.0, cap=30.0)
    for failed, ceiling in [(1, 1), (2, 2), (3, 4), (4, 8), (5, 16), (6, 30), (9, 30)]:
        waits = [policy.backoff(failed) for _ in range(2000)]
        assert all(0 <= w <= ceiling for w in waits), failed
        # full jitter: spread over the whole range, not bunched at the top
        assert min(waits) < ceiling * 0.1 and max(waits) > ceiling * 0.9, failed


def test_shrunk_policy_for_tests() -> None:
    policy = RetryPolicy(max_attempts=3, base=0.01, cap=0.02)
    assert all(policy.backoff(n) <= 0.02 for n in range(1, 20) for _ in range(100))
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)


def _response(status: int = 200, **headers: str) -> httpx.Response:
    return httpx.Response(status, headers=headers)


def test_retry_after_seconds_or_http_date() -> None:
    assert retry_after(_response(429, **{"Retry-After": "3"})) == 3.0
    date = email.utils.formatdate(time.time() + 10, usegmt=True)
    assert 8 <= retry_after(_response(503, **{"Retry-After": date})) <= 10
    assert retry_after(_response(429)) is None
    assert retry_after(_response(429, **{"Retry-After": "soon"})) is None


def test_what_is_retried() -> None:
    assert retryable_status(429, Mode.SAFE) and retryable_status(503, Mode.SAFE)
    assert retryable_status(500, Mode.UNSENT) and not retryable_status(500, Mode.UPLOAD)
    assert retryable_status(429, Mode.UPLOAD)
    for status in (400, 401, 402, 403, 404, 409, 413, 422):
        assert not retryable_status(status, Mode.SAFE)
    lost = httpx.RemoteProtocolError("Server disconnected without sending a response.")
    assert retryable_error(lost, Mode.SAFE)
    assert not retryable_error(lost, Mode.UNSENT) and not retryable_error(lost, Mode.UPLOAD)
    refused = httpx.ConnectError("refused")
    assert all(retryable_error(refused, m) for m in Mode)
    assert not retryable_error(ValueError("x"), Mode.SAFE)


def test_pacer_waits_for_the_window_only_when_it_is_used_up() -> None:
    pacer = Pacer()
    pacer.observe(_response(**{"X-RateLimit-Remaining": "4", "X-RateLimit-Reset": "1"}))
    assert pacer.delay() == 0
    pacer.observe(_response(**{"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "2"}))
    assert 1.9 < pacer.delay() <= 2
    pacer.observe(_response())  # a response without the headers changes nothing
    assert pacer.delay() > 1.9
