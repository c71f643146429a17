"""The blob store on an S3-compatible server (AWS S3, MinIO, Ceph, ...), through boto3.

Every object lives under the store's prefix (s3://bucket/prefix), so one bucket can hold
several installations. Large builds arrive as S3 multipart uploads: nothing is visible until
complete(), and abort() leaves nothing. An unfinished upload (a process that died mid-upload)
is listed under a staging-shaped key, `<dir>/.<name>.<hex>.part` as keys.py describes, so the
orphan sweep (storage.gc) finds it and delete() aborts it, exactly as it removes a local
staging file.
"""

from __future__ import annotations

import errno
import hashlib
import io
import re
from collections.abc import Iterator
from typing import Any, BinaryIO

# A ranged GET fetches at least this much: a zip's central directory and the entries the
# inspection opens usually arrive in one request each.
READ_AHEAD = 256 * 1024
_MISSING = {"404", "NoSuchKey", "NotFound"}
_STAGING = re.compile(r"((?:.*/)?)\.([^/]+)\.([0-9a-f]{32})\.part")


def _missing(exc: Exception) -> bool:
    from botocore.exceptions import ClientError

    return isinstance(exc, ClientError) and str(
        exc.response.get("Error", {}).get("Code")) in _MISSING


def _upload_tag(upload_id: str) -> str:
    """The 32 hex digits an unfinished upload is listed under (upload ids are not hex)."""
    return hashlib.sha256(upload_id.encode()).hexdigest()[:32]


def parse_url(url: str) -> tuple[str, str]:
    """(bucket, prefix) of s3://bucket/prefix; ValueError for anything else."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"QUALGENT_STORAGE_URL must look like s3://bucket/prefix, not {url!r}")
    return parts.netloc, parts.path.strip("/")


class S3BlobStore:
    """Keys are stored as `<prefix>/<key>`; nothing outside the prefix is read or listed."""

    def __init__(self, bucket: str, prefix: str = "", *, client: Any = None,
                 endpoint_url: str | None = None, region: str | None = None,
                 access_key_id: str | None = None,
                 secret_access_key: str | None = None) -> None:
        self.bucket = bucket
        prefix = prefix.strip("/")
        self.prefix = f"{prefix}/" if prefix else ""
        if client is None:
            import boto3
            from botocore.config import Config

            # Path-style addressing when an endpoint is given: S3-compatible servers on a
            # host name of their own rarely serve bucket subdomains.
            config = Config(signature_version="s3v4", retries={"mode": "standard"},
                            s3={"addressing_style": "path" if endpoint_url else "auto"})
            client = boto3.client("s3", endpoint_url=endpoint_url, region_name=region,
                                  aws_access_key_id=access_key_id,
                                  aws_secret_access_key=secret_access_key, config=config)
        self.client = client

    @classmethod
    def from_settings(cls, settings: Any) -> S3BlobStore:
        bucket, prefix = parse_url(settings.storage_url)
        secret = settings.s3_secret_access_key
        return cls(bucket, prefix, endpoint_url=settings.s3_endpoint_url,
                   region=settings.s3_region, access_key_id=settings.s3_access_key_id,
                   secret_access_key=secret.get_secret_value() if secret else None)

    def _key(self, key: str) -> str:
        if not key or key.startswith("/") or any(p in ("", ".", "..") for p in key.split("/")):
            raise ValueError(f"blob key escapes the store: {key!r}")
        return self.prefix + key

    def put(self, key: str, data: bytes | bytearray | memoryview) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=bytes(data))

    def begin_multipart(self, key: str) -> S3Multipart:
        full = self._key(key)
        made = self.client.create_multipart_upload(Bucket=self.bucket, Key=full)
        return S3Multipart(self.client, self.bucket, full, made["UploadId"])

    def open(self, key: str) -> BinaryIO:
        full = self._key(key)
        return RangeReader(self.client, self.bucket, full, self._size(full))  # type: ignore[return-value]

    def iter_bytes(self, key: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
        except Exception as exc:
            if _missing(exc):
                raise FileNotFoundError(key) from exc
            raise
        try:
            yield from body.iter_chunks(chunk_size)
        finally:
            body.close()

    def _size(self, full: str) -> int:
        try:
            return int(self.client.head_object(Bucket=self.bucket, Key=full)["ContentLength"])
        except Exception as exc:
            if _missing(exc):
                raise FileNotFoundError(full) from exc
            raise

    def size(self, key: str) -> int:
        return self._size(self._key(key))

    def exists(self, key: str) -> bool:
        try:
            self.size(key)
        except FileNotFoundError:
            return False
        return True

    def delete(self, key: str) -> None:
        full = self._key(key)
        if m := _STAGING.fullmatch(key):  # an unfinished upload, as list() names it
            target = self._key(m.group(1) + m.group(2))
            for upload in self._uploads(target):
                if upload["Key"] == target and _upload_tag(upload["UploadId"]) == m.group(3):
                    self._abort(target, upload["UploadId"])
        self.client.delete_object(Bucket=self.bucket, Key=full)

    def _abort(self, full: str, upload_id: str) -> None:
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=full, UploadId=upload_id)
        except Exception as exc:
            if not _missing(exc) and "NoSuchUpload" not in str(exc):
                raise

    def _uploads(self, full_prefix: str) -> Iterator[dict]:
        pages = self.client.get_paginator("list_multipart_uploads").paginate(
            Bucket=self.bucket, Prefix=full_prefix)
        for page in pages:
            yield from page.get("Uploads", [])

    def list(self, prefix: str = "") -> Iterator[tuple[str, float]]:
        strip = len(self.prefix)
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=self.prefix + prefix)
        for page in pages:
            for obj in page.get("Contents", []):
                yield obj["Key"][strip:], obj["LastModified"].timestamp()
        # Unfinished uploads under prefix, named as a local staging file would be.
        for upload in self._uploads(self.prefix + prefix):
            directory, _, name = upload["Key"][strip:].rpartition("/")
            folder = f"{directory}/" if directory else ""
            staged = f"{folder}.{name}.{_upload_tag(upload['UploadId'])}.part"
            if staged.startswith(prefix):
                yield staged, self._upload_modified(upload)

    def _upload_modified(self, upload: dict) -> float:
        """When an unfinished upload last grew: its latest part, else its start. (A local
        staging file's mtime moves with each write the same way, so a slow upload that is
        still sending parts is never swept.)"""
        latest = upload["Initiated"].timestamp()
        pages = self.client.get_paginator("list_parts").paginate(
            Bucket=self.bucket, Key=upload["Key"], UploadId=upload["UploadId"])
        try:
            for page in pages:
                for part in page.get("Parts", []):
                    latest = max(latest, part["LastModified"].timestamp())
        except Exception as exc:  # completed or aborted meanwhile
            if "NoSuchUpload" not in str(exc):
                raise
        return latest

    def presigned_url(self, key: str, seconds: int = 300, *, filename: str | None = None,
                      content_type: str | None = None) -> str:
        """A GET link to the object itself, valid `seconds`, for clients that can reach the
        S3 endpoint directly."""
        params = {"Bucket": self.bucket, "Key": self._key(key)}
        if filename:
            params["ResponseContentDisposition"] = f'attachment; filename="{filename}"'
        if content_type:
            params["ResponseContentType"] = content_type
        return self.client.generate_presigned_url("get_object", Params=params,
                                                  ExpiresIn=seconds)


class S3Multipart:
    """One S3 multipart upload: every part but the last must be 5 MB or more (the upload
    writer sends 8 MB segments)."""

    def __init__(self, client: Any, bucket: str, key: str, upload_id: str) -> None:
        self.client, self.bucket, self.key, self.upload_id = client, bucket, key, upload_id
        self.parts: list[dict] = []
        self.finished = False

    def write_part(self, data: bytes | bytearray | memoryview) -> None:
        assert not self.finished, "upload already finished"
        number = len(self.parts) + 1
        made = self.client.upload_part(Bucket=self.bucket, Key=self.key,
                                       UploadId=self.upload_id, PartNumber=number,
                                       Body=bytes(data))
        self.parts.append({"PartNumber": number, "ETag": made["ETag"]})

    def complete(self) -> None:
        assert not self.finished, "upload already finished"
        if not self.parts:  # S3 completes no upload without a part
            self.write_part(b"")
        self.client.complete_multipart_upload(
            Bucket=self.bucket, Key=self.key, UploadId=self.upload_id,
            MultipartUpload={"Parts": self.parts})
        self.finished = True

    def abort(self) -> None:
        if self.finished:
            return
        self.finished = True
        try:
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=self.key,
                                               UploadId=self.upload_id)
        except Exception as exc:
            if "NoSuchUpload" not in str(exc):
                raise


class RangeReader(io.RawIOBase):
    """A seekable reader over one object: each miss is one ranged GET of at least READ_AHEAD
    bytes, so reading a zip's central directory does not download the whole build.
    `fetched` counts the bytes transferred."""

    def __init__(self, client: Any, bucket: str, key: str, size: int,
                 read_ahead: int = READ_AHEAD) -> None:
        self.client, self.bucket, self.key, self.length = client, bucket, key, size
        self.read_ahead = read_ahead
        self.pos = 0
        self.buf, self.buf_start = b"", 0
        self.fetched = 0
        self.requests = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.pos, io.SEEK_END: self.length}[whence]
        if base + offset < 0:
            # As a file does: zipfile probes small files this way and expects OSError.
            raise OSError(errno.EINVAL, "Invalid argument: negative seek position")
        self.pos = base + offset
        return self.pos

    def _get(self, start: int, end: int) -> bytes:
        """Bytes [start, end) of the object."""
        body = self.client.get_object(Bucket=self.bucket, Key=self.key,
                                      Range=f"bytes={start}-{end - 1}")["Body"]
        try:
            data = body.read()
        finally:
            body.close()
        self.fetched += len(data)
        self.requests += 1
        return data

    def readinto(self, b: Any) -> int:
        want = min(len(b), self.length - self.pos)
        if want <= 0:
            return 0
        offset = self.pos - self.buf_start
        if not (0 <= offset and offset + want <= len(self.buf)):
            self.buf_start = self.pos
            self.buf = self._get(self.pos, min(self.length, self.pos + max(want,
                                                                          self.read_ahead)))
            offset = 0
        data = self.buf[offset:offset + want]
        b[:len(data)] = data
        self.pos += len(data)
        return len(data)

    def readall(self) -> bytes:
        if self.pos >= self.length:
            return b""
        start = self.pos
        offset = start - self.buf_start
        if 0 <= offset and offset < len(self.buf) and self.buf_start + len(self.buf) == self.length:
            data = self.buf[offset:]
        else:
            data = self._get(start, self.length)
        self.pos = self.length
        return data
