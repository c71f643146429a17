"""The asynchronous client: the same methods as Client, awaited."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import httpx
import tenacity

from qualgent.client import calls
from qualgent.client._sync import settings, user_agent
from qualgent.client.errors import ApiError
from qualgent.client.events import Subscription
from qualgent.client.models import AppFile, Run, RunEvent, RunPage, Submission, Trace
from qualgent.client.retry import Mode, Pacer, RetryPolicy, log

T = TypeVar("T")


class AsyncClient:
    """The QualGent API on asyncio; retries, pacing and errors as Client's. Tasks sharing
    one AsyncClient share its pacing."""

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
        self._http = httpx.AsyncClient(base_url=url, timeout=timeout,
                                       headers={"X-Api-Key": key, "User-Agent": user_agent()})

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ transport

    async def _pace(self) -> None:
        delay = self._pacer.delay()
        if delay > 0:
            log.info("rate limit window used up; waiting %.1f s", delay)
            await asyncio.sleep(delay)

    async def _retrying(self, mode: Mode, what: str, attempt: Any) -> httpx.Response:
        retrying = tenacity.AsyncRetrying(sleep=asyncio.sleep,
                                          **self.policy.tenacity_options(mode, what))
        try:
            response = await retrying(attempt)
        except httpx.TransportError as exc:
            raise ApiError.connection_failed(exc) from exc
        if response.is_success:
            return response
        raise ApiError.from_response(response)

    async def _do(self, call: calls.Call[T]) -> T:
        async def attempt() -> httpx.Response:
            await self._pace()
            response = await self._http.request(call.method, call.path, params=call.params,
                                                json=call.json, headers=call.headers)
            self._pacer.observe(response)
            return response

        return call.parse(await self._retrying(call.mode, f"{call.method} {call.path}",
                                               attempt))

    # ------------------------------------------------------------------ apps

    async def upload_app(self, path: str | os.PathLike[str], app_name: str, version: str, *,
                         os: str | None = None, package_name: str | None = None) -> AppFile:
        """Stream a build from disk; re-sent (from a freshly opened file) only when the
        connection failed before anything was sent, or on 429."""
        file = Path(path)
        fields = calls.upload_fields(app_name, version, os, package_name)

        async def attempt() -> httpx.Response:
            await self._pace()
            with file.open("rb") as fh:
                response = await self._http.post(
                    "/v1/apps/upload", data=fields,
                    files={"file": (file.name, fh, "application/octet-stream")},
                    timeout=httpx.Timeout(self._http.timeout.connect,
                                          read=self.upload_timeout,
                                          write=self.upload_timeout,
                                          pool=self._http.timeout.pool))
            self._pacer.observe(response)
            return response

        response = await self._retrying(Mode.UPLOAD, "POST /v1/apps/upload", attempt)
        return AppFile.from_json(response.json()["file"])

    async def list_apps(self) -> list[AppFile]:
        return await self._do(calls.list_apps())

    async def get_app(self, app_id: str = "latest") -> AppFile:
        return await self._do(calls.get_app(app_id))

    async def delete_apps(self, ids: Sequence[str]) -> list[str]:
        return await self._do(calls.delete_apps(ids))

    # ------------------------------------------------------------------ test cases

    async def list_test_cases(self, category: str | None = None,
                              include_archived: bool = False) -> list[dict[str, Any]]:
        return await self._do(calls.list_test_cases(category, include_archived))

    async def get_test_case(self, case_id: str) -> dict[str, Any]:
        return await self._do(calls.get_test_case(case_id))

    async def create_test_case(self, name: str, steps: Sequence[str | dict[str, Any]],
                               **fields: Any) -> dict[str, Any]:
        return await self._do(calls.create_test_case(name, steps, **fields))

    async def update_test_case(self, case_id: str, **fields: Any) -> dict[str, Any]:
        return await self._do(calls.update_test_case(case_id, **fields))

    async def delete_test_case(self, case_id: str) -> dict[str, Any]:
        return await self._do(calls.delete_test_case(case_id))

    async def test_case_versions(self, case_id: str) -> list[dict[str, Any]]:
        return await self._do(calls.test_case_versions(case_id))

    async def list_categories(self) -> list[dict[str, Any]]:
        return await self._do(calls.list_categories())

    async def list_devices(self) -> dict[str, list[dict[str, Any]]]:
        return await self._do(calls.list_devices())

    # ------------------------------------------------------------------ runs

    async def run(self, jobs: Sequence[dict[str, Any]], *,
                  idempotency_key: str | None = None) -> Submission:
        return await self._do(calls.run(jobs, idempotency_key))

    async def run_all(self, app_file_id: str, device: dict[str, Any],
                      **options: Any) -> Submission:
        return await self._do(calls.run_all(app_file_id, device, **options))

    async def get_run(self, run_id: str) -> Run:
        return await self._do(calls.get_run(run_id))

    async def list_runs(self, limit: int = 50, cursor: str | None = None) -> RunPage:
        return await self._do(calls.list_runs(limit, cursor))

    async def iter_runs(self, page_size: int = 50) -> AsyncIterator[Run]:
        cursor = None
        while True:
            page = await self.list_runs(page_size, cursor)
            for run in page.runs:
                yield run
            if not page.next_cursor:
                return
            cursor = page.next_cursor

    async def run_steps(self, run_id: str, attempt: str | int = "latest") -> Trace:
        return await self._do(calls.run_steps(run_id, attempt))

    async def events(self, run_ids: Sequence[str] | None = None, *,
                     last_event_id: str | None = None, until_final: bool = False
                     ) -> AsyncIterator[RunEvent]:
        """As Client.events: resumes with Last-Event-ID after a drop; ApiError when the
        server cannot serve events."""
        sub = Subscription(run_ids, last_event_id, until_final, self.policy)
        while not sub.done:
            params, headers = sub.request()
            try:
                await self._pace()
                async with self._http.stream(
                        "GET", "/v1/jobs/events", params=params, headers=headers,
                        timeout=httpx.Timeout(self._http.timeout.connect,
                                              read=self.events_read_timeout)) as response:
                    self._pacer.observe(response)
                    if response.status_code != 200:
                        await response.aread()
                    sub.opened(response)
                    if response.status_code == 200:
                        async for line in response.aiter_lines():
                            event = sub.line(line)
                            if event is not None:
                                yield event
                                if sub.done:
                                    return
                        sub.ended()
            except httpx.TransportError as exc:
                sub.failed(exc)
            if not sub.done:
                await asyncio.sleep(sub.reconnect_delay())
