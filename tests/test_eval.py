"""`qualgent eval`: a corpus of cases run on simulators, scored, printed for people and as JSON;
and the shipped corpus (benchmarks/agent_corpus) as the issue asks for it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

from qualgent.evaluation import load_corpus

CORPUS = Path(__file__).resolve().parent.parent / "benchmarks" / "agent_corpus"
PIXEL = "Pixel 7:Android:14:sms"

PASSING = {"id": "passes", "app": "field_notes", "device": PIXEL, "style": "quoted",
           "steps": ['Tap "Get started"', 'Tap "Allow"', 'Verify "Heron at the weir" is shown'],
           "expect": "passed"}
MUST_FAIL = {"id": "must-fail", "app": "demo_shop", "device": PIXEL, "style": "quoted",
             "steps": ['Verify "Order confirmed" is shown'], "expect": "failed",
             "expect_category": "app", "note": "nothing was ordered"}
WRONG = {"id": "wrongly-expected", "app": "demo_shop", "device": PIXEL, "style": "terse",
         "steps": ['Tap "Sign in"'], "expect": "passed",
         "note": "nothing is asserted: the run is completed, not passed"}


def _eval(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "qualgent.cli", "eval", *args],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def _corpus(tmp_path: Path, *lines: str) -> Path:
    path = tmp_path / "corpus.jsonl"
    path.write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    return path


def _cases(tmp_path: Path) -> Path:
    return _corpus(tmp_path, json.dumps(PASSING), "", "# a comment", json.dumps(MUST_FAIL),
                   json.dumps(WRONG))


def test_eval_prints_each_case_and_the_accuracy(tmp_path: Path) -> None:
    done = _eval(str(_cases(tmp_path)), "--jobs", "3")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["ok", "passes", "expected", "passed", "got", "passed"]
    assert lines[1].split() == ["ok", "must-fail", "expected", "failed/app", "got",
                                "failed/app"]
    assert lines[2].split() == ["WRONG", "wrongly-expected", "expected", "passed", "got",
                                "completed"]
    assert "rules: 2/3 right (66.7%)" in lines
    assert "  quoted            2/2    100.0%" in lines
    assert "  terse             0/1      0.0%" in lines
    assert "  demo_shop         1/2     50.0%" in lines


def test_eval_json_gives_totals_groups_and_cases(tmp_path: Path) -> None:
    done = _eval(str(_cases(tmp_path)), "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert {k: report[k] for k in ("planner", "total", "right", "accuracy", "usage")} == {
        "planner": "rules", "total": 3, "right": 2, "accuracy": 0.6667, "usage": None}
    assert report["by_style"] == {"quoted": {"right": 2, "total": 2, "accuracy": 1.0},
                                  "terse": {"right": 0, "total": 1, "accuracy": 0.0}}
    assert report["by_app"]["field_notes"] == {"right": 1, "total": 1, "accuracy": 1.0}
    cases = {c["id"]: c for c in report["cases"]}
    assert [c["id"] for c in report["cases"]] == ["passes", "must-fail", "wrongly-expected"]
    assert cases["must-fail"]["ok"] is True
    assert cases["must-fail"]["category"] == "app"
    assert "Order confirmed" in cases["must-fail"]["explanation"]
    wrong = cases["wrongly-expected"]
    assert (wrong["expected"], wrong["got"], wrong["ok"]) == ("passed", "completed", False)
    assert set(wrong) == {"id", "app", "style", "expected", "expected_category", "got",
                          "category", "ok", "explanation", "seconds", "usage"}


def test_a_wrong_category_is_wrong(tmp_path: Path) -> None:
    case = {**MUST_FAIL, "expect_category": "test"}
    report = json.loads(_eval(str(_corpus(tmp_path, json.dumps(case))), "--json").stdout)
    assert (report["cases"][0]["category"], report["right"]) == ("app", 0)


def test_a_malformed_corpus_exits_2_naming_the_line(tmp_path: Path) -> None:
    bad = _corpus(tmp_path, json.dumps(PASSING), "{not json")
    done = _eval(str(bad))
    assert done.returncode == 2
    assert f"{bad}:2: not a JSON object" in done.stderr
    for line, says in [({**PASSING, "expect": "green"}, "expect must be one of"),
                       ({**PASSING, "app": "mail"}, "unknown app 'mail'"),
                       ({**PASSING, "device": "Pixel 7"}, "simulator spec 'Pixel 7'"),
                       ({k: v for k, v in PASSING.items() if k != "steps"}, "missing steps"),
                       ({**PASSING, "colour": "red"}, "unknown key 'colour'")]:
        done = _eval(str(_corpus(tmp_path, json.dumps(line))))
        assert (done.returncode, f"corpus.jsonl:1: {says}" in done.stderr) == (2, True), \
            done.stderr
    twice = _corpus(tmp_path, json.dumps(PASSING), json.dumps(PASSING))
    assert "corpus.jsonl:2: the id 'passes' is also used at" in _eval(str(twice)).stderr
    assert _eval(str(tmp_path / "missing.jsonl")).returncode == 2


def test_a_model_planner_without_a_model_exits_2_saying_what_is_missing(tmp_path: Path
                                                                       ) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QUALGENT_LLM_")}
    done = subprocess.run([sys.executable, "-m", "qualgent.cli", "eval",
                           str(_cases(tmp_path)), "--planner", "hybrid"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 2
    assert "QUALGENT_LLM_MODEL" in done.stderr
    assert _eval(str(_cases(tmp_path)), "--planner", "magic").returncode == 2


def test_the_shipped_corpus_covers_both_apps_every_style_and_failures() -> None:
    cases = load_corpus(CORPUS)
    assert len(cases) >= 200
    assert {c.app for c in cases} == {"demo_shop", "field_notes"}
    styles = Counter(c.style for c in cases)
    for style in ("terse", "verbose", "numbered", "quoted", "misspelled", "compound", "vague",
                  "label", "role_noun", "finger_swipe", "other_screen"):
        assert styles[style] >= 5, style
    expected = Counter((c.expect, c.expect_category) for c in cases)
    assert expected[("failed", "app")] >= 20 and expected[("failed", "test")] >= 15
    assert expected[("completed", None)] >= 5
