"""GET /metrics, /readyz and /livez against the real server and PostgreSQL."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from qualgent.db.migrate import upgrade
from tests.conftest import Db, Org, Server, start_server
from tests.demo import FIXTURE_APK
from tests.restartable_pg import RestartablePostgres

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)


def scrape(server: Server) -> dict[str, list]:
    """Samples by metric name (histogram/counter suffixes included) from one scrape."""
    with server.client() as c:
        r = c.get("/metrics")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    samples: dict[str, list] = {}
    for family in text_string_to_metric_families(r.text):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append(sample)
    return samples


def value(samples: dict[str, list], name: str, default: float | None = None,
          **labels: str) -> float:
    """The one sample of `name` with these labels (`default` when there is none)."""
    found = [s.value for s in samples.get(name, [])
             if all(s.labels.get(k) == v for k, v in labels.items())]
    if not found and default is not None:
        return default
    assert len(found) == 1, (name, labels, samples.get(name))
    return found[0]


LATENCY = "qualgent_http_request_duration_seconds_count"


def submit(org: Org, count: int, priority: str) -> list[str]:
    build = org.upload_fixture()
    case = org.test_case()
    jobs = [{"app_file_id": build["id"], "test_case_id": case["id"], "priority": priority,
             "device": {"name": "Pixel 7", "platform": "Android"}} for _ in range(count)]
    r = org.http.post("/v1/test-cases/run", json={"jobs": jobs})
    assert r.status_code == 200, r.text
    return [result["test_run_id"] for result in r.json()["results"]]


def test_queue_depth_devices_latency_and_uploads(server: Server, org: Org, pixel: dict,
                                                 db: Db) -> None:
    # Counters live as long as the process, which has served other tests: compare.
    before = scrape(server)
    uploaded_before = value(before, "qualgent_upload_bytes_total")
    template = "/v1/jobs/status/{test_run_id}"
    polls_before = value(before, LATENCY, 0, route=template, method="GET", status="2xx")
    submits_before = value(before, LATENCY, 0, route="/v1/test-cases/run", method="POST",
                           status="2xx")
    runs = submit(org, 3, "high")
    submit(org, 2, "low")
    with server.client(org.key) as c:
        assert c.get(f"/v1/jobs/status/{runs[0]}").status_code == 200
        assert c.get(f"/v1/jobs/status/{runs[1]}").status_code == 200

    samples = scrape(server)
    assert value(samples, "qualgent_runs", state="queued", priority="high") == 3
    assert value(samples, "qualgent_runs", state="queued", priority="low") == 2
    assert value(samples, "qualgent_runs", state="queued", priority="medium") == 0
    assert value(samples, "qualgent_runs", state="running", priority="high") == 0
    assert value(samples, "qualgent_database_up") == 1
    # The pixel fixture is a catalog profile (no worker): it is not a device host's device.
    assert value(samples, "qualgent_devices", state="idle") == 0

    # Both status polls share one series, named by the template; no label holds a run id.
    assert value(samples, LATENCY, route=template, method="GET", status="2xx") \
        - polls_before == 2
    assert value(samples, LATENCY, route="/v1/test-cases/run", method="POST", status="2xx") \
        - submits_before == 2
    for family in samples.values():
        for sample in family:
            for label in sample.labels.values():
                assert not UUID.search(label), sample

    stored = db.fetch("SELECT file_size FROM app_files WHERE organization_id = $1::uuid",
                      org.id)
    assert len(stored) == 2
    assert sum(r["file_size"] for r in stored) == 2 * FIXTURE_APK.stat().st_size
    assert value(samples, "qualgent_upload_bytes_total") - uploaded_before == sum(
        r["file_size"] for r in stored)


def test_worker_devices_by_state(server: Server, org: Org, db: Db) -> None:
    """Devices of a registered host: idle, busy (holding a run) and offline."""
    worker = db.scalar("INSERT INTO workers (id, host, pid) VALUES (gen_random_uuid(), 'h', 1)"
                       " RETURNING id")
    for name, available, busy in (("a", True, False), ("b", True, True), ("c", False, False),
                                  ("d", True, False)):
        db.fetch("INSERT INTO devices (id, name, platform, os_version, form_factor, sms_enabled,"
                 " available, worker_id, current_run_id) VALUES (gen_random_uuid(), $1, 'Android',"
                 " '14', 'phone', false, $2, $3, CASE WHEN $4 THEN gen_random_uuid() END)",
                 name, available, worker, busy)
    samples = scrape(server)
    assert value(samples, "qualgent_devices", state="idle") == 2
    assert value(samples, "qualgent_devices", state="busy") == 1
    assert value(samples, "qualgent_devices", state="offline") == 1


def test_rate_limit_rejections_are_counted(db_url: str, tmp_path: Path, db: Db) -> None:
    server = start_server(db_url, tmp_path / "data", rate_limit="2/second")
    try:
        org = Org(db, server)
        first = scrape(server)
        before = value(first, "qualgent_rate_limited_total")
        refused_before = value(first, LATENCY, 0, route="/v1/apps/list", method="GET",
                               status="4xx")
        statuses = [org.http.get("/v1/apps/list").status_code for _ in range(6)]
        assert 429 in statuses
        samples = scrape(server)
        assert value(samples, "qualgent_rate_limited_total") - before == statuses.count(429)
        # A 429 is refused before routing and still gets its route's template.
        assert value(samples, LATENCY, route="/v1/apps/list", method="GET", status="4xx") \
            - refused_before == statuses.count(429)
        org.http.close()
    finally:
        server.stop()


def test_unknown_paths_share_one_label(server: Server) -> None:
    with server.client() as c:
        for n in range(3):
            c.get(f"/no/such/{n}")
    samples = scrape(server)
    routes = {s.labels["route"] for s in samples[LATENCY]}
    assert "<unmatched>" in routes
    assert not any(r.startswith("/no/such") for r in routes)


def test_request_id_is_echoed_or_made(server: Server) -> None:
    with server.client() as c:
        assert c.get("/livez", headers={"X-Request-Id": "ci-123.4"}).headers[
            "x-request-id"] == "ci-123.4"
        made = c.get("/livez", headers={"X-Request-Id": "bad id;/x"}).headers["x-request-id"]
        assert re.fullmatch(r"[0-9a-f]{32}", made)  # not a token: replaced, not echoed
        assert re.fullmatch(r"[0-9a-f]{32}", c.get("/livez", headers={
            "X-Request-Id": "x" * 129}).headers["x-request-id"])
        assert c.get("/livez").headers["x-request-id"] != made


def test_livez_readyz_and_the_schema(server: Server) -> None:
    with server.client() as c:
        assert c.get("/livez").status_code == 200
        r = c.get("/readyz")
        assert r.status_code == 200 and r.json()["status"] == "ok"
        schema = c.get("/openapi.json").json()
        assert not {"/metrics", "/readyz", "/livez"} & set(schema["paths"])


def test_readyz_when_the_schema_is_behind(server: Server, db: Db) -> None:
    db.fetch("UPDATE alembic_version SET version_num = '0001'")
    with server.client() as c:
        r = c.get("/readyz")
    assert r.status_code == 503 and r.json()["error"] == "database_unavailable"


@pytest.fixture
def outage(tmp_path: Path):
    with RestartablePostgres(tmp_path / "pg") as pg:
        asyncio.run(upgrade(pg.url))
        server = start_server(pg.url, tmp_path / "data")
        try:
            yield pg, server
        finally:
            server.stop()


def test_readyz_503_and_metrics_still_answer_while_the_database_is_down(outage) -> None:
    pg, server = outage
    with server.client() as c:
        assert c.get("/readyz").status_code == 200
        pg.stop()
        r = c.get("/readyz")
        assert r.status_code == 503 and "retry-after" in r.headers
        assert c.get("/livez").status_code == 200
    samples = scrape(server)
    assert value(samples, "qualgent_database_up") == 0
    assert "qualgent_runs" not in samples
    pg.start()
    with server.client() as c:
        assert c.get("/readyz").status_code == 200
    assert value(scrape(server), "qualgent_database_up") == 1
