"""The Devices page in the browser: the pool with a real worker's device, its current run
linked for the run's organization and only "busy" for everyone else."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import expect

from tests.conftest import Db, Server, eventually
from tests.web.conftest import Web
from tests.web.test_runs_list import Team, worker
from tests.worker.conftest import wait_for_devices


def _device_row(web: Web, text: str):  # noqa: ANN202
    return web.page.get_by_role("row").filter(has_text=text)


def test_pool_shows_workers_devices_and_the_current_run(
        web: Web, second_web: Web, db: Db, db_url: str, server: Server, demo_apk: Path,
        pixel: dict, tmp_path: Path) -> None:
    shop = Team(web, db, server, demo_apk, "Shop Co")
    Team(second_web, db, server, demo_apk, "Rival Org")
    web.goto("/devices")
    catalog = _device_row(web, "Catalog profile")
    expect(catalog).to_have_count(1)
    expect(catalog).to_contain_text("Pixel 7")
    expect(catalog).to_contain_text("Android")
    expect(catalog).to_contain_text("14")

    host = worker(db_url, server, tmp_path)
    try:
        wait_for_devices(db, 1)
        serial, host_name = db.fetch("SELECT serial, host FROM devices "
                                     "WHERE worker_id IS NOT NULL")[0]
        web.goto("/devices")
        mine = _device_row(web, serial)
        expect(mine).to_contain_text("Idle")
        expect(mine).to_contain_text(host_name)
        expect(mine).to_contain_text("Phone")
        expect(mine).to_contain_text("Yes")  # SMS
        expect(mine).to_contain_text("UTC")  # last seen

        [run_id] = shop.run(shop.case("Slow", ["Open the app", "Wait 8 seconds"]))
        eventually(lambda: db.scalar("SELECT count(*) FROM devices WHERE current_run_id = $1",
                                     run_id) == 1, 60)
        web.goto("/devices")
        expect(mine).to_contain_text("Busy")
        link = mine.get_by_role("link", name=f"Run {run_id[:8]}")
        expect(link).to_have_attribute("href", f"/test-runs/{run_id}")
        # devices are shared, runs are not: the other organization sees it busy, no more
        second_web.goto("/devices")
        theirs = _device_row(second_web, serial)
        expect(theirs).to_contain_text("Busy")
        expect(theirs).to_contain_text("busy")
        expect(theirs.get_by_role("link")).to_have_count(0)
        assert run_id not in second_web.page.content()
        web.check("devices")
        shop.wait_finished([run_id])
        web.goto("/devices")
        expect(mine).to_contain_text("Idle")
        expect(mine.get_by_role("link")).to_have_count(0)
    finally:
        host.stop()
    web.goto("/devices")
    expect(_device_row(web, serial)).to_contain_text("Offline")
