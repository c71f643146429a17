"""`qualgent serve` as a real subprocess, for tests of what only the whole process shows
(memory, connection budgets, worker processes)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx


def qualgent_command() -> list[str]:
    """The installed `qualgent` script of this interpreter (as a user runs it), whatever PATH
    holds."""
    script = Path(sys.executable).with_name("qualgent")
    if script.exists():
        return [str(script)]
    found = shutil.which("qualgent")
    return [found] if found else [sys.executable, "-c", "from qualgent.cli import app; app()"]


class ServeProcess:
    """`qualgent serve` on a free loopback port, against the test's own database."""

    def __init__(self, db_url: str, data_dir: Path, *args: str, **env_vars: str) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if k != "QUALGENT_REDIS_URL"}
        env.update({
            "QUALGENT_DATABASE_URL": db_url,
            "QUALGENT_DATA_DIR": str(data_dir),
            "QUALGENT_PUBLIC_URL": self.base_url,
            "QUALGENT_SECRET_KEY": "upload-memory-test",
            "QUALGENT_RATE_LIMIT": "10000/second",
            **env_vars,
        })
        self.log = data_dir.parent / "serve.log"
        data_dir.mkdir(parents=True, exist_ok=True)
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [*qualgent_command(), "serve", "--host", "127.0.0.1", "--port", str(self.port),
                 *args],
                env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("qualgent serve did not start:\n" + self.log.read_text())
            try:
                if httpx.get(self.base_url + "/livez", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)

    def status(self, field: str) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
        raise AssertionError(f"no {field} for pid {self.proc.pid}")

    def reset_peak(self) -> None:
        Path(f"/proc/{self.proc.pid}/clear_refs").write_text("5")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
