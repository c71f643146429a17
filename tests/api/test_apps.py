"""Build uploads, listing, signed links and deletion, over real HTTP."""

from __future__ import annotations

import hashlib
import io
import socket
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from qualgent.apps import links
from tests.api.test_auth_and_errors import _error
from tests.conftest import FIXTURE_APK, Db, Org, Server, eventually, start_server


def _stored_files(server: Server) -> list[Path]:
    root = server.settings.blob_root
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_upload_real_apk_reads_the_manifest(org: Org, server: Server) -> None:
    f = org.upload_fixture()
    for field in ("id", "file_path", "filename", "original_name", "file_size", "file_type",
                  "app_name", "version", "os", "package_name", "user_id", "organization_id"):
        assert field in f
    assert f["package_name"] == "io.appium.settings"
    assert f["version_name"] == "8.0.10" and f["version_code"] == "192"
    assert f["label"] == "Appium Settings"
    assert f["os"] == "Android"
    assert f["original_name"] == "settings_apk-debug.apk"
    assert f["file_size"] == FIXTURE_APK.stat().st_size
    assert f["file_type"] == "application/vnd.android.package-archive"
    assert f["filename"].endswith("-Settings-8.0.10.apk")
    assert f["organization_id"] == org.id
    assert f["sha256"] == hashlib.sha256(FIXTURE_APK.read_bytes()).hexdigest()


def test_list_get_latest(org: Org) -> None:
    first = org.upload_fixture(version="1.0.0")
    second = org.upload_fixture(version="1.0.1", os="android", package_name="io.appium.settings")
    files = org.http.get("/v1/apps/list").json()
    assert files["success"] is True
    assert [f["id"] for f in files["files"]] == [second["id"], first["id"]]
    item = files["files"][0]
    assert item["name"] == "settings_apk-debug.apk" and item["os"] == "android"
    assert item["version"] == "1.0.1" and item["link"].startswith("http")
    got = org.http.get(f"/v1/apps/{first['id']}").json()
    assert got["success"] is True and got["file"]["id"] == first["id"]
    assert org.http.get("/v1/apps/latest").json()["file"]["id"] == second["id"]


def test_presigned_link_returns_exact_bytes_and_rejects_tampering(
    org: Org, server: Server
) -> None:
    f = org.upload_fixture()
    link = org.http.get(f"/v1/apps/{f['id']}").json()["file"]["link"]
    with httpx.Client() as anon:  # no API key: the signature is the credential
        r = anon.get(link)
        assert r.status_code == 200
        assert r.content == FIXTURE_APK.read_bytes()
        tampered = link[:-1] + ("0" if link[-1] != "0" else "1")
        _error(anon.get(tampered), 403, "invalid_signature")
        later = link.replace("expires=", "expires=9")
        _error(anon.get(later), 403, "invalid_signature")
        # A correctly signed link whose five minutes are over.
        path = f"/downloads/apps/{f['id']}"
        old = links.signed_url(server.base_url, b"test-secret", path, now=time.time() - 301)
        _error(anon.get(old), 403, "link_expired")
        fresh = links.signed_url(server.base_url, b"test-secret", path)
        assert anon.get(fresh).status_code == 200


def test_delete_is_soft_and_idempotent(org: Org, db: Db) -> None:
    f = org.upload_fixture()
    link = org.http.get(f"/v1/apps/{f['id']}").json()["file"]["link"]
    r = org.http.post("/v1/apps/delete", json={"files": [f["id"]]})
    assert r.status_code == 200 and r.json()["success"] is True
    assert org.http.post("/v1/apps/delete", json={"files": [f["id"]]}).status_code == 200
    assert org.http.get("/v1/apps/list").json()["files"] == []
    _error(org.http.get(f"/v1/apps/{f['id']}"), 404, "S-90004")
    _error(org.http.get("/v1/apps/latest"), 404, "S-90004")
    assert httpx.get(link).status_code == 404
    assert db.scalar("SELECT count(*) FROM app_files WHERE deleted_at IS NOT NULL") == 1


def test_delete_with_an_unknown_id_deletes_nothing(org: Org, db: Db) -> None:
    f = org.upload_fixture()
    r = org.http.post("/v1/apps/delete",
                      json={"files": [f["id"], "5b0c1a9e-0000-4000-8000-000000000000"]})
    _error(r, 404, "S-90004")
    assert db.scalar("SELECT count(*) FROM app_files WHERE deleted_at IS NULL") == 1


def _assert_nothing_stored(db: Db, server: Server) -> None:
    assert db.scalar("SELECT count(*) FROM app_files") == 0
    assert _stored_files(server) == []


def test_invalid_builds_are_refused_and_leave_nothing(org: Org, db: Db, server: Server) -> None:
    def up(name: str, content: bytes, **data: str) -> httpx.Response:
        fields = {"app_name": "X", "version": "1", **data}
        return org.http.post("/v1/apps/upload", files={"file": (name, content)}, data=fields)

    body = _error(up("app.apk", b"definitely not a zip"), 422, "invalid_build")
    assert body["details"]["field"] == "file"
    _error(up("app.zip", FIXTURE_APK.read_bytes()), 422, "unsupported_file_type")
    _error(up("app.ipa", FIXTURE_APK.read_bytes()), 422, "invalid_build")
    _error(up("app.apk", FIXTURE_APK.read_bytes(), os="iOS"), 422, "invalid_request")
    _error(up("app.apk", FIXTURE_APK.read_bytes(), package_name="com.other"), 422,
           "package_name_mismatch")
    r = org.http.post("/v1/apps/upload", files={"file": ("a.apk", FIXTURE_APK.read_bytes())},
                      data={"version": "1"})
    assert _error(r, 400, "missing_parameter")["details"]["field"] == "app_name"
    r = org.http.post("/v1/apps/upload", data={"app_name": "X", "version": "1"},
                      files={"other": ("notes.txt", b"hi")})
    assert _error(r, 400, "missing_parameter")["details"]["field"] == "file"
    r = org.http.post("/v1/apps/upload", json={"app_name": "X"})
    _error(r, 400, "malformed_body")
    _assert_nothing_stored(db, server)


def _big_apk(tmp_path: Path, extra_mb: int) -> Path:
    """The real APK with a large stored entry appended: still a valid APK."""
    path = tmp_path / "big.apk"
    path.write_bytes(FIXTURE_APK.read_bytes())
    with zipfile.ZipFile(path, "a", compression=zipfile.ZIP_STORED) as z:
        z.writestr("assets/blob.bin", bytes(range(256)) * (extra_mb * 4096))
    return path


def test_large_build_round_trips(org: Org, server: Server, tmp_path: Path) -> None:
    big = _big_apk(tmp_path, 40)
    with big.open("rb") as fh:
        r = org.http.post("/v1/apps/upload", files={"file": ("big.apk", fh)},
                          data={"app_name": "Big", "version": "2"})
    assert r.status_code == 200, r.text
    f = r.json()["file"]
    assert f["file_size"] == big.stat().st_size and f["package_name"] == "io.appium.settings"
    digest = hashlib.sha256()
    with httpx.stream("GET", f["link"]) as resp:
        for chunk in resp.iter_bytes():
            digest.update(chunk)
    assert digest.hexdigest() == hashlib.sha256(big.read_bytes()).hexdigest()
    assert [p.name for p in _stored_files(server)] == [f"{f['id']}.apk"]


def _multipart_head(boundary: str, name: str = "big.apk") -> bytes:
    return (f"--{boundary}\r\nContent-Disposition: form-data; name=\"app_name\"\r\n\r\nX\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"version\"\r\n\r\n1\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"{name}\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode()


def _raw_request(server: Server, key: str, headers: dict[str, str]) -> socket.socket:
    host, port = server.base_url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    lines = ["POST /v1/apps/upload HTTP/1.1", f"Host: {host}", f"X-Api-Key: {key}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    return sock


@pytest.mark.parametrize("sent_mb", [3, 40])
def test_upload_aborted_mid_stream_leaves_nothing(
    org: Org, db: Db, server: Server, sent_mb: int
) -> None:
    boundary = "qgboundary"
    sock = _raw_request(server, org.key, {
        "Content-Type": f"multipart/form-data; boundary={boundary}",
        "Content-Length": str(100 * 1024 * 1024),
    })
    sock.sendall(_multipart_head(boundary))
    block = b"\x00" * (1024 * 1024)
    for _ in range(sent_mb):
        sock.sendall(block)
    if sent_mb > 32:  # the segmented write has begun: a staging object exists
        eventually(lambda: _stored_files(server) != [])
    sock.close()
    eventually(lambda: _stored_files(server) == [])
    _assert_nothing_stored(db, server)
    assert org.http.get("/v1/apps/list").json()["files"] == []


def test_oversize_upload_is_refused_while_streaming(db_url: str, db: Db, tmp_path: Path) -> None:
    server = start_server(db_url, tmp_path / "data", max_single_upload_mb=1)
    try:
        org = Org(db, server)
        # Declared too large: refused before a byte of the body is read.
        with FIXTURE_APK.open("rb") as fh:
            _error(org.http.post("/v1/apps/upload", files={"file": fh},
                                 data={"app_name": "X", "version": "1"}), 413, "payload_too_large")
        # Chunked, no length declared: refused as soon as the count passes 1 MB.
        boundary = "qgboundary"
        sock = _raw_request(server, org.key, {
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Transfer-Encoding": "chunked",
        })
        def chunk(data: bytes) -> bytes:
            return f"{len(data):x}\r\n".encode() + data + b"\r\n"
        sock.sendall(chunk(_multipart_head(boundary)))
        for _ in range(6):  # 1.5 MB, then we stop sending and wait for the answer
            sock.sendall(chunk(b"\x01" * (256 * 1024)))
        sock.settimeout(10)
        reply = b""
        while b"\r\n\r\n" not in reply:
            reply += sock.recv(65536)
        assert reply.startswith(b"HTTP/1.1 413"), reply[:200]
        sock.close()
        eventually(lambda: _stored_files(server) == [])
        _assert_nothing_stored(db, server)
    finally:
        server.stop()


def test_ipa_upload_reads_info_plist(org: Org) -> None:
    import plistlib

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("Payload/Shop.app/Info.plist", plistlib.dumps({
            "CFBundleIdentifier": "com.example.shop", "CFBundleShortVersionString": "3.1",
            "CFBundleVersion": "310", "CFBundleDisplayName": "Shop"}, fmt=plistlib.FMT_BINARY))
    r = org.http.post("/v1/apps/upload", files={"file": ("Shop.ipa", buf.getvalue())},
                      data={"app_name": "Shop", "version": "3.1"})
    assert r.status_code == 200, r.text
    f = r.json()["file"]
    assert (f["os"], f["package_name"], f["version_name"], f["label"]) == \
        ("iOS", "com.example.shop", "3.1", "Shop")
