"""How a run is shown over the API."""

from __future__ import annotations

from typing import Any


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
        "created_at": _iso(row["created_at"]),
        "started_at": _iso(row["started_at"]),
        "finished_at": _iso(row["finished_at"]),
    }
    if with_steps:
        out["vars"] = row["vars"]
        out["steps"] = row["resolved_steps"]
    return out
