"""model-backed agent: which planner and model a run used, and each step's model usage

Revision ID: 0006
Revises: 0005
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("test_runs", sa.Column("planner", sa.Text, nullable=True))
    op.add_column("test_runs", sa.Column("planner_model", sa.Text, nullable=True))
    # {"input_tokens", "output_tokens", "latency_ms", "calls"}: null when no model was asked.
    op.add_column("run_steps", sa.Column("usage", JSONB, nullable=True))


def downgrade() -> None:
    op.drop_column("run_steps", "usage")
    op.drop_column("test_runs", "planner_model")
    op.drop_column("test_runs", "planner")
