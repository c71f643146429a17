"""How a run is shown over the API (the bodies of qualgent.runs.schemas, built by hand: the
status endpoint is the hottest path of the API and skips response-model validation)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from qualgent.apps import links
from qualgent.runs.queries import StepRows


def run_link(public_url: str, run_id: Any) -> str:
    return f"{public_url.rstrip('/')}/test-runs/{run_id}"


def _str(value: Any) -> str | None:
    return str(value) if value is not None else None


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def run_view(row: Any, public_url: str, *, with_steps: bool = True) -> dict:
    """row: a test_runs row with case_name, app_name and app_version (runs.queries)."""
    out = {
        "id": str(row["id"]),
        "status": row["status"],
        "progress": row["progress"],
        "priority": row["priority"],
        "device": row["device_name"],
        "device_details": {
            "name": row["device_name"],
            "platform": row["device_platform"],
            "os_version": row["device_os_version"],
            "orientation": row["device_orientation"],
            "use_sim": row["use_sim"],
        },
        "test_case": {"id": str(row["test_case_id"]), "name": row["case_name"]},
        "app": {"id": str(row["app_file_id"]), "name": f"{row['app_name']} v{row['app_version']}"},
        "link": run_link(public_url, row["id"]),
        "test_case_version_id": str(row["test_case_version_id"]),
        "version_number": row["version_number"],
        "mode": row["mode"],
        "audit_source_run_id": _str(row["audit_source_run_id"]),
        "warnings": row["warnings"],
        "attempts": row["attempts"],
        "failure_category": row["failure_category"],
        "explanation": row["explanation"],
        "cache": {
            "recording_run_id": _str(row["recording_run_id"]),
            "fallback": row["cache_fallback"],
            "replayed_steps": row["replayed_steps"],
            "healed_steps": row["healed_steps"],
        } if row["mode"] == "cached" else None,
        "audit": row["audit"],
        "planner": row["planner"],
        "planner_model": row["planner_model"],
        "created_at": _iso(row["created_at"]),
        "started_at": _iso(row["started_at"]),
        "finished_at": _iso(row["finished_at"]),
    }
    if with_steps:
        out["vars"] = row["vars"]
        out["steps"] = row["resolved_steps"]
    return out


Link = Callable[[str], str]
"""A stored artifact's key -> the URL it is served at."""


def signed_links(public_url: str, signing_key: bytes) -> Link:
    """The API's links: signed, expiring, usable without a key (/downloads/...)."""
    return lambda key: links.signed_url(public_url, signing_key, f"/downloads/{key}")


def step_view(step: Any, link: Link) -> dict:
    """step: a run_steps row (runs.queries.step_rows)."""
    shot = link(step["screenshot_key"]) if step["screenshot_key"] else None
    return {
        "attempt": step["attempt"],
        "index": step["index"],
        "description": step["description"],
        "status": step["status"],
        "actions": step["actions"],
        "reason": step["reason"],
        "replay": step["replay"],
        "usage": step["usage"],
        "screenshot_url": shot,
        "started_at": step["started_at"].isoformat(),
        "finished_at": step["finished_at"].isoformat(),
        "duration_ms": round((step["finished_at"] - step["started_at"]).total_seconds() * 1000),
    }


USAGE_FIELDS = ("input_tokens", "output_tokens", "latency_ms", "calls")


def summed_usage(steps: Any) -> dict | None:
    """The model usage of the steps shown, added up; None when no step asked a model."""
    usages = [s["usage"] for s in steps if s["usage"] is not None]
    if not usages:
        return None
    total = {f: sum(u.get(f) or 0 for u in usages) for f in USAGE_FIELDS}
    total["latency_ms"] = round(total["latency_ms"], 1)
    return total


def trace_view(run: Any, rows: StepRows, link: Link) -> dict:
    """The per-step trace of a run (a runs.queries row), the steps asked for and the device
    log and video of the attempt shown; no links once retention removed the artifacts. The
    run's planner and model, and the model usage of the steps shown, summed."""
    kept = run["artifacts_pruned_at"] is None
    logs = [link(a["key"]) for a in rows.artifacts if kept and a["kind"] == "log"]
    videos = [link(a["key"]) for a in rows.artifacts if kept and a["kind"] == "video"]
    return {
        "test_run_id": str(run["id"]),
        "status": run["status"],
        "attempts": run["attempts"],
        "explanation": run["explanation"],
        "failure_category": run["failure_category"],
        "artifacts_pruned_at": _iso(run["artifacts_pruned_at"]),
        "planner": run["planner"],
        "planner_model": run["planner_model"],
        "usage": summed_usage(rows.steps),
        "device_log_url": logs[0] if logs else None,
        "video_urls": videos,
        "steps": [step_view(s, link) for s in rows.steps],
    }
