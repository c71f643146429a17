"""The Prometheus metrics of a qualgent process, in a registry of their own.

Counters and histograms are kept in the process that does the work: the API's (HTTP latency,
rate-limit rejections, upload bytes) are served at its GET /metrics; a device host's (claim
latency, run durations by outcome) at `qualgent worker --metrics-port`. The gauges that
describe the whole platform (queue depth, device pool) are read from PostgreSQL when /metrics
is scraped (`refresh`), so every API replica reports the same figures.

Each API process counts only its own requests: with `serve --workers N` a scrape reaches one
of them; run one process per container (scraped each) for exact per-process figures.
"""

from __future__ import annotations

import asyncio

import asyncpg
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from qualgent.db.pool import UNAVAILABLE

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

CONTENT_TYPE = CONTENT_TYPE_LATEST

HTTP_LATENCY = Histogram(
    "qualgent_http_request_duration_seconds",
    "Time to answer an HTTP request, by route template (never the raw path), method and "
    "status class.",
    ["route", "method", "status"], registry=REGISTRY,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
RATE_LIMITED = Counter(
    "qualgent_rate_limited_total", "Requests refused with 429 by the rate limiter.",
    registry=REGISTRY)
UPLOAD_BYTES = Counter(
    "qualgent_upload_bytes_total", "Bytes of builds stored by POST /v1/apps/upload.",
    registry=REGISTRY)

CLAIM_LATENCY = Histogram(
    "qualgent_claim_duration_seconds",
    "Time of one claim statement of a device host (several devices' runs at once).",
    registry=REGISTRY,
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
RUN_DURATION = Histogram(
    "qualgent_run_duration_seconds",
    "Time from claim to the finish the device host reported, by outcome.",
    ["outcome"], registry=REGISTRY,
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600))

QUEUE_DEPTH = Gauge(
    "qualgent_runs", "Runs waiting or executing, by state (queued, running) and priority.",
    ["state", "priority"], registry=REGISTRY)
DEVICES = Gauge(
    "qualgent_devices", "Devices of device hosts by state: idle, busy, offline.",
    ["state"], registry=REGISTRY)
DATABASE_UP = Gauge(
    "qualgent_database_up",
    "1 when the last scrape could read the database; 0 when not (the gauges above are then "
    "absent).", registry=REGISTRY)

STATES = ("queued", "running")
PRIORITIES = ("low", "medium", "high")
DEVICE_STATES = ("idle", "busy", "offline")

# Both read through partial indexes (queued, running) or the small devices table: cheap on
# every scrape however many finished runs there are.
_QUEUE = """
SELECT status, priority, count(*) AS n FROM test_runs
WHERE status IN ('queued', 'running') GROUP BY status, priority
"""
_DEVICES = """
SELECT CASE WHEN current_run_id IS NOT NULL THEN 'busy'
            WHEN available THEN 'idle' ELSE 'offline' END AS state, count(*) AS n
FROM devices WHERE worker_id IS NOT NULL GROUP BY 1
"""
SCRAPE_TIMEOUT = 5.0


async def refresh(pg: asyncpg.Pool) -> None:
    """Set the platform gauges from the database. The gauges are replaced between two awaits
    of nothing, so concurrent scrapes never see a half-written set."""
    try:
        async with asyncio.timeout(SCRAPE_TIMEOUT):
            async with pg.acquire() as conn:
                queue = await conn.fetch(_QUEUE)
                devices = await conn.fetch(_DEVICES)
    except (*UNAVAILABLE, asyncpg.PostgresError):  # a scrape reports it, never fails
        QUEUE_DEPTH.clear()
        DEVICES.clear()
        DATABASE_UP.set(0)
        return
    QUEUE_DEPTH.clear()
    for state in STATES:
        for priority in PRIORITIES:
            QUEUE_DEPTH.labels(state, priority).set(0)
    for row in queue:
        QUEUE_DEPTH.labels(row["status"], row["priority"]).set(row["n"])
    DEVICES.clear()
    for state in DEVICE_STATES:
        DEVICES.labels(state).set(0)
    for row in devices:
        DEVICES.labels(row["state"]).set(row["n"])
    DATABASE_UP.set(1)


def exposition() -> bytes:
    """The registry in Prometheus' text format (serve it with CONTENT_TYPE)."""
    return generate_latest(REGISTRY)
