"""The synchronous client."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import httpx
import tenacity

from qualgent.client import calls
from qualgent.client.errors import ApiError
from qualgent.client.events import Subscription
from qualgent.client.models import AppFile, Run, RunEvent, RunPage, Submission, Trace
from qualgent.client.retry import Mode, Pacer, RetryPolicy, log

T = TypeVar("T")


def settings(api_key: str | None, base_url: str | None) -> tuple[str, str]:
    """The key and base URL: the arguments, else QUALGENT_API_KEY / QUALGENT_API_URL."""
    key = api_key or os.environ.get("QUALGENT_API_KEY")
    if not key:
        raise ValueError("no API key: pass api_key or set QUALGENT_API_KEY")
    url = base_url or os.environ.get("QUALGENT_API_URL") or calls.DEFAULT_URL
    return key, url.rstrip("/")


def user_agent() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return f"qualgent-python/{version('qualgent')}"
    except PackageNotFoundError:
        return "qualgent-python"


class Client:
    """The QualGent API, synchronously.

    Retries 5xx and network errors with exponential back-off and full jitter (`backoff_base`,
    `backoff_cap`), waits out 429s as Retry-After says, never retries other 4xx, and makes at
    most `max_attempts` attempts per request. Holds requests back while the rate-limit window
    is used up. Failures raise ApiError."""

    def __init__(self, api_key: str | None = None, base_url: str | None = None, *,
                 timeout: float = 30.0, max_attempts: int = 8, backoff_base: float = 1.0,
                 backoff_cap: float = 30.0, upload_timeout: float = 600.0,
                 events_read_timeout: float = 45.0) -> None:
        key, url = settings(api_key, base_url)
        self.base_url = url
        self.policy = RetryPolicy(max_attempts, backoff_base, backoff_cap)
        self.upload_timeout = upload_timeout
        self.events_read_timeout = events_read_timeout
        self._pacer = Pacer()
        self._http = httpx.Client(base_url=url, timeout=timeout,
                                  headers={"X-Api-Key": key, "User-Agent": user_agent()})

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ transport

    def _pace(self) -> None:
        delay = self._pacer.delay()
        if delay > 0:
            log.info("rate limit window used up; waiting %.1f s", delay)
            time.sleep(delay)

    def _retrying(self, mode: Mode, what: str, attempt: Any) -> httpx.Response:
        retrying = tenacity.Retrying(sleep=time.sleep,
                                     **self.policy.tenacity_options(mode, what))
        try:
            response = retrying(attempt)
        except httpx.TransportError as exc:
            raise ApiError.connection_failed(exc) from exc
        if response.is_success:
            return response
        raise ApiError.from_response(response)

    def _do(self, call: calls.Call[T]) -> T:
        def attempt() -> httpx.Response:
            self._pace()
            response = self._http.request(call.method, call.path, params=call.params,
                                          json=call.json, headers=call.headers)
            self._pacer.observe(response)
            return response

        return call.parse(self._retrying(call.mode, f"{call.method} {call.path}", attempt))

    # ------------------------------------------------------------------ apps

    def upload_app(self, path: str | os.PathLike[str], app_name: str, version: str, *,
                   os: str | None = None, package_name: str | None = None) -> AppFile:
        """Stream a build (.apk, .aab, .ipa) from disk. Re-sent (from a freshly opened file)
        only when the connection failed before anything was sent, or on 429."""
        file = Path(path)
        fields = calls.upload_fields(app_name, version, os, package_name)

        def attempt() -> httpx.Response:
            self._pace()
            with file.open("rb") as fh:
                response = self._http.post(
                    "/v1/apps/upload", data=fields,
                    files={"file": (file.name, fh, "application/octet-stream")},
                    timeout=httpx.Timeout(self._http.timeout.connect,
                                          read=self.upload_timeout,
                                          write=self.upload_timeout,
                                          pool=self._http.timeout.pool))
            self._pacer.observe(response)
            return response

        response = self._retrying(Mode.UPLOAD, "POST /v1/apps/upload", attempt)
        return AppFile.from_json(response.json()["file"])

    def list_apps(self) -> list[AppFile]:
        return self._do(calls.list_apps())

    def get_app(self, app_id: str = "latest") -> AppFile:
        """A build by id, or the most recent upload ('latest')."""
        return self._do(calls.get_app(app_id))

    def delete_apps(self, ids: Sequence[str]) -> list[str]:
        return self._do(calls.delete_apps(ids))

    # ------------------------------------------------------------------ test cases

    def list_test_cases(self, category: str | None = None,
                        include_archived: bool = False) -> list[dict[str, Any]]:
        return self._do(calls.list_test_cases(category, include_archived))

    def get_test_case(self, case_id: str) -> dict[str, Any]:
        return self._do(calls.get_test_case(case_id))

    def create_test_case(self, name: str, steps: Sequence[str | dict[str, Any]],
                         **fields: Any) -> dict[str, Any]:
        """fields: description, category_id, variables."""
        return self._do(calls.create_test_case(name, steps, **fields))

    def update_test_case(self, case_id: str, **fields: Any) -> dict[str, Any]:
        return self._do(calls.update_test_case(case_id, **fields))

    def delete_test_case(self, case_id: str) -> dict[str, Any]:
        return self._do(calls.delete_test_case(case_id))

    def test_case_versions(self, case_id: str) -> list[dict[str, Any]]:
        return self._do(calls.test_case_versions(case_id))

    def list_categories(self) -> list[dict[str, Any]]:
        return self._do(calls.list_categories())

    def list_devices(self) -> dict[str, list[dict[str, Any]]]:
        return self._do(calls.list_devices())

    # ------------------------------------------------------------------ runs

    def run(self, jobs: Sequence[dict[str, Any]], *,
            idempotency_key: str | None = None) -> Submission:
        """Queue 1 to 10 runs (see calls.job). One Idempotency-Key (yours, or a fresh uuid4)
        for every retry: a retry after a lost answer never queues the batch twice."""
        return self._do(calls.run(jobs, idempotency_key))

    def run_all(self, app_file_id: str, device: dict[str, Any], **options: Any) -> Submission:
        """options: category_id, use_sim, priority, idempotency_key."""
        return self._do(calls.run_all(app_file_id, device, **options))

    def get_run(self, run_id: str) -> Run:
        return self._do(calls.get_run(run_id))

    def list_runs(self, limit: int = 50, cursor: str | None = None) -> RunPage:
        return self._do(calls.list_runs(limit, cursor))

    def iter_runs(self, page_size: int = 50) -> Iterator[Run]:
        """Every run of the organization, most recent first, page after page."""
        cursor = None
        while True:
            page = self.list_runs(page_size, cursor)
            yield from page.runs
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    def run_steps(self, run_id: str, attempt: str | int = "latest") -> Trace:
        return self._do(calls.run_steps(run_id, attempt))

    def events(self, run_ids: Sequence[str] | None = None, *,
               last_event_id: str | None = None, until_final: bool = False
               ) -> Iterator[RunEvent]:
        """Run changes as GET /v1/jobs/events streams them. A dropped connection is reopened
        with Last-Event-ID, so no event is lost or repeated. With `until_final`, ends once
        every run of `run_ids` has sent its final event. Raises ApiError when the server
        cannot serve events (404 on an older server, 503): poll get_run instead."""
        sub = Subscription(run_ids, last_event_id, until_final, self.policy)
        while not sub.done:
            params, headers = sub.request()
            try:
                self._pace()
                with self._http.stream(
                        "GET", "/v1/jobs/events", params=params, headers=headers,
                        timeout=httpx.Timeout(self._http.timeout.connect,
                                              read=self.events_read_timeout)) as response:
                    self._pacer.observe(response)
                    if response.status_code != 200:
                        response.read()
                    sub.opened(response)
                    if response.status_code == 200:
                        for line in response.iter_lines():
                            event = sub.line(line)
                            if event is not None:
                                yield event
                                if sub.done:
                                    return
                        sub.ended()
            except httpx.TransportError as exc:
                sub.failed(exc)
            if not sub.done:
                time.sleep(sub.reconnect_delay())
