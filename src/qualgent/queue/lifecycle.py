"""A run's whole lifecycle, written from here only: enqueue, claim, renew, progress, record a
step, finish, requeue, reap, and with them the refund and the NOTIFY that wakes workers.

Every statement is named in this module, on asyncpg (see `qualgent.db.pool` for why). Each
is one round trip where it can be, because submitting, claiming and reporting are the hot
paths of the system. Every write a worker makes is conditioned on still holding the run
(`worker_id = me AND status = 'running'`), so a run whose lease was reaped and handed to
someone else is never finished twice.

Statuses are spelled with the enums of `qualgent.queue.states`, interpolated as literals:
the partial indexes (`WHERE status = 'queued'`) only serve statements that repeat their
predicate literally, never through a parameter.
"""

from __future__ import annotations

import functools
import json
import re
import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from qualgent.domain import DomainError
from qualgent.queue.states import CreditReason, FailureCategory, Priority, RunStatus

CHANNEL = "qualgent_runs"
"""Idle workers LISTEN here; every statement that makes a run claimable notifies it."""

QUEUED, RUNNING = RunStatus.QUEUED, RunStatus.RUNNING
FAILED, INFRA = RunStatus.FAILED, FailureCategory.INFRASTRUCTURE
DEBIT, REFUND = CreditReason.RUNS_QUEUED, CreditReason.REFUND_INFRASTRUCTURE

# The one NOTIFY. Inside a statement it is sent when that statement's transaction commits,
# so a woken worker always finds the runs.
_NOTIFY = f"pg_notify('{CHANNEL}', '')"

LOST_HOST = (
    "The device host stopped answering while this run was in progress, {attempts} time(s); "
    "the run was not retried further. Its credits were refunded."
)


class InsufficientCredits(DomainError):
    """The organization's balance does not cover the batch; nothing was written."""

    def __init__(self, required: int, available: int) -> None:
        super().__init__(f"This batch needs {required} credits and the organization has "
                         f"{available}.", required=required, available=available)
        self.required = required
        self.available = available


@dataclass(frozen=True)
class NewRun:
    """One run to queue, already validated and resolved by the caller."""

    test_case_id: uuid.UUID
    test_case_version_id: uuid.UUID
    version_number: int
    app_file_id: uuid.UUID
    device_name: str
    device_platform: str
    device_os_version: str | None
    device_orientation: str | None
    use_sim: bool
    resolved_steps: list[dict]
    vars: dict
    warnings: list[dict]
    priority: Priority = Priority.MEDIUM
    mode: str = "agent"
    cache_fallback: str | None = None
    recording_run_id: uuid.UUID | None = None
    audit_source_run_id: uuid.UUID | None = None


@dataclass(frozen=True)
class QueuedRun:
    id: uuid.UUID
    test_case_id: uuid.UUID
    status: RunStatus


@dataclass(frozen=True)
class Claimed:
    """A run this worker now holds on one of its devices, with what it needs to execute."""

    run_id: uuid.UUID
    build_key: str
    package_name: str
    device_id: uuid.UUID
    steps: list[str]
    attempt: int
    mode: str
    recording_run_id: uuid.UUID | None = None
    cache_fallback: str | None = None
    audit_source_run_id: uuid.UUID | None = None


@dataclass(frozen=True)
class Outcome:
    """How a run ended, as its worker reports it."""

    run_id: uuid.UUID
    status: RunStatus
    category: FailureCategory | None = None
    explanation: str | None = None
    replayed: int | None = None
    healed: int | None = None
    audit: dict | None = None


@dataclass(frozen=True)
class Renewal:
    alive: bool
    """False when the reaper declared this worker dead (it was silent for too long)."""
    held: frozenset[uuid.UUID]
    """The runs whose lease was renewed: the others are no longer ours."""


# --------------------------------------------------------------------------- refund

# The refund, defined once and used by `finish` and the reaper: it reads a CTE named
# `refundable (id, organization_id, credits_charged)` of runs that failed for infrastructure
# reasons, credits each organization once with their sum and writes one ledger row per run,
# each with the balance it left.
_REFUND = f"""
refund_total AS (
    SELECT organization_id, sum(credits_charged) AS total
    FROM refundable GROUP BY organization_id
), refunded AS (
    UPDATE organizations o SET credits = o.credits + t.total
    FROM refund_total t WHERE o.id = t.organization_id
    RETURNING o.id, o.credits - t.total AS before
), refund_ledger AS (
    INSERT INTO credit_ledger (organization_id, delta, balance_after, reason, test_run_id,
                               created_at)
    SELECT f.organization_id, f.credits_charged,
           o.before + sum(f.credits_charged) OVER (PARTITION BY f.organization_id ORDER BY f.id),
           '{REFUND}', f.id, now()
    FROM refundable f JOIN refunded o ON o.id = f.organization_id
)"""


# --------------------------------------------------------------------------- enqueue

# One statement, one round trip: lock the organization's row, check the balance, debit it,
# write the ledger row, insert every run, notify. Concurrent batches of one organization
# queue up on the row lock, so they can never overdraw it; short of credits, nothing is
# written (the `available` column says what there was). Runs of a batch are a microsecond
# apart, so they are claimed in the order they were submitted.
_ENQUEUE = f"""
WITH org AS MATERIALIZED (
    SELECT credits FROM organizations WHERE id = $1 FOR UPDATE
), debit AS (
    UPDATE organizations SET credits = credits - $2
    WHERE id = $1 AND (SELECT credits FROM org) >= $2
    RETURNING credits
), ledger AS (
    INSERT INTO credit_ledger (organization_id, delta, balance_after, reason, batch_id,
                               created_at)
    SELECT $1, -$2, credits, '{DEBIT}', $3, now() FROM debit
), queued AS (
    INSERT INTO test_runs (
        id, organization_id, batch_id, test_case_id, test_case_version_id, version_number,
        app_file_id, status, progress, priority, priority_rank, device_name, device_platform,
        device_os_version, device_orientation, use_sim, mode, cache_fallback, recording_run_id,
        audit_source_run_id, resolved_steps, vars, warnings, credits_charged, created_at)
    SELECT u.id, $1, $3, u.case_id, u.version_id, u.version_number, u.app_id, '{QUEUED}', 0,
           u.priority, u.priority_rank, u.device_name, u.platform, u.os_version, u.orientation,
           u.use_sim, u.mode, u.cache_fallback, u.recording_run_id, u.audit_source_run_id,
           u.steps::jsonb, u.vars::jsonb, u.warnings::jsonb, $4,
           now() + make_interval(secs => (u.n - 1) / 1e6)
    FROM unnest($5::uuid[], $6::uuid[], $7::uuid[], $8::int[], $9::uuid[], $10::text[],
                $11::smallint[], $12::text[], $13::text[], $14::text[], $15::text[],
                $16::bool[], $17::text[], $18::text[], $19::uuid[], $20::uuid[], $21::text[],
                $22::text[], $23::text[]) WITH ORDINALITY
         AS u(id, case_id, version_id, version_number, app_id, priority, priority_rank,
              device_name, platform, os_version, orientation, use_sim, mode, cache_fallback,
              recording_run_id, audit_source_run_id, steps, vars, warnings, n)
    WHERE EXISTS (SELECT FROM debit)
    RETURNING id
)
SELECT (SELECT credits FROM org) AS available,
       (SELECT count(*) FROM queued) AS queued,
       (SELECT count(*) FROM (SELECT {_NOTIFY} FROM debit) n) AS notified
"""


async def enqueue(pool: asyncpg.Pool | asyncpg.Connection, org_id: uuid.UUID,
                  runs: Sequence[NewRun], cost_per_run: int) -> list[QueuedRun]:
    """Debit the batch and queue all of its runs, or raise InsufficientCredits and write
    nothing. Runs come back in the order given. On a connection, inside the caller's
    transaction (an idempotent submission stores its key with the runs)."""
    if not runs:
        raise ValueError("enqueue needs at least one run")
    cost = cost_per_run * len(runs)
    ids = [uuid.uuid4() for _ in runs]
    columns: list[list[Any]] = [
        ids,
        [r.test_case_id for r in runs],
        [r.test_case_version_id for r in runs],
        [r.version_number for r in runs],
        [r.app_file_id for r in runs],
        [Priority(r.priority).value for r in runs],
        [Priority(r.priority).rank for r in runs],
        [r.device_name for r in runs],
        [r.device_platform for r in runs],
        [r.device_os_version for r in runs],
        [r.device_orientation for r in runs],
        [r.use_sim for r in runs],
        [r.mode for r in runs],
        [r.cache_fallback for r in runs],
        [r.recording_run_id for r in runs],
        [r.audit_source_run_id for r in runs],
        [json.dumps(r.resolved_steps) for r in runs],
        [json.dumps(r.vars) for r in runs],
        [json.dumps(r.warnings) for r in runs],
    ]
    row = await pool.fetchrow(_ENQUEUE, org_id, cost, uuid.uuid4(), cost_per_run, *columns)
    if row is None or row["available"] is None:
        raise LookupError(f"organization {org_id} does not exist")
    if row["queued"] != len(runs):
        raise InsufficientCredits(cost, row["available"])
    return [QueuedRun(run_id, r.test_case_id, QUEUED) for run_id, r in zip(ids, runs, strict=True)]


# --------------------------------------------------------------------------- claim

# The run/device match, in one place for the candidate filter and the pairing.
_MATCH = """d.name = r.device_name AND d.platform = r.device_platform
          AND (r.device_os_version IS NULL OR d.os_version = r.device_os_version)
          AND (NOT r.use_sim OR d.sms_enabled)"""

# Up to one run per idle device of this worker, in one statement, shared fairly between
# organizations.
#  idle:       this worker's idle devices (not busy here either: $4), locked; SKIP LOCKED so
#              two claims of one worker never book the same device.
#  queued_org: the organizations with queued runs, one probe of ix_test_runs_org_queue each
#              (a loose index scan): never a walk over the runs themselves. The ORDER BY
#              names the index's leading columns so that only this partial index serves it
#              (ix_test_runs_org_created would walk every run the organization ever had).
#  org:        each one's cap (its own max_concurrent_runs, else its plan's; 0: no cap), its
#              running runs and when it was last served (its latest start).
#  candidate:  for each organization under its cap and each profile among the idle devices
#              (name, platform, OS, SIM), its own oldest highest-priority queued runs that
#              profile can take, as many as there are idle devices (at most $3) and no more
#              than its free slots. LIMIT + SKIP LOCKED in a MATERIALIZED CTE, so the planner
#              cannot update more rows than it locked; each walks ix_test_runs_org_queue in
#              order. The cost grows with organizations x profiles x idle devices, never with
#              the length of any organization's queue.
#  slot:       the capped organizations among the candidates, counted again under a lock
#              (qualgent_claim_running, migration 0009): an advisory lock per organization,
#              held to commit, then a count on a fresh snapshot; two claimers can never both
#              take an organization's last free slot.
#  ranked:     the claim order, round robin across organizations: k = a run's place in its
#              organization's own candidates (priority, then age: priority holds within an
#              organization), ordered by the organization's running runs + k, then the
#              organization served longest ago (never first), then priority and age. An
#              organization with 1000 queued runs and 80 running waits behind one with 0
#              running; with one device, organizations take turns.
#  pairing:    in claim order, each candidate takes the first matching device no earlier run
#              took, devices without a SIM first (keeping SIM devices for the runs that need
#              one), while its organization has a free slot, until $3 are paired. Unpaired
#              candidates stay queued (their locks end with the statement).
# Then the devices are marked busy and the runs running, with a lease (`= ANY (ARRAY(...))`
# keeps both updates on the primary keys: the planner cannot tell how few rows `paired` has).
_CLAIM_TEMPLATE = f"""
WITH RECURSIVE idle AS MATERIALIZED (
    SELECT d.id, d.name, d.platform, d.os_version, d.sms_enabled
    FROM devices d
    WHERE d.worker_id = $1 AND d.available AND d.current_run_id IS NULL
      AND d.id <> ALL ($4::uuid[])
    FOR UPDATE SKIP LOCKED
), profile AS (
    SELECT DISTINCT name, platform, os_version, sms_enabled FROM idle
), want AS MATERIALIZED (
    SELECT least($3, count(*))::int AS n FROM idle
), queued_org (id) AS (
    (SELECT r.organization_id FROM test_runs r
     WHERE r.status = '{QUEUED}' AND EXISTS (SELECT FROM idle)
     ORDER BY r.organization_id, r.device_platform, r.device_name LIMIT 1)
    UNION ALL
    SELECT (SELECT r.organization_id FROM test_runs r
            WHERE r.status = '{QUEUED}' AND r.organization_id > q.id
            ORDER BY r.organization_id, r.device_platform, r.device_name LIMIT 1)
    FROM queued_org q WHERE q.id IS NOT NULL
), org AS MATERIALIZED (
    SELECT o.id, c.cap,
           (SELECT count(*) FROM test_runs x
            WHERE x.organization_id = o.id AND x.status = '{RUNNING}') AS running,
           (SELECT max(x.started_at) FROM test_runs x
            WHERE x.organization_id = o.id AND x.started_at IS NOT NULL) AS served
    FROM queued_org q
    JOIN organizations o ON o.id = q.id
    CROSS JOIN LATERAL (
        SELECT coalesce(o.max_concurrent_runs,
                        {{plan_cap}}) AS cap
    ) c
), candidate AS MATERIALIZED (
    SELECT DISTINCT r.id, r.organization_id, r.device_name, r.device_platform,
           r.device_os_version, r.use_sim, r.priority_rank, r.created_at
    FROM org o CROSS JOIN want w CROSS JOIN profile d CROSS JOIN LATERAL (
        SELECT r.id, r.organization_id, r.device_name, r.device_platform, r.device_os_version,
               r.use_sim, r.priority_rank, r.created_at
        FROM test_runs r
        WHERE r.status = '{QUEUED}' AND r.organization_id = o.id AND {_MATCH}
        ORDER BY r.priority_rank DESC, r.created_at, r.id
        LIMIT CASE WHEN o.cap = 0 THEN w.n ELSE least(w.n, greatest(o.cap - o.running, 0)) END
        FOR UPDATE OF r SKIP LOCKED
    ) r
    WHERE o.cap = 0 OR o.running < o.cap
), slot AS MATERIALIZED (
    SELECT s.organization_id, s.running
    FROM (SELECT ARRAY(SELECT DISTINCT c.organization_id
                       FROM candidate c JOIN org o ON o.id = c.organization_id
                       WHERE o.cap > 0) AS orgs) capped
    CROSS JOIN LATERAL qualgent_claim_running(capped.orgs) s
    WHERE cardinality(capped.orgs) > 0
), ranked AS MATERIALIZED (
    SELECT c.*, CASE WHEN o.cap > 0 THEN o.cap - s.running END AS slots,
           row_number() OVER (ORDER BY coalesce(s.running, o.running) + c.k,
                                       o.served NULLS FIRST, c.priority_rank DESC,
                                       c.created_at, c.id) AS n
    FROM (
        SELECT c.*, row_number() OVER (PARTITION BY c.organization_id
                                       ORDER BY c.priority_rank DESC, c.created_at, c.id) AS k
        FROM candidate c
    ) c
    JOIN org o ON o.id = c.organization_id
    LEFT JOIN slot s ON s.organization_id = c.organization_id
), pairing (n, run_id, device_id, taken, capped) AS (
    SELECT 0::bigint, NULL::uuid, NULL::uuid, ARRAY[]::uuid[], ARRAY[]::uuid[]
    UNION ALL
    SELECT r.n, r.id, pick.id, array_remove(p.taken || pick.id, NULL),
           CASE WHEN pick.id IS NULL OR r.slots IS NULL THEN p.capped
                ELSE p.capped || r.organization_id END
    FROM pairing p
    JOIN ranked r ON r.n = p.n + 1 AND cardinality(p.taken) < $3
    LEFT JOIN LATERAL (
        SELECT d.id FROM idle d
        WHERE {_MATCH} AND d.id <> ALL (p.taken)
          AND (r.slots IS NULL
               OR cardinality(array_positions(p.capped, r.organization_id)) < r.slots)
        ORDER BY d.sms_enabled, d.id
        LIMIT 1
    ) pick ON true
), paired AS MATERIALIZED (
    SELECT run_id, device_id FROM pairing WHERE device_id IS NOT NULL
), busy AS (
    UPDATE devices d SET current_run_id = p.run_id
    FROM paired p
    WHERE d.id = p.device_id AND d.id = ANY (ARRAY(SELECT device_id FROM paired))
)
UPDATE test_runs r
SET status = '{RUNNING}', worker_id = $1, device_id = p.device_id, progress = 0,
    lease_expires_at = now() + make_interval(secs => $2), attempts = r.attempts + 1,
    started_at = coalesce(r.started_at, now()), planner = $5, planner_model = $6
FROM paired p, app_files a
WHERE r.id = p.run_id AND r.id = ANY (ARRAY(SELECT run_id FROM paired))
  AND a.id = r.app_file_id
RETURNING r.id, a.file_path, a.package_name, p.device_id,
          r.resolved_steps, r.attempts, r.mode, r.recording_run_id, r.cache_fallback,
          r.audit_source_run_id
"""


_PLAN_NAME = re.compile(r"[a-z][a-z0-9_-]*")


@functools.lru_cache(maxsize=8)
def _claim_sql(caps: tuple[tuple[str, int], ...]) -> str:
    """The claim with the plans' caps written in as literals: a settings value, fixed per
    process, so one prepared statement, and the statement's parameters stay those of
    `_CLAIM` (benchmarks EXPLAIN it with them). Names are checked by `plan_caps`."""
    whens = " ".join(f"WHEN '{plan}' THEN {int(cap)}" for plan, cap in caps)
    return _CLAIM_TEMPLATE.replace("{plan_cap}", f"CASE o.plan {whens} ELSE 0 END"
                                   if whens else "0")


_CLAIM = _claim_sql(())
"""The claim with no cap by plan (an organization's own max_concurrent_runs still holds)."""


def plan_caps(spec: str | Mapping[str, int] | None) -> dict[str, int]:
    """`"enterprise=0,free=2"` (settings.plan_concurrency) as {plan: cap}; 0 is no cap.
    Raises ValueError, naming the bad entry, on anything else."""
    if spec is None:
        return {}
    if isinstance(spec, Mapping):
        items = list(spec.items())
    else:
        items = []
        for part in filter(None, (p.strip() for p in spec.split(","))):
            plan, sep, cap = part.partition("=")
            if not sep or not _PLAN_NAME.fullmatch(plan.strip()) or not cap.strip().isdigit():
                raise ValueError(f"plan_concurrency: {part!r} is not plan=N (N >= 0)")
            items.append((plan.strip(), int(cap)))
    caps = {str(plan): int(cap) for plan, cap in items}
    if any(cap < 0 for cap in caps.values()) or not all(map(_PLAN_NAME.fullmatch, caps)):
        raise ValueError(f"plan_concurrency: {caps!r} needs plan names and caps >= 0")
    return caps


async def claim(pool: asyncpg.Pool, worker_id: uuid.UUID, lease_s: float, *, limit: int = 1,
                busy: Collection[uuid.UUID] = (), planner: str | None = None,
                planner_model: str | None = None,
                concurrency: str | Mapping[str, int] | None = None) -> list[Claimed]:
    """Claim up to `limit` runs, each on a distinct idle device of this worker (never one in
    `busy`: devices the worker knows it is still using, whatever the database says), shared
    fairly between organizations and within each organization's cap.

    `concurrency`: the caps by plan (settings.plan_concurrency, "enterprise=0,free=2"; 0 or
    absent: no cap); an organization's own max_concurrent_runs overrides its plan's.

    `planner` / `planner_model`: what this worker plans steps with (its settings), recorded on
    each run it claims. Recorded here because the host knows it before the run starts (the
    status shows it while the run is in flight), it costs no extra round trip, and a retry on
    another host records that host's choice: the planner of the latest attempt."""
    if limit < 1:
        return []
    sql = _claim_sql(tuple(sorted(plan_caps(concurrency).items())))
    rows = await pool.fetch(sql, worker_id, float(lease_s), limit, list(busy), planner,
                            planner_model)
    return [
        Claimed(
            run_id=row["id"], build_key=row["file_path"],
            package_name=row["package_name"], device_id=row["device_id"],
            steps=[s["description"] for s in row["resolved_steps"]], attempt=row["attempts"],
            mode=row["mode"], recording_run_id=row["recording_run_id"],
            cache_fallback=row["cache_fallback"], audit_source_run_id=row["audit_source_run_id"],
        )
        for row in rows
    ]


# --------------------------------------------------------------------------- while running

# The worker's heartbeat and the leases of its runs, in one round trip. A worker the reaper
# declared dead renews nothing: its runs were (or will be) returned to the queue.
_RENEW = f"""
WITH w AS (
    UPDATE workers SET heartbeat_at = now() WHERE id = $1 AND stopped_at IS NULL RETURNING id
), seen AS (
    UPDATE devices SET last_seen_at = now() WHERE worker_id IN (SELECT id FROM w)
), held AS (
    UPDATE test_runs SET lease_expires_at = now() + make_interval(secs => $3)
    WHERE id = ANY ($2::uuid[]) AND worker_id = $1 AND status = '{RUNNING}'
      AND EXISTS (SELECT FROM w)
    RETURNING id
)
SELECT EXISTS (SELECT FROM w) AS alive, ARRAY(SELECT id FROM held) AS held
"""

# The step and the run's progress in one round trip, only while the run is ours.
_STEP = f"""
WITH held AS (
    UPDATE test_runs SET progress = coalesce($13::smallint, progress)
    WHERE id = $1 AND worker_id = $2 AND status = '{RUNNING}'
    RETURNING id
)
INSERT INTO run_steps (test_run_id, attempt, index, description, status, actions,
                       screenshot_key, reason, started_at, finished_at, replay, usage)
SELECT $1, $3, $4, $5, $6, $7, $8, $9, to_timestamp($10), to_timestamp($11), $12, $14::jsonb
WHERE EXISTS (SELECT FROM held)
ON CONFLICT (test_run_id, attempt, index) DO UPDATE
SET status = EXCLUDED.status, actions = EXCLUDED.actions,
    screenshot_key = EXCLUDED.screenshot_key, reason = EXCLUDED.reason,
    finished_at = EXCLUDED.finished_at, replay = EXCLUDED.replay, usage = EXCLUDED.usage
"""

# A run's trace as its worker recorded it: its last attempt's steps.
_TRACE = """
SELECT s.index, s.description, s.status, s.actions, s.reason
FROM run_steps s JOIN test_runs r ON r.id = s.test_run_id AND s.attempt = r.attempts
WHERE s.test_run_id = $1 ORDER BY s.index
"""


async def renew(pool: asyncpg.Pool, worker_id: uuid.UUID, run_ids: Collection[uuid.UUID],
                lease_s: float) -> Renewal:
    row = await pool.fetchrow(_RENEW, worker_id, list(run_ids), float(lease_s))
    assert row is not None
    return Renewal(alive=row["alive"], held=frozenset(row["held"]))


async def record_step(pool: asyncpg.Pool, run_id: uuid.UUID, worker_id: uuid.UUID,
                      attempt: int, step: dict[str, Any], progress: int | None = None) -> bool:
    """Write a step (and the run's progress); False when the run is no longer ours: nothing
    was written. step["usage"]: the model's cost ({"input_tokens", "output_tokens",
    "latency_ms", "calls"}) when a model planned it, else absent or None."""
    status = await pool.execute(
        _STEP, run_id, worker_id, attempt, step["index"], step["description"], step["status"],
        step["actions"], step.get("screenshot_key"), step.get("reason"),
        step["started_at"], step["finished_at"], step.get("replay"), progress,
        step.get("usage"),
    )
    return status == "INSERT 0 1"


@dataclass(frozen=True)
class Artifact:
    """A stored file of a run attempt: its device log, or one chunk of its video."""

    kind: str  # "log" | "video"
    seq: int  # 1.. in order (video chunks)
    key: str  # blob key (storage.keys)
    bytes: int


# A run attempt's log and video chunks, only while the run is ours; FOR SHARE keeps the reaper
# (FOR UPDATE SKIP LOCKED) from taking the run between the check and the insert.
_ARTIFACTS = f"""
WITH held AS (
    SELECT id FROM test_runs
    WHERE id = $1 AND worker_id = $2 AND status = '{RUNNING}'
    FOR SHARE
)
INSERT INTO run_artifacts (test_run_id, attempt, kind, seq, key, bytes)
SELECT $1, $3, u.kind, u.seq, u.key, u.bytes
FROM unnest($4::text[], $5::int[], $6::text[], $7::bigint[]) AS u(kind, seq, key, bytes)
WHERE EXISTS (SELECT FROM held)
ON CONFLICT (test_run_id, attempt, kind, seq) DO UPDATE
SET key = EXCLUDED.key, bytes = EXCLUDED.bytes
"""


async def record_artifacts(pool: asyncpg.Pool, run_id: uuid.UUID, worker_id: uuid.UUID,
                           attempt: int, artifacts: Sequence[Artifact]) -> bool:
    """Record stored artifacts of an attempt; False when the run is no longer ours: nothing
    was written."""
    if not artifacts:
        return True
    status = await pool.execute(
        _ARTIFACTS, run_id, worker_id, attempt, [a.kind for a in artifacts],
        [a.seq for a in artifacts], [a.key for a in artifacts], [a.bytes for a in artifacts])
    return status == f"INSERT 0 {len(artifacts)}"


async def trace(pool: asyncpg.Pool, run_id: uuid.UUID) -> list[dict]:
    return [dict(r) for r in await pool.fetch(_TRACE, run_id)]


# --------------------------------------------------------------------------- finish

# Any number of one worker's runs in one statement: each outcome, the devices freed, and for
# infrastructure failures the refund with its ledger rows, only for runs still ours. (The
# `= ANY` conditions keep the updates on primary keys whatever the planner guesses.)
_FINISH = f"""
WITH outcome AS (
    SELECT * FROM unnest($2::uuid[], $3::text[], $4::text[], $5::text[], $6::int[],
                         $7::int[], $8::text[])
             AS o(run_id, status, category, explanation, replayed, healed, audit)
), done AS (
    UPDATE test_runs r
    SET status = o.status, progress = 100, failure_category = o.category,
        explanation = o.explanation, finished_at = now(), lease_expires_at = NULL,
        replayed_steps = o.replayed, healed_steps = o.healed, audit = o.audit::jsonb
    FROM outcome o
    WHERE r.id = o.run_id AND r.id = ANY ($2::uuid[]) AND r.worker_id = $1
      AND r.status = '{RUNNING}'
    RETURNING r.id, r.organization_id, r.credits_charged, r.device_id, o.status, o.category
), freed AS (
    UPDATE devices d SET current_run_id = NULL
    FROM done
    WHERE d.id = done.device_id AND d.id = ANY (ARRAY(SELECT device_id FROM done))
      AND d.current_run_id = done.id
), refundable AS (
    SELECT id, organization_id, credits_charged FROM done
    WHERE status = '{FAILED}' AND category = '{INFRA}' AND credits_charged > 0
), {_REFUND}
SELECT id FROM done
"""


async def finish(pool: asyncpg.Pool, worker_id: uuid.UUID,
                 outcomes: Sequence[Outcome]) -> set[uuid.UUID]:
    """Write the outcomes of runs this worker still holds; returns those it wrote (a run
    reaped and handed to someone else is left alone)."""
    if not outcomes:
        return set()
    rows = await pool.fetch(
        _FINISH, worker_id,
        [o.run_id for o in outcomes],
        [RunStatus(o.status).value for o in outcomes],
        [o.category and FailureCategory(o.category).value for o in outcomes],
        [o.explanation for o in outcomes],
        [o.replayed for o in outcomes],
        [o.healed for o in outcomes],
        [None if o.audit is None else json.dumps(o.audit) for o in outcomes],
    )
    return {r["id"] for r in rows}


# --------------------------------------------------------------------------- hand back

# Back to the queue; `count_attempt` false when the worker hands it back unfinished on
# shutdown. The device is freed and idle workers are woken.
_REQUEUE = f"""
WITH back AS (
    UPDATE test_runs r
    SET status = '{QUEUED}', worker_id = NULL, device_id = NULL, lease_expires_at = NULL,
        progress = 0, attempts = CASE WHEN $3 THEN r.attempts ELSE r.attempts - 1 END
    FROM test_runs held
    WHERE held.id = r.id AND r.id = $1 AND r.worker_id = $2 AND r.status = '{RUNNING}'
    RETURNING r.id, held.device_id
), freed AS (
    UPDATE devices d SET current_run_id = NULL
    FROM back WHERE d.id = back.device_id AND d.current_run_id = back.id
)
SELECT count(*) AS back, (SELECT count(*) FROM (SELECT {_NOTIFY} FROM back) n) AS notified
FROM back
"""

# A worker that lost a run (reaped while it ran) frees its device's mark.
_RELEASE_DEVICE = "UPDATE devices SET current_run_id = NULL WHERE id = $1 AND current_run_id = $2"


async def requeue(pool: asyncpg.Pool, run_id: uuid.UUID, worker_id: uuid.UUID,
                  count_attempt: bool) -> bool:
    return (await pool.fetchval(_REQUEUE, run_id, worker_id, count_attempt)) == 1


async def release_device(pool: asyncpg.Pool, device_id: uuid.UUID, run_id: uuid.UUID) -> None:
    await pool.execute(_RELEASE_DEVICE, device_id, run_id)


# --------------------------------------------------------------------------- reap

# Devices of workers whose heartbeat stopped are not in the pool; their busy marks are stale.
_DEAD_WORKERS = """
WITH dead AS (
    UPDATE workers SET stopped_at = now()
    WHERE stopped_at IS NULL AND heartbeat_at < now() - make_interval(secs => $1)
    RETURNING id
)
UPDATE devices SET available = false, current_run_id = NULL
WHERE worker_id IN (SELECT id FROM dead)
"""

# Runs whose lease expired: back to the queue a bounded number of times, then failed with an
# explanation and refunded. Stalls are detected by a missed heartbeat, never by run time.
_EXPIRE = f"""
WITH expired AS MATERIALIZED (
    SELECT id, attempts FROM test_runs
    WHERE status = '{RUNNING}' AND lease_expires_at < now()
    FOR UPDATE SKIP LOCKED
), requeued AS (
    UPDATE test_runs r
    SET status = '{QUEUED}', worker_id = NULL, device_id = NULL, lease_expires_at = NULL,
        progress = 0
    FROM expired e WHERE r.id = e.id AND e.attempts < $1
    RETURNING r.id
), failed AS (
    UPDATE test_runs r
    SET status = '{FAILED}', progress = 100, failure_category = '{INFRA}',
        explanation = replace($2, '{{attempts}}', r.attempts::text), finished_at = now(),
        worker_id = NULL, lease_expires_at = NULL
    FROM expired e WHERE r.id = e.id AND e.attempts >= $1
    RETURNING r.id, r.organization_id, r.credits_charged
), refundable AS (
    SELECT id, organization_id, credits_charged FROM failed WHERE credits_charged > 0
), {_REFUND}
SELECT ARRAY(SELECT id FROM requeued) AS requeued, ARRAY(SELECT id FROM failed) AS failed,
       (SELECT count(*) FROM (SELECT {_NOTIFY} FROM requeued LIMIT 1) n) AS notified
"""

# A device marked busy with a run that is not running on it any more (reaped, finished by
# an earlier holder) is free again.
_STALE_DEVICE_MARKS = f"""
UPDATE devices d SET current_run_id = NULL
WHERE current_run_id IS NOT NULL AND NOT EXISTS (
    SELECT FROM test_runs r
    WHERE r.id = d.current_run_id AND r.status = '{RUNNING}' AND r.device_id = d.id)
"""


@dataclass(frozen=True)
class Reaped:
    requeued: list[uuid.UUID]
    failed: list[uuid.UUID]


async def reap(pool: asyncpg.Pool, max_attempts: int, worker_timeout_s: float) -> Reaped:
    """One pass; any process may run it: what it changes it locks, so reapers agree."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(_DEAD_WORKERS, float(worker_timeout_s))
        row = await conn.fetchrow(_EXPIRE, max_attempts, LOST_HOST)
        await conn.execute(_STALE_DEVICE_MARKS)
    assert row is not None
    return Reaped(list(row["requeued"]), list(row["failed"]))
