"""The plan cache: a step the model already solved on the same screen is not asked again.

Keyed by blake2b(step text, screen fingerprint, model, prompt version), so another model, a
changed prompt or a screen that shows anything different is a miss. The value is the step's
intents as JSON in the blob store (`plans/<hex>.json`). Checks are intents too (`judge`), and
a cached plan carries them, but their verdicts are never cached: each run judges afresh. A
plan that fails when replayed is dropped by the planner (`drop`); an unreadable entry is
dropped on read. This is not the cached replay of a recorded run (agent.replay), which needs
no model at all: it is for runs that plan, whose steps repeat across test cases.
"""

from __future__ import annotations

import hashlib
import json
import logging

from qualgent.agent.intents import Action, Intent, Target
from qualgent.agent.llm.prompt import PROMPT_VERSION
from qualgent.drivers.base import ElementKind
from qualgent.storage.blobs import BlobStore
from qualgent.storage.keys import plan_key

log = logging.getLogger(__name__)

_FORMAT = 1


def cache_key(step: str, screen_fingerprint: str, model: str,
              prompt_version: str = PROMPT_VERSION) -> str:
    """The blob key of a step's plan on a screen, for a model and prompt."""
    h = hashlib.blake2b(digest_size=16)
    for part in (" ".join(step.split()), screen_fingerprint, model, prompt_version):
        h.update(part.encode())
        h.update(b"\x1f")
    return plan_key(h.hexdigest())


def intent_to_json(intent: Intent) -> dict:
    t = intent.target
    target = None if t is None else {
        "phrase": t.phrase, "exact": t.exact,
        "kinds": sorted(t.kinds) if t.kinds is not None else None,
        "ordinal": t.ordinal, "generic": t.generic}
    return {"action": intent.action.value, "target": target, "value": intent.value,
            "seconds": intent.seconds, "checked": intent.checked, "submit": intent.submit,
            "count": intent.count, "clause": intent.clause}


def intent_from_json(data: dict) -> Intent:
    t = data.get("target")
    target = None if t is None else Target(
        t["phrase"], bool(t["exact"]),
        frozenset(ElementKind(k) for k in t["kinds"]) if t.get("kinds") is not None else None,
        t.get("ordinal"), bool(t.get("generic", False)))
    return Intent(Action(data["action"]), target, data.get("value"), data.get("seconds"),
                  data.get("checked"), bool(data.get("submit", False)),
                  int(data.get("count", 1)), data.get("clause", ""))


class PlanCache:
    """Plans in a blob store. Reads and writes never fail a step: a store that misbehaves is a
    miss (logged), the model is asked as if nothing were cached."""

    def __init__(self, blobs: BlobStore) -> None:
        self.blobs = blobs

    def get(self, key: str) -> list[Intent] | None:
        try:
            if not self.blobs.exists(key):
                return None
            with self.blobs.open(key) as fh:
                data = json.loads(fh.read())
            if data.get("format") != _FORMAT:
                raise ValueError(f"format {data.get('format')!r}")
            return [intent_from_json(i) for i in data["intents"]]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("plan cache entry %s unreadable (%s); dropping it", key, exc)
            self.drop(key)
            return None

    def put(self, key: str, intents: list[Intent]) -> None:
        body = {"format": _FORMAT, "intents": [intent_to_json(i) for i in intents]}
        try:
            self.blobs.put(key, json.dumps(body, ensure_ascii=False).encode())
        except OSError as exc:
            log.warning("plan cache entry %s not written: %s", key, exc)

    def drop(self, key: str) -> None:
        try:
            self.blobs.delete(key)
        except OSError as exc:
            log.warning("plan cache entry %s not dropped: %s", key, exc)
