"""The deployment files (Dockerfile, compose.yaml, deploy/) checked without a Docker daemon:
the compose file parses and wires what the README promises, the image definition passes a
small lint, and every command they run is a real `qualgent` command that runs here."""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
from pathlib import Path

import pytest
import yaml

from qualgent.config import Settings
from tests.conftest import Db, eventually
from tests.serve import ServeProcess, qualgent_command

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
README = ROOT / "README.md"


def running_many_hosts() -> str:
    """The README's section on running many hosts, whose commands must be real."""
    text = README.read_text()
    start = text.index("## Running many hosts")
    return text[start:text.index("\n## ", start + 1)]
ENV_EXAMPLE = ROOT / "deploy" / "qualgent.env.example"

QUALGENT_SERVICES = ("api", "worker")
REQUIRED_ENV = {
    "QUALGENT_DATABASE_URL", "QUALGENT_REDIS_URL", "QUALGENT_STORAGE_URL",
    "QUALGENT_S3_ENDPOINT_URL", "QUALGENT_S3_REGION", "QUALGENT_S3_ACCESS_KEY_ID",
    "QUALGENT_S3_SECRET_ACCESS_KEY", "QUALGENT_PUBLIC_URL",
}
SECRET_WORDS = re.compile(r"SECRET|PASSWORD|TOKEN|API_KEY|ACCESS_KEY", re.I)


def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def instructions() -> list[tuple[str, str]]:
    """The Dockerfile as (INSTRUCTION, arguments), continuation lines joined."""
    out, pending = [], ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        word, _, rest = line.partition(" ")
        out.append((word.upper(), rest.strip()))
    assert not pending, "the Dockerfile ends inside a continued line"
    return out


def exec_form(args: str) -> list[str]:
    """An instruction's arguments: JSON (exec form) or a shell line."""
    return json.loads(args) if args.startswith("[") else shlex.split(args)


def settings_env_names() -> set[str]:
    return {"QUALGENT_" + name.upper() for name in Settings.model_fields}


# --------------------------------------------------------------------------- compose.yaml

def test_compose_services_and_their_wiring() -> None:
    services = compose()["services"]
    assert {"postgres", "redis", "minio", "createbucket", "api", "worker", "lb"} <= set(services)
    assert services["postgres"]["image"] == "postgres:16"
    assert services["api"]["deploy"]["replicas"] == 2
    assert services["api"]["command"] == ["serve", "--host", "0.0.0.0", "--port", "8000"]
    assert services["worker"]["command"][0] == "worker"
    # Start order: the API waits for healthy data stores and a created bucket; workers for
    # a healthy API (which migrated the schema); the bucket job for a healthy MinIO.
    api_deps = services["api"]["depends_on"]
    assert api_deps["postgres"]["condition"] == "service_healthy"
    assert api_deps["redis"]["condition"] == "service_healthy"
    assert api_deps["createbucket"]["condition"] == "service_completed_successfully"
    assert services["worker"]["depends_on"]["api"]["condition"] == "service_healthy"
    assert services["createbucket"]["depends_on"]["minio"]["condition"] == "service_healthy"
    assert services["lb"]["depends_on"]["api"]["condition"] == "service_healthy"
    for name in ("postgres", "redis", "minio", "lb"):
        assert services[name]["healthcheck"]["test"], name
    # The image's healthcheck (GET /livez) would fail on a worker, which serves no HTTP.
    assert services["worker"]["healthcheck"] == {"disable": True}
    bucket_job = " ".join(services["createbucket"]["command"])
    storage = services["api"]["environment"]["QUALGENT_STORAGE_URL"]
    assert storage == "s3://qualgent/blobs"
    assert "mc mb --ignore-existing store/qualgent" in bucket_job
    # Every image is pinned to a tag (not latest, not untagged).
    for name, svc in services.items():
        if "image" in svc and "build" not in svc:
            assert re.fullmatch(r"[\w./-]+:[\w.-]+", svc["image"]), name
            assert not svc["image"].endswith(":latest"), name


def test_compose_env_is_complete_and_names_real_settings() -> None:
    services = compose()["services"]
    known = settings_env_names()
    for name in QUALGENT_SERVICES:
        env = services[name]["environment"]
        assert REQUIRED_ENV <= set(env), (name, REQUIRED_ENV - set(env))
        unknown = {k for k in env if k.startswith("QUALGENT_")} - known
        assert not unknown, f"{name} sets variables no Settings field reads: {unknown}"
        assert services[name]["env_file"] == "deploy/qualgent.env"
        # Secrets are never literal in the compose file: interpolated from the env file.
        for key, value in env.items():
            if SECRET_WORDS.search(key):
                assert str(value).startswith("${") and ":?" in str(value), key
        assert "QUALGENT_SECRET_KEY" not in env  # from env_file only
    assert services["api"]["environment"]["QUALGENT_S3_ENDPOINT_URL"] == "http://minio:9000"
    assert services["api"]["environment"]["QUALGENT_TRUSTED_PROXIES"] == (
        services["lb"]["networks"]["default"]["ipv4_address"])
    db_url = services["api"]["environment"]["QUALGENT_DATABASE_URL"]
    assert db_url.startswith("postgresql://qualgent:${POSTGRES_PASSWORD:?")
    assert db_url.endswith("@postgres:5432/qualgent")


def test_env_example_names_every_variable_compose_needs() -> None:
    """Every ${VAR:?...} the compose file requires is in the example env file, and every
    QUALGENT_* there is a real setting; its values are placeholders, not secrets."""
    required = set(re.findall(r"\$\{(\w+):\?", COMPOSE.read_text()))
    example = dict(line.split("=", 1) for line in ENV_EXAMPLE.read_text().splitlines()
                   if line and not line.startswith("#"))
    assert required <= set(example), required - set(example)
    assert "QUALGENT_SECRET_KEY" in example
    assert {k for k in example if k.startswith("QUALGENT_")} <= settings_env_names()
    for key, value in example.items():
        if SECRET_WORDS.search(key):
            assert value.startswith("change-me"), key
    assert not (ROOT / "deploy" / "qualgent.env").exists() or "deploy/*.env" in (
        ROOT / ".dockerignore").read_text()


# --------------------------------------------------------------------------- Dockerfile

def test_dockerfile_lint() -> None:
    ins = instructions()
    words = [w for w, _ in ins]
    assert words[0] == "FROM"
    for word, args in ins:
        if word == "FROM":
            image = args.split()[0]
            assert re.fullmatch(r"[\w./-]+:[\w.-]+", image), f"FROM not pinned: {image}"
            assert not image.endswith(":latest")
        if word == "ADD":
            assert not re.search(r"https?://", args), "ADD of a URL: fetch with a checksum"
        if word in ("ENV", "ARG"):
            for name in re.findall(r"(\w+)=", args) or args.split()[:1]:
                assert not SECRET_WORDS.search(name), f"secret baked into the image: {name}"
        if word == "COPY":
            assert ".env" not in args
    assert ins[0][1] == "python:3.12-slim"
    users = [i for i, w in enumerate(words) if w == "USER"]
    assert users, "no USER: the image would run as root"
    last_user = ins[users[-1]][1]
    assert last_user not in ("root", "0") and not last_user.startswith("0:")
    assert users[-1] < words.index("CMD") and users[-1] < words.index("ENTRYPOINT")
    assert words.count("HEALTHCHECK") == 1
    health = dict(ins)["HEALTHCHECK"]
    assert "/livez" in health
    assert any(w == "RUN" and "pip install ." in a for w, a in ins)
    assert "deploy/*.env" in (ROOT / ".dockerignore").read_text()


def image_command() -> list[str]:
    ins = dict(instructions())  # last ENTRYPOINT / CMD win, as in Docker
    return exec_form(ins["ENTRYPOINT"]) + exec_form(ins["CMD"])


# --------------------------------------------------------------------------- the commands

def documented_commands() -> list[list[str]]:
    """Every `qualgent ...` the image, the compose file and README (many hosts) run."""
    cmds = [image_command()]
    entry = exec_form(dict(instructions())["ENTRYPOINT"])
    for svc in QUALGENT_SERVICES:
        cmds.append(entry + compose()["services"][svc]["command"])
    for line in running_many_hosts().splitlines():
        words = shlex.split(line.strip()) if "qualgent " in line else []
        while words and re.fullmatch(r"\w+=\S*", words[0]):
            words.pop(0)  # VAR=value prefixes
        if words[:1] == ["qualgent"] and len(words) > 1:
            cmds.append(words)
    return cmds


def test_documented_commands_are_real_subcommands_and_options() -> None:
    cmds = documented_commands()
    assert {c[1] for c in cmds} >= {"serve", "worker"}
    assert len(cmds) >= 5
    for cmd in cmds:
        assert cmd[0] == "qualgent", cmd
        # --help is eager, but click parses the whole line first: an unknown option or a
        # missing value fails here with exit code 2.
        out = subprocess.run([*qualgent_command(), *cmd[1:], "--help"], capture_output=True,
                             text=True, timeout=60, stdin=subprocess.DEVNULL)
        assert out.returncode == 0, (cmd, out.stdout, out.stderr)
        assert "Usage: qualgent " + cmd[1] in " ".join(out.stdout.split())


def test_the_image_command_and_healthcheck_run_here(db_url: str, tmp_path: Path) -> None:
    """`qualgent serve` with the image's arguments (on a free loopback port) answers the
    HEALTHCHECK's own command; with the server gone, the same check fails."""
    cmd = image_command()
    args = cmd[2:]
    assert args[args.index("--port") + 1] == "8000"
    health = exec_form(dict(instructions())["HEALTHCHECK"].split("CMD", 1)[1].strip())
    proc = ServeProcess(db_url, tmp_path / "data")
    try:
        probe = [a.replace("127.0.0.1:8000", f"127.0.0.1:{proc.port}") for a in health]
        assert probe != health
        probe[0] = os.environ.get("PYTHON", "python3") if probe[0] == "python" else probe[0]
        ok = subprocess.run(probe, capture_output=True, timeout=30)
        assert ok.returncode == 0, ok.stderr
    finally:
        proc.stop()
    down = subprocess.run(probe, capture_output=True, timeout=30)
    assert down.returncode != 0


def test_the_worker_service_command_registers_its_device(db_url: str, db: Db,
                                                         tmp_path: Path) -> None:
    """The compose worker's command, run outside a container against a database, registers
    the simulated device it names and stops cleanly on SIGTERM (docker stop)."""
    entry = exec_form(dict(instructions())["ENTRYPOINT"])
    cmd = entry + compose()["services"]["worker"]["command"]
    env = {**os.environ, "QUALGENT_DATABASE_URL": db_url, "QUALGENT_DATA_DIR": str(tmp_path),
           "QUALGENT_SECRET_KEY": "deploy-test"}
    proc = subprocess.Popen([*qualgent_command(), *cmd[1:]], env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        def registered() -> bool:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                rows = db.fetch("SELECT name, platform, os_version, sms_enabled FROM devices")
            except Exception:  # noqa: BLE001 - the worker may still be migrating
                return False
            return [tuple(r) for r in rows] == [("Pixel 7", "Android", "14", True)]
        eventually(registered, timeout=60)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(45)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail("the worker did not stop on SIGTERM")
    assert rc in (0, -signal.SIGTERM, 128 + signal.SIGTERM), rc
