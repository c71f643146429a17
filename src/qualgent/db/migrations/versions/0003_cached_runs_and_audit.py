"""cached runs and audit

Revision ID: 0003
Revises: 0002
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("test_runs", sa.Column("recording_run_id", sa.UUID(), nullable=True))
    op.add_column("test_runs", sa.Column("cache_fallback", sa.String(length=8), nullable=True))
    op.add_column("test_runs", sa.Column("replayed_steps", sa.Integer(), nullable=True))
    op.add_column("test_runs", sa.Column("healed_steps", sa.Integer(), nullable=True))
    op.add_column("test_runs", sa.Column("audit", postgresql.JSONB(), nullable=True))
    op.add_column("run_steps", sa.Column("replay", sa.String(length=10), nullable=True))


def downgrade() -> None:
    op.drop_column("run_steps", "replay")
    for column in ("audit", "healed_steps", "replayed_steps", "cache_fallback",
                   "recording_run_id"):
        op.drop_column("test_runs", column)
