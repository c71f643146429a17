"""`qualgent ci run` end to end: the Demo Shop build uploaded, cases run by a real worker, the
verdict as the exit code, the JUnit report valid against the schema."""

from __future__ import annotations

import os
import pty
import subprocess
from pathlib import Path

from tests.ci.conftest import junit_tree, make_case
from tests.conftest import Db, Org, Server
from tests.demo import SIGN_IN_QUOTED
from tests.serve import qualgent_command
from tests.worker.conftest import WorkerProcess

BANNER = ["Open the app", 'Verify that "Spring sale" is shown']  # not in the Demo Shop


def test_passing_batch_exits_0_with_a_valid_junit_report(
        org: Org, db: Db, worker: WorkerProcess, demo_apk: Path, tmp_path: Path,
        run_ci) -> None:  # noqa: ANN001
    sign_in = make_case(org, "Sign in with the SMS code", SIGN_IN_QUOTED)
    email = make_case(org, "Type an email", ["Open the app", 'Enter "{{email}}" into Email',
                                             'Verify "{{email}}" is shown'],
                      variables=[{"name": "email", "type": "string", "required": True}])
    report = tmp_path / "out" / "report.xml"

    done = run_ci("run", "--build", str(demo_apk), "--app-name", "Demo Shop",
                  "--version", "1.0.0", "--test-case", sign_in, "--test-case", email,
                  "--var", "email=ada@example.com", "--device", "Pixel 7", "--use-sim",
                  "--junit", str(report), "--poll-interval", "0.5s", "--timeout", "3m")

    assert done.returncode == 0, done.stdout + done.stderr
    runs = db.fetch("SELECT id, status, vars FROM test_runs ORDER BY created_at")
    # a run that checked nothing is completed: as good as passed for the pipeline
    assert [r["status"] for r in runs] == ["completed", "passed"]
    for r in runs:  # every run's link printed
        assert f"/test-runs/{r['id']}" in done.stdout
    assert "all 2 run(s) passed or completed" in done.stdout

    tree = junit_tree(report)
    cases = tree.findall(".//testcase")
    assert [c.get("name") for c in cases] == ["Sign in with the SMS code", "Type an email"]
    assert {c.get("classname") for c in cases} == {"Demo Shop/Pixel 7"}
    assert tree.getroot().get("failures") == "0" and tree.getroot().get("tests") == "2"
    assert not tree.findall(".//failure") and not tree.findall(".//error")
    assert "Status: completed" in cases[0].findtext("system-out")
    out = cases[1].findtext("system-out")
    assert f"/test-runs/{runs[1]['id']}" in out
    assert '1. [passed] Open the app' in out
    assert '2. [passed] Enter "ada@example.com" into Email' in out
    assert '3. [passed] Verify "ada@example.com" is shown' in out


def test_failing_batch_exits_1_with_the_explanation_in_junit(
        org: Org, db: Db, worker: WorkerProcess, demo_apk: Path, tmp_path: Path,
        run_ci) -> None:  # noqa: ANN001
    ok = make_case(org, "Open the app", ["Open the app"])
    broken = make_case(org, "A banner that is not there", BANNER)
    first = run_ci("upload", str(demo_apk), "--app-name", "Demo Shop", "--version", "2.0",
                   "--json")
    assert first.returncode == 0, first.stderr
    report = tmp_path / "report.xml"

    # no --build: the latest build is used
    done = run_ci("run", "--test-case", ok, "--test-case", broken, "--device", "Pixel 7",
                  "--junit", str(report), "--poll-interval", "0.5s", "--timeout", "3m")

    assert done.returncode == 1, done.stdout + done.stderr
    failed = db.fetch("SELECT id, explanation, failure_category, app_file_id FROM test_runs "
                      "WHERE status = 'failed'")
    assert len(failed) == 1 and failed[0]["explanation"]
    assert str(failed[0]["app_file_id"]) in first.stdout
    assert "1 of 2 run(s) failed" in done.stdout
    assert failed[0]["explanation"] in done.stdout

    tree = junit_tree(report)
    assert tree.getroot().get("failures") == "1"
    failures = tree.findall(".//failure")
    assert len(failures) == 1
    assert failures[0].get("message") == failed[0]["explanation"]
    assert failures[0].get("type") == failed[0]["failure_category"] == "app"
    case = failures[0].getparent()
    assert case.get("name") == "A banner that is not there"
    assert "[failed] Verify that" in case.findtext("system-out")
    assert f"/test-runs/{failed[0]['id']}" in case.findtext("system-out")


def test_timeout_exits_2_naming_the_runs_still_waiting(org: Org, db: Db, pixel: dict,
                                                        demo_apk: Path, tmp_path: Path,
                                                        run_ci) -> None:  # noqa: ANN001
    # no worker: the runs stay queued
    cases = [make_case(org, f"Case {i}", ["Open the app"]) for i in range(2)]
    report = tmp_path / "report.xml"
    args = [a for c in cases for a in ("--test-case", c)]

    done = run_ci("run", "--build", str(demo_apk), "--app-name", "Demo Shop", "--version",
                  "1.0.0", *args, "--device", "Pixel 7", "--timeout", "3s", "--no-events",
                  "--poll-interval", "0.5s", "--junit", str(report))

    assert done.returncode == 2, done.stdout + done.stderr
    ids = [str(r["id"]) for r in db.fetch("SELECT id FROM test_runs")]
    assert len(ids) == 2
    assert "timed out after 3s; still not finished:" in done.stdout
    tail = done.stdout.split("timed out after 3s")[1]
    for rid in ids:
        assert rid in tail and f"/test-runs/{rid}" in tail
    assert tail.count("(queued, 0%)") == 2
    tree = junit_tree(report)
    assert [e.get("type") for e in tree.findall(".//error")] == ["timeout", "timeout"]


def test_usage_errors_exit_2_and_queue_nothing(org: Org, db: Db, run_ci,  # noqa: ANN001
                                               demo_apk: Path) -> None:
    case = make_case(org, "Open", ["Open the app"])
    for args in (
        ["--device", "Pixel 7"],  # no cases chosen
        ["--device", "Pixel 7", "--all", "--test-case", case],  # two choices
        ["--device", "Pixel 7", "--test-case", case, "--timeout", "soon"],
        ["--device", "Pixel 7", "--test-case", case, "--build", str(demo_apk)],  # no name
        ["--device", "Pixel 7", "--all", "--var", "a=b"],
    ):
        done = run_ci("run", *args)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
    # an id the API does not know: refused before anything is queued
    done = run_ci("run", "--device", "Pixel 7", "--test-case",
                  "00000000-0000-0000-0000-000000000000")
    assert done.returncode == 2 and "404" in done.stderr
    assert db.scalar("SELECT count(*) FROM test_runs") == 0


def test_on_a_terminal_a_live_table(org: Org, pixel: dict, demo_apk: Path,
                                    server: Server) -> None:
    case = make_case(org, "Waits forever", ["Open the app"])
    primary, secondary = pty.openpty()
    env = {**os.environ, "QUALGENT_API_URL": server.base_url, "QUALGENT_API_KEY": org.key,
           "COLUMNS": "160"}
    proc = subprocess.Popen(
        [*qualgent_command(), "ci", "run", "--build", str(demo_apk), "--app-name", "Demo Shop",
         "--version", "1", "--test-case", case, "--device", "Pixel 7", "--timeout", "2s"],
        env=env, stdout=secondary, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
    os.close(secondary)
    chunks = []
    while True:
        try:
            data = os.read(primary, 65536)
        except OSError:  # the other side closed
            break
        if not data:
            break
        chunks.append(data)
    os.close(primary)
    assert proc.wait(30) == 2
    screen = b"".join(chunks).decode(errors="replace")
    for heading in ("Run", "Test case", "Device", "Status", "Progress", "Link"):
        assert heading in screen
    assert "◌ queued" in screen and "Waits forever" in screen
    assert "timed out after 2s" in screen
