"""The results page, /test-runs/{id}, as a person uses it: runs queued through the API and
executed by a real worker on the simulated Demo Shop, the page watched in Chromium."""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import httpx
from playwright.sync_api import expect

from tests.conftest import Db, Server, eventually
from tests.demo import SIGN_IN_QUOTED
from tests.web.conftest import Web
from tests.worker.conftest import SMS_PIXEL, WorkerProcess

PIXEL = {"name": "Pixel 7", "platform": "Android", "os_version": "14"}
PASSING = [*SIGN_IN_QUOTED, 'Verify "Home" is shown']
# The same sign-in, then something else at step 6: an audit of it against PASSING differs there
# (the SMS code typed at step 5 is fresh on every run, and the audit knows it).
DIVERGING = [*SIGN_IN_QUOTED, "Open the Profile tab"]
IMPOSSIBLE = ["Open the app", 'Verify that "Nonexistent banner" is shown']


def _case(api: httpx.Client, name: str, steps: list[str]) -> str:
    r = api.post("/v1/test-cases", json={"name": name,
                                         "steps": [{"description": s} for s in steps]})
    assert r.status_code == 200, r.text
    return r.json()["test_case"]["id"]


def _queue(api: httpx.Client, case_id: str, **job: object) -> dict:
    r = api.post("/v1/test-cases/run", json={"jobs": [
        {"test_case_id": case_id, "device": PIXEL, "use_sim": True, **job}]})
    assert r.status_code == 200, r.text
    return r.json()["results"][0]


def _status(api: httpx.Client, run_id: str) -> dict:
    return api.get(f"/v1/jobs/status/{run_id}").json()


def _wait_final(api: httpx.Client, run_id: str) -> dict:
    eventually(lambda: _status(api, run_id)["status"] in ("passed", "failed", "completed"),
               timeout=120, interval=0.25)
    return _status(api, run_id)


def _screenshots_load_with_their_marks(web: Web, step_count: int) -> None:
    """Every step's screenshot loads (lazily, once scrolled to), and each overlay sits exactly
    on its screenshot with the marks the action list numbers."""
    page = web.page
    cards = page.locator("ol.steps > li > article.step")
    expect(cards).to_have_count(step_count)
    marked = 0
    for i in range(step_count):
        card = cards.nth(i)
        expect(card.locator("figure.shot:not(.before) img")).to_have_count(1)
        for figure in card.locator("figure.shot").all():
            img = figure.locator("img")
            img.scroll_into_view_if_needed()
            expect(img).to_have_attribute("loading", "lazy")
            assert "The screen" in (img.get_attribute("alt") or "")
            page.wait_for_function("img => img.complete && img.naturalWidth > 0",
                                   arg=img.element_handle())
            natural = img.evaluate("img => [img.naturalWidth, img.naturalHeight]")
            svg = figure.locator("svg.overlay")
            if svg.count() == 0:
                continue
            assert svg.get_attribute("viewBox") == f"0 0 {natural[0]} {natural[1]}"
            box, over = img.bounding_box(), svg.bounding_box()
            assert box and over
            for key in ("x", "y", "width", "height"):
                assert abs(box[key] - over[key]) <= 1.5, (key, box, over)
            # each mark is numbered as an action of the list, and lies on the screenshot
            for mark in svg.locator("g.mark").all():
                number = mark.get_attribute("data-action")
                item = card.locator(f'ol.acts > li[value="{number}"]')
                expect(item).to_contain_text(f"marked {number} on the screenshot")
                rect = mark.locator("rect").bounding_box()
                assert rect and rect["width"] > 0 and rect["height"] > 0
                assert box["x"] - 2 <= rect["x"] <= rect["x"] + rect["width"] <= \
                    box["x"] + box["width"] + 2
                assert box["y"] - 2 <= rect["y"] <= rect["y"] + rect["height"] <= \
                    box["y"] + box["height"] + 2
                marked += 1
    assert marked >= step_count - 1  # opening the app hits no element; every other step does


def test_results_page_follows_a_run_live_and_shows_failures_audits_and_nothing_to_others(
        web: Web, second_web: Web, db: Db, db_url: str, server: Server, pixel: dict,
        demo_apk: Path, tmp_path: Path) -> None:
    email = web.sign_up(organization="Shop QA")
    api = server.client(web.api_key(db, email))
    with demo_apk.open("rb") as fh:
        r = api.post("/v1/apps/upload", files={"file": ("demo.apk", fh)},
                     data={"app_name": "Demo Shop", "version": "1.0.0"})
    assert r.status_code == 200, r.text
    passing = _case(api, "Sign in with the SMS code", PASSING)
    queued = _queue(api, passing)
    run_id = queued["test_run_id"]
    url = f"/test-runs/{run_id}"
    # the API's link is this page
    assert queued["link"] == server.base_url + url
    assert _status(api, run_id)["link"] == server.base_url + url

    # Queued: the page is live (polls its fragment), status told in words
    page = web.page
    response = web.goto(url)
    assert response is not None and response.status == 200
    result = page.locator("#result")
    expect(result).to_have_attribute("data-live-url", f"/test-runs/{run_id}/live")
    status = page.locator("#result .run-status")
    expect(status).to_have_attribute("aria-live", "polite")
    expect(status).to_contain_text("queued")
    expect(page.locator("h1")).to_contain_text("Sign in with the SMS code")
    expect(page.locator("dl.facts")).to_contain_text("Pixel 7 · Android 14")
    expect(page.locator("dl.facts")).to_contain_text("Demo Shop 1.0.0")
    web.check("results-queued")
    page.evaluate("window.notReloaded = true")

    worker = WorkerProcess(db_url, server, tmp_path / "worker.log", SMS_PIXEL)
    try:
        # the run goes by without a reload: running with steps coming in, then passed
        expect(status).to_contain_text("passed", timeout=120_000)
        assert page.evaluate("window.notReloaded") is True
        expect(page.locator("#result")).not_to_have_attribute("data-live-url", re.compile(".*"))
        final = _status(api, run_id)
        assert final["status"] == "passed"
        assert page.url == final["link"]
        _screenshots_load_with_their_marks(web, len(PASSING))
        steps = page.locator("ol.steps article.step")
        expect(steps.nth(1)).to_contain_text('Enter "demo@example.com" into Email')
        expect(steps.nth(1).locator("ol.acts")).to_contain_text("demo@example.com")
        expect(steps.nth(5)).to_contain_text("passed")
        # "Tap Sign in" left the sign-in screen: its tap is marked on the screen before
        before = steps.nth(3).locator("figure.shot.before")
        expect(before).to_contain_text("Before: where the actions were taken")
        expect(before.locator('g.mark[data-action="1"]')).to_have_count(1)
        expect(steps.nth(3).locator("ol.acts")).to_contain_text("before the step")
        # the check of step 6 is on the screen it ended on
        expect(steps.nth(5).locator("figure.shot.before")).to_have_count(0)
        expect(steps.nth(5).locator('svg g.mark-check[data-action="1"]')).to_have_count(1)
        expect(page.get_by_role("link", name="Open the device log")).to_be_visible()
        log = page.get_by_role("link", name="Open the device log").get_attribute("href")
        assert log and log.startswith(f"/test-runs/{run_id}/files/logs/")
        assert page.request.get(log).status == 200
        page.locator("details.log-tail summary").click()
        expect(page.locator("pre.log")).not_to_be_empty()
        web.check("results-passed")

        # A step that cannot be done: the explanation and its category, up front
        failing = _queue(api, _case(api, "Banner check", IMPOSSIBLE))["test_run_id"]
        audited = _queue(api, _case(api, "Sign in, then the profile", DIVERGING),
                         audit_source_run_id=run_id)["test_run_id"]
        failed = _wait_final(api, failing)
        assert failed["status"] == "failed" and failed["explanation"]
        # a screen recording, as a device with video leaves one (the simulator has none)
        video_key = f"videos/{failing}/1-1.mp4"
        video_file = server.settings.blob_root / video_key
        video_file.parent.mkdir(parents=True, exist_ok=True)
        video_file.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(64))
        db.fetch("INSERT INTO run_artifacts (test_run_id, attempt, kind, seq, key, bytes) "
                 "VALUES ($1, 1, 'video', 1, $2, 76)", uuid.UUID(failing), video_key)
        web.goto(f"/test-runs/{failing}")
        failure = page.locator("section.failure")
        expect(failure).to_contain_text("Why it failed")
        expect(failure).to_contain_text(f"({failed['failure_category']})")
        expect(failure.locator(".explanation")).to_have_text(failed["explanation"])
        expect(page.locator("article.step-failed")).to_contain_text("Nonexistent banner")
        expect(page.locator("article.step-failed .reason")).not_to_be_empty()
        video = page.locator("video")
        expect(video).to_have_attribute("preload", "none")
        src = video.get_attribute("src")
        assert src == f"/test-runs/{failing}/files/{video_key.replace(f'/{failing}', '')}"
        assert page.request.get(src).status == 200
        web.check("results-failed")

        # An audit: its steps beside the baseline's, the first difference labelled
        done = _wait_final(api, audited)
        first = done["audit"]["first_difference"]
        assert first is not None and first["step"] == 6, done["audit"]
        web.goto(f"/test-runs/{audited}")
        pairs = page.locator(".compare section.pair")
        expect(pairs).to_have_count(6)
        differs = page.locator("#first-difference")
        expect(differs).to_contain_text("First difference")
        expect(differs.locator(".side").nth(0)).to_contain_text(DIVERGING[first["step"] - 1])
        expect(differs.locator(".side").nth(1)).to_contain_text(PASSING[first["step"] - 1])
        expect(page.locator("section.pair.differs")).to_have_count(1)
        expect(pairs.nth(first["step"] - 1)).to_have_id("first-difference")
        expect(page.locator(".diff-note")).to_contain_text(f"step {first['step']}")
        expect(pairs.nth(5).locator(".side").nth(0)).to_contain_text("Open the Profile tab")
        expect(pairs.nth(5).locator(".side").nth(1)).to_contain_text('Verify "Home" is shown')
        expect(pairs.nth(0).locator(".side").nth(1)).to_contain_text("Open the app")
        expect(page.get_by_role("link", name=re.compile(f"run {run_id[:8]}"))).to_have_attribute(
            "href", url)
        expect(page.locator("dl.facts")).to_contain_text("audit")
        web.check("results-audit")
    finally:
        worker.stop()

    # Attempts: a number that does not exist is said so, and the latest shown
    web.goto(f"{url}?attempt=7")
    expect(page.locator(".notice")).to_contain_text("no attempt “7”")
    expect(page.locator("ol.steps article.step")).to_have_count(len(PASSING))

    # Another organization: the same 404 page as a run that does not exist
    second_web.sign_up(organization="Someone else")
    answers = []
    for path in (url, f"/test-runs/{uuid.uuid4()}", "/test-runs/not-a-run",
                 f"/test-runs/{run_id}/live", log, f"/test-runs/{run_id}/files/logs/9.txt",
                 f"/test-runs/{run_id}/files/../../etc/passwd"):
        response = second_web.goto(path)
        assert response is not None
        answers.append((response.status, second_web.page.locator("main").inner_text()))
    assert answers[0][0] == 404 and "Sign in with the SMS code" not in answers[0][1]
    assert all(a == answers[0] for a in answers), answers
