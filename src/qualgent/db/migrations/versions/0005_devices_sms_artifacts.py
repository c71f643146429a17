"""real devices: provider phone numbers and inbound SMS, and a run's log and video artifacts

Revision ID: 0005
Revises: 0004
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import UUID

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A phone without a readable inbox (iOS, a phone whose shell cannot read SMS) gets its
    # codes through a provider number; the operator assigns the number to the device's serial,
    # which outlives worker restarts (device rows do not).
    op.create_table(
        "device_numbers",
        sa.Column("serial", sa.Text, primary_key=True),
        sa.Column("phone_number", sa.Text, nullable=False, unique=True),
        sa.Column("assigned_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
    )
    op.create_table(
        "inbound_sms",
        sa.Column("id", sa.BigInteger, primary_key=True, autoincrement=True),
        sa.Column("to_number", sa.Text, nullable=False),
        sa.Column("from_number", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("message_sid", sa.Text),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
    )
    op.create_index("ix_inbound_sms_to_received", "inbound_sms", ["to_number", "received_at"])
    # A run attempt's device log and video chunks, in the blob store under logs/ and videos/.
    op.create_table(
        "run_artifacts",
        sa.Column("test_run_id", UUID(as_uuid=True),
                  sa.ForeignKey("test_runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("bytes", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(),
                  nullable=False),
        sa.PrimaryKeyConstraint("test_run_id", "attempt", "kind", "seq"),
        sa.CheckConstraint("kind IN ('log', 'video')", name="artifact_kind_known"),
    )


def downgrade() -> None:
    op.drop_table("run_artifacts")
    op.drop_index("ix_inbound_sms_to_received", table_name="inbound_sms")
    op.drop_table("inbound_sms")
    op.drop_table("device_numbers")
