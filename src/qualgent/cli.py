"""The `qualgent` command: serve the API, migrate, and bootstrap organizations."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from qualgent.config import Settings

app = typer.Typer(help="Self-hostable AI-driven mobile app testing.", no_args_is_help=True)
admin = typer.Typer(help="Bootstrap organizations, keys, credits, categories, devices.",
                    no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(admin, name="admin")
app.add_typer(db_app, name="db")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def _ready_url(settings: Settings) -> str:
    """The database URL, with the embedded server started if needed and the schema current."""
    from qualgent.db.embedded import database_url
    from qualgent.db.migrate import upgrade

    url = database_url(settings)
    asyncio.run(upgrade(url))
    return url


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="API processes sharing the port.")] = 1,
) -> None:
    """Run the HTTP API (migrating the database first)."""
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = Settings()
    # Worker processes rebuild their settings from the environment: resolve once, here.
    os.environ["QUALGENT_PUBLIC_URL"] = settings.public_url or f"http://{host}:{port}"
    os.environ["QUALGENT_DATABASE_URL"] = _ready_url(settings)
    # uvicorn re-raises the signal that stopped it once it has shut down gracefully; turning
    # SIGTERM into SystemExit lets exit handlers run, so the embedded PostgreSQL stops too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    uvicorn.run("qualgent.api.app:from_environment", factory=True, host=host, port=port,
                workers=workers, log_level="info")


@app.command()
def worker(
    simulator: Annotated[list[str] | None, typer.Option(
        "--simulator", help='A simulated device, "name:platform:os_version[:sms][:tablet]"; '
                            'repeatable.')] = None,
    simulated_fleet: Annotated[bool, typer.Option(
        "--simulated-fleet", help="Pixel 7 (Android 14, SMS), iPhone 14 Pro and iPad Pro "
                                  "(iOS 16.0).")] = False,
    grace_seconds: Annotated[float, typer.Option(
        help="On SIGTERM, how long runs in flight may finish before they are handed back.")
    ] = 30.0,
) -> None:
    """Run a device host: register its devices, claim queued runs and execute them."""
    from qualgent.drivers.simulator import SIMULATED_FLEET, SimulatedDevice, parse_simulator_spec
    from qualgent.storage import LocalBlobStore
    from qualgent.worker.host import DeviceHost

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    profiles = [parse_simulator_spec(spec) for spec in simulator or []]
    if simulated_fleet:
        profiles += list(SIMULATED_FLEET)
    if not profiles:
        raise typer.BadParameter("give at least one --simulator, or --simulated-fleet")
    settings = Settings()
    url = _ready_url(settings)
    host = DeviceHost(settings, url, LocalBlobStore(settings.blob_root),
                      [SimulatedDevice(p) for p in profiles], grace_seconds=grace_seconds)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, host.request_stop)
        await host.run()

    asyncio.run(main())


@app.command()
def dev(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Everything on one machine: embedded database, API, simulated devices, Demo Shop."""
    from qualgent.dev import configure_logging, run_dev

    configure_logging()
    settings = Settings()
    asyncio.run(run_dev(settings, _ready_url(settings), host, port))


@app.command("demo-build")
def demo_build(
    output: Annotated[Path, typer.Option("-o", "--output", help="File to write.")],
    platform: Annotated[str, typer.Option(help="android (.apk) or ios (.ipa)")] = "android",
) -> None:
    """Write a Demo Shop build that runs on the simulated devices."""
    from qualgent.builds.demo import write_demo_build

    if platform not in ("android", "ios"):
        raise typer.BadParameter("platform must be android or ios", param_hint="--platform")
    write_demo_build(output, platform)
    typer.echo(f"wrote {output}")


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations."""
    _ready_url(Settings())
    typer.echo("database is at the latest schema")


def _run_admin(op: Callable[..., Awaitable[dict]], as_json: bool, *args: Any) -> None:
    from qualgent.db.engine import make_engine, make_sessionmaker
    from qualgent.orgs.admin import AdminError

    url = _ready_url(Settings())

    async def go() -> dict:
        engine = make_engine(url, pool_size=1)
        try:
            async with make_sessionmaker(engine)() as session:
                return await op(session, *args)
        finally:
            await engine.dispose()

    try:
        result = asyncio.run(go())
    except AdminError as exc:
        if as_json:
            typer.echo(json.dumps({"error": str(exc)}))
        else:
            typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps(result))
    else:
        for key, value in result.items():
            typer.echo(f"{key}: {value}")


@admin.command("gc-blobs")
def gc_blobs(
    older_than_hours: Annotated[float, typer.Option("--older-than-hours")] = 24.0,
    as_json: JsonOpt = False,
) -> None:
    """Delete stored bytes that no build record points to (left by crashed uploads)."""
    from qualgent.storage import LocalBlobStore
    from qualgent.storage.gc import sweep_orphans

    blobs = LocalBlobStore(Settings().blob_root)

    async def op(session) -> dict:  # noqa: ANN001
        removed = await sweep_orphans(session, blobs, older_than_hours * 3600)
        return {"removed": removed}

    _run_admin(op, as_json)


@admin.command("create-org")
def create_org(
    name: Annotated[str, typer.Option("--name")],
    credits: Annotated[int, typer.Option("--credits")] = 0,
    plan: Annotated[str, typer.Option("--plan", help="enterprise or free")] = "enterprise",
    as_json: JsonOpt = False,
) -> None:
    """Create an organization and its first API key (shown once)."""
    from qualgent.orgs.admin import create_org as op

    if plan not in ("enterprise", "free"):
        raise typer.BadParameter("plan must be enterprise or free", param_hint="--plan")
    _run_admin(op, as_json, name, credits, plan)


@admin.command("create-key")
def create_key(org: Annotated[str, typer.Option("--org")], as_json: JsonOpt = False) -> None:
    """Issue another API key for an organization (shown once)."""
    from qualgent.orgs.admin import create_key as op

    _run_admin(op, as_json, org)


@admin.command("revoke-key")
def revoke_key(key: Annotated[str, typer.Option("--key")], as_json: JsonOpt = False) -> None:
    """Revoke an API key; it answers 401 from then on."""
    from qualgent.orgs.admin import revoke_key as op

    _run_admin(op, as_json, key)


@admin.command("add-credits")
def add_credits(
    org: Annotated[str, typer.Option("--org")],
    amount: Annotated[int, typer.Option("--amount")],
    as_json: JsonOpt = False,
) -> None:
    """Top up an organization's credits."""
    from qualgent.orgs.admin import add_credits as op

    _run_admin(op, as_json, org, amount)


@admin.command("create-category")
def create_category(
    org: Annotated[str, typer.Option("--org")],
    name: Annotated[str, typer.Option("--name")],
    as_json: JsonOpt = False,
) -> None:
    """Create a category in an organization."""
    from qualgent.orgs.admin import create_category as op

    _run_admin(op, as_json, org, name)


@admin.command("register-device")
def register_device(
    name: Annotated[str, typer.Option("--name")],
    platform: Annotated[str, typer.Option("--platform", help="Android or iOS")],
    os_version: Annotated[str, typer.Option("--os-version")],
    form_factor: Annotated[str, typer.Option("--form-factor", help="phone or tablet")] = "phone",
    sms: Annotated[bool, typer.Option("--sms", help="The device has a SIM for SMS OTPs.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Add a device profile to the catalog (until workers register real devices)."""
    from qualgent.orgs.admin import register_device as op

    _run_admin(op, as_json, name, platform, os_version, form_factor, sms)


if __name__ == "__main__":
    app()
