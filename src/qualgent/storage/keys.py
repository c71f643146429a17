"""The blob key layout: the one place that knows where each kind of stored object lives.

    <org id>/<file id>.<apk|ipa|aab>             a build (app_files.file_path)
    screenshots/<run id>/<attempt>-<step>.png    a step's screenshot (run_steps.screenshot_key)
    logs/<run id>/<attempt>.txt                  a run attempt's device log
    videos/<run id>/<attempt>-<n>.mp4            a run attempt's screen recording, chunk n (1..)
    plans/<hex>.json                             a model's plan of a step on a screen (the plan
                                                 cache, agent.llm.cache): no run owns it, no
                                                 sweep removes it
    .../.<name>.<hex>.part                       an upload still being written (staging)

Run artifacts (screenshots, logs, videos) share the `<kind>/<run id>/` prefix so retention can
find and remove everything a run left. Keys never come from user input unparsed: the parsers
here return None for anything that is not one of ours.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from enum import StrEnum


class BlobKind(StrEnum):
    BUILD = "build"
    SCREENSHOT = "screenshot"
    LOG = "log"
    VIDEO = "video"
    PLAN = "plan"
    STAGING = "staging"


ARTIFACT_DIRS = {"screenshots": BlobKind.SCREENSHOT, "logs": BlobKind.LOG,
                 "videos": BlobKind.VIDEO}
BUILD_EXTENSIONS = ("apk", "ipa", "aab")

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_BUILD = re.compile(rf"({_UUID})/({_UUID})\.({'|'.join(BUILD_EXTENSIONS)})")
_ARTIFACT = re.compile(rf"({'|'.join(ARTIFACT_DIRS)})/({_UUID})/([A-Za-z0-9._-]+)")
_STAGING = re.compile(r"(?:.*/)?\.[^/]+\.[0-9a-f]{32}\.part")
_PLAN = re.compile(r"plans/[0-9a-f]{16,128}\.json")


def build_key(org_id: uuid.UUID, file_id: uuid.UUID, extension: str) -> str:
    assert extension in BUILD_EXTENSIONS, extension
    return f"{org_id}/{file_id}.{extension}"


def screenshot_key(run_id: uuid.UUID, attempt: int, step_index: int) -> str:
    return f"screenshots/{run_id}/{attempt}-{step_index}.png"


def device_log_key(run_id: uuid.UUID, attempt: int) -> str:
    return f"logs/{run_id}/{attempt}.txt"


def video_key(run_id: uuid.UUID, attempt: int, chunk: int) -> str:
    return f"videos/{run_id}/{attempt}-{chunk}.mp4"


def plan_key(digest: str) -> str:
    """Where the plan cache keeps the plan whose key hashes to `digest` (hex)."""
    key = f"plans/{digest}.json"
    assert _PLAN.fullmatch(key), digest
    return key


def run_artifact_prefixes(run_id: uuid.UUID) -> list[str]:
    """Every prefix under which a run's artifacts live."""
    return [f"{directory}/{run_id}/" for directory in ARTIFACT_DIRS]


def artifact_key(directory: str, run_id: str, name: str) -> str | None:
    """The key for a download path's parts, or None if they do not name a run artifact."""
    key = f"{directory}/{run_id}/{name}"
    return key if _ARTIFACT.fullmatch(key) else None


@dataclass(frozen=True)
class ParsedKey:
    kind: BlobKind
    run_id: uuid.UUID | None = None  # run artifacts


def parse(key: str) -> ParsedKey | None:
    """What a stored key is, or None when it is not in our layout (left alone by sweeps)."""
    if _STAGING.fullmatch(key):
        return ParsedKey(BlobKind.STAGING)
    if _BUILD.fullmatch(key):
        return ParsedKey(BlobKind.BUILD)
    if _PLAN.fullmatch(key):
        return ParsedKey(BlobKind.PLAN)
    if m := _ARTIFACT.fullmatch(key):
        return ParsedKey(ARTIFACT_DIRS[m.group(1)], run_id=uuid.UUID(m.group(2)))
    return None
