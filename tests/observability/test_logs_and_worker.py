"""JSON logs of `qualgent serve` and `qualgent worker` (QUALGENT_LOG_FORMAT=json), and a
worker's own metrics (--metrics-port): real processes against the test database."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Db, Org, Server, eventually
from tests.serve import ServeProcess
from tests.worker.conftest import (
    WorkerProcess,
    run_case,
    upload_demo,
    wait_for_devices,
    wait_terminal,
)


def json_lines(log: Path) -> list[dict]:
    """Every line of the log, each of which must be one JSON object."""
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    assert lines
    parsed = []
    for line in lines:
        record = json.loads(line)  # fails the test on any line that is not JSON
        assert isinstance(record, dict) and {"time", "level", "logger", "message"} <= set(record)
        parsed.append(record)
    return parsed


def test_serve_logs_json_with_request_ids(db_url: str, tmp_path: Path) -> None:
    serve = ServeProcess(db_url, tmp_path / "data", QUALGENT_LOG_FORMAT="json")
    try:
        with httpx.Client(base_url=serve.base_url) as c:
            assert c.get("/livez", headers={"X-Request-Id": "probe-1"}).status_code == 200
            assert c.get("/v1/apps/list").status_code == 401
            echoed = c.get("/readyz").headers["x-request-id"]
    finally:
        serve.stop()
    records = json_lines(serve.log)
    access = [r for r in records if r["logger"] == "uvicorn.access"]
    assert len(access) >= 4  # the startup probes of /livez and the three above
    assert all(r.get("request_id") for r in access)
    by_id = {r["request_id"]: r for r in access}
    assert by_id["probe-1"]["path"] == "/livez" and by_id["probe-1"]["status"] == 200
    assert by_id[echoed]["path"] == "/readyz"
    assert any(r["path"] == "/v1/apps/list" and r["status"] == 401 for r in access)
    assert any(r["logger"] == "qualgent" for r in records)  # serve's own startup lines
    assert not any("request_id" in r for r in records if r["logger"] == "qualgent")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_worker_metrics_and_json_logs(db_url: str, server: Server, org: Org, db: Db,
                                      tmp_path: Path) -> None:
    port = _free_port()
    worker = WorkerProcess(db_url, server, tmp_path / "worker.log", "Pixel 7:Android:14",
                           args=["--metrics-port", str(port)],
                           env={"QUALGENT_LOG_FORMAT": "json"})
    try:
        upload_demo(org, tmp_path)
        wait_for_devices(db, 1)
        run_id = run_case(org, ["Tap 'Sign in'"])
        outcome = wait_terminal(org, [run_id])[run_id]["status"]

        def scraped() -> dict[str, list]:
            text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            samples: dict[str, list] = {}
            for family in text_string_to_metric_families(text):
                for s in family.samples:
                    samples.setdefault(s.name, []).append(s)
            return samples

        eventually(lambda: any(s.labels.get("outcome") == outcome and s.value == 1
                               for s in scraped().get("qualgent_run_duration_seconds_count",
                                                      [])), timeout=10)
        samples = scraped()
        assert samples["qualgent_claim_duration_seconds_count"][0].value >= 1
        durations = {s.labels["outcome"]: s.value
                     for s in samples["qualgent_run_duration_seconds_count"]}
        assert durations == {outcome: 1}
    finally:
        worker.stop()
    records = json_lines(worker.log)
    about_run = [r for r in records if r.get("run_id") == run_id]
    assert about_run, records  # the execution's lines carry the run id
    assert all(r.get("run_id") in (None, run_id) for r in records)
