"""The Builds page in the browser: upload with progress, download, delete; bad files refused
inline with nothing stored; another organization's builds out of reach."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import expect

from tests.conftest import Db, Server
from tests.web.conftest import Web

# Set in the page before an upload: sessionStorage survives the reload that follows it, so
# the test can see afterwards whether the progress bar was shown and filled.
WATCH_PROGRESS = """() => {
    const bar = document.querySelector("form[data-upload] progress");
    new MutationObserver(() => {
        if (!bar.hidden) sessionStorage.setItem("progress", bar.value + "/" + bar.max);
    }).observe(bar, {attributes: true});
}"""


def _upload(web: Web, path: Path, app_name: str = "Demo Shop", version: str = "1.0.0") -> None:
    page = web.page
    page.get_by_label("Build file (.apk, .aab or .ipa)").set_input_files(str(path))
    page.get_by_label("App name").fill(app_name)
    page.get_by_label("Version").fill(version)
    page.get_by_role("button", name="Upload").click()


def _blobs(server: Server) -> list[Path]:
    return [p for p in Path(server.settings.blob_root).rglob("*") if p.is_file()]


def test_upload_download_delete(web: Web, db: Db, server: Server, demo_apk: Path,
                                tmp_path: Path) -> None:
    email = web.sign_up(organization="Shop Co")
    web.goto("/builds")
    expect(web.page.get_by_text("No builds yet.")).to_be_visible()
    web.page.evaluate(WATCH_PROGRESS)
    _upload(web, demo_apk)
    row = web.page.get_by_role("row").filter(has_text="Demo Shop")
    expect(row).to_be_visible()
    shown = web.page.evaluate("sessionStorage.getItem('progress')")
    size = demo_apk.stat().st_size
    assert shown is not None and shown.split("/")[0] == shown.split("/")[1]  # filled
    expect(row).to_contain_text("1.0.0")
    expect(row).to_contain_text("Android")
    expect(row).to_contain_text("com.qualgent.demo")
    expect(row).to_contain_text("demo.apk")
    expect(row).to_contain_text(f"{size / 1024:.1f} KB" if size < 1024**2
                                else f"{size / 1024**2:.1f} MB")
    expect(row).to_contain_text("UTC")
    web.check("builds")

    with web.page.expect_download() as download:
        row.get_by_role("link", name="Download Demo Shop 1.0.0").click()
    assert Path(download.value.path()).read_bytes() == demo_apk.read_bytes()

    key = web.api_key(db, email)
    with server.client(key) as api:
        listed = api.get("/v1/apps/list").json()["files"]
        assert [f["app_name"] for f in listed] == ["Demo Shop"]
        web.page.once("dialog", lambda d: d.accept())
        row.get_by_role("button", name="Delete Demo Shop 1.0.0").click()
        expect(web.page.get_by_text("The build was deleted.")).to_be_visible()
        expect(web.page.get_by_role("row").filter(has_text="Demo Shop")).to_have_count(0)
        assert api.get("/v1/apps/list").json()["files"] == []


def test_delete_asks_first(web: Web, demo_apk: Path) -> None:
    web.sign_up()
    web.goto("/builds")
    _upload(web, demo_apk)
    row = web.page.get_by_role("row").filter(has_text="Demo Shop")
    expect(row).to_be_visible()
    web.page.once("dialog", lambda d: d.dismiss())
    row.get_by_role("button", name="Delete Demo Shop 1.0.0").click()
    web.page.wait_for_timeout(300)
    web.goto("/builds")
    expect(row).to_be_visible()


def test_invalid_build_shows_the_error_and_stores_nothing(web: Web, db: Db, server: Server,
                                                         tmp_path: Path) -> None:
    web.sign_up()
    fake = tmp_path / "notes.apk"
    fake.write_text("these are my notes, not an app\n" * 20)
    web.goto("/builds")
    _upload(web, fake, app_name="Notes")
    message = web.page.locator("[data-upload-message]")
    expect(message).not_to_have_text(re.compile(r"^(|Uploading…)$"))
    expect(message).to_have_text("The uploaded file is not a valid APK: it is not a zip "
                                 "archive.")
    assert web.page.url.endswith("/builds")
    assert db.scalar("SELECT count(*) FROM app_files") == 0
    assert _blobs(server) == []
    web.goto("/builds")
    expect(web.page.get_by_text("No builds yet.")).to_be_visible()


def test_another_orgs_build_is_not_found(web: Web, second_web: Web, db: Db, server: Server,
                                         demo_apk: Path) -> None:
    web.sign_up(organization="Owner Org")
    web.goto("/builds")
    _upload(web, demo_apk)
    expect(web.page.get_by_role("row").filter(has_text="Demo Shop")).to_be_visible()
    build_id = db.scalar("SELECT id FROM app_files")

    second_web.sign_up(organization="Other Org")
    second_web.goto("/builds")
    expect(second_web.page.get_by_text("No builds yet.")).to_be_visible()
    answer = second_web.goto(f"/builds/{build_id}/download")
    assert answer.status == 404
    expect(second_web.page.get_by_role("heading", name="Page not found")).to_be_visible()
    second_web.goto("/builds")
    deleted = second_web.page.request.post(
        f"/builds/{build_id}/delete", form={"csrf_token": second_web.csrf()})
    assert deleted.status == 404
    assert "Page not found" in deleted.text()
    # nor does a missing id or one that is no id at all answer anything but the 404 page
    for path in ("/builds/00000000-0000-0000-0000-000000000000/download",
                 "/builds/not-an-id/download"):
        assert second_web.goto(path).status == 404
    assert db.scalar("SELECT deleted_at FROM app_files WHERE id = $1", build_id) is None


def test_delete_needs_the_forms_token(web: Web, db: Db, demo_apk: Path) -> None:
    web.sign_up()
    web.goto("/builds")
    _upload(web, demo_apk)
    expect(web.page.get_by_role("row").filter(has_text="Demo Shop")).to_be_visible()
    build_id = db.scalar("SELECT id FROM app_files")
    refused = web.page.request.post(f"/builds/{build_id}/delete",
                                    form={"csrf_token": "forged"})
    assert refused.status == 403
    assert db.scalar("SELECT deleted_at FROM app_files WHERE id = $1", build_id) is None
