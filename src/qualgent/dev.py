"""`qualgent dev`: the whole platform in one process, seeded with Demo Shop.

The embedded database, the API and a device host with the simulated fleet, plus (once) a demo
organization with credits, the Demo Shop build and a few test cases. Every start issues a fresh
API key and a fresh password for the demo owner's web sign-in, and prints both: they are
stored hashed, so old ones cannot be shown again.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import signal
import socket
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import uvicorn
from sqlalchemy import select, update

from qualgent.accounts.passwords import hash_password
from qualgent.api.app import create_app
from qualgent.config import Settings
from qualgent.db.engine import make_engine, make_sessionmaker
from qualgent.db.models import Organization, User
from qualgent.orgs import admin
from qualgent.queue.states import TERMINAL, RunStatus

DEMO_ORG = "Qualgent Demo"
DEMO_EMAIL = "demo@qualgent.test"
"""The demo owner's sign-in on the web app (a reserved domain: it reaches no one)."""
SIGN_IN = [
    {"description": "Open the app"},
    {"description": 'Enter "demo@example.com" into Email'},
    {"description": 'Enter "hunter2" into Password'},
    {"description": "Tap Sign in"},
    {"description": "Enter the code from the SMS and tap Verify"},
]
DEMO_CASES = [
    {"name": "Sign in with SMS verification",
     "steps": [*SIGN_IN, {"description": 'Verify "Home" is shown'}]},
    {"name": "Search and verify result",
     "steps": [*SIGN_IN,
               {"description": "Tap the search bar"},
               {"description": "Type {{query}} and submit"},
               {"description": "Wait up to {{timeout_seconds}} seconds for results"},
               {"description": "Verify {{expected}} is visible"}],
     "variables": [
         {"name": "query", "type": "string", "default": "wireless headphones",
          "description": "Search term to type"},
         {"name": "expected", "type": "string", "default": "Wireless Headphones X200"},
         {"name": "timeout_seconds", "type": "number", "default": 30}]},
    {"name": "Add to cart and check out",
     "steps": [*SIGN_IN,
               {"description": 'Tap "Wireless Headphones X200"'},
               {"description": 'Check the price shows "$59.99"'},
               {"description": "Tap Add to cart"},
               {"description": 'Verify "Added to cart" appears'},
               {"description": "Go back, then open the Cart tab"},
               {"description": "Tap Checkout"},
               {"description": 'Verify "Order confirmed" is shown'}]},
    {"name": "Wrong password is refused",
     "steps": [{"description": "Open the app"},
               {"description": "Type demo@example.com into the Email field"},
               {"description": "Type wrong-password into Password"},
               {"description": "Press Sign in"},
               {"description": 'The message "Invalid email or password" should be visible'}]},
]


async def _demo_org(url: str) -> tuple[str, str, str, bool]:
    """(organization id, a fresh API key, a fresh web password for DEMO_EMAIL, whether the
    org was just created)."""
    engine = make_engine(url, pool_size=1)
    password = secrets.token_urlsafe(12)
    try:
        async with make_sessionmaker(engine)() as db:
            org = (await db.scalars(select(Organization).where(
                Organization.name == DEMO_ORG))).first()
            if org is None:
                made = await admin.create_org(db, DEMO_ORG, 1000, "enterprise")
                org_id, key, created = made["organization_id"], made["api_key"], True
            else:
                org_id, created = str(org.id), False
                key = (await admin.create_key(db, org_id))["api_key"]
            await db.execute(update(User).where(
                User.organization_id == uuid.UUID(org_id), User.role == "owner",
                User.email.is_(None) | (User.email == DEMO_EMAIL)).values(
                email=DEMO_EMAIL, name="Demo owner",
                password_hash=await asyncio.to_thread(hash_password, password)))
            await db.commit()
            return org_id, key, password, created
    finally:
        await engine.dispose()


async def _seed(base: str, key: str) -> None:
    """Upload the Demo Shop build and create the demo cases through the API itself."""
    from qualgent.builds.demo import write_demo_build

    async with httpx.AsyncClient(base_url=base, headers={"X-Api-Key": key}, timeout=60) as c:
        with tempfile.TemporaryDirectory() as tmp:
            build = Path(tmp) / "demo-shop.apk"
            write_demo_build(build, "android")
            with build.open("rb") as fh:
                r = await c.post("/v1/apps/upload", files={"file": ("demo-shop.apk", fh)},
                                 data={"app_name": "Demo Shop", "version": "1.0.0"})
            r.raise_for_status()
        for case in DEMO_CASES:
            (await c.post("/v1/test-cases", json=case)).raise_for_status()


async def run_dev(settings: Settings, url: str, host: str, port: int | None, *,
                  check: bool = False, verbose: bool = False) -> bool:
    """Serve until Ctrl-C (True), or with `check`, run the demo suite once and return whether
    every run ended as expected."""
    from qualgent import runtime

    sock = _listen(host, port if port is not None else (0 if check else 8000))
    bound = sock.getsockname()[1]
    settings.public_url = settings.public_url or f"http://{host}:{bound}"
    if not verbose:  # dev speaks in the component lines below; warnings still show
        logging.getLogger("qualgent").setLevel(logging.WARNING)
    org_id, key, password, created = await _demo_org(url)
    devices = runtime.simulated_devices(fleet=True)
    server = uvicorn.Server(uvicorn.Config(
        create_app(settings, url), log_level="debug" if verbose else "warning",
        **runtime.uvicorn_options()))
    worker = runtime.device_host(settings, url, devices)
    api_task = asyncio.create_task(server.serve(sockets=[sock]))
    worker_task = asyncio.create_task(worker.run())
    while not server.started:
        if api_task.done():
            await api_task  # raises why it could not start
            return False
        await asyncio.sleep(0.05)
    if created:
        await _seed(settings.public_url, key)
    print(f"database  {runtime.describe_database(settings)}")
    print(f"api       {settings.public_url}")
    print(f"web       {settings.public_url}  (sign in as {DEMO_EMAIL}, password {password})")
    print(f"devices   {runtime.describe_devices(devices)}")
    print(f"demo      {DEMO_ORG}: Demo Shop and {len(DEMO_CASES)} test cases"
          f"{' (created)' if created else ''}", flush=True)

    try:
        if check:
            return await _check(settings.public_url, key, password)
        _banner(settings.public_url, key)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        return True
    finally:
        worker.request_stop()
        await worker_task
        server.should_exit = True
        await api_task


def _listen(host: str, port: int) -> socket.socket:
    """Bound before uvicorn starts, so port 0 (any free port) is known for the links."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock


async def _check(base: str, key: str, password: str, timeout_s: float = 600.0) -> bool:
    """Run every demo case on the simulated Pixel 7 through the API, as a CI job would, and
    print one line per run. Polls once a second: well inside the rate limit. Then sign in to
    the web app and open every run's results page."""
    try:
        links = await _run_suite(base, key, timeout_s)
        return links is not None and await _open_pages(base, password, links)
    except httpx.HTTPError as exc:
        detail = exc.response.text if isinstance(exc, httpx.HTTPStatusError) else ""
        print(f"check     FAILED: {exc} {detail}", flush=True)
        return False


async def _run_suite(base: str, key: str, timeout_s: float) -> dict[str, str] | None:
    """Each run's results page link by case name, or None when a run did not pass."""
    async with httpx.AsyncClient(base_url=base, headers={"X-Api-Key": key}, timeout=60) as c:
        app = (await c.get("/v1/apps/latest")).raise_for_status().json()["file"]
        r = await c.post("/v1/test-cases/run-all", json={
            "app_file_id": app["id"], "device": {"name": "Pixel 7", "platform": "Android"}})
        pending = {x["test_run_id"] for x in r.raise_for_status().json()["results"]}
        print(f"check     running {len(pending)} demo test case(s) on Pixel 7", flush=True)
        ok, deadline, links = True, time.monotonic() + timeout_s, {}
        while pending:
            if time.monotonic() > deadline:
                print(f"TIMEOUT   {len(pending)} run(s) did not finish in {timeout_s:.0f} s")
                return None
            await asyncio.sleep(1)
            for run_id in sorted(pending):
                run = (await c.get(f"/v1/jobs/status/{run_id}")).raise_for_status().json()
                if run["status"] not in TERMINAL:
                    continue
                pending.discard(run_id)
                name = run["test_case"]["name"]
                links[name] = run["link"]
                good = run["status"] == RunStatus.PASSED  # every demo case passes
                ok &= good
                line = f"{'ok' if good else 'FAIL':<9} {run['status']:<9} {name}  {run['link']}"
                if not good:
                    line += f"\n          expected passed: {run.get('explanation') or ''}"
                print(line, flush=True)
    print("check     all runs ended as expected" if ok else "check     FAILED", flush=True)
    return links if ok else None


async def _open_pages(base: str, password: str, links: dict[str, str]) -> bool:
    """Sign in as the demo owner, as a browser would, and open each run's results page."""
    async with httpx.AsyncClient(base_url=base, timeout=60) as web:
        form = (await web.get("/auth/sign-in")).raise_for_status().text
        token = re.search(r'name="csrf_token" value="([^"]+)"', form)
        r = await web.post("/auth/sign-in", data={
            "email": DEMO_EMAIL, "password": password, "next": "/test-runs",
            "csrf_token": token.group(1) if token else ""})
        if r.status_code != 303:
            print(f"web       FAILED: signing in answered {r.status_code}", flush=True)
            return False
        for name, link in links.items():
            page = await web.get(link)
            if page.status_code != 200 or name not in page.text:
                print(f"web       FAILED: {link} answered {page.status_code}", flush=True)
                return False
    print(f"web       signed in and opened {len(links)} results page(s)", flush=True)
    return True


def _banner(base: str, key: str) -> None:
    print(f"""
qualgent is running at {base}   (API docs: {base}/docs)

  export QUALGENT_API_KEY={key}

Run every demo test case on the simulated Pixel 7:

  APP=$(curl -s {base}/v1/apps/latest -H "X-Api-Key: $QUALGENT_API_KEY" | jq -r .file.id)
  curl -s {base}/v1/test-cases/run-all -H "X-Api-Key: $QUALGENT_API_KEY" \\
    -H 'Content-Type: application/json' \\
    -d '{{"app_file_id": "'$APP'", "device": {{"name": "Pixel 7", "platform": "Android"}}}}'

Then poll: curl -s {base}/v1/jobs/list -H "X-Api-Key: $QUALGENT_API_KEY"
Ctrl-C stops everything.
""", flush=True)
