"""The FastAPI application factory."""

from __future__ import annotations

import asyncio
import gc
import logging
from contextlib import asynccontextmanager

from fastapi import FastAPI, Response
from fastapi_offline import FastAPIOffline
from sqlalchemy import text
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from qualgent import __version__, runtime, web
from qualgent.api import errors, logs, openapi, routing
from qualgent.api.bodies import BodyGuard
from qualgent.api.context import Context
from qualgent.api.errors import UnhandledErrors, database_unavailable
from qualgent.api.headers import SecurityHeaders
from qualgent.api.keycache import KeyCache
from qualgent.api.ratelimit import RateLimit
from qualgent.config import Settings
from qualgent.db.engine import make_sessionmaker
from qualgent.db.pool import asyncpg_dsn
from qualgent.observability import metrics
from qualgent.observability.health import schema_heads
from qualgent.observability.middleware import Observe
from qualgent.queue import reaper
from qualgent.runs.events import EventHub
from qualgent.webhooks import deliver


def from_environment() -> FastAPI:
    """The app `qualgent serve` runs: settings from the environment, the database already
    resolved and migrated by serve into QUALGENT_DATABASE_URL."""
    settings = Settings()
    assert settings.database_url, "qualgent serve sets QUALGENT_DATABASE_URL"
    return create_app(settings, settings.database_url)


log = logging.getLogger(__name__)

UPLOAD_PATH = "/v1/apps/upload"
"""The one route that streams its body (a build) and caps it itself."""
DOCS_PAGES = ("/docs", "/docs/oauth2-redirect", "/redoc")
"""FastAPIOffline's HTML pages (its default paths), which get a Content Security Policy."""


def create_app(settings: Settings, database_url: str) -> FastAPI:
    """database_url is resolved by the caller (embedded or external) and already migrated."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        engine, pg = await runtime.open_api_pools(settings, database_url)
        app.state.ctx = Context(
            settings=settings,
            engine=engine,
            sessions=make_sessionmaker(engine),
            pg=pg,
            blobs=runtime.blob_store(settings),
        )
        reaping = asyncio.create_task(reaper.reap_forever(pg, settings))
        # API-key cache: LISTEN for revocations on a connection of its own (auth engineer)
        listening = asyncio.create_task(app.state.key_cache.listen(asyncpg_dsn(database_url)))
        # GET /v1/jobs/events: LISTEN for run events on another connection of its own
        events = asyncio.create_task(app.state.events.listen(asyncpg_dsn(database_url)))
        delivering = asyncio.create_task(  # webhook deliveries (qualgent.webhooks.deliver)
            deliver.deliver_forever(pg, settings, asyncpg_dsn(database_url)))
        # Garbage collection, measured under status_load: what is built by now lives as long
        # as the app, so keep it out of the collector's full passes (~70 ms each unfrozen,
        # stalling every request in flight); and collect the young generation after 10,000
        # net allocations, not 700, which 32 requests in flight reach constantly (GC time
        # over a run: ~1 s -> ~0.1 s). Both undone on shutdown.
        thresholds = gc.get_threshold()
        gc.freeze()
        gc.set_threshold(10_000, *thresholds[1:])
        try:
            yield
        finally:
            gc.set_threshold(*thresholds)
            gc.unfreeze()
            reaping.cancel()
            listening.cancel()
            events.cancel()
            await asyncio.gather(reaping, listening, events, return_exceptions=True)
            delivering.cancel()
            await asyncio.gather(delivering, return_exceptions=True)
            await pg.close()
            await engine.dispose()

    app = FastAPIOffline(  # the docs page's assets are served locally: no CDN needed
        title="qualgent",
        version=__version__,
        description="Self-hostable AI-driven mobile app testing. Authenticate with X-Api-Key.",
        lifespan=lifespan,
    )
    errors.install(app)
    logs.install()
    # Added innermost first. A request meets: security headers, a catch-all for failures in
    # the rate limiter, the rate limiter, the catch-all for everything past it (so that 500s
    # and 503s carry X-RateLimit-* too), then the body cap and JSON check.
    app.add_middleware(BodyGuard, max_bytes=settings.max_json_body_bytes,
                       streamed={UPLOAD_PATH})
    app.add_middleware(UnhandledErrors)
    app.state.key_cache = KeyCache(settings.key_cache_seconds)
    app.state.events = EventHub()
    app.add_middleware(RateLimit, limit=settings.rate_limit, keys=app.state.key_cache,
                       failure_limit=settings.auth_failure_limit, redis_url=settings.redis_url)
    app.add_middleware(UnhandledErrors)
    app.add_middleware(SecurityHeaders, docs_pages=DOCS_PAGES)
    app.add_middleware(Observe)  # request id, HTTP latency by route template
    if settings.trusted_proxies:  # outermost: every layer sees the client the proxy names
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.trusted_proxies)

    @app.get("/livez", include_in_schema=False)
    async def livez() -> dict:
        """The process answers; touches nothing (the benchmarks' bare endpoint)."""
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> dict:
        """200 when the database answers and its schema is at this release's head: a load
        balancer's readiness probe. 503 otherwise."""
        try:
            async with asyncio.timeout(5):
                current = await app.state.ctx.pg.fetchval(
                    "SELECT version_num FROM alembic_version")
        except Exception as exc:  # noqa: BLE001 - any database failure means not ready
            raise database_unavailable() from exc
        if current not in schema_heads():
            raise database_unavailable()
        return {"status": "ok", "schema": current}

    @app.get("/metrics", include_in_schema=False)
    async def metrics_page() -> Response:
        """Prometheus text format; not rate limited. Operators: keep it off the public
        interface (it names routes and volumes), e.g. deny it at the proxy."""
        await metrics.refresh(app.state.ctx.pg)
        return Response(metrics.exposition(), media_type=metrics.CONTENT_TYPE)

    @app.get("/healthz")
    async def healthz() -> dict:
        """200 when the database answers."""
        try:
            async with app.state.ctx.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - any database failure means unhealthy
            raise database_unavailable() from exc
        return {"status": "ok"}

    from qualgent.apps.routes import downloads
    from qualgent.apps.routes import router as apps_router
    from qualgent.categories.routes import router as categories_router
    from qualgent.devices.routes import router as devices_router
    from qualgent.runs.routes import jobs
    from qualgent.runs.routes import router as runs_router
    from qualgent.sms.routes import router as sms_router
    from qualgent.testcases.routes import router as testcases_router

    # Routes are matched in order: the polling endpoints CI hits most come first.
    for router in (jobs, apps_router, categories_router, testcases_router, runs_router,
                   devices_router):
        app.include_router(router, prefix="/v1")
    from qualgent.webhooks.routes import router as webhooks_router

    app.include_router(webhooks_router, prefix="/v1")
    app.include_router(sms_router, prefix="/v1")  # Twilio's webhook: signed, no API key
    app.include_router(downloads)
    web.install(app)  # the pages, after the API: its handlers take over 404s asking for HTML
    routing.install(app)
    openapi.install(app)
    return app

