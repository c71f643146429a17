"""examples/: the Python CI script run for real, and the CI files' commands checked against
the CLI they call."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from tests.ci.conftest import ci, make_case
from tests.conftest import Db, Org, Server
from tests.worker.conftest import WorkerProcess

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _smoke(server: Server, org: Org, build: Path, cases: list[str]) -> subprocess.CompletedProcess:
    env = {**os.environ, "QUALGENT_API_URL": server.base_url, "QUALGENT_API_KEY": org.key,
           "SMOKE_TEST_IDS": ",".join(cases), "GITHUB_SHA": "0123456789abcdef"}
    return subprocess.run([sys.executable, str(EXAMPLES / "ci_smoke.py"), str(build)], env=env,
                          capture_output=True, text=True, timeout=180)


def test_ci_smoke_script(server: Server, org: Org, db: Db, worker: WorkerProcess,
                         demo_apk: Path) -> None:
    good = make_case(org, "Open", ["Open the app"])
    bad = make_case(org, "Banner", ["Open the app", 'Verify that "Spring sale" is shown'])

    passing = _smoke(server, org, demo_apk, [good])
    assert passing.returncode == 0, passing.stdout + passing.stderr
    assert db.scalar("SELECT version FROM app_files") == "0123456"

    failing = _smoke(server, org, demo_apk, [good, bad])
    assert failing.returncode == 1, failing.stdout + failing.stderr
    explanation = db.scalar("SELECT explanation FROM test_runs WHERE status = 'failed'")
    assert f"FAILED Banner: {explanation}" in failing.stdout


def _ci_command(script: str) -> str:
    return script[script.index("qualgent ci run"):]


def test_ci_files_use_options_the_cli_has(server: Server, org: Org) -> None:
    github = yaml.safe_load((EXAMPLES / "github-actions.yml").read_text())
    steps = github["jobs"]["qualgent"]["steps"]
    gitlab = yaml.safe_load((EXAMPLES / "gitlab-ci.yml").read_text())
    job = gitlab["qualgent-smoke"]
    assert job["artifacts"]["reports"]["junit"] == "qualgent-report.xml"
    assert any(s.get("uses", "").startswith("actions/upload-artifact") and
               s["with"]["path"] == "qualgent-report.xml" for s in steps)

    help_text = ci(server.base_url, org.key, "run", "--help").stdout
    commands = [_ci_command(s["run"]) for s in steps if "qualgent ci run" in s.get("run", "")]
    commands += [_ci_command(line) for line in job["script"] if "qualgent ci run" in line]
    assert len(commands) == 2
    for command in commands:
        assert "--junit qualgent-report.xml" in command
        for option in re.findall(r"(--[a-z][a-z-]+)", command):
            assert option in help_text, option
