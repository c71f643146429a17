"""The `qualgent admin` commands, run as an operator would."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

import httpx

from tests.conftest import Db, Org, Server, eventually
from tests.serve import qualgent_command


def _qualgent(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*qualgent_command(), *args], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=120)


def test_admin_commands_against_a_database(db_url: str, db: Db, server: Server,
                                            tmp_path: Path) -> None:
    env = {"QUALGENT_DATABASE_URL": db_url, "QUALGENT_DATA_DIR": str(tmp_path)}
    made = json.loads(_qualgent(env, "admin", "create-org", "--name", "Initech", "--credits",
                                "5", "--json").stdout)
    assert made["api_key"].startswith("qg_")
    org_id = made["organization_id"]
    with server.client(made["api_key"]) as c:
        assert c.get("/v1/apps/list").status_code == 200
    second = json.loads(_qualgent(env, "admin", "create-key", "--org", org_id, "--json").stdout)
    out = _qualgent(env, "admin", "add-credits", "--org", org_id, "--amount", "10", "--json")
    assert json.loads(out.stdout)["credits"] == 15
    cat = json.loads(_qualgent(env, "admin", "create-category", "--org", org_id, "--name",
                               "Smoke", "--json").stdout)
    dev = json.loads(_qualgent(env, "admin", "register-device", "--name", "iPad Pro",
                               "--platform", "iOS", "--os-version", "16.0", "--form-factor",
                               "tablet", "--json").stdout)
    assert dev["sms_enabled"] is False
    with server.client(second["api_key"]) as c:
        assert c.get("/v1/categories/list").json()[0]["id"] == cat["id"]
        assert c.get("/v1/devices").json()["tablet"][0]["name"] == "iPad Pro"
    assert _qualgent(env, "admin", "revoke-key", "--key", second["api_key"]).returncode == 0
    with server.client(second["api_key"]) as c:  # the API's key cache hears of it at once
        eventually(lambda: c.get("/v1/apps/list").status_code == 401, timeout=1)
    failed = _qualgent(env, "admin", "add-credits", "--org", org_id, "--amount", "-3", "--json")
    assert failed.returncode == 1 and "positive" in json.loads(failed.stdout)["error"]
    assert db.scalar("SELECT credits FROM organizations WHERE id=$1::uuid", org_id) == 15
    unknown = _qualgent(env, "admin", "create-key", "--org", "nope")
    assert unknown.returncode == 1 and "No organization" in unknown.stderr
    # The key is stored hashed: nothing in the database holds it in clear.
    dump = " ".join(str(tuple(r)) for r in db.fetch("SELECT * FROM api_keys"))
    assert made["api_key"] not in dump


def test_embedded_database_when_no_url_is_set(tmp_path: Path) -> None:
    env = {"QUALGENT_DATA_DIR": str(tmp_path), "QUALGENT_DATABASE_URL": ""}
    first = _qualgent(env, "admin", "create-org", "--name", "Solo", "--json")
    assert first.returncode == 0, first.stderr
    org_id = json.loads(first.stdout)["organization_id"]
    second = _qualgent(env, "admin", "create-key", "--org", org_id, "--json")
    assert second.returncode == 0, second.stderr  # the same embedded database, found again
    assert (tmp_path / "pg" / "PG_VERSION").exists()


def test_gc_blobs_removes_only_bytes_without_a_record(
    db_url: str, org: Org, server: Server
) -> None:
    kept = org.upload_fixture()
    root = server.settings.blob_root
    orphan = root / org.id / f"{uuid.uuid4()}.apk"
    orphan.write_bytes(b"left behind by a crash")
    staging = root / org.id / f".{uuid.uuid4()}.apk.{uuid.uuid4().hex}.part"
    staging.write_bytes(b"half an upload")
    fresh = root / org.id / f"{uuid.uuid4()}.apk"
    fresh.write_bytes(b"an upload still being written")
    old = 3 * 3600
    for path in (orphan, staging):
        os.utime(path, (path.stat().st_atime - old, path.stat().st_mtime - old))
    kept_path = root / kept["file_path"]
    os.utime(kept_path, (kept_path.stat().st_atime - old, kept_path.stat().st_mtime - old))
    env = {"QUALGENT_DATABASE_URL": db_url, "QUALGENT_BLOB_DIR": str(root)}
    out = _qualgent(env, "admin", "gc-blobs", "--older-than-hours", "1", "--json")
    assert out.returncode == 0, out.stderr
    assert sorted(json.loads(out.stdout)["removed"]) == sorted(
        p.relative_to(root).as_posix() for p in (orphan, staging))
    assert kept_path.exists() and fresh.exists()
    assert not orphan.exists() and not staging.exists()
    with httpx.stream("GET", org.http.get(f"/v1/apps/{kept['id']}").json()["file"]["link"]) as r:
        assert r.status_code == 200


def test_demo_build_writes_uploadable_builds(org: Org, tmp_path: Path) -> None:
    for platform, ext, os_name in (("android", "apk", "Android"), ("ios", "ipa", "iOS")):
        out = tmp_path / f"demo.{ext}"
        done = _qualgent({}, "demo-build", "--platform", platform, "-o", str(out))
        assert done.returncode == 0, done.stderr
        with out.open("rb") as fh:
            r = org.http.post("/v1/apps/upload", files={"file": (out.name, fh)},
                              data={"app_name": "Demo Shop", "version": "1.0.0"})
        f = r.json()["file"]
        assert (f["package_name"], f["label"], f["os"]) == ("com.qualgent.demo", "Demo Shop",
                                                             os_name)
