"""The blob store interface and the local-directory implementation.

The interface mirrors an S3-style object store (single put, or a multipart upload of segments
that becomes visible only on complete) so an S3 implementation can slot in. Writes are
atomic: a reader never sees a half-written object, and an aborted upload leaves nothing.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol


class MultipartWrite(Protocol):
    def write_part(self, data: bytes | bytearray | memoryview) -> None: ...
    def complete(self) -> None: ...
    def abort(self) -> None: ...


class BlobStore(Protocol):
    def put(self, key: str, data: bytes | bytearray | memoryview) -> None: ...
    def begin_multipart(self, key: str) -> MultipartWrite: ...
    def open(self, key: str) -> BinaryIO:
        """A seekable reader (zip inspection reads only the central directory)."""
        ...
    def iter_bytes(self, key: str, chunk_size: int = 1 << 20) -> Iterator[bytes]: ...
    def size(self, key: str) -> int: ...
    def exists(self, key: str) -> bool: ...
    def delete(self, key: str) -> None: ...
    def list(self, prefix: str = "") -> Iterator[tuple[str, float]]:
        """Every stored object and unfinished upload under prefix, as (key, last-modified
        epoch)."""
        ...


class LocalBlobStore:
    """Objects are files under root; writes go to a temp file renamed into place."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise ValueError(f"blob key escapes the store: {key!r}")
        return path

    def _staging(self, key: str) -> tuple[Path, Path]:
        final = self._path(key)
        final.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        return final, final.with_name(f".{final.name}.{uuid.uuid4().hex}.part")

    def put(self, key: str, data: bytes | bytearray | memoryview) -> None:
        upload = self.begin_multipart(key)
        try:
            upload.write_part(data)
            upload.complete()
        except BaseException:
            upload.abort()
            raise

    def begin_multipart(self, key: str) -> _LocalMultipart:
        final, staging = self._staging(key)
        return _LocalMultipart(final, staging)

    def open(self, key: str) -> BinaryIO:
        return open(self._path(key), "rb")

    def iter_bytes(self, key: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        with self.open(key) as fh:
            while chunk := fh.read(chunk_size):
                yield chunk

    def size(self, key: str) -> int:
        return self._path(key).stat().st_size

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def delete(self, key: str) -> None:
        self._path(key).unlink(missing_ok=True)

    def list(self, prefix: str = "") -> Iterator[tuple[str, float]]:
        directory, _, _ = prefix.rpartition("/")
        top = self._path(directory) if directory else self.root
        if not top.is_dir():
            return
        for path in top.rglob("*"):
            key = path.relative_to(self.root).as_posix()
            if key.startswith(prefix) and path.is_file():
                yield key, path.stat().st_mtime


class _LocalMultipart:
    """Segments are appended to one hidden staging file; complete() renames it into place."""

    def __init__(self, final: Path, staging: Path) -> None:
        self._final = final
        self._staging = staging
        # Owner-only: builds are customers' unreleased apps, screenshots their screens.
        fd = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._fh: BinaryIO | None = os.fdopen(fd, "wb")

    def write_part(self, data: bytes | bytearray | memoryview) -> None:
        assert self._fh is not None, "upload already finished"
        self._fh.write(data)

    def complete(self) -> None:
        assert self._fh is not None, "upload already finished"
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        self._fh = None
        os.replace(self._staging, self._final)

    def abort(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        self._staging.unlink(missing_ok=True)
