"""`qualgent serve` with N uvicorn worker processes (serve itself has no --workers option).

Used by status_load.py --server-workers N>1. Does what `qualgent serve` does (resolve the
database URL, starting the embedded PostgreSQL if needed, migrate, run create_app under
uvicorn with the same log level), but hands uvicorn an app factory so it can fork workers.
The parent keeps the embedded PostgreSQL alive; the workers connect to its URL.
"""

from __future__ import annotations

import argparse
import logging
import os


def factory():
    from qualgent.api.app import create_app
    from qualgent.config import Settings

    return create_app(Settings(), os.environ["QUALGENT_DATABASE_URL"])


def main() -> None:
    import uvicorn

    from qualgent.cli import _ready_url
    from qualgent.config import Settings

    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    os.environ["QUALGENT_DATABASE_URL"] = _ready_url(Settings())
    uvicorn.run("_serve_workers:factory", factory=True, host=args.host, port=args.port,
                workers=args.workers, log_level="info")


if __name__ == "__main__":
    main()
