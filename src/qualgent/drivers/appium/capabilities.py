"""Appium capabilities from a user's JSON file, in every shape Appium's clients accept."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

_W3C_CAPS = {"platformName", "browserName", "browserVersion", "acceptInsecureCerts",
             "pageLoadStrategy", "proxy", "setWindowRect", "timeouts",
             "strictFileInteractability", "unhandledPromptBehavior", "webSocketUrl"}
OURS = "qualgent:"  # capabilities for us, never sent to Appium (e.g. "qualgent:sms": true)


def load_capabilities(path: str | Path) -> dict:
    """Capabilities from a JSON file, as Appium's clients accept them: a flat object, the W3C
    form ``{"capabilities": {"alwaysMatch": {...}, "firstMatch": [{...}]}}`` or its inner
    object. Returns one flat dict (alwaysMatch merged with the first firstMatch), non-standard
    names prefixed ``appium:``; raises ValueError naming the file when it is unusable."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a readable JSON file ({exc})") from exc
    return normalize_capabilities(raw, str(path))


def normalize_capabilities(raw: Any, where: str = "capabilities") -> dict:
    if isinstance(raw, dict) and isinstance(raw.get("capabilities"), dict):
        raw = raw["capabilities"]
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected a JSON object of capabilities")
    if "alwaysMatch" in raw or "firstMatch" in raw:
        always, first = raw.get("alwaysMatch", {}), raw.get("firstMatch") or [{}]
        always = {} if always is None else always
        if not isinstance(always, dict) or not isinstance(first, list) or not all(
                isinstance(f, dict) for f in first):
            raise ValueError(f"{where}: alwaysMatch must be an object, firstMatch a list of them")
        raw = {**always, **(first[0] if first else {})}
    caps = {(k if k in _W3C_CAPS or ":" in k else f"appium:{k}"): v for k, v in raw.items()}
    platform = caps.get("platformName")
    if not isinstance(platform, str) or platform.lower() not in ("ios", "android"):
        raise ValueError(f"{where}: platformName must be iOS or Android, not {platform!r}")
    return caps
