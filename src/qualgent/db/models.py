"""The relational model. Every org-owned row carries organization_id; queries filter by it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def _uuid() -> Mapped[uuid.UUID]:
    return mapped_column(UUID(as_uuid=True), primary_key=True, default=uuid.uuid4)


def _created() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


def _org() -> Mapped[uuid.UUID]:
    return mapped_column(
        UUID(as_uuid=True), ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False
    )


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSONB, list[Any]: JSONB}


class Organization(Base):
    __tablename__ = "organizations"
    __table_args__ = (
        CheckConstraint("credits >= 0", name="credits_not_negative"),
        CheckConstraint("plan IN ('enterprise', 'free')", name="plan_known"),
        CheckConstraint("max_concurrent_runs >= 0", name="max_concurrent_runs_not_negative"),
    )
    id: Mapped[uuid.UUID] = _uuid()
    name: Mapped[str] = mapped_column(Text)
    plan: Mapped[str] = mapped_column(String(20), default="enterprise")
    credits: Mapped[int] = mapped_column(BigInteger, default=0)
    max_concurrent_runs: Mapped[int | None] = mapped_column(Integer)
    """Runs it may have running at once (0: no cap); NULL: its plan's (plan_concurrency)."""
    created_at: Mapped[datetime] = _created()


class User(Base):
    __tablename__ = "users"
    id: Mapped[uuid.UUID] = _uuid()
    organization_id: Mapped[uuid.UUID] = _org()
    name: Mapped[str] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(Text)
    password_hash: Mapped[str | None] = mapped_column(Text)
    """argon2id; null for the operator-made owner of `qualgent admin create-org`."""
    role: Mapped[str] = mapped_column(String(10), default="owner")
    created_at: Mapped[datetime] = _created()


class ApiKey(Base):
    """Only the SHA-256 of a key is kept; `prefix` lets people tell keys apart."""

    __tablename__ = "api_keys"
    id: Mapped[uuid.UUID] = _uuid()
    organization_id: Mapped[uuid.UUID] = _org()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    key_hash: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = _created()
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    """Set when a process looks the key up (at most once per key cache period)."""


class WebSession(Base):
    """A signed-in browser. Only the SHA-256 of the cookie's token is kept."""

    __tablename__ = "web_sessions"
    token_hash: Mapped[bytes] = mapped_column(LargeBinary, primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    csrf_token: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = _created()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Invitation(Base):
    """A link that lets one person join an organization with a role."""

    __tablename__ = "invitations"
    id: Mapped[uuid.UUID] = _uuid()
    organization_id: Mapped[uuid.UUID] = _org()
    token_hash: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    role: Mapped[str] = mapped_column(String(10))
    created_by: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = _created()
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class CreditLedger(Base):
    """Every change to an organization's balance, with the balance it left."""

    __tablename__ = "credit_ledger"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    organization_id: Mapped[uuid.UUID] = _org()
    delta: Mapped[int] = mapped_column(BigInteger)
    balance_after: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(40))
    batch_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    test_run_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    created_at: Mapped[datetime] = _created()


class Category(Base):
    __tablename__ = "categories"
    __table_args__ = (UniqueConstraint("organization_id", "name"),)
    id: Mapped[uuid.UUID] = _uuid()
    organization_id: Mapped[uuid.UUID] = _org()
    name: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = _created()


class TestCase(Base):
    """The mutable head of a test case; its content lives in immutable versions."""

    __test__ = False  # not a pytest class
    __tablename__ = "test_cases"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'archived')", name="status_known"),
        Index("ix_test_cases_org_status", "organization_id", "status"),
    )
    id: Mapped[uuid.UUID] = _uuid()
    organization_id: Mapped[uuid.UUID] = _org()
    category_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("categories.id", ondelete="SET NULL")
    )
    name: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), default="active")
    current_version_number: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = _created()
    updated_at: Mapped[datetime] = _created()


class TestCaseVersion(Base):
    __test__ = False  # not a pytest class
    __tablename__ = "test_case_versions"
    __table_args__ = (UniqueConstraint("test_case_id", "version_number"),)
    id: Mapped[uuid.UUID] = _uuid()
    organization_id: Mapped[uuid.UUID] = _org()
    test_case_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("test_cases.id", ondelete="CASCADE")
    )
    version_number: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    category_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    steps: Mapped[list[Any]] = mapped_column(JSONB)
    variables: Mapped[list[Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = _created()


class AppFile(Base):
    __tablename__ = "app_files"
    __table_args__ = (Index("ix_app_files_org_created", "organization_id", "created_at"),)
    id: Mapped[uuid.UUID] = _uuid()
    organization_id: Mapped[uuid.UUID] = _org()
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id"))
    file_path: Mapped[str] = mapped_column(Text)
    filename: Mapped[str] = mapped_column(Text)
    original_name: Mapped[str] = mapped_column(Text)
    file_size: Mapped[int] = mapped_column(BigInteger)
    file_type: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    app_name: Mapped[str] = mapped_column(Text)
    version: Mapped[str] = mapped_column(Text)
    os: Mapped[str] = mapped_column(String(10))
    package_name: Mapped[str] = mapped_column(Text)
    version_name: Mapped[str | None] = mapped_column(Text)
    version_code: Mapped[str | None] = mapped_column(Text)
    label: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created()
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Worker(Base):
    """A device host process (`qualgent worker`), alive while its heartbeat is fresh."""

    __tablename__ = "workers"
    id: Mapped[uuid.UUID] = _uuid()
    host: Mapped[str] = mapped_column(Text)
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = _created()
    heartbeat_at: Mapped[datetime] = _created()
    stopped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Device(Base):
    """A device in the shared pool: a catalog profile (no worker) or a worker's device."""

    __tablename__ = "devices"
    __table_args__ = (
        CheckConstraint("platform IN ('Android', 'iOS')", name="platform_known"),
        CheckConstraint("form_factor IN ('phone', 'tablet')", name="form_factor_known"),
    )
    id: Mapped[uuid.UUID] = _uuid()
    name: Mapped[str] = mapped_column(Text)
    platform: Mapped[str] = mapped_column(String(10))
    os_version: Mapped[str] = mapped_column(Text)
    form_factor: Mapped[str] = mapped_column(String(10), default="phone")
    sms_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    available: Mapped[bool] = mapped_column(Boolean, default=True)
    host: Mapped[str | None] = mapped_column(Text)
    serial: Mapped[str | None] = mapped_column(Text)
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = _created()
    worker_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("workers.id", ondelete="CASCADE")
    )
    current_run_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))


class TestRun(Base):
    __test__ = False  # not a pytest class
    __tablename__ = "test_runs"
    __table_args__ = (
        CheckConstraint(
            "status IN ('queued', 'running', 'passed', 'failed', 'completed')",
            name="status_known",
        ),
        CheckConstraint("progress BETWEEN 0 AND 100", name="progress_range"),
        Index("ix_test_runs_org_created", "organization_id", "created_at", "id"),
        Index(
            "ix_test_runs_queue",
            text("priority_rank DESC"),
            "created_at",
            "id",
            postgresql_where="status = 'queued'",
        ),
        Index("ix_test_runs_lease", "lease_expires_at", postgresql_where="status = 'running'"),
        Index("ix_test_runs_case_created", "test_case_id", "created_at"),
        Index("ix_test_runs_org_queue", "organization_id", "device_platform", "device_name",
              text("priority_rank DESC"), "created_at", "id",
              postgresql_where="status = 'queued'"),
        Index("ix_test_runs_org_running", "organization_id",
              postgresql_where="status = 'running'"),
        Index("ix_test_runs_org_started", "organization_id", "started_at",
              postgresql_where="started_at IS NOT NULL"),
        Index("ix_test_runs_finished_unpruned", "finished_at",
              postgresql_where="finished_at IS NOT NULL AND artifacts_pruned_at IS NULL"),
    )
    id: Mapped[uuid.UUID] = _uuid()
    organization_id: Mapped[uuid.UUID] = _org()
    batch_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    test_case_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("test_cases.id"))
    test_case_version_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("test_case_versions.id"))
    version_number: Mapped[int] = mapped_column(Integer)
    app_file_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("app_files.id"))
    status: Mapped[str] = mapped_column(String(12), default="queued")
    progress: Mapped[int] = mapped_column(SmallInteger, default=0)
    priority: Mapped[str] = mapped_column(String(8), default="medium")
    priority_rank: Mapped[int] = mapped_column(SmallInteger, default=1)
    device_name: Mapped[str] = mapped_column(Text)
    device_platform: Mapped[str] = mapped_column(String(10))
    device_os_version: Mapped[str | None] = mapped_column(Text)
    device_orientation: Mapped[str | None] = mapped_column(String(10))
    use_sim: Mapped[bool] = mapped_column(Boolean, default=False)
    mode: Mapped[str] = mapped_column(String(10), default="agent")
    vars: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    resolved_steps: Mapped[list[Any]] = mapped_column(JSONB)
    warnings: Mapped[list[Any]] = mapped_column(JSONB, default=list)
    audit_source_run_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    credits_charged: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = _created()
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Execution: who holds the run, until when, and how it ended.
    worker_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    device_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    failure_category: Mapped[str | None] = mapped_column(String(16))
    explanation: Mapped[str | None] = mapped_column(Text)
    # Cached runs replay the recording's actions; where the screen diverged, the agent heals.
    recording_run_id: Mapped[uuid.UUID | None] = mapped_column(UUID(as_uuid=True))
    cache_fallback: Mapped[str | None] = mapped_column(String(8))
    replayed_steps: Mapped[int | None] = mapped_column(Integer)
    healed_steps: Mapped[int | None] = mapped_column(Integer)
    audit: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    # Retention: screenshots (and later logs, videos) removed; the run row and its trace stay.
    artifacts_pruned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # What planned its steps: rules | llm | hybrid, and the model when one was used.
    planner: Mapped[str | None] = mapped_column(Text)
    planner_model: Mapped[str | None] = mapped_column(Text)


class RunStep(Base):
    """One step of one attempt of a run: what the agent saw, did and concluded."""

    __tablename__ = "run_steps"
    __table_args__ = (UniqueConstraint("test_run_id", "attempt", "index"),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    test_run_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("test_runs.id", ondelete="CASCADE")
    )
    attempt: Mapped[int] = mapped_column(Integer)
    index: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10))
    actions: Mapped[list[Any]] = mapped_column(JSONB)
    screenshot_key: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    replay: Mapped[str | None] = mapped_column(String(10))  # cached runs: replayed | healed
    usage: Mapped[dict[str, Any] | None] = mapped_column(JSONB)  # the model's tokens, time, calls
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class DeviceNumber(Base):
    """A provider phone number assigned to a device (by serial), for its SMS codes."""

    __tablename__ = "device_numbers"
    serial: Mapped[str] = mapped_column(Text, primary_key=True)
    phone_number: Mapped[str] = mapped_column(Text, unique=True)
    assigned_at: Mapped[datetime] = _created()


class InboundSms(Base):
    """A text received by a provider number (Twilio-compatible webhook)."""

    __tablename__ = "inbound_sms"
    __table_args__ = (Index("ix_inbound_sms_to_received", "to_number", "received_at"),)
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    to_number: Mapped[str] = mapped_column(Text)
    from_number: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    message_sid: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = _created()


class RunArtifact(Base):
    """A run attempt's device log or a chunk of its video, stored under `key`."""

    __tablename__ = "run_artifacts"
    __table_args__ = (CheckConstraint("kind IN ('log', 'video')", name="artifact_kind_known"),)
    test_run_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("test_runs.id", ondelete="CASCADE"), primary_key=True
    )
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(Text)
    bytes: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = _created()


class IdempotencyKey(Base):
    """The first answer to a submission sent with an Idempotency-Key (kept 24 hours)."""

    __tablename__ = "idempotency_keys"
    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    endpoint: Mapped[str] = mapped_column(Text)
    request_hash: Mapped[bytes] = mapped_column(LargeBinary)
    status_code: Mapped[int | None] = mapped_column(Integer)
    response: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = _created()


class RunEvent(Base):
    """A change of a run's status or progress, written by the test_runs triggers (0008)."""

    __tablename__ = "run_events"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    organization_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    test_run_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    status: Mapped[str] = mapped_column(String(12))
    progress: Mapped[int] = mapped_column(SmallInteger)
    created_at: Mapped[datetime] = _created()


class Webhook(Base):
    """A URL an organization wants told when a run finishes. Its signing secret is derived
    (HMAC of the server's secret key, the id and secret_version), never stored."""

    __tablename__ = "webhooks"
    id: Mapped[uuid.UUID] = _uuid()
    organization_id: Mapped[uuid.UUID] = _org()
    url: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    secret_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = _created()
    disabled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class WebhookDelivery(Base):
    """One run's notification to one webhook: queued by the test_runs update trigger when the run
    finishes, sent with retries by the deliverer; the delivery log."""

    __tablename__ = "webhook_deliveries"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    webhook_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhooks.id", ondelete="CASCADE"))
    organization_id: Mapped[uuid.UUID] = _org()
    test_run_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True))
    event: Mapped[str] = mapped_column(Text, default="run.finished")
    payload: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = _created()
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = _created()
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
