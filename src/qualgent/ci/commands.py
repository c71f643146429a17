"""`qualgent ci`: upload a build, run test cases on it, wait, write JUnit, exit with the verdict.

Exit codes: 0 every run passed or completed; 1 a run failed; 2 the wait timed out (the runs
still queued or running are named), a usage error, or the API refused or could not be reached.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from qualgent.ci import junit
from qualgent.ci.display import Tracked, for_stdout
from qualgent.ci.durations import format_duration, parse_duration
from qualgent.ci.waiting import wait_for
from qualgent.client import DEFAULT_URL, MAX_JOBS, ApiError, AsyncClient, Run, device, job

ci_app = typer.Typer(help="Run tests from a CI pipeline: upload, submit, wait, JUnit report.",
                     no_args_is_help=True)

EXIT_FAILED = 1
EXIT_INCOMPLETE = 2

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]
TimeoutOpt = Annotated[str, typer.Option(
    "--timeout", help="Give up waiting after this long (exit 2): 90s, 30m, 1h.")]
PollOpt = Annotated[str, typer.Option(
    "--poll-interval",
    help="When the server has no event stream: how often each run's status is read "
         "(round robin). Keep it at 15s or more against a shared server.")]
EventsOpt = Annotated[bool, typer.Option(
    "--events/--no-events", help="Wait on the server's event stream (falls back to polling "
                                 "when there is none).")]
JunitOpt = Annotated[Path | None, typer.Option(
    "--junit", help="Write a JUnit XML report here.", dir_okay=False)]


@dataclass
class Connection:
    api_url: str
    api_key: str | None

    def client(self) -> AsyncClient:
        if not self.api_key:
            raise typer.BadParameter("no API key: set QUALGENT_API_KEY or pass --api-key",
                                     param_hint="--api-key")
        return AsyncClient(self.api_key, self.api_url)


@ci_app.callback()
def options(
    ctx: typer.Context,
    api_url: Annotated[str, typer.Option(
        "--api-url", envvar="QUALGENT_API_URL", help="The API's base URL.")] = DEFAULT_URL,
    api_key: Annotated[str | None, typer.Option(
        "--api-key", envvar="QUALGENT_API_KEY", help="An API key (qg_...).",
        show_default=False)] = None,
    verbose: Annotated[bool, typer.Option(
        "--verbose", "-v", help="Also say when requests wait for the rate limit.")] = False,
) -> None:
    """Global options, and the SDK's retry messages on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("qualgent: %(message)s"))
    log = logging.getLogger("qualgent.client")
    log.handlers[:] = [handler]
    log.setLevel(logging.INFO if verbose else logging.WARNING)
    log.propagate = False
    ctx.obj = Connection(api_url, api_key)


def _duration(text: str, option: str) -> float:
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=option) from None


def _call(coro: Any) -> Any:
    """Run the command; an API refusal or an unreachable API is exit 2, with its message."""
    try:
        return asyncio.run(coro)
    except ApiError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_INCOMPLETE) from None


# ---------------------------------------------------------------------------- upload


@ci_app.command()
def upload(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True,
                                         help="The build: .apk, .aab or .ipa.")],
    app_name: Annotated[str, typer.Option("--app-name")],
    version: Annotated[str, typer.Option("--version")],
    as_json: JsonOpt = False,
) -> None:
    """Upload a build; prints its id (the app_file_id of later runs)."""
    conn: Connection = ctx.obj

    async def go() -> None:
        async with conn.client() as qg:
            app = await qg.upload_app(file, app_name, version)
        if as_json:
            typer.echo(json.dumps(app.raw))
        else:
            typer.echo(app.id)

    _call(go())


# ---------------------------------------------------------------------------- status


@ci_app.command()
def status(ctx: typer.Context, run_id: Annotated[str, typer.Argument()],
           as_json: JsonOpt = False) -> None:
    """A run's status, progress, link and (once failed) explanation."""
    conn: Connection = ctx.obj

    async def go() -> None:
        async with conn.client() as qg:
            run = await qg.get_run(run_id)
        if as_json:
            typer.echo(json.dumps(run.raw))
            return
        typer.echo(f"{run.status} {run.progress}% {run.test_case_name} [{run.device}] "
                   f"{run.link}")
        if run.explanation:
            typer.echo(f"explanation: {run.explanation}")

    _call(go())


# ---------------------------------------------------------------------------- wait


@ci_app.command()
def wait(
    ctx: typer.Context,
    run_ids: Annotated[list[str], typer.Argument(help="Runs to wait for.")],
    junit_path: JunitOpt = None,
    timeout: TimeoutOpt = "30m",
    poll_interval: PollOpt = "15s",
    events: EventsOpt = True,
) -> None:
    """Wait for runs already queued; exit 0 if all passed or completed, 1 if any failed."""
    conn: Connection = ctx.obj
    limit = _duration(timeout, "--timeout")
    interval = _duration(poll_interval, "--poll-interval")

    async def go() -> int:
        async with conn.client() as qg:
            runs: dict[str, Tracked] = {}
            for rid in dict.fromkeys(run_ids):
                run = await qg.get_run(rid)
                runs[run.id] = Tracked(run.id, run.test_case_name, run.device, run.link,
                                       run.status, run.progress, run)
            return await _wait_and_report(qg, runs, junit_path, limit, interval, events, {})

    raise typer.Exit(_call(go()))


# ---------------------------------------------------------------------------- run


def _parse_vars(items: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise typer.BadParameter(f"{item!r}: write NAME=VALUE", param_hint="--var")
        out[name] = value
    return out


def _typed_vars(case: dict[str, Any], given: dict[str, str]) -> dict[str, Any]:
    """The values as the case declares them: a number variable gets a number."""
    kinds = {v["name"]: v["type"] for v in case.get("variables", [])}
    out: dict[str, Any] = {}
    for name, value in given.items():
        if kinds.get(name) == "number":
            try:
                number = float(value)
            except ValueError:
                raise typer.BadParameter(
                    f"{name} is a number in '{case['name']}', not {value!r}",
                    param_hint="--var") from None
            out[name] = int(number) if number.is_integer() and "." not in value else number
        else:
            out[name] = value
    return out


@ci_app.command()
def run(
    ctx: typer.Context,
    device_name: Annotated[str, typer.Option("--device", help='e.g. "Pixel 7"')],
    test_case: Annotated[list[str] | None, typer.Option(
        "--test-case", help="A test case id; repeatable.")] = None,
    category: Annotated[str | None, typer.Option(
        "--category", help="Run every active case of this category.")] = None,
    run_everything: Annotated[bool, typer.Option(
        "--all", help="Run every active test case.")] = False,
    build: Annotated[Path | None, typer.Option(
        "--build", exists=True, dir_okay=False, readable=True,
        help="Upload this build first (.apk, .aab, .ipa).")] = None,
    app_name: Annotated[str | None, typer.Option("--app-name", help="With --build.")] = None,
    version: Annotated[str | None, typer.Option("--version", help="With --build.")] = None,
    app_file_id: Annotated[str | None, typer.Option(
        "--app-file-id", help="A build uploaded before (default: the latest build).")] = None,
    platform: Annotated[str, typer.Option("--platform")] = "Android",
    os_version: Annotated[str | None, typer.Option("--os-version")] = None,
    var: Annotated[list[str] | None, typer.Option(
        "--var", help="NAME=VALUE for the test cases' variables; repeatable.")] = None,
    use_sim: Annotated[bool, typer.Option(
        "--use-sim", help="Run on a device that receives real SMS.")] = False,
    junit_path: JunitOpt = None,
    timeout: TimeoutOpt = "30m",
    poll_interval: PollOpt = "15s",
    events: EventsOpt = True,
) -> None:
    """Upload (or pick) a build, run test cases on it, wait for every run, report.

    Queues in batches of 10, prints each run's link, writes JUnit with --junit. Exit 0 if
    all passed or completed, 1 if any failed, 2 on timeout or usage error."""
    conn: Connection = ctx.obj
    chosen = [bool(test_case), category is not None, run_everything]
    if sum(chosen) != 1:
        raise typer.BadParameter("give exactly one of --test-case ID..., --category ID, --all")
    if build is not None and app_file_id is not None:
        raise typer.BadParameter("give --build or --app-file-id, not both")
    if build is not None and not (app_name and version):
        raise typer.BadParameter("--build needs --app-name and --version")
    if build is None and (app_name or version):
        raise typer.BadParameter("--app-name and --version describe a --build")
    given_vars = _parse_vars(var or [])
    if given_vars and not test_case:
        raise typer.BadParameter("--var goes with --test-case (run-all takes no variables)")
    limit = _duration(timeout, "--timeout")
    interval = _duration(poll_interval, "--poll-interval")
    target = device(device_name, platform, os_version)

    async def go() -> int:
        async with conn.client() as qg:
            if build is not None:
                assert app_name and version
                app = await qg.upload_app(build, app_name, version)
                typer.echo(f"uploaded {build.name}: {app.id} ({app.app_name} {app.version})")
            else:
                app = await qg.get_app(app_file_id or "latest")
                typer.echo(f"build: {app.id} ({app.app_name} {app.version})")
            names: dict[str, str] = {}
            queued = []
            if test_case:
                cases = {cid: await qg.get_test_case(cid) for cid in dict.fromkeys(test_case)}
                names = {cid: c["name"] for cid, c in cases.items()}
                jobs = [job(cid, target, app.id, use_sim=use_sim,
                            vars=_typed_vars(cases[cid], given_vars)) for cid in test_case]
                for start in range(0, len(jobs), MAX_JOBS):
                    try:
                        sub = await qg.run(jobs[start:start + MAX_JOBS])
                    except ApiError:
                        _name_queued(queued)
                        raise
                    queued += sub.results
                    _warn(sub.warnings)
            else:
                names = {c["id"]: c["name"] for c in await qg.list_test_cases(category)}
                sub = await qg.run_all(app.id, target, category_id=category, use_sim=use_sim)
                queued = sub.results
                _warn(sub.warnings)
            if not queued:
                typer.echo("error: no test case was queued", err=True)
                return EXIT_INCOMPLETE
            typer.echo(f"queued {len(queued)} run(s) on {device_name}")
            runs = {q.test_run_id: Tracked(q.test_run_id, names.get(q.test_case_id,
                                                                    q.test_case_id),
                                           device_name, q.link, q.status)
                    for q in queued}
            props = {"app_file_id": app.id, "app_name": app.app_name or "",
                     "version": app.version or "", "device": device_name}
            return await _wait_and_report(qg, runs, junit_path, limit, interval, events, props)

    raise typer.Exit(_call(go()))


def _warn(warnings: list[dict[str, Any]]) -> None:
    for w in warnings:
        typer.echo(f"warning: {w.get('message', w)}", err=True)


def _name_queued(queued: list[Any]) -> None:
    if queued:
        typer.echo("these runs were queued before the refusal:", err=True)
        for q in queued:
            typer.echo(f"  {q.test_run_id} {q.link}", err=True)


# ---------------------------------------------------------------------------- shared


def _seconds(run: Run | None, steps: list[Any]) -> float:
    from datetime import datetime

    if run and run.started_at and run.finished_at:
        started = datetime.fromisoformat(run.started_at)
        finished = datetime.fromisoformat(run.finished_at)
        return max(0.0, (finished - started).total_seconds())
    return sum((s.duration_ms or 0) for s in steps) / 1000


async def _wait_and_report(qg: AsyncClient, runs: dict[str, Tracked], junit_path: Path | None,
                           limit: float, interval: float, use_events: bool,
                           properties: dict[str, str]) -> int:
    display = for_stdout()
    display.start(list(runs.values()))
    try:
        finished = await wait_for(qg, runs, display, timeout=limit, use_events=use_events,
                                  poll_interval=interval)
    finally:
        display.stop()

    cases: list[junit.Case] = []
    for t in runs.values():
        steps: list[Any] = []
        if t.finished:
            if t.run is None or not t.run.finished:
                t.run = await qg.get_run(t.id)
            steps = (await qg.run_steps(t.id)).steps
        run = t.run
        app = run.app_name.rsplit(" v", 1)[0] if run else properties.get("app_name", "")
        cases.append(junit.Case(
            name=t.case, classname=f"{app}/{t.device}", status=t.status, link=t.link,
            seconds=_seconds(run, steps) if t.finished else 0.0,
            explanation=run.explanation if run and t.finished else None,
            failure_category=run.failure_category if run and t.finished else None,
            steps=steps))

    typer.echo("")
    for c in cases:
        typer.echo(f"{c.status:<9} {c.name} [{c.classname.rsplit('/', 1)[-1]}] {c.link}")
        if c.status == "failed" and c.explanation:
            typer.echo(f"          {c.explanation}")
    if junit_path is not None:
        junit.write(junit_path, cases, "qualgent", properties)
        typer.echo(f"JUnit report: {junit_path}")

    failed = [c for c in cases if c.status == "failed"]
    unfinished = [t for t in runs.values() if not t.finished]
    if not finished:
        typer.echo(f"timed out after {format_duration(limit)}; still not finished:")
        for t in unfinished:
            typer.echo(f"  {t.id} {t.case} ({t.status}, {t.progress}%) {t.link}")
    if failed:
        typer.echo(f"{len(failed)} of {len(cases)} run(s) failed")
        return EXIT_FAILED
    if not finished:
        return EXIT_INCOMPLETE
    typer.echo(f"all {len(cases)} run(s) passed or completed")
    return 0
