"""execution: workers, leases, run steps

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 02:54:15.963364
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('workers',
    sa.Column('id', sa.UUID(), nullable=False),
    sa.Column('host', sa.Text(), nullable=False),
    sa.Column('pid', sa.Integer(), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('heartbeat_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('stopped_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('run_steps',
    sa.Column('id', sa.BigInteger(), autoincrement=True, nullable=False),
    sa.Column('test_run_id', sa.UUID(), nullable=False),
    sa.Column('attempt', sa.Integer(), nullable=False),
    sa.Column('index', sa.Integer(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('actions', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('screenshot_key', sa.Text(), nullable=True),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['test_run_id'], ['test_runs.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('test_run_id', 'attempt', 'index')
    )
    op.add_column('devices', sa.Column('worker_id', sa.UUID(), nullable=True))
    op.add_column('devices', sa.Column('current_run_id', sa.UUID(), nullable=True))
    op.create_foreign_key('devices_worker_id_fkey', 'devices', 'workers', ['worker_id'], ['id'], ondelete='CASCADE')
    op.add_column('test_runs', sa.Column('worker_id', sa.UUID(), nullable=True))
    op.add_column('test_runs', sa.Column('device_id', sa.UUID(), nullable=True))
    op.add_column('test_runs', sa.Column('lease_expires_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('test_runs', sa.Column('attempts', sa.Integer(), server_default='0', nullable=False))
    op.add_column('test_runs', sa.Column('failure_category', sa.String(length=16), nullable=True))
    op.add_column('test_runs', sa.Column('explanation', sa.Text(), nullable=True))
    op.drop_index(op.f('ix_test_runs_queue'), table_name='test_runs', postgresql_where="((status)::text = 'queued'::text)")
    op.create_index('ix_test_runs_queue', 'test_runs', [sa.literal_column('priority_rank DESC'), 'created_at', 'id'], unique=False, postgresql_where="status = 'queued'")
    op.create_index('ix_test_runs_lease', 'test_runs', ['lease_expires_at'], unique=False, postgresql_where="status = 'running'")


def downgrade() -> None:
    op.drop_index('ix_test_runs_lease', table_name='test_runs', postgresql_where="status = 'running'")
    op.drop_index('ix_test_runs_queue', table_name='test_runs', postgresql_where="status = 'queued'")
    op.create_index(op.f('ix_test_runs_queue'), 'test_runs', ['priority_rank', 'created_at'], unique=False, postgresql_where="((status)::text = 'queued'::text)")
    op.drop_column('test_runs', 'explanation')
    op.drop_column('test_runs', 'failure_category')
    op.drop_column('test_runs', 'attempts')
    op.drop_column('test_runs', 'lease_expires_at')
    op.drop_column('test_runs', 'device_id')
    op.drop_column('test_runs', 'worker_id')
    op.drop_constraint('devices_worker_id_fkey', 'devices', type_='foreignkey')
    op.drop_column('devices', 'current_run_id')
    op.drop_column('devices', 'worker_id')
    op.drop_table('run_steps')
    op.drop_table('workers')
