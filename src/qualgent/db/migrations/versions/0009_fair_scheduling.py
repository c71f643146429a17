"""fair scheduling: per-organization claim order and concurrency cap

- organizations.max_concurrent_runs: the organization's own cap on running runs (NULL: its
  plan's, QUALGENT_PLAN_CONCURRENCY; 0: no cap).
- ix_test_runs_org_queue: each organization's own queue per device profile, in claim order;
  its leading column also lets the claim list the organizations with queued runs by skipping
  through the index (one probe per organization, not per run).
- ix_test_runs_org_running: an organization's running runs, counted on each claim.
- ix_test_runs_org_started: when an organization was last served (its latest start).
- qualgent_claim_running(orgs): takes a transaction advisory lock per capped organization
  (in key order, so claimers never deadlock) and only then counts its running runs. A VOLATILE
  function's query takes a fresh snapshot, so the count includes the runs that any claimer
  holding the lock before us committed: two hosts claiming at once cannot both see the last
  free slot.

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# The advisory lock namespace (first key) of the per-organization claim lock.
CLAIM_LOCK_CLASS = 90091

_FUNCTION = f"""
CREATE FUNCTION qualgent_claim_running(orgs uuid[])
RETURNS TABLE (organization_id uuid, running bigint)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    k int;
BEGIN
    FOR k IN SELECT DISTINCT hashtext(o::text) FROM unnest(orgs) o ORDER BY 1 LOOP
        PERFORM pg_advisory_xact_lock({CLAIM_LOCK_CLASS}, k);
    END LOOP;
    RETURN QUERY
    SELECT o, (SELECT count(*) FROM test_runs r
               WHERE r.organization_id = o AND r.status = 'running')
    FROM unnest(orgs) o;
END $$
"""


def upgrade() -> None:
    op.add_column("organizations", sa.Column("max_concurrent_runs", sa.Integer, nullable=True))
    op.create_check_constraint("max_concurrent_runs_not_negative", "organizations",
                               "max_concurrent_runs >= 0")
    op.create_index("ix_test_runs_org_queue", "test_runs",
                    ["organization_id", "device_platform", "device_name",
                     sa.literal_column("priority_rank DESC"), "created_at", "id"],
                    postgresql_where=sa.text("status = 'queued'"))
    op.create_index("ix_test_runs_org_running", "test_runs", ["organization_id"],
                    postgresql_where=sa.text("status = 'running'"))
    op.create_index("ix_test_runs_org_started", "test_runs", ["organization_id", "started_at"],
                    postgresql_where=sa.text("started_at IS NOT NULL"))
    op.execute(_FUNCTION)


def downgrade() -> None:
    op.execute("DROP FUNCTION qualgent_claim_running(uuid[])")
    op.drop_index("ix_test_runs_org_started", table_name="test_runs")
    op.drop_index("ix_test_runs_org_running", table_name="test_runs")
    op.drop_index("ix_test_runs_org_queue", table_name="test_runs")
    op.drop_constraint("max_concurrent_runs_not_negative", "organizations")
    op.drop_column("organizations", "max_concurrent_runs")
