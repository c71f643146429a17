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

from qualgent.ci import ci_app
from qualgent.config import Settings

app = typer.Typer(help="Self-hostable AI-driven mobile app testing.", no_args_is_help=True)
admin = typer.Typer(help="Bootstrap organizations, keys, credits, categories, devices.",
                    no_args_is_help=True)
db_app = typer.Typer(help="Database schema.", no_args_is_help=True)
app.add_typer(admin, name="admin")
app.add_typer(db_app, name="db")
app.add_typer(ci_app, name="ci")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
VerboseOpt = Annotated[bool, typer.Option(
    "--verbose", "-v", help="Also show the database's and the migrations' own output.")]


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[int, typer.Option(help="API processes sharing the port.")] = 1,
    verbose: VerboseOpt = False,
) -> None:
    """Run the HTTP API (migrating the database first)."""
    import uvicorn

    from qualgent import runtime

    settings = Settings()
    debug = runtime.configure_logging(settings, verbose)
    url = runtime.ready_database(settings)
    pool = asyncio.run(runtime.fit_api_pool(url, settings.db_pool_size, workers))
    public = settings.public_url or f"http://{host}:{port}"
    log = logging.getLogger("qualgent")
    log.info("database: %s", runtime.describe_database(settings))
    log.info("api: %s (%d process(es), up to %d database connections each)", public, workers,
             pool + runtime.API_LISTENERS)
    # Worker processes rebuild their settings from the environment: resolve once, here.
    os.environ["QUALGENT_PUBLIC_URL"] = public
    os.environ["QUALGENT_DATABASE_URL"] = url
    os.environ["QUALGENT_DB_POOL_SIZE"] = str(pool)
    # uvicorn re-raises the signal that stopped it once it has shut down gracefully; turning
    # SIGTERM into SystemExit lets exit handlers run, so the embedded PostgreSQL stops too.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    logging_options: dict[str, Any] = {}
    if settings.log_format == "json":  # uvicorn's own lines too, in every process
        from qualgent.observability.logs import uvicorn_log_config

        logging_options["log_config"] = uvicorn_log_config("debug" if debug else "info")
    uvicorn.run("qualgent.api.app:from_environment", factory=True, host=host, port=port,
                workers=workers, log_level="debug" if debug else "info",
                **runtime.uvicorn_options(), **logging_options)


@app.command()
def worker(
    simulator: Annotated[list[str] | None, typer.Option(
        "--simulator", help='A simulated device, "name:platform:os_version[:sms][:tablet]"; '
                            'repeatable.')] = None,
    simulated_fleet: Annotated[bool, typer.Option(
        "--simulated-fleet", help="Pixel 7 (Android 14, SMS), iPhone 14 Pro and iPad Pro "
                                  "(iOS 16.0).")] = False,
    adb: Annotated[list[str] | None, typer.Option(
        "--adb", metavar="all|SERIAL",
        help="Android devices through the ADB server (ANDROID_ADB_SERVER_HOST/PORT, default "
             "127.0.0.1:5037): '--adb all' serves every device it lists, '--adb SERIAL' "
             "(repeatable) only those. Devices that appear later join, those that go away "
             "leave.")] = None,
    appium: Annotated[list[str] | None, typer.Option(
        "--appium", metavar="URL",
        help="A device served by an Appium server (iOS through XCUITest, Android through "
             "UiAutomator2), with the --capabilities given in the same position; "
             "repeatable.")] = None,
    capabilities: Annotated[list[Path] | None, typer.Option(
        "--capabilities", metavar="FILE",
        help="The capabilities (JSON, W3C 'alwaysMatch' or flat) of the --appium device in "
             "the same position.")] = None,
    scan_seconds: Annotated[float, typer.Option(
        "--scan-seconds", envvar="QUALGENT_DEVICE_SCAN_SECONDS", min=0.1,
        help="How often the device sources are asked which devices are there.")] = 5.0,
    grace_seconds: Annotated[float, typer.Option(
        help="On SIGTERM, how long runs in flight may finish before they are handed back.")
    ] = 30.0,
    metrics_port: Annotated[int | None, typer.Option(
        "--metrics-port", envvar="QUALGENT_WORKER_METRICS_PORT",
        help="Serve this host's Prometheus metrics (claim latency, run durations by outcome) "
             "at http://0.0.0.0:PORT/metrics. Unset: not served.")] = None,
    verbose: VerboseOpt = False,
) -> None:
    """Run a device host: register its devices, claim queued runs and execute them.

    Give at least one device source: --simulator, --simulated-fleet, --adb, --appium; they
    mix freely."""
    from qualgent import runtime

    settings = Settings()
    runtime.configure_logging(settings, verbose)
    servers = _appium_servers(appium or [], capabilities or [])
    serials = _adb_serials(adb)
    if not (simulator or simulated_fleet or servers or adb):
        raise typer.BadParameter(
            "give at least one device source: --simulator SPEC, --simulated-fleet, "
            "--adb all|SERIAL, or --appium URL --capabilities FILE")
    devices = runtime.simulated_devices(simulator or [], simulated_fleet)
    try:
        devices += runtime.appium_devices(servers)
    except (OSError, ValueError) as exc:
        raise typer.BadParameter(str(exc), param_hint="--capabilities") from None
    sources = [runtime.adb_source(settings, serials)] if adb else []
    planners = _planners(runtime, settings)
    url = runtime.ready_database(settings, wait=True)
    log = logging.getLogger("qualgent")
    log.info("database: %s", runtime.describe_database(settings))
    log.info("planner: %s", runtime.describe_planner(planners, settings))
    if devices:
        log.info("devices: %s", runtime.describe_devices(devices))
    if adb:
        log.info("ADB: %s", ", ".join(serials) if serials else "every device the server lists")
    host = runtime.device_host(settings, url, devices, grace_seconds, sources=sources,
                               scan_seconds=scan_seconds, planners=planners)
    if metrics_port is not None:
        from prometheus_client import start_http_server

        from qualgent.observability.metrics import REGISTRY

        start_http_server(metrics_port, registry=REGISTRY)
        log.info("metrics: http://0.0.0.0:%d/metrics", metrics_port)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, host.request_stop)
        await host.run()

    asyncio.run(main())


def _planners(runtime: Any, settings: Settings) -> Any:
    """The host's planner (QUALGENT_PLANNER); a model planner set up without its model (or
    another setting its client needs) stops the worker before it takes any run."""
    try:
        return runtime.planner_choice(settings)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def _adb_serials(values: list[str] | None) -> list[str] | None:
    """`--adb all`: None (every device); otherwise the serials named."""
    if not values or values == ["all"]:
        return None
    if "all" in values:
        raise typer.BadParameter("'all' already serves every device; drop the serials or "
                                 "'all'", param_hint="--adb")
    return list(dict.fromkeys(values))


def _appium_servers(urls: list[str], files: list[Path]) -> list[tuple[str, Path]]:
    if len(urls) != len(files):
        raise typer.BadParameter(
            f"each --appium URL needs its --capabilities FILE, in the same order ({len(urls)} "
            f"URL(s), {len(files)} file(s))", param_hint="--appium/--capabilities")
    return list(zip(urls, files, strict=True))


@app.command()
def dev(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int | None, typer.Option(
        help="Port to listen on [default: 8000; with --check, any free port].")] = None,
    check: Annotated[bool, typer.Option(
        "--check", help="Run the demo suite once, print each run's result and stop; exit 1 "
                        "if any run did not end as expected.")] = False,
    verbose: VerboseOpt = False,
) -> None:
    """Everything on one machine: embedded database, API, simulated devices, Demo Shop."""
    from qualgent import runtime
    from qualgent.dev import run_dev

    settings = Settings()
    debug = runtime.configure_logging(settings, verbose)
    ok = asyncio.run(run_dev(settings, runtime.ready_database(settings), host, port,
                             check=check, verbose=debug))
    if not ok:
        raise typer.Exit(1)


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


@app.command("eval")
def eval_corpus(
    corpus: Annotated[Path, typer.Argument(
        help="A corpus: a JSONL file of cases, or a directory of them (benchmarks/agent_corpus).")],
    planner: Annotated[str, typer.Option(
        help="rules (offline), llm or hybrid (the model from QUALGENT_LLM_*).")] = "rules",
    as_json: JsonOpt = False,
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, help="Cases run at once.")] = 4,
) -> None:
    """Run a corpus of cases on simulated devices and report how many ended as expected.

    Each case runs its steps on a fresh simulator with its app (demo_shop, field_notes);
    it is right when the run's status (and failure category, when the case gives one) is the
    expected one. Exits 0 whatever the accuracy; 2 when the corpus cannot be read or the
    planner cannot be built."""
    from qualgent import evaluation

    try:
        cases = evaluation.load_corpus(corpus)
        factory, name = evaluation.planner_factory(planner)
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    report = evaluation.evaluate(cases, factory, name=name, jobs=jobs)
    if as_json:
        typer.echo(json.dumps(report.as_dict(), ensure_ascii=False))
        return
    for line in evaluation.report_lines(report):
        typer.echo(line)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending migrations."""
    from qualgent.runtime import ready_database

    ready_database(Settings())
    typer.echo("database is at the latest schema")


def _run_admin(op: Callable[..., Awaitable[dict]], as_json: bool, *args: Any) -> None:
    from qualgent.db.engine import make_engine, make_sessionmaker
    from qualgent.orgs.admin import AdminError
    from qualgent.runtime import ready_database

    url = ready_database(Settings())

    async def go() -> dict:
        engine = make_engine(url, pool_size=1)
        try:
            async with make_sessionmaker(engine)() as session:
                return await op(session, *args)
        finally:
            await engine.dispose()

    _print_admin(go, as_json, AdminError)


def _print_admin(go: Callable[[], Awaitable[dict]], as_json: bool,
                 refused: type[Exception]) -> None:
    """Run an admin operation and print its result (key: value lines, or JSON); a refusal is
    printed as an error and exits 1."""
    try:
        result = asyncio.run(go())
    except refused as exc:
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
    from qualgent.runtime import blob_store
    from qualgent.storage.gc import sweep_orphans

    blobs = blob_store(Settings())

    async def op(session) -> dict:  # noqa: ANN001
        removed = await sweep_orphans(session, blobs, older_than_hours * 3600)
        return {"removed": removed}

    _run_admin(op, as_json)


@admin.command("prune")
def prune(
    older_than_days: Annotated[float | None, typer.Option(
        "--older-than-days", help="Default: QUALGENT_RETENTION_DAYS.")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 500,
    as_json: JsonOpt = False,
) -> None:
    """Remove finished runs' screenshots (and logs, videos) past the retention period; the
    runs, their steps and explanations stay, marked with when their artifacts were pruned."""
    from qualgent.runtime import blob_store
    from qualgent.storage.retention import prune as prune_artifacts

    settings = Settings()
    days = older_than_days if older_than_days is not None else settings.retention_days
    if days is None:
        message = "QUALGENT_RETENTION_DAYS is not set: artifacts are kept forever."
        typer.echo(json.dumps({"runs": 0, "blobs": 0, "retention_days": None,
                               "message": message}) if as_json else message)
        return
    if days < 0:
        raise typer.BadParameter("must be 0 or more", param_hint="--older-than-days")
    blobs = blob_store(settings)

    async def op(session) -> dict:  # noqa: ANN001
        done = await prune_artifacts(session, blobs, days, batch_size)
        return {"runs": done.runs, "blobs": done.blobs, "retention_days": days}

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


@admin.command("set-concurrency")
def set_concurrency(
    org: Annotated[str, typer.Option("--org")],
    max_runs: Annotated[int | None, typer.Option(
        "--max", help="Runs it may have running at once; 0: no cap.")] = None,
    plan_default: Annotated[bool, typer.Option(
        "--plan-default", help="Follow QUALGENT_PLAN_CONCURRENCY for its plan again.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Cap how many runs an organization may have running at once (over its plan's cap)."""
    from qualgent.orgs.admin import set_concurrency as op

    if (max_runs is None) == (not plan_default):
        raise typer.BadParameter("give --max N or --plan-default", param_hint="--max")
    _run_admin(op, as_json, org, None if plan_default else max_runs)


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


@admin.command("set-device-number")
def set_device_number(
    serial: Annotated[str, typer.Argument(help="The device's serial (adb serial, Appium udid).")],
    number: Annotated[str | None, typer.Argument(
        help="Its provider phone number in E.164 form, e.g. +15550100000.")] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Take the number away.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Give a device a provider number (Twilio) for its SMS codes, read from the texts that
    POST /v1/sms/twilio receives; the device becomes SMS-capable in the pool."""
    from qualgent import sms
    from qualgent.db.pool import create_pool
    from qualgent.runtime import ready_database

    if clear == (number is not None):
        raise typer.BadParameter("give a NUMBER or --clear, not both")
    url = ready_database(Settings())

    async def go() -> dict:
        pool = await create_pool(url, 1)
        try:
            if number is None:
                return {"serial": serial, "cleared": await sms.unassign(pool, serial)}
            return {"serial": serial, "phone_number": await sms.assign(pool, serial, number)}
        finally:
            await pool.close()

    _print_admin(go, as_json, sms.NumberRefused)


if __name__ == "__main__":
    app()
