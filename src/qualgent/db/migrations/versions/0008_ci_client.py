"""CI client: idempotent submissions, the run event log behind /v1/jobs/events, webhooks

Every change of a run's status or progress is written to run_events by a trigger (so no code
path can miss one) and announced with NOTIFY qualgent_run_events '<event id>'; when a run
reaches a final status the same trigger queues one delivery per active webhook of its
organization and wakes the deliverers with NOTIFY qualgent_webhooks.

Revision ID: 0008
Revises: 0007
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB, UUID

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _org() -> sa.Column:
    return sa.Column("organization_id", UUID(as_uuid=True),
                     sa.ForeignKey("organizations.id", ondelete="CASCADE"), nullable=False)


def _now(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), server_default=sa.func.now(),
                     nullable=False)


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        _org(),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("endpoint", sa.Text, nullable=False),
        sa.Column("request_hash", sa.LargeBinary, nullable=False),
        sa.Column("status_code", sa.Integer),
        sa.Column("response", JSONB),
        _now("created_at"),
        sa.PrimaryKeyConstraint("organization_id", "key"),
    )
    op.create_index("ix_idempotency_keys_created", "idempotency_keys", ["created_at"])

    op.create_table(
        "run_events",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("organization_id", UUID(as_uuid=True), nullable=False),
        sa.Column("test_run_id", UUID(as_uuid=True), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("progress", sa.SmallInteger, nullable=False),
        _now("created_at"),
    )
    op.create_index("ix_run_events_org_id", "run_events", ["organization_id", "id"])
    op.create_index("ix_run_events_created", "run_events", ["created_at"])

    op.create_table(
        "webhooks",
        sa.Column("id", UUID(as_uuid=True), primary_key=True),
        _org(),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("description", sa.Text),
        # The signing secret is derived from the server's secret key, the id and this
        # version (HMAC), shown once and never stored; rotating bumps the version.
        sa.Column("secret_version", sa.Integer, nullable=False, server_default="1"),
        _now("created_at"),
        sa.Column("disabled_at", sa.DateTime(timezone=True)),
    )
    op.create_index("ix_webhooks_org", "webhooks", ["organization_id"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("webhook_id", UUID(as_uuid=True),
                  sa.ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False),
        _org(),
        sa.Column("test_run_id", UUID(as_uuid=True), nullable=False),
        sa.Column("event", sa.Text, nullable=False, server_default="run.finished"),
        sa.Column("payload", JSONB),
        sa.Column("status", sa.String(10), nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        _now("next_attempt_at"),
        sa.Column("last_status_code", sa.Integer),
        sa.Column("last_error", sa.Text),
        _now("created_at"),
        sa.Column("delivered_at", sa.DateTime(timezone=True)),
        sa.CheckConstraint("status IN ('pending', 'delivered', 'failed')",
                           name="delivery_status_known"),
    )
    op.create_index("ix_webhook_deliveries_due", "webhook_deliveries", ["next_attempt_at"],
                    postgresql_where=sa.text("status = 'pending'"))
    op.create_index("ix_webhook_deliveries_hook", "webhook_deliveries",
                    ["webhook_id", "id"])

    op.execute("""
CREATE FUNCTION qualgent_run_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    event_id bigint;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.status IS NOT DISTINCT FROM OLD.status
            AND NEW.progress IS NOT DISTINCT FROM OLD.progress THEN
        RETURN NULL;
    END IF;
    INSERT INTO run_events (organization_id, test_run_id, status, progress)
    VALUES (NEW.organization_id, NEW.id, NEW.status, NEW.progress)
    RETURNING id INTO event_id;
    PERFORM pg_notify('qualgent_run_events', event_id::text);
    IF NEW.status IN ('passed', 'failed', 'completed')
            AND (TG_OP = 'INSERT' OR OLD.status NOT IN ('passed', 'failed', 'completed')) THEN
        INSERT INTO webhook_deliveries (webhook_id, organization_id, test_run_id)
        SELECT w.id, NEW.organization_id, NEW.id FROM webhooks w
        WHERE w.organization_id = NEW.organization_id AND w.disabled_at IS NULL;
        IF FOUND THEN
            PERFORM pg_notify('qualgent_webhooks', '');
        END IF;
    END IF;
    RETURN NULL;
END $$;
""")
    op.execute("""
CREATE TRIGGER run_event AFTER INSERT OR UPDATE OF status, progress ON test_runs
FOR EACH ROW EXECUTE FUNCTION qualgent_run_event();
""")


def downgrade() -> None:
    op.execute("DROP TRIGGER run_event ON test_runs")
    op.execute("DROP FUNCTION qualgent_run_event()")
    op.drop_table("webhook_deliveries")
    op.drop_table("webhooks")
    op.drop_table("run_events")
    op.drop_table("idempotency_keys")
