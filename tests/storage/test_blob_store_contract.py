"""One storage suite, run against the local directory store and the S3 store on a real
S3-compatible server (moto's standalone server, on loopback): both must behave the same for
everything the uploads, downloads, sweeps and retention rely on."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import boto3
import httpx
import pytest

from qualgent.storage import keys
from qualgent.storage.blobs import BlobStore, LocalBlobStore
from qualgent.storage.s3 import S3BlobStore

MB = 1 << 20
CREDENTIALS = {"region_name": "us-east-1", "aws_access_key_id": "testing",
               "aws_secret_access_key": "testing"}


class Moto:
    """A moto standalone server process on a loopback port."""

    def __init__(self, endpoint: str, proc: subprocess.Popen) -> None:
        self.endpoint, self.proc = endpoint, proc
        self.client = boto3.client("s3", endpoint_url=endpoint, **CREDENTIALS)

    def bucket(self) -> str:
        name = f"qg-{uuid.uuid4().hex[:16]}"
        self.client.create_bucket(Bucket=name)
        return name

    def store(self, bucket: str, prefix: str) -> S3BlobStore:
        return S3BlobStore(bucket, prefix, endpoint_url=self.endpoint, region="us-east-1",
                           access_key_id="testing", secret_access_key="testing")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Moto]:
    port = _free_port()
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1",
                             "-p", str(port)], stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "AWS_DEFAULT_REGION": "us-east-1"})
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{endpoint}/moto-api/", timeout=1)
            break
        except httpx.TransportError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"moto server did not start (see {log.name})") from None
            time.sleep(0.1)
    yield Moto(endpoint, proc)
    proc.terminate()
    proc.wait(10)
    log.close()


# make(prefix): a store of the parametrized kind; stores with different prefixes share one
# backing (one parent directory, or one bucket).
MakeStore = Callable[[str], BlobStore]


@pytest.fixture(params=["local", "s3"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> MakeStore:
    if request.param == "local":
        return lambda prefix: LocalBlobStore(tmp_path / "blobs" / prefix)
    moto: Moto = request.getfixturevalue("moto_server")
    bucket = moto.bucket()
    return lambda prefix: moto.store(bucket, prefix)


@pytest.fixture
def store(make_store: MakeStore) -> BlobStore:
    return make_store("install/one")


def test_put_read_size_exists_delete(store: BlobStore) -> None:
    data = os.urandom(3000)
    assert not store.exists("a.bin")
    store.put("a.bin", data)
    assert store.exists("a.bin") and store.size("a.bin") == 3000
    with store.open("a.bin") as fh:
        assert fh.read() == data
    store.put("a.bin", memoryview(b"replaced"))
    assert b"".join(store.iter_bytes("a.bin")) == b"replaced"
    store.put("empty", b"")
    assert store.size("empty") == 0 and b"".join(store.iter_bytes("empty")) == b""
    store.delete("a.bin")
    assert not store.exists("a.bin")
    store.delete("a.bin")  # deleting what is gone is not an error
    with pytest.raises(FileNotFoundError):
        store.size("a.bin")
    with pytest.raises(FileNotFoundError):
        store.open("a.bin")


def test_keys_cannot_escape_the_store(store: BlobStore) -> None:
    for bad in ("../x", "a/../../x"):
        with pytest.raises(ValueError, match="escapes"):
            store.put(bad, b"x")


def test_list_nested_prefixes_with_modification_times(store: BlobStore) -> None:
    before = time.time()
    for key in ("a/b/c/d.bin", "a/b/e.bin", "a/x.bin", "top.bin"):
        store.put(key, key.encode())
    listed = dict(store.list())
    assert sorted(listed) == ["a/b/c/d.bin", "a/b/e.bin", "a/x.bin", "top.bin"]
    assert all(before - 5 <= t <= time.time() + 5 for t in listed.values())
    assert sorted(k for k, _ in store.list("a/b/")) == ["a/b/c/d.bin", "a/b/e.bin"]
    assert [k for k, _ in store.list("a/b/c/")] == ["a/b/c/d.bin"]
    assert list(store.list("nothing/")) == []
    assert b"".join(store.iter_bytes("a/b/c/d.bin")) == b"a/b/c/d.bin"


def test_prefix_isolation(make_store: MakeStore) -> None:
    one, sibling, nested = make_store("tenant"), make_store("tenant2"), make_store("tenant/x")
    one.put("k.bin", b"one")
    sibling.put("k.bin", b"two")
    assert b"".join(one.iter_bytes("k.bin")) == b"one"
    assert b"".join(sibling.iter_bytes("k.bin")) == b"two"
    assert [k for k, _ in one.list()] == ["k.bin"]
    assert [k for k, _ in sibling.list()] == ["k.bin"]
    assert list(nested.list()) == [] and not nested.exists("k.bin")
    sibling.delete("k.bin")
    assert one.exists("k.bin")


def test_multipart_complete(store: BlobStore) -> None:
    parts = [os.urandom(8 * MB), os.urandom(8 * MB), os.urandom(MB + 7)]
    upload = store.begin_multipart("org/build.apk")
    for part in parts:
        upload.write_part(memoryview(part))
        assert not store.exists("org/build.apk"), "visible before complete()"
    upload.complete()
    whole = b"".join(parts)
    assert store.size("org/build.apk") == len(whole)
    assert b"".join(store.iter_bytes("org/build.apk")) == whole
    assert [k for k, _ in store.list()] == ["org/build.apk"]


def test_multipart_abort_leaves_nothing(store: BlobStore) -> None:
    upload = store.begin_multipart("org/build.apk")
    upload.write_part(os.urandom(8 * MB))
    upload.abort()
    assert list(store.list()) == [] and not store.exists("org/build.apk")
    upload.abort()  # twice is harmless (a failure handler may run after an abort)


def test_unfinished_upload_is_listed_as_staging_and_delete_removes_it(
    store: BlobStore
) -> None:
    store.put("org/other.apk", b"kept")
    upload = store.begin_multipart("org/build.apk")
    upload.write_part(os.urandom(6 * MB))
    staged = [(k, t) for k, t in store.list("org/") if k != "org/other.apk"]
    assert len(staged) == 1, staged
    key, modified = staged[0]
    assert key.startswith("org/.build.apk.") and key.endswith(".part")
    assert keys.parse(key) == keys.ParsedKey(keys.BlobKind.STAGING)
    assert abs(modified - time.time()) < 60
    assert key in dict(store.list())
    store.delete(key)  # what the orphan sweep does
    assert [k for k, _ in store.list()] == ["org/other.apk"]
    upload.abort()
    assert [k for k, _ in store.list()] == ["org/other.apk"]


def test_open_seeks_and_reads_parts(store: BlobStore) -> None:
    data = os.urandom(600_000)
    store.put("blob", data)
    with store.open("blob") as fh:
        assert fh.seekable()
        assert fh.read(10) == data[:10] and fh.tell() == 10
        fh.seek(-100, io.SEEK_END)
        assert fh.read() == data[-100:]
        assert fh.read(5) == b""
        fh.seek(300_000)
        assert fh.read(400_000) == data[300_000:]  # spans past the read-ahead, clipped at end
        fh.seek(5)
        fh.seek(20, io.SEEK_CUR)
        assert fh.read(1000) == data[25:1025]
        fh.seek(599_990)
        assert fh.read(50) == data[599_990:]
        with pytest.raises(OSError):  # as a file does (zipfile relies on it)
            fh.seek(-600_001, io.SEEK_END)


def test_small_non_zip_is_refused_by_zipfile(store: BlobStore) -> None:
    store.put("tiny.apk", b"not a zip")
    with store.open("tiny.apk") as fh, pytest.raises(zipfile.BadZipFile):
        zipfile.ZipFile(fh)


def test_iter_bytes_chunks(store: BlobStore) -> None:
    data = os.urandom(2 * MB + 3)
    store.put("blob", data)
    chunks = list(store.iter_bytes("blob", chunk_size=MB // 2))
    assert b"".join(chunks) == data
    assert len(chunks) >= 5 and all(len(c) <= MB // 2 for c in chunks)


def _zip(big: int) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as z:
        z.writestr("classes.dex", os.urandom(big))
        z.writestr("AndroidManifest.xml", b"<manifest/>")
    return out.getvalue()


def test_zip_inspection_through_open(store: BlobStore) -> None:
    store.put("org/app.apk", _zip(MB))
    with store.open("org/app.apk") as fh, zipfile.ZipFile(fh) as z:
        assert z.namelist() == ["classes.dex", "AndroidManifest.xml"]
        assert z.read("AndroidManifest.xml") == b"<manifest/>"


def test_s3_zip_inspection_reads_only_what_it_needs(moto_server: Moto) -> None:
    store = moto_server.store(moto_server.bucket(), "p")
    store.put("org/app.apk", _zip(8 * MB))
    with store.open("org/app.apk") as fh, zipfile.ZipFile(fh) as z:
        assert z.read("AndroidManifest.xml") == b"<manifest/>"
        assert fh.fetched < MB and fh.requests <= 4, (fh.fetched, fh.requests)


def test_s3_presigned_url_expires(moto_server: Moto) -> None:
    store = moto_server.store(moto_server.bucket(), "p")
    store.put("logs/x.txt", b"hello")
    url = store.presigned_url("logs/x.txt", filename="x.txt")
    r = httpx.get(url)
    assert r.status_code == 200 and r.content == b"hello"
    assert "x.txt" in r.headers["content-disposition"]
    assert parse_qs(urlsplit(url).query)["X-Amz-Expires"] == ["300"]  # 5 minutes by default
    tampered = url.replace("logs/x.txt", "logs/y.txt")
    assert httpx.get(tampered).status_code == 403
    # (moto does not enforce expiry, so the lifetime is checked in the signed query only)
    short = store.presigned_url("logs/x.txt", seconds=30)
    assert parse_qs(urlsplit(short).query)["X-Amz-Expires"] == ["30"]


def test_storage_url_chooses_the_store(moto_server: Moto, tmp_path: Path) -> None:
    from qualgent.config import Settings
    from qualgent.runtime import blob_store

    bucket = moto_server.bucket()
    chosen = blob_store(Settings(data_dir=tmp_path, storage_url=f"s3://{bucket}/a/b/",
                                 s3_endpoint_url=moto_server.endpoint, s3_region="us-east-1",
                                 s3_access_key_id="testing", s3_secret_access_key="testing"))
    assert isinstance(chosen, S3BlobStore) and chosen.prefix == "a/b/"
    chosen.put("k", b"v")
    assert moto_server.client.get_object(Bucket=bucket, Key="a/b/k")["Body"].read() == b"v"
    assert isinstance(blob_store(Settings(data_dir=tmp_path)), LocalBlobStore)
    for bad in ("gs://bucket/x", "/srv/blobs", "s3:///no-bucket"):
        with pytest.raises(ValueError, match="s3://bucket/prefix"):
            blob_store(Settings(data_dir=tmp_path, storage_url=bad))
