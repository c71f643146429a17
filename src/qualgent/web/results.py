"""Pages: a run's results, `/test-runs/{id}` (the page every API `link` points at).

The data is the API's own: runs.queries reads the run and its steps, runs.views builds the
steps. Their screenshots, log and video are linked at `/test-runs/{id}/files/...`, served to
the signed-in organization: stable links (a page left open does not outlive them, unlike the
API's expiring signed links) that the browser may cache, so a live refresh repaints nothing. What
the page adds is presentation: the elements each action hit, drawn over the step's
screenshot in an SVG whose viewBox is the screen's size. Actions record bounds but not the
screen's size, so that is read from the screenshot's PNG header (the screenshot is the whole
screen), once per screenshot: a key is never reused for another image, so it is cached.

While a run is queued or running, its dynamic part is a fragment (`/test-runs/{id}/live`)
that app.js fetches again and again until it comes without data-live-url.
"""

from __future__ import annotations

import struct
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from qualgent.api.deps import Ctx
from qualgent.domain import NotFound, parse_id
from qualgent.queue.states import TERMINAL
from qualgent.runs import queries, views
from qualgent.storage import BlobStore, keys
from qualgent.web.pages import SignedIn, render

router = APIRouter(include_in_schema=False)

MAX_ATTEMPT = 2**31 - 1
LOG_TAIL_BYTES = 8192
LOG_TAIL_LINES = 20

_PNG = b"\x89PNG\r\n\x1a\n"
_SIZES: OrderedDict[str, tuple[int, int]] = OrderedDict()
_SIZES_KEPT = 20_000


def _png_size(blobs: BlobStore, key: str) -> tuple[int, int] | None:
    try:
        with blobs.open(key) as fh:
            head = fh.read(24)
    except (OSError, KeyError, ValueError):
        return None
    if len(head) < 24 or head[:8] != _PNG or head[12:16] != b"IHDR":
        return None
    width, height = struct.unpack(">II", head[16:24])
    return (width, height) if width and height else None


def _read_sizes(blobs: BlobStore, keys: list[str]) -> None:
    for key in keys:
        size = _png_size(blobs, key)
        if size is not None:
            _SIZES[key] = size
    while len(_SIZES) > _SIZES_KEPT:
        _SIZES.popitem(last=False)


async def screen_sizes(blobs: BlobStore, keys: list[str]) -> dict[str, tuple[int, int]]:
    """Pixel size of each screenshot (the device's screen); a missing or unreadable one is
    left out (the page then shows it without the overlay)."""
    missing = [k for k in keys if k not in _SIZES]
    if missing:
        await run_in_threadpool(_read_sizes, blobs, missing)
    return {k: _SIZES[k] for k in keys if k in _SIZES}


def _log_tail(blobs: BlobStore, key: str) -> list[str]:
    """The last lines of a device log (reads only its end)."""
    try:
        with blobs.open(key) as fh:
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - LOG_TAIL_BYTES))
            data = fh.read(LOG_TAIL_BYTES)
    except (OSError, KeyError, ValueError):
        return []
    lines = data.decode("utf-8", "replace").splitlines()
    if size > LOG_TAIL_BYTES and lines:
        lines = lines[1:]  # the first one is cut
    return lines[-LOG_TAIL_LINES:]


# ------------------------------------------------------------------------ presentation

TARGET_KEYS = ("text", "description", "id", "hint")
CHECKS = ("assert_visible", "assert_not_visible")
ACTION_WORDS = {
    "launch": "Launch", "tap": "Tap", "type": "Type", "clear": "Clear", "swipe": "Swipe",
    "back": "Back", "key": "Key", "wait": "Wait", "assert_visible": "Check shown",
    "assert_not_visible": "Check not shown", "read_sms": "Read SMS",
}


@dataclass
class Mark:
    """One action drawn on a screenshot: its number in the list, and where."""

    number: int
    kind: str
    x: int
    y: int
    width: int
    height: int
    badge_x: float
    badge_y: float


@dataclass
class Shot:
    url: str
    key: str  # the blob key: stable across live refreshes (the signed url is not)
    width: int | None
    height: int | None
    before: bool = False  # the screen the step began on (another step's screenshot)
    marks: list[Mark] = field(default_factory=list)
    _seen: dict[tuple[int, ...], int] = field(default_factory=dict, repr=False)

    @property
    def radius(self) -> float:
        return _radius(self.width)

    def mark(self, number: int, kind: str, bounds: list) -> None:
        assert self.width and self.height
        r = self.radius
        left, top, right, bottom = (int(v) for v in bounds)
        left, right = max(0, min(left, right)), min(self.width, max(left, right))
        top, bottom = max(0, min(top, bottom)), min(self.height, max(top, bottom))
        nth = self._seen.get((left, top, right, bottom), 0)  # badges side by side
        self._seen[(left, top, right, bottom)] = nth + 1
        bx = min(self.width - r, left + r + nth * 2.2 * r)
        by = min(self.height - r, max(r, top + r))
        self.marks.append(Mark(number, _mark_class(kind), left, top, max(1, right - left),
                               max(1, bottom - top), round(bx, 1), round(by, 1)))


@dataclass
class Action:
    number: int
    kind: str
    word: str
    target: str
    element: str
    value: str | None
    drawn: str | None  # where its mark is: "after" (the step's screenshot), "before", None


@dataclass
class Step:
    number: int
    description: str
    status: str
    reason: str | None
    replay: str | None
    duration_ms: int
    actions: list[Action]
    shot: Shot | None  # the screen after the step
    before: Shot | None = None  # the screen its actions were taken on, when that was left


def _target(selector: dict | None) -> tuple[str, str]:
    """(what the action aimed at, as the agent named it; the kind of element)."""
    if not selector:
        return "", ""
    name = next((str(selector[k]) for k in TARGET_KEYS if selector.get(k)), "")
    if not name:
        name = next((str(v) for k, v in selector.items() if k != "kind" and v), "")
    return name, str(selector.get("kind") or "")


def _radius(width: int | None) -> float:
    """The numbered badges' size, in screen pixels: readable once the shot is scaled down."""
    return max(8.0, (width or 360) / 22)


def _mark_class(kind: str) -> str:
    if kind in CHECKS:
        return "check"
    if kind in ("type", "clear"):
        return "type"
    if kind == "swipe":
        return "swipe"
    return "tap"


def _first_screen(view: dict) -> str | None:
    return next((a["screen"] for a in view["actions"] or [] if a.get("screen")), None)


def build_steps(views_: list[dict], keys: list[str | None],
                sizes: dict[str, tuple[int, int]]) -> list[Step]:
    """The steps with their actions drawn where they happened.

    A screenshot is taken after its step, but an action is taken on the screen before it (its
    record names that screen by fingerprint). A step that leaves its screen (a tap on Sign in)
    would have its marks land on the next screen; so each action is drawn on the screenshot
    whose screen it was taken on: the step's own, or an earlier step's (shown beside it as
    "before"). What screen a screenshot shows is the screen the next step's first action saw;
    for the last step (or the newest, while running) that is unknown: its own is used.
    """
    after = [_first_screen(v) for v in views_[1:]] + [None]
    steps: list[Step] = []
    for i, (view, key) in enumerate(zip(views_, keys, strict=True)):
        size = sizes.get(key or "")
        own = None
        if view["screenshot_url"]:
            own = Shot(view["screenshot_url"], key or "", *(size or (None, None)))
        before: Shot | None = None
        actions = []
        for number, a in enumerate(view["actions"] or [], 1):
            kind = a.get("action", "")
            target, element = _target(a.get("selector"))
            bounds = a.get("bounds")
            drawn = None
            if bounds and len(bounds) == 4:
                screen = a.get("screen")
                if own and own.width and (after[i] is None or screen in (None, after[i])):
                    own.mark(number, kind, bounds)
                    drawn = "after"
                else:
                    j = next((j for j in range(i - 1, -1, -1) if after[j] == screen), None)
                    earlier = keys[j] if j is not None else None
                    if earlier in sizes:  # one earlier screen per step: it is the usual case
                        if before is None:
                            before = Shot(views_[j]["screenshot_url"], earlier, *sizes[earlier],
                                          before=True)
                        if before.key == earlier:
                            before.mark(number, kind, bounds)
                            drawn = "before"
            value = a.get("value")
            actions.append(Action(number, kind, ACTION_WORDS.get(kind, kind.replace("_", " ")),
                                  target, element, None if value is None else str(value),
                                  drawn))
        steps.append(Step(view["index"] + 1, view["description"], view["status"],
                          view["reason"], view["replay"], view["duration_ms"], actions, own,
                          before))
    return steps


def duration(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return "—"
    return milliseconds(round((end - start).total_seconds() * 1000))


def milliseconds(ms: int | float) -> str:
    if ms < 1000:
        return f"{round(ms)} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s"


def _attempt(raw: str | None, attempts: int) -> tuple[int, str | None]:
    """The attempt to show, and a notice when the one asked for does not exist."""
    latest = max(attempts, 1)
    if raw is None or raw in ("", "latest"):
        return latest, None
    if raw.isascii() and raw.isdigit() and 1 <= int(raw) <= min(latest, MAX_ATTEMPT):
        return int(raw), None
    return latest, f"This run has no attempt “{raw[:20]}”; showing attempt {latest}."


async def _steps(ctx: Any, run_id: uuid.UUID, attempt: int, run: Any
                 ) -> tuple[list[Step], dict, queries.StepRows]:
    """The attempt's steps as the API shows them (links relative: same origin as the page)."""
    rows = await queries.step_rows(ctx.pg, run_id, attempt)
    trace = views.trace_view(run, rows, _page_link)
    shots = [r["screenshot_key"] for r in rows.steps if r["screenshot_key"]]
    sizes = await screen_sizes(ctx.blobs, shots)
    steps = build_steps(trace["steps"], [r["screenshot_key"] for r in rows.steps], sizes)
    return steps, trace, rows


def _pairs(steps: list[Step], baseline: list[Step]) -> list[tuple[int, Step | None, Step | None]]:
    by_number = {s.number: s for s in steps}
    base = {s.number: s for s in baseline}
    return [(n, by_number.get(n), base.get(n)) for n in sorted(by_number.keys() | base.keys())]


async def _context(request: Request, ctx: Any, viewer: Any, raw_id: str,
                   raw_attempt: str | None) -> dict:
    run_id = parse_id(raw_id, "Test run")
    run = await queries.run_row(ctx.pg, viewer.organization_id, run_id)
    if run is None:
        raise NotFound("Test run")
    attempt, notice = _attempt(raw_attempt, run["attempts"])
    steps, trace, rows = await _steps(ctx, run_id, attempt, run)
    log_tail: list[str] = []
    if trace["device_log_url"]:
        log_key = next(a["key"] for a in rows.artifacts if a["kind"] == "log")
        log_tail = await run_in_threadpool(_log_tail, ctx.blobs, log_key)
    baseline = baseline_steps = None
    if run["audit_source_run_id"]:
        baseline = await queries.run_row(ctx.pg, viewer.organization_id,
                                         run["audit_source_run_id"])
        if baseline is not None:
            baseline_steps, _, _ = await _steps(ctx, baseline["id"], max(baseline["attempts"], 1),
                                             baseline)
    final = run["status"] in TERMINAL
    explicit = raw_attempt not in (None, "", "latest") and notice is None
    live_url = None
    if not final:
        live_url = f"/test-runs/{run_id}/live" + (f"?attempt={attempt}" if explicit else "")
    audit = run["audit"] or None
    difference = (audit or {}).get("first_difference")
    return {
        "run": run,
        "api": views.run_view(run, ctx.settings.public_url, with_steps=False),
        "link": views.run_link(ctx.settings.public_url, run_id),
        "attempt": attempt,
        "latest": attempt == max(run["attempts"], 1),
        "notice": notice,
        "steps": steps,
        "trace": trace,
        "log_tail": log_tail,
        "final": final,
        "live_url": live_url,
        "baseline": baseline,
        "pairs": _pairs(steps, baseline_steps) if baseline_steps is not None else None,
        "audit": audit,
        "difference_step": difference["step"] if difference else None,
        "duration": duration(run["started_at"], run["finished_at"]),
        "ms": milliseconds,
        "title": f"{run['case_name']} · run",
    }


def _page_link(key: str) -> str:
    """screenshots/<run>/<name> -> /test-runs/<run>/files/screenshots/<name>"""
    directory, run_id, name = key.split("/", 2)
    return f"/test-runs/{run_id}/files/{directory}/{name}"


_FILES = {"screenshots": "image/png", "logs": "text/plain; charset=utf-8",
          "videos": "video/mp4"}
_OWNED = "SELECT 1 FROM test_runs WHERE id = $1 AND organization_id = $2"


@router.get("/test-runs/{run_id}/files/{directory}/{name}")
async def result_file(run_id: str, directory: str, name: str, viewer: SignedIn,
                      ctx: Ctx) -> Response:
    """A screenshot, device log or video chunk of one of the organization's runs. Never
    rewritten once stored (a key per attempt and step), so the browser may keep it."""
    run = parse_id(run_id, "Test run")
    key = keys.artifact_key(directory, str(run), name) if directory in _FILES else None
    if key is None or await ctx.pg.fetchval(_OWNED, run, viewer.organization_id) is None \
            or not await run_in_threadpool(ctx.blobs.exists, key):
        raise NotFound("File")
    size = await run_in_threadpool(ctx.blobs.size, key)
    return StreamingResponse(ctx.blobs.iter_bytes(key), media_type=_FILES[directory],
                             headers={"Content-Length": str(size),
                                      "Cache-Control": "private, max-age=86400"})


@router.get("/test-runs/{run_id}")
async def result_page(run_id: str, request: Request, viewer: SignedIn, ctx: Ctx,
                      attempt: str | None = None) -> Response:
    """The results page: header, failure, steps with their screenshots, log, video, audit."""
    context = await _context(request, ctx, viewer, run_id, attempt)
    return render(request, "runs/result.html", viewer, **context)


@router.get("/test-runs/{run_id}/live")
async def result_live(run_id: str, request: Request, viewer: SignedIn, ctx: Ctx,
                      attempt: str | None = None) -> Response:
    """The page's dynamic part alone, for app.js to swap in while the run is not final."""
    context = await _context(request, ctx, viewer, run_id, attempt)
    return render(request, "runs/result_live.html", viewer, **context)
