"""artifact retention: when a run's screenshots (and later logs, videos) were pruned

Revision ID: 0004
Revises: 0003
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("test_runs", sa.Column("artifacts_pruned_at", sa.DateTime(timezone=True),
                                         nullable=True))
    # The prune walks finished runs oldest first.
    op.create_index("ix_test_runs_finished_unpruned", "test_runs", ["finished_at"],
                    postgresql_where=sa.text("finished_at IS NOT NULL "
                                             "AND artifacts_pruned_at IS NULL"))


def downgrade() -> None:
    op.drop_index("ix_test_runs_finished_unpruned", table_name="test_runs")
    op.drop_column("test_runs", "artifacts_pruned_at")
