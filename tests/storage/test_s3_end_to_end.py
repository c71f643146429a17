"""The API server, a worker and the admin commands on the S3 store (a moto server on
loopback): large builds go up in 8 MB parts and come back by their signed links, refused
builds leave nothing, and the orphan sweep and retention work as they do on disk."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from qualgent.storage.s3 import S3BlobStore
from tests.api.test_auth_and_errors import _error
from tests.conftest import FIXTURE_APK, Db, Org, Server, start_server
from tests.demo import SIGN_IN_QUOTED
from tests.serve import qualgent_command
from tests.storage.test_blob_store_contract import Moto, moto_server  # noqa: F401 - fixture
from tests.worker.conftest import run_case, wait_terminal

PART = 8 << 20
S3_ENV = {"QUALGENT_S3_REGION": "us-east-1", "QUALGENT_S3_ACCESS_KEY_ID": "testing",
          "QUALGENT_S3_SECRET_ACCESS_KEY": "testing"}


@pytest.fixture
def bucket(moto_server: Moto) -> str:  # noqa: F811
    return moto_server.bucket()


@pytest.fixture
def server(db_url: str, tmp_path: Path, moto_server: Moto, bucket: str,  # noqa: F811
           monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    """The API on s3://bucket/install; workers and admin commands started by the test get the
    same storage through the environment (and nothing else: no shared directory)."""
    env = {"QUALGENT_STORAGE_URL": f"s3://{bucket}/install",
           "QUALGENT_S3_ENDPOINT_URL": moto_server.endpoint, **S3_ENV}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    srv = start_server(db_url, tmp_path / "data", storage_url=env["QUALGENT_STORAGE_URL"],
                       s3_endpoint_url=moto_server.endpoint, s3_region="us-east-1",
                       s3_access_key_id="testing", s3_secret_access_key="testing")
    yield srv
    srv.stop()


@pytest.fixture
def store(moto_server: Moto, bucket: str) -> S3BlobStore:  # noqa: F811
    return moto_server.store(bucket, "install")


def _multipart_etag(data: bytes) -> str:
    """The ETag S3 gives an object completed from `data` cut into 8 MB parts."""
    digests = [hashlib.md5(data[i:i + PART]).digest() for i in range(0, len(data), PART)]
    return f'"{hashlib.md5(b"".join(digests)).hexdigest()}-{len(digests)}"'


def test_large_build_goes_up_in_8_mb_parts_and_comes_back(
    org: Org, server: Server, store: S3BlobStore, moto_server: Moto,  # noqa: F811
    tmp_path: Path, bucket: str,
) -> None:
    big = tmp_path / "big.apk"
    big.write_bytes(FIXTURE_APK.read_bytes())
    with zipfile.ZipFile(big, "a", compression=zipfile.ZIP_STORED) as z:
        z.writestr("assets/blob.bin", os.urandom(40 << 20))
    data = big.read_bytes()
    with big.open("rb") as fh:
        r = org.http.post("/v1/apps/upload", files={"file": ("big.apk", fh)},
                          data={"app_name": "Big", "version": "2"})
    assert r.status_code == 200, r.text
    f = r.json()["file"]
    assert f["file_size"] == len(data) and f["package_name"] == "io.appium.settings"
    assert not (server.settings.blob_root).exists() or not any(
        server.settings.blob_root.rglob("*.apk")), "stored on local disk, not in S3"

    assert [k for k, _ in store.list()] == [f["file_path"]]
    head = moto_server.client.head_object(Bucket=bucket, Key=f"install/{f['file_path']}")
    assert head["ETag"] == _multipart_etag(data)  # 6 parts of 8 MB (the last shorter)
    assert head["ContentLength"] == len(data)

    digest = hashlib.sha256()
    with httpx.stream("GET", f["link"]) as resp:
        assert resp.status_code == 200
        for chunk in resp.iter_bytes():
            digest.update(chunk)
    assert digest.hexdigest() == hashlib.sha256(data).hexdigest()
    # The store's own 5-minute link serves the same bytes.
    assert httpx.get(store.presigned_url(f["file_path"])).content == data


def test_refused_builds_leave_nothing_in_the_bucket(
    org: Org, db: Db, store: S3BlobStore, moto_server: Moto, bucket: str,  # noqa: F811
) -> None:
    def up(name: str, content: bytes) -> httpx.Response:
        return org.http.post("/v1/apps/upload", files={"file": (name, content)},
                             data={"app_name": "X", "version": "1"})

    _error(up("app.apk", b"definitely not a zip"), 422, "invalid_build")
    _error(up("app.apk", os.urandom(40 << 20)), 422, "invalid_build")  # multipart, aborted
    _error(up("app.ipa", FIXTURE_APK.read_bytes()), 422, "invalid_build")
    assert list(store.list()) == []
    assert moto_server.client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert moto_server.client.list_objects_v2(Bucket=bucket).get("KeyCount") == 0
    assert db.scalar("SELECT count(*) FROM app_files WHERE organization_id=$1::uuid",
                     org.id) == 0


def _admin(db_url: str, server: Server, *args: str, **env: str) -> dict:
    out = subprocess.run(
        [*qualgent_command(), "admin", *args, "--json"], capture_output=True, text=True,
        timeout=120,
        env={**os.environ, "QUALGENT_DATABASE_URL": db_url,
             "QUALGENT_DATA_DIR": str(server.settings.data_dir), **env})
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_sweep_and_retention_on_s3(
    org: Org, db_url: str, server: Server, store: S3BlobStore, demo_host: None,
    moto_server: Moto, bucket: str,  # noqa: F811
) -> None:
    run_id = run_case(org, [*SIGN_IN_QUOTED, 'Verify "Home" is shown'])
    assert wait_terminal(org, [run_id])[run_id]["status"] == "passed"
    steps = org.http.get(f"/v1/jobs/{run_id}/steps").json()["steps"]
    shots = [s["screenshot_url"] for s in steps]
    assert shots and all(shots)
    # The worker (another process, given only the database and storage URLs) wrote them.
    stored = [k for k, _ in store.list(f"screenshots/{run_id}/")]
    assert len(stored) == len(shots)

    # What a crashed upload leaves (a build no record names, an unfinished multipart upload),
    # and an object that is not ours.
    orphan = f"{org.id}/{uuid.uuid4()}.apk"
    store.put(orphan, b"PK")
    unfinished = store.begin_multipart(f"{org.id}/{uuid.uuid4()}.apk")
    unfinished.write_part(b"PK" * 1000)
    store.put("README.txt", b"operator's note")
    time.sleep(1.1)  # the sweep takes only what is older than now

    swept = _admin(db_url, server, "gc-blobs", "--older-than-hours", "0")
    assert orphan in swept["removed"] and len(swept["removed"]) == 2
    staging = next(k for k in swept["removed"] if k != orphan)
    assert staging.endswith(".part")
    assert moto_server.client.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert store.exists("README.txt") and not store.exists(orphan)
    with httpx.Client(timeout=30) as c:
        assert all(c.get(url).status_code == 200 for url in shots)
        app = org.http.get("/v1/apps/latest").json()["file"]
        link = org.http.get(f"/v1/apps/{app['id']}").json()["file"]["link"]
        assert c.get(link).status_code == 200

    pruned = _admin(db_url, server, "prune", QUALGENT_RETENTION_DAYS="0")
    assert pruned == {"runs": 1, "blobs": len(shots) + 1, "retention_days": 0.0}
    assert list(store.list(f"screenshots/{run_id}/")) == []
    assert list(store.list(f"logs/{run_id}/")) == []
    with httpx.Client(timeout=30) as c:
        assert all(c.get(url).status_code == 404 for url in shots)
    assert store.exists(app["file_path"]) and store.exists("README.txt")
