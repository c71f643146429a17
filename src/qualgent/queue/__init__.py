"""The run queue in PostgreSQL. `lifecycle` writes every step of a run's life (enqueue, claim,
renew, finish, requeue, reap, refund, NOTIFY); `states` names them; `hosts` keeps the rows of
device hosts; `reaper` is the loop every process runs. Kept import-free: `states` is used
by the agent and the API without pulling in the database driver."""
