"""The run queue in PostgreSQL: claim, lease, finish, hand back, reap.

A queued run is claimed by one statement (FOR UPDATE SKIP LOCKED) that also marks the device
busy; the claimer then holds a lease it renews by heartbeat. Every write a worker makes is
conditioned on still holding the run (`worker_id = me AND status = 'running'`), so a run whose
lease was reaped and handed to someone else is never finished twice.
"""

CHANNEL = "qualgent_runs"
