"""Webhooks: URLs an organization registers to be told, with a signed POST, when a run
finishes. The test_runs update trigger (migration 0008) queues the deliveries; `deliver` sends them
with retries; `service` and `routes` are the /v1/webhooks API; `signing` derives secrets and
signs bodies."""
