"""Settings, read once from the environment (prefix QUALGENT_)."""

from __future__ import annotations

import os
import secrets
from functools import cached_property
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QUALGENT_", extra="ignore")

    database_url: str | None = None
    """External PostgreSQL (postgresql://...). Unset: an embedded server in data_dir."""
    data_dir: Path = Path(platformdirs.user_data_dir("qualgent"))
    redis_url: str | None = None
    """Shared rate-limit window for several API processes (redis://host:port/db)."""
    rate_limit: str = "10/second"
    auth_failure_limit: str = "20/minute"
    """Failed authentications per client address; beyond it, unknown keys get 429 unlooked-up."""
    trusted_proxies: str = ""
    """Proxies (IPs/CIDRs, comma-separated) whose X-Forwarded-For names the client. Empty: none."""
    key_cache_seconds: float = 60.0
    """How long a process keeps an authenticated key (revocation is immediate); 0: no cache."""
    max_single_upload_mb: int = 2048
    max_json_body_bytes: int = 1024 * 1024
    """Cap on any request body but an upload's; larger ones get 413 before being read."""
    credits_per_run: int = 1
    public_url: str = ""
    """Base URL users reach this server at, for run and download links.
    Unset: `serve` uses the address it listens on."""
    secret_key: str | None = None
    """Signs download links. Unset: generated once and kept in data_dir (set it for replicas)."""
    blob_dir: Path | None = None
    """Local blob store root. Unset: data_dir/blobs."""
    db_pool_size: int = 20
    """Database connections one API process may hold (split between its two pools); `serve
    --workers N` lowers it so N processes fit the server's max_connections."""
    retention_days: float | None = None
    """`qualgent admin prune` removes finished runs' artifacts older than this. Unset: keep."""
    log_level: str = "info"
    """debug also shows the embedded database's and the migrations' own output."""
    lease_seconds: float = 30.0
    """How long a worker holds a run without a heartbeat; it renews every third of it."""
    max_attempts: int = 3
    """Attempts of a run lost to infrastructure (host gone, device lost) before it fails."""
    poll_seconds: float = 5.0
    """Workers wait for NOTIFY; this is only the fallback poll."""
    android_helper_apk: Path | None = None
    """The Appium Settings APK (io.appium.settings): installed on an Android device when a run
    types non-ASCII text or must read SMS the shell cannot. Unset: those steps fail clearly."""
    bundletool: Path | None = None
    """bundletool's jar: an .aab build is turned into a universal APK before install. Unset:
    runs on an .aab fail with an explanation."""
    java: str = "java"
    """The Java runtime that runs bundletool."""
    twilio_auth_token: SecretStr | None = None
    """Verifies the X-Twilio-Signature of inbound SMS webhooks. Unset: the webhook refuses."""
    sms_keep_hours: float = 24.0
    """Inbound SMS older than this are deleted by the reaper."""
    planner: Literal["rules", "llm", "hybrid"] = "rules"
    """How the agent plans a step: the offline rules, a model, or the rules with the model
    where they fall short."""
    llm_provider: Literal["openai", "anthropic"] = "openai"
    """openai: any OpenAI-compatible chat-completions endpoint (hosted, vLLM, Ollama, LM
    Studio); anthropic: Anthropic's Messages API."""
    llm_base_url: str | None = None
    """The endpoint (e.g. http://127.0.0.1:11434/v1 for Ollama). Unset: the provider's own."""
    llm_model: str | None = None
    llm_api_key: SecretStr | None = None
    """Never logged, never stored with a run, never sent to a device."""
    llm_timeout: float = 60.0
    """Seconds one model call may take."""
    llm_max_retries: int = 2
    """Retries of a call on 429 / 5xx / timeouts (with back-off) before the step fails as
    infrastructure (and the run is retried like any infrastructure failure)."""
    llm_max_actions: int = 12
    """A step's action budget when the model plans it."""

    signup: Literal["open", "invite"] = "open"
    """open: anyone can sign up at /auth/sign-up (a new organization each); invite: only
    through an invitation link from an organization's owner."""
    signup_plan: Literal["enterprise", "free"] = "enterprise"
    signup_credits: int = 100
    """The plan and credits an organization created by sign-up starts with."""
    session_days: float = 14.0
    """How long a browser stays signed in."""
    signin_limit: str = "10/minute"
    """Sign-in attempts per client address and per email address."""
    webhook_retry_seconds: float = 30.0
    """Base delay before a failed webhook delivery is retried; it doubles per attempt (with
    jitter), capped at an hour."""
    webhook_max_attempts: int = 8
    """Attempts of one webhook delivery before it is marked failed."""
    webhook_allow_private: bool = False
    """Allow webhook URLs on loopback and private networks (a receiver inside your network).
    Off: refused at registration and at each delivery (against DNS rebinding). Link-local
    addresses (169.254.0.0/16, cloud metadata) are refused either way."""

    storage_url: str | None = None
    """s3://bucket/prefix: builds, screenshots, logs and videos in an S3-compatible store
    (then every API process and worker needs only this and the database URL). Unset: the
    local directory QUALGENT_BLOB_DIR."""
    s3_endpoint_url: str | None = None
    """An S3-compatible server (MinIO, Ceph, ...). Unset: AWS's endpoint for the region."""
    s3_region: str | None = None
    s3_access_key_id: str | None = None
    s3_secret_access_key: SecretStr | None = None
    """Unset: boto3's own chain (environment, ~/.aws, instance role)."""
    plan_concurrency: str = "enterprise=0,free=2"
    """Runs an organization may have running at once, by plan (0: no cap); an organization's
    own setting (organizations.max_concurrent_runs) overrides it."""
    log_format: Literal["text", "json"] = "text"
    """json: one JSON object per log line, with the request id and run id when known."""

    @cached_property
    def blob_root(self) -> Path:
        return self.blob_dir or self.data_dir / "blobs"

    @cached_property
    def signing_key(self) -> bytes:
        if self.secret_key:
            return self.secret_key.encode()
        path = self.data_dir / "secret_key"
        path.parent.mkdir(parents=True, exist_ok=True)
        try:  # O_EXCL: two processes starting together agree on one key
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_urlsafe(48))
        return path.read_text().strip().encode()

    @property
    def max_upload_bytes(self) -> int:
        return self.max_single_upload_mb * 1024 * 1024
