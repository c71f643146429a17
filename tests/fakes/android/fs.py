"""``FakeFs``: the fake device's file system, shared by its sync service (push, pull, stat,
list) and its shell (cat, rm, screencap -p to a file, ...).

Paths are absolute POSIX paths; directories exist explicitly or as the parents of files (a
push creates missing parents, as adbd does). Thread-safe: the transport serves every stream
in its own thread.
"""

from __future__ import annotations

import posixpath
import stat
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

DIR_MODE = stat.S_IFDIR | 0o771
DEFAULT_DIRS = ("/", "/data", "/data/local", "/data/local/tmp", "/sdcard", "/sdcard/Download",
                "/storage", "/storage/emulated", "/storage/emulated/0", "/system",
                "/system/bin")


@dataclass(frozen=True)
class FsEntry:
    """What ``stat`` reports: the full st_mode (type bits included), size and mtime."""

    mode: int
    size: int
    mtime: int

    @property
    def is_dir(self) -> bool:
        return stat.S_ISDIR(self.mode)


def normalize(path: str) -> str:
    """The canonical absolute form of `path`; ValueError for a relative or empty one."""
    if not path.startswith("/"):
        raise ValueError(f"not an absolute device path: {path!r}")
    return posixpath.normpath(path).replace("//", "/")


class FakeFs:
    """A dict of path -> bytes, with a mode and an mtime per file, and directories."""

    def __init__(self, files: Mapping[str, bytes] | None = None) -> None:
        self._lock = threading.RLock()
        self._files: dict[str, tuple[bytes, int, int]] = {}  # path -> (data, mode, mtime)
        self._dirs: dict[str, int] = {}  # path -> mtime
        for path in DEFAULT_DIRS:
            self.mkdir(path)
        for path, data in (files or {}).items():
            self.write(path, data)

    # ---------------------------------------------------------------- files

    def write(self, path: str, data: bytes, mode: int = 0o644, mtime: int | None = None) -> None:
        """Create or replace a file (permission bits `mode`), creating its parents; raises
        IsADirectoryError when `path` is a directory, NotADirectoryError when a parent is a
        file."""
        path = normalize(path)
        with self._lock:
            if path in self._dirs:
                raise IsADirectoryError(path)
            self.mkdir(posixpath.dirname(path))
            stamp = int(time.time()) if mtime is None else int(mtime)
            self._files[path] = (bytes(data), stat.S_IFREG | (mode & 0o7777), stamp)

    def append(self, path: str, data: bytes) -> None:
        """Append to a file, creating it if needed (a shell's ``>>``)."""
        path = normalize(path)
        with self._lock:
            old, mode, _ = self._files.get(path, (b"", stat.S_IFREG | 0o644, 0))
            self.write(path, old + bytes(data), mode)

    def read(self, path: str) -> bytes:
        """The file's bytes; FileNotFoundError or IsADirectoryError."""
        path = normalize(path)
        with self._lock:
            if path in self._files:
                return self._files[path][0]
            if path in self._dirs:
                raise IsADirectoryError(path)
            raise FileNotFoundError(path)

    def remove(self, path: str) -> bool:
        """Remove a file or an empty directory; False when there was nothing to remove.
        OSError for a directory that is not empty."""
        path = normalize(path)
        with self._lock:
            if self._files.pop(path, None) is not None:
                return True
            if path in self._dirs:
                if self.listdir(path):
                    raise OSError(f"directory not empty: {path}")
                del self._dirs[path]
                return True
            return False

    # ---------------------------------------------------------- directories

    def mkdir(self, path: str) -> None:
        """Create a directory and its parents (``mkdir -p``)."""
        path = normalize(path)
        with self._lock:
            if path in self._files:
                raise NotADirectoryError(path)
            if path in self._dirs:
                return
            if path != "/":
                self.mkdir(posixpath.dirname(path))
            self._dirs[path] = int(time.time())

    def listdir(self, path: str) -> list[tuple[str, FsEntry]]:
        """The entries right under a directory, sorted by name (no "." or "..")."""
        path = normalize(path)
        with self._lock:
            if path in self._files:
                raise NotADirectoryError(path)
            if path not in self._dirs:
                raise FileNotFoundError(path)
            children = [p for p in (*self._dirs, *self._files)
                        if p != "/" and posixpath.dirname(p) == path]
            return sorted((posixpath.basename(p), self._stat(p)) for p in children)

    # ------------------------------------------------------------- queries

    def stat(self, path: str) -> FsEntry | None:
        """The entry at `path`, None when nothing is there."""
        path = normalize(path)
        with self._lock:
            return self._stat(path)

    def _stat(self, path: str) -> FsEntry | None:
        if path in self._files:
            data, mode, mtime = self._files[path]
            return FsEntry(mode, len(data), mtime)
        if path in self._dirs:
            return FsEntry(DIR_MODE, 4096, self._dirs[path])
        return None

    def exists(self, path: str) -> bool:
        return self.stat(path) is not None

    def files(self) -> dict[str, bytes]:
        """A snapshot of every file's content."""
        with self._lock:
            return {path: data for path, (data, _, _) in self._files.items()}

    # ------------------------------------------------------ mapping sugar

    def __getitem__(self, path: str) -> bytes:
        try:
            return self.read(path)
        except (FileNotFoundError, IsADirectoryError) as exc:
            raise KeyError(path) from exc

    def __setitem__(self, path: str, data: bytes) -> None:
        self.write(path, data)

    def __delitem__(self, path: str) -> None:
        if not self.remove(path):
            raise KeyError(path)

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and path.startswith("/") and self.exists(path)

    def __iter__(self) -> Iterator[str]:
        return iter(self.files())
